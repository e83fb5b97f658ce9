//! Issue 22, items 3 to 5: `variantd explain` offline, reloads that say
//! which keys need a restart, and `--check` finding what start-up would.

mod support;

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use support::*;

fn variantd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_variantd"))
        .args(args)
        .env_remove("STATSIG_API_KEY")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn explain_offline_names_route_decision_variant_and_rule() {
    let work = Workdir::new().with_example_plugins();
    work.write_config(&example_config(""));
    let config = work.config_path();
    let config = config.to_str().unwrap();
    let out = variantd(&[
        "explain",
        "--config",
        config,
        "--path",
        "/process/hi",
        "--user",
        "qa-alice",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["route"], "/process/{message}");
    assert_eq!(v["decision"], "variant_b");
    assert_eq!(v["variant"], "app_b");
    assert_eq!(v["rule_id"], "qa_allowlist");
    assert_eq!(v["reason"], "Bootstrap:Recognized");

    let out = variantd(&[
        "explain",
        "--config",
        config,
        "--path",
        "/process/hi",
        "--user",
        "user0",
        "--header",
        "X-User-Plan: enterprise",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rule_id"], "plan_enterprise", "{v}");

    let out = variantd(&["explain", "--config", config, "--path", "/process/hi"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stdout).contains("missing user key"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        !work.path().join("exposures.jsonl").exists(),
        "explain logs no exposure"
    );
}

#[test]
fn a_reload_says_which_changed_keys_need_a_restart() {
    let work = Workdir::new().with_example_plugins();
    work.write_config(&example_config(""));
    let d = work.start();
    let edited = example_config("")
        .replace("workers = 2", "workers = 2\nlog_format = \"json\"")
        .replace(
            "specs_file = \"statsig_specs.json\"",
            "specs_file = \"other.json\"",
        );
    write_atomic(&d.dir.join("variantd.toml"), &edited);
    assert!(
        d.wait_for_log("need a restart", Duration::from_secs(10)),
        "{}",
        d.logs()
    );
    let (_, ready) = get_json(&d.url("/readyz"));
    let warnings = ready["warnings"].to_string();
    assert!(warnings.contains("server.log_format"), "{ready}");
    assert!(warnings.contains("statsig.specs_file"), "{ready}");
    let (_, config) = get_json(&d.url("/admin/config"));
    assert!(
        config["needs_restart"]
            .to_string()
            .contains("server.log_format"),
        "{config}"
    );
    // What applies live still applies: the access log goes off.
    let quiet = edited.replace("workers = 2", "workers = 2\naccess_log = false");
    write_atomic(&d.dir.join("variantd.toml"), &quiet);
    assert!(wait_until(Duration::from_secs(10), || {
        get_json(&d.url("/admin/config")).1["config"]["server"]["access_log"] == false
    }));
}

#[test]
fn check_finds_what_start_up_would_and_names_each_key() {
    let work = Workdir::new().with_example_plugins();
    work.write_config(&example_config(""));
    let config = work.config_path();
    let config = config.to_str().unwrap();
    let out = variantd(&["--config", config, "--check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ok"));

    let broken = |edit: &dyn Fn(String) -> String, setup: &dyn Fn(&Workdir), needle: &str| {
        let w = Workdir::new().with_example_plugins();
        setup(&w);
        w.write_config(&edit(example_config("")));
        let path = w.config_path();
        let out = variantd(&["--config", path.to_str().unwrap(), "--check"]);
        assert!(!out.status.success(), "{needle}: {}", text(&out.stdout));
        let err = text(&out.stderr);
        assert!(err.contains(needle), "{needle} in: {err}");
        let degraded = variantd(&[
            "--config",
            path.to_str().unwrap(),
            "--check",
            "--allow-degraded",
        ]);
        assert!(
            degraded.status.success(),
            "{needle}: {}",
            text(&degraded.stderr)
        );
        assert!(
            text(&degraded.stderr).contains("warning"),
            "{}",
            text(&degraded.stderr)
        );
    };
    let none = |_: &Workdir| {};
    broken(
        &|c| c.replace("statsig_specs.json", "missing.json"),
        &none,
        "statsig.specs_file",
    );
    broken(
        &|c| c.replace("gate = \"variant_b\"", "gate = \"no_such_gate\""),
        &none,
        "`no_such_gate` is not in",
    );
    broken(
        &|c| c,
        &|w: &Workdir| std::fs::remove_file(w.plugins().join("libapp_c.so")).unwrap(),
        "variants.app_c.plugin",
    );
    broken(
        &|c| c.replace("dir = \"plugins\"", "dir = \"nowhere\""),
        &none,
        "plugins.dir",
    );

    let missing = work.path().join("absent.toml");
    let out = variantd(&["--config", missing.to_str().unwrap(), "--check"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(
        err.matches("No such file").count(),
        1,
        "reported once: {err}"
    );
    assert!(err.contains("absent.toml"), "{err}");
}
