//! Definitions files, evaluated by real statsig-rust: the shipped
//! config/experiments.toml against config/statsig_specs.json, rollouts,
//! experiments' targeting and allocation, refused edits, describe_specs, pull.

use crate::*;
use variantd_decision::{
    build_specs_from_file, describe_specs, pull_specs, Decision, DecisionError, Definitions,
    SecretKey,
};

fn shipped_definitions_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/experiments.toml")
}

/// What a route sees of a decision, minus the reason's source label.
fn essence(d: &Decision) -> (String, Option<bool>, Option<String>, Option<String>, String) {
    (
        d.variant.clone(),
        d.gate_value,
        d.group_name.clone(),
        d.value.clone(),
        d.rule_id.clone(),
    )
}

fn three_way_experiment(name: &str) -> DecisionSpec {
    DecisionSpec::Experiment {
        name: name.into(),
        parameter: "variant".into(),
        variants: HashMap::from([
            ("A".into(), "app_a".into()),
            ("B".into(), "app_b".into()),
            ("C".into(), "app_c".into()),
        ]),
        default: "app_default".into(),
    }
}

/// An engine on a generated document (offline, no file).
async fn engine_from_definitions(text: &str) -> DecisionEngine {
    let defs = Definitions::parse(text, "test.toml").expect("valid definitions");
    let dir = tempfile::tempdir().unwrap();
    let engine = offline_engine(dir.path().join("none.json"), None).await;
    engine
        .reload_specs_from_str(&defs.to_dcs_v2_string(1_000))
        .expect("statsig loads the generated document");
    engine
}

#[tokio::test]
async fn shipped_definitions_decide_exactly_as_the_shipped_specs_for_every_user() {
    bounded(async {
        let from_specs = offline_engine(shipped_specs_path(), None).await;
        let from_definitions = offline_engine(shipped_definitions_path(), None).await;
        let status = from_definitions.status();
        assert!(status.ready, "{status:?}");
        assert_eq!(status.gates, vec!["variant_b"]);
        assert_eq!(status.experiments, vec!["variant_experiment"]);
        assert_eq!(status.dynamic_configs, vec!["variant_config"]);

        let specs = [
            gate("variant_b"),
            three_way_experiment("variant_experiment"),
            dynamic_config("variant_config"),
        ];
        let mut users: Vec<UserContext> = Vec::new();
        for i in 0..10_000 {
            users.push(user(i));
            users.push(user(i).with_custom("plan", "enterprise"));
            users.push(user(i).with_custom("plan", "beta"));
        }
        for qa in ["qa-alice", "qa-bob", "qa-carol", "qa-dave"] {
            users.push(UserContext::new(qa));
        }
        let mut compared = 0;
        let mut rules_seen = std::collections::BTreeSet::new();
        for u in &users {
            for spec in &specs {
                let want = from_specs.decide(u, spec);
                let got = from_definitions.decide(u, spec);
                assert_eq!(essence(&got), essence(&want), "{u:?} {spec:?}");
                assert_eq!(got.reason, "Bootstrap:Recognized");
                rules_seen.insert(got.rule_id.clone());
                compared += 1;
            }
        }
        println!("{compared} decisions equal; rule ids seen: {rules_seen:?}");
        for rule in [
            "qa_allowlist",
            "plan_enterprise",
            "rollout50",
            "group_a",
            "group_b",
            "group_c",
            "plan_beta",
            "default",
        ] {
            assert!(rules_seen.contains(rule), "{rule} never decided");
        }
        from_specs.shutdown().await;
        from_definitions.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn a_ten_percent_rollout_passes_ten_percent_of_users() {
    bounded(async {
        let engine = engine_from_definitions(
            r#"
[gates.ten]
rules = [{ name = "rollout10", percent = 10 }]
"#,
        )
        .await;
        let passes = (0..2000)
            .filter(|i| engine.decide(&user(*i), &gate("ten")).gate_value == Some(true))
            .count();
        println!("10% rollout: {passes} of 2000 pass");
        assert!((140..=260).contains(&passes), "{passes}");
        let d = engine.decide(&user(1), &gate("ten"));
        assert_eq!(d.rule_id, "rollout10");
        engine.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn rules_combine_conditions_percentages_and_other_gates() {
    bounded(async {
        let engine = engine_from_definitions(
            r#"
[gates.beta]
rules = [
  { name = "no_free", field = "plan", none_of = ["free"], fails_gate = "off", percent = 0 },
  { name = "beta_half", field = "plan", any_of = ["BETA"], percent = 50 },
  { name = "emails", field = "email", any_of = ["a@example.com"] },
]
[gates.off]
enabled = false
rules = [{ name = "everyone" }]
[gates.follows_beta]
rules = [{ name = "beta_passes", passes_gate = "beta" }]
[gates.stable]
id_type = "stableID"
rules = [{ name = "allow", user_ids = ["s-1"] }]
"#,
        )
        .await;
        // A disabled gate fails everyone with rule id "disabled".
        let d = engine.decide(&user(1), &gate("off"));
        assert_eq!(
            (d.gate_value, d.rule_id.as_str()),
            (Some(false), "disabled")
        );

        // plan=free skips rule 1 (none_of), plan=beta (any case) hits beta_half.
        let beta: Vec<Decision> = (0..2000)
            .map(|i| engine.decide(&user(i).with_custom("plan", "beta"), &gate("beta")))
            .collect();
        assert!(beta.iter().all(|d| d.rule_id == "no_free"), "{:?}", beta[0]);
        assert!(beta.iter().all(|d| d.gate_value == Some(false)));
        let free: Vec<Decision> = (0..2000)
            .map(|i| engine.decide(&user(i).with_custom("plan", "free"), &gate("beta")))
            .collect();
        assert!(free.iter().all(|d| d.rule_id == "default"));

        let engine2 = engine_from_definitions(
            r#"
[gates.beta]
rules = [{ name = "beta_half", field = "plan", any_of = ["BETA"], percent = 50 }]
[gates.follows_beta]
rules = [{ name = "beta_passes", passes_gate = "beta" }]
"#,
        )
        .await;
        let passed = (0..2000)
            .filter(|i| {
                let u = user(*i).with_custom("plan", "beta");
                let d = engine2.decide(&u, &gate("beta"));
                assert_eq!(d.rule_id, "beta_half");
                let follows = engine2.decide(&u, &gate("follows_beta"));
                assert_eq!(follows.gate_value, d.gate_value, "passes_gate follows");
                d.gate_value == Some(true)
            })
            .count();
        assert!((850..=1150).contains(&passed), "{passed}");

        let d = engine.decide(
            &UserContext::new("x"),
            &gate("stable"), // no stableID in variantd's user yet: no unit, no pass
        );
        assert_eq!(d.gate_value, Some(false));
        engine.shutdown().await;
        engine2.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn experiments_honour_targeting_allocation_default_and_enabled() {
    bounded(async {
        let engine = engine_from_definitions(
            r#"
[experiments.half_allocated]
parameter = "variant"
allocation = 50
default = "A"
groups = [{ name = "B", percent = 50, value = "B" }, { name = "C", percent = 50, value = "C" }]

[experiments.beta_only]
parameter = "variant"
targeting = [{ name = "beta", field = "plan", any_of = ["beta"] }]
groups = [{ name = "B", percent = 100, value = "B" }]

[experiments.not_started]
enabled = false
parameter = "variant"
default = "A"
groups = [{ name = "B", percent = 100, value = "B" }]

[dynamic_configs.tables]
default = { variant = "A", color = "blue" }
rules = [{ name = "half", percent = 50, value = { variant = "B", color = "red" } }]
"#,
        )
        .await;
        let spec = three_way_experiment("half_allocated");
        let mut outside = 0;
        for i in 0..2000 {
            let d = engine.decide(&user(i), &spec);
            match d.rule_id.as_str() {
                "layerAssignment" => {
                    outside += 1;
                    assert_eq!((d.group_name, d.value.as_deref()), (None, Some("A")));
                }
                "B" | "C" => assert_eq!(d.group_name.as_deref(), Some(d.rule_id.as_str())),
                other => panic!("unexpected rule {other}"),
            }
        }
        println!("allocation 50%: {outside} of 2000 outside");
        assert!((850..=1150).contains(&outside), "{outside}");

        let spec = three_way_experiment("beta_only");
        let d = engine.decide(&user(3), &spec);
        assert_eq!(
            (
                d.rule_id.as_str(),
                d.group_name.as_deref(),
                d.variant.as_str()
            ),
            ("inlineTargetingRules", None, "app_default")
        );
        let d = engine.decide(&user(3).with_custom("plan", "beta"), &spec);
        assert_eq!(
            (
                d.rule_id.as_str(),
                d.group_name.as_deref(),
                d.variant.as_str()
            ),
            ("B", Some("B"), "app_b")
        );

        let d = engine.decide(&user(3), &three_way_experiment("not_started"));
        assert_eq!(
            (d.rule_id.as_str(), d.value.as_deref()),
            ("prestart", Some("A"))
        );

        let spec = dynamic_config("tables");
        let halves: Vec<Decision> = (0..1000).map(|i| engine.decide(&user(i), &spec)).collect();
        let b = halves
            .iter()
            .filter(|d| d.value.as_deref() == Some("B"))
            .count();
        assert!((400..=600).contains(&b), "{b}");
        assert!(halves.iter().all(|d| d.rule_id == "half"));
        engine.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn an_invalid_edit_is_refused_with_file_line_and_key_and_the_old_rules_keep_deciding() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("experiments.toml");
        let good = "[gates.g]\nrules = [\n  { name = \"rollout\", percent = 0 },\n]\n";
        std::fs::write(&path, good).unwrap();
        let engine = offline_engine(path.clone(), None).await;
        let none_pass = |e: &DecisionEngine| {
            (0..200).all(|i| e.decide(&user(i), &gate("g")).gate_value == Some(false))
        };
        assert!(none_pass(&engine));
        let v1 = engine.specs_version();

        let bad = "[gates.g]\nrules = [\n  { name = \"rollout\", percent = 500 },\n]\n";
        std::fs::write(&path, bad).unwrap();
        let err = engine.reload_specs().unwrap_err();
        let msg = err.to_string();
        println!("refused: {msg}");
        assert!(matches!(err, DecisionError::Definitions(_)), "{err:?}");
        assert!(msg.starts_with("experiments.toml:3:"), "{msg}");
        assert!(msg.contains("gates.g.rules[0].percent"), "{msg}");
        let status = engine.status();
        assert!(status
            .last_error
            .as_deref()
            .unwrap()
            .contains("experiments.toml:3:"));
        assert!(none_pass(&engine), "old rules keep deciding");
        assert_eq!(engine.specs_version(), v1);

        // An unknown key is refused too, with its line.
        std::fs::write(
            &path,
            "[gates.g]\nrules = [{ name = \"r\" }]\nenabeld = true\n",
        )
        .unwrap();
        let msg = engine.reload_specs().unwrap_err().to_string();
        assert!(
            msg.starts_with("experiments.toml:3:1: gates.g.enabeld"),
            "{msg}"
        );
        assert!(none_pass(&engine));

        // Fixed: applies at once, twice in a row (each load is newer than the last).
        for _ in 0..2 {
            std::fs::write(&path, good.replace("percent = 0", "percent = 100")).unwrap();
            engine.reload_specs().unwrap();
        }
        assert!((0..200).all(|i| engine.decide(&user(i), &gate("g")).gate_value == Some(true)));
        assert_eq!(engine.status().last_error, None);
        engine.shutdown().await;
    })
    .await
}

#[test]
fn describe_specs_puts_every_rule_of_the_shipped_specs_in_words() {
    let text = describe_specs(&shipped_specs()).unwrap();
    println!("{text}");
    for line in [
        "gate variant_b (unit userID):",
        "1. qa_allowlist: userID is any of qa-alice, qa-bob, qa-carol → pass",
        "2. plan_enterprise: plan is any of enterprise → pass",
        "3. rollout50: everyone → 50% pass, the rest fail",
        "otherwise fail",
        "experiment variant_experiment (unit userID):",
        "1. group_a (group A): userID bucket (salt variant_experiment) < 334 of 1000 → {\"variant\":\"A\"}",
        "2. group_b (group B): userID bucket (salt variant_experiment) < 667 of 1000 → {\"variant\":\"B\"}",
        "3. group_c (group C): userID bucket (salt variant_experiment) < 1000 of 1000 → {\"variant\":\"C\"}",
        "dynamic config variant_config (unit userID):",
        "1. plan_beta: plan is any of beta → {\"variant\":\"B\"}",
        "otherwise {\"variant\":\"A\"}",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    // The generated document reads the same, rule for rule.
    let generated = build_specs_from_file(&shipped_definitions_path(), 1).unwrap();
    let generated_text = describe_specs(&generated).unwrap();
    let rules = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with("specs time"))
            .map(String::from)
            .collect()
    };
    assert_eq!(rules(&generated_text), rules(&text));
}

#[test]
fn describe_specs_names_what_it_does_not_know() {
    let doc = r#"{"has_updates":true,"time":5,"feature_gates":{"g":{"type":"feature_gate",
      "entity":"feature_gate","salt":"s","enabled":true,"defaultValue":false,"idType":"userID",
      "rules":[{"name":"r","id":"r","passPercentage":100,"returnValue":true,"idType":"userID",
      "conditions":["c1","c2","nope"]}]}},"dynamic_configs":{},"layer_configs":{},
      "condition_map":{"c1":{"type":"quantum_field","idType":"userID"},
      "c2":{"type":"user_field","field":"appVersion","operator":"version_gte","targetValue":"1.2","idType":"userID"}}}"#;
    let text = describe_specs(doc).unwrap();
    assert!(text.contains("gate g (unit userID, salt s):"), "{text}");
    assert!(
        text.contains("1. r: condition of type quantum_field and appVersion is a version ≥ 1.2 and missing condition nope → pass"),
        "{text}"
    );
    assert!(describe_specs("[1]").is_err());
    assert!(describe_specs("{").is_err());
}

/// A one-shot HTTP server answering one request with `status` and `body`;
/// returns its base URL and the request line it received.
async fn one_shot_server(
    status: &'static str,
    body: String,
) -> (String, tokio::task::JoinHandle<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(response.as_bytes()).await.unwrap();
        let _ = socket.shutdown().await;
        String::from_utf8_lossy(&request)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    });
    (url, handle)
}

const PULL_KEY: &str = "secret-variantd-pull-TESTKEY42";

#[tokio::test]
async fn pull_saves_what_statsig_serves_and_never_shows_the_key() {
    bounded(async {
        let key = SecretKey::new(PULL_KEY);
        let (url, server) = one_shot_server("200 OK", shipped_specs()).await;
        let got = pull_specs(&key, Some(&url), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(got, shipped_specs());
        let request_line = server.await.unwrap();
        assert!(
            request_line.starts_with(&format!("GET /v2/download_config_specs/{PULL_KEY}.json")),
            "{request_line}"
        );

        let (url, _server) =
            one_shot_server("401 Unauthorized", "{\"message\":\"bad key\"}".into()).await;
        let err = pull_specs(&key, Some(&url), Duration::from_secs(5))
            .await
            .unwrap_err();
        let msg = format!("{err} {err:?}");
        println!("pull refused: {err}");
        assert!(msg.contains("401"), "{msg}");
        assert!(!msg.contains("TESTKEY42"), "key leaked: {msg}");

        let (url, _server) = one_shot_server("200 OK", "{\"not\":\"specs\"}".into()).await;
        let err = pull_specs(&key, Some(&url), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("not a usable specs document"),
            "{err}"
        );
    })
    .await
}
