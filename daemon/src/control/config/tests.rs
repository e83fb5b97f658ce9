use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/variantd/variantd.toml"))
}

fn invalid(text: &str) -> (usize, String, String) {
    match parse(text) {
        Err(ConfigError::Invalid {
            line, key, message, ..
        }) => (line, key, message),
        Err(e) => panic!("unexpected error kind: {e}"),
        Ok(_) => panic!("config was accepted:\n{text}"),
    }
}

const BASE: &str = r#"
[variants.a]
plugin = "app_a"
[variants.b]
plugin = "app_b"
"#;

#[test]
fn the_shipped_configs_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        // experiments.toml is a definitions file, not a daemon config.
        if path.extension().is_some_and(|e| e == "toml")
            && path.file_name().is_some_and(|n| n != "experiments.toml")
        {
            Config::load(&path, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn relative_paths_resolve_against_the_config_directory() {
    let c = parse(BASE).unwrap();
    assert_eq!(c.plugins.dir, Path::new("/etc/variantd/plugins"));
    assert_eq!(
        c.statsig.specs_file,
        Path::new("/etc/variantd/statsig_specs.json")
    );
    assert_eq!(c.listen, "127.0.0.1:8080", "loopback by default");
}

#[test]
fn unknown_key_names_line_and_key() {
    let text = format!("{BASE}\n[server]\nlisten = \"127.0.0.1:1\"\nlissten = \"x\"\n");
    let (line, key, message) = invalid(&text);
    assert_eq!(line, 9, "{key}: {message}");
    assert!(key.contains("server"), "{key}");
    assert!(message.contains("lissten"), "{message}");
}

#[test]
fn unknown_variant_reference_names_its_line() {
    let text =
        format!("{BASE}\n[[routes]]\npath = \"/p\"\ngate = \"g\"\npass = \"b\"\nfail = \"nope\"\n");
    let (line, key, message) = invalid(&text);
    assert_eq!((line, key.as_str()), (11, "routes[0].fail"));
    assert!(message.contains("unknown variant `nope`"));
}

#[test]
fn a_route_needs_exactly_one_decision() {
    let (_, _, m) = invalid(&format!("{BASE}\n[[routes]]\npath = \"/p\"\nvariant = \"a\"\ngate = \"g\"\npass = \"a\"\nfail = \"b\"\n"));
    assert!(m.contains("exactly one"), "{m}");
    let (_, _, m) = invalid(&format!("{BASE}\n[[routes]]\npath = \"/p\"\n"));
    assert!(m.contains("exactly one"), "{m}");
    let (_, _, m) = invalid(&format!(
        "{BASE}\n[[routes]]\npath = \"/p\"\ngate = \"g\"\npass = \"a\"\n"
    ));
    assert!(m.contains("pass") && m.contains("fail"), "{m}");
    let (_, _, m) = invalid(&format!(
        "{BASE}\n[[routes]]\npath = \"/p\"\nexperiment = \"e\"\n"
    ));
    assert!(m.contains("default"), "{m}");
}

#[test]
fn bad_values_are_refused() {
    let (_, key, _) = invalid(&format!("{BASE}\n[server]\nlisten = \"not an address\"\n"));
    assert_eq!(key, "server.listen");
    let (_, _, m) = invalid(&format!(
        "{BASE}\n[[routes]]\npath = \"/admin/x\"\nvariant = \"a\"\n"
    ));
    assert!(m.contains("served by variantd itself"), "{m}");
    let (_, _, m) = invalid(&format!(
        "{BASE}\n[[routes]]\npath = \"nope\"\nvariant = \"a\"\n"
    ));
    assert!(m.contains("must start with"), "{m}");
    let (_, _, m) = invalid("[variants.x]\nplugin = \"p\"\nurl = \"http://127.0.0.1:1\"\n");
    assert!(m.contains("not both"), "{m}");
    let (_, _, m) = invalid("[variants.x]\nurl = \"ftp://127.0.0.1:1\"\n");
    assert!(m.contains("http"), "{m}");
    // https upstreams are served; TLS keys on an http one are refused.
    assert!(
        parse("[variants.x]\nurl = \"https://127.0.0.1:1\"\ninsecure_skip_verify = true\n").is_ok()
    );
    let (_, key, m) = invalid("[variants.x]\nurl = \"http://127.0.0.1:1\"\nhttp2 = true\n");
    assert!(
        key == "variants.x.http2" && m.contains("https"),
        "{key}: {m}"
    );
    let (_, _, m) =
        invalid("[variants.x]\nurl = \"https://127.0.0.1:1\"\ntls_client_cert = \"c.pem\"\n");
    assert!(m.contains("tls_client_key"), "{m}");
    let (_, _, m) = invalid(&format!(
        "{BASE}\n[variants.c]\nplugin = \"p\"\nfallback = \"c\"\n"
    ));
    assert!(m.contains("unknown variant"), "{m}");
    let (line, _, m) = invalid("[variants.a]\nplugin = 3\n");
    assert_eq!(line, 2, "{m}");
    let (_, _, m) = invalid(&format!(
        "{BASE}\n[[routes]]\npath = \"/p\"\nmethods = [\"G E T\"]\nvariant = \"a\"\n"
    ));
    assert!(m.contains("HTTP method"), "{m}");
}

#[test]
fn experiment_routes_map_values_to_variants() {
    let c = parse(&format!(
        "{BASE}\n[[routes]]\npath = \"/e/{{m}}\"\nexperiment = \"exp\"\nmap = {{ A = \"a\", B = \"b\" }}\ndefault = \"a\"\n"
    ))
    .unwrap();
    match &c.routes[0].decision {
        RouteDecision::Decide(variantd_decision::DecisionSpec::Experiment {
            name,
            parameter,
            variants,
            default,
        }) => {
            assert_eq!(
                (name.as_str(), parameter.as_str(), default.as_str()),
                ("exp", "variant", "a")
            );
            assert_eq!(variants.get("B").map(String::as_str), Some("b"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn overrides_win_over_the_file() {
    let mut c = parse(BASE).unwrap();
    c.apply(&Overrides {
        listen: Some("127.0.0.1:0".into()),
        plugin_dir: Some("/opt/p".into()),
        specs_file: None,
        workers: Some(1),
        ..Overrides::default()
    });
    assert_eq!(
        (c.listen.as_str(), c.plugins.dir.as_path(), c.workers),
        ("127.0.0.1:0", Path::new("/opt/p"), 1)
    );
}

#[test]
fn every_built_in_prefix_is_reserved_and_conflicting_routes_are_refused_when_read() {
    for prefix in crate::http::endpoints::reserved_prefixes() {
        for path in [prefix.to_string(), format!("{prefix}/x")] {
            let (_, key, m) = invalid(&format!(
                "{BASE}\n[[routes]]\npath = \"{path}\"\nvariant = \"a\"\n"
            ));
            assert_eq!(key, "routes[0].path");
            assert!(m.contains("served by variantd itself"), "{path}: {m}");
        }
    }
    // Both patterns are fine alone; one matcher cannot hold the two.
    let (_, key, m) = invalid(&format!(
        "{BASE}\n[[routes]]\npath = \"/{{*rest}}\"\nvariant = \"a\"\n\
         [[routes]]\npath = \"/{{page}}\"\nvariant = \"b\"\n"
    ));
    assert_eq!(key, "routes[1].path");
    assert!(m.contains("conflicts"), "{m}");
    // A catch-all beside the built-ins is a route like any other.
    parse(&format!(
        "{BASE}\n[[routes]]\npath = \"/{{*rest}}\"\nvariant = \"a\"\n"
    ))
    .expect("a root catch-all fits beside the built-in endpoints");
}
