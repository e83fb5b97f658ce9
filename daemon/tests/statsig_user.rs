//! Issue 22, items 2 and 3: the whole Statsig user from the request (user
//! agent, top-level fields, custom unit ids, the environment tier), every
//! Statsig outcome routed somewhere, and explain without side effects. Real
//! daemons, real statsig-rust rules.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

const DEFINITIONS: &str = r#"
[gates.variant_b]
rules = [ { name = "rollout50", percent = 50 } ]

[gates.ua_gate]
rules = [ { name = "chrome", field = "browser_name", any_of = ["Chrome"] } ]

[gates.email_gate]
rules = [ { name = "staff", field = "email", any_of = ["ann@corp.example"] } ]

[gates.company_gate]
id_type = "companyID"
rules = [ { name = "acme", user_ids = ["acme"] } ]

[experiments.variant_experiment]
parameter = "variant"
groups = [
  { name = "A", percent = 34, value = "A" },
  { name = "B", percent = 33, value = "B" },
  { name = "C", percent = 33, value = "C" },
]
"#;

fn daemon() -> Daemon {
    let work = Workdir::new().with_example_plugins();
    std::fs::write(work.path().join("experiments.toml"), DEFINITIONS).unwrap();
    let routes = r#"
[[user.attributes]]
header = "X-User-Email"
field = "email"
[[user.ids]]
id_type = "companyID"
header = "X-Company"

[[routes]]
path = "/ua/process/{message}"
strip_prefix = "/ua"
gate = "ua_gate"
pass = "app_b"
fail = "app_a"
[[routes]]
path = "/email/process/{message}"
strip_prefix = "/email"
gate = "email_gate"
pass = "app_b"
fail = "app_a"
[[routes]]
path = "/company/process/{message}"
strip_prefix = "/company"
gate = "company_gate"
pass = "app_b"
fail = "app_a"
[[routes]]
path = "/two-of-three/process/{message}"
response = "envelope"
strip_prefix = "/two-of-three"
experiment = "variant_experiment"
map = { A = "app_a", B = "app_b" }
default = "app_a"
"#;
    let config = example_config(routes)
        .replace(
            "specs_file = \"statsig_specs.json\"",
            "definitions_file = \"experiments.toml\"",
        )
        // The mapped header above goes in the same [user] table.
        .replace(
            "[[user.attributes]]\nheader = \"X-User-Plan\"\nfield = \"plan\"\n",
            "",
        );
    work.write_config(&config);
    work.start()
}

fn answered_by(d: &Daemon, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut r = client().get(d.url(path));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.send().unwrap();
    let status = r.status().as_u16();
    let variant = r
        .headers()
        .get("x-variantd-variant")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, variant)
}

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

#[test]
fn the_user_agent_top_level_fields_and_custom_ids_reach_statsig() {
    let d = daemon();
    assert_eq!(
        answered_by(&d, "/ua/process/m?user_key=u1", &[("user-agent", CHROME)]),
        (200, "app_b".into())
    );
    assert_eq!(
        answered_by(&d, "/ua/process/m?user_key=u1", &[("user-agent", FIREFOX)]),
        (200, "app_a".into())
    );
    assert_eq!(
        answered_by(
            &d,
            "/email/process/m?user_key=u1",
            &[("x-user-email", "ann@corp.example")]
        ),
        (200, "app_b".into())
    );
    assert_eq!(
        answered_by(
            &d,
            "/email/process/m?user_key=u1",
            &[("x-user-email", "bob@else.example")]
        ),
        (200, "app_a".into())
    );
    assert_eq!(
        answered_by(
            &d,
            "/company/process/m?user_key=u1",
            &[("x-company", "acme")]
        ),
        (200, "app_b".into())
    );
    assert_eq!(
        answered_by(
            &d,
            "/company/process/m?user_key=u1",
            &[("x-company", "other")]
        ),
        (200, "app_a".into())
    );
    // An anonymous visitor: no user key, but the decision's unit is there.
    assert_eq!(
        answered_by(&d, "/company/process/m", &[("x-company", "acme")]),
        (200, "app_b".into())
    );

    // The decision's unit is missing: a 400 naming where it was looked for.
    let (status, body) = get_json(&d.url("/company/process/m?user_key=u1"));
    assert_eq!(status, 400, "{body}");
    assert!(body["expected"].to_string().contains("x-company"), "{body}");
    // A userID decision without a user key is refused as before.
    let (status, body) = get_json(&d.url("/ua/process/m"));
    assert_eq!(status, 400, "{body}");
    assert!(body["expected"].to_string().contains("user_key"), "{body}");
}

#[test]
fn an_experiment_value_the_route_does_not_map_goes_to_its_default_never_a_5xx() {
    let d = daemon();
    let mut unmapped = 0;
    for i in 0..60 {
        let (status, body) = get_json(&d.url(&format!("/two-of-three/process/m?user_key=x{i}")));
        assert_eq!(status, 200, "{body}");
        let (_, explained) = get_json(&d.url(&format!(
            "/admin/explain?path=/two-of-three/process/m&user_key=x{i}"
        )));
        if explained["value"] == "C" {
            unmapped += 1;
            assert_eq!(explained["unmapped_value"], "C", "{explained}");
            assert_eq!(explained["variant"], "app_a");
            assert_eq!(body["ab_test_result"]["selected_variant"], "A");
        }
    }
    assert!(unmapped > 5, "group C is a third of the users: {unmapped}");
    let (_, ready) = get_json(&d.url("/readyz"));
    assert!(
        ready["warnings"]
            .to_string()
            .contains("`C`, which the route does not map"),
        "{ready}"
    );
    let metrics = d.metrics();
    assert!(
        metrics.lines().any(
            |l| l.starts_with("variantd_unmapped_decisions_total") && l.contains("value=\"C\"")
        ),
        "{metrics}"
    );
    assert_eq!(
        d.logs()
            .matches("the decision named a value the route does not map")
            .count(),
        1,
        "warned once"
    );
}

#[test]
fn explain_answers_the_routing_without_calling_the_variant_or_logging_an_exposure() {
    let d = daemon();
    let (status, v) = get_json(&d.url("/admin/explain?path=/ua/process/m&user_key=explained-only"));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["route"], "/ua/process/{message}");
    assert_eq!(v["decision"], "ua_gate");
    assert_eq!(v["variant"], "app_a");
    assert_eq!(v["rule_id"], "default");
    assert!(v["reason"].as_str().unwrap().contains("Recognized"), "{v}");
    let (status, v) = get_json(&d.url("/admin/explain?path=/nowhere&user_key=u"));
    assert_eq!(status, 404, "{v}");

    // A real request's exposure arrives; the explained user's never does.
    answered_by(&d, "/ua/process/m?user_key=served-user", &[]);
    let exposures = d.dir.join("exposures.jsonl");
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&exposures).is_ok_and(|t| t.contains("served-user"))
    }));
    let text = std::fs::read_to_string(&exposures).unwrap();
    assert!(!text.contains("explained-only"), "{text}");
    assert!(
        !d.logs().contains("explained-only\" status"),
        "the variant was not called"
    );
}

#[test]
fn the_environment_tier_reaches_offline_evaluation() {
    // A gate that passes only in the staging tier, in Statsig's own format.
    let mut specs: Value =
        serde_json::from_str(&std::fs::read_to_string(shipped_specs()).unwrap()).unwrap();
    specs["feature_gates"]["variant_b"]["rules"] = serde_json::json!([{
        "name": "staging", "id": "staging", "salt": "staging", "passPercentage": 100,
        "conditions": ["cond_staging"], "returnValue": true, "idType": "userID"
    }]);
    specs["condition_map"]["cond_staging"] = serde_json::json!({
        "type": "environment_field", "targetValue": ["staging"], "operator": "any",
        "field": "tier", "additionalValues": {}, "idType": "userID"
    });
    let run = |tier: Option<&str>| {
        let work = Workdir::new().with_example_plugins();
        std::fs::write(work.path().join("statsig_specs.json"), specs.to_string()).unwrap();
        let extra = tier
            .map(|t| format!("environment = \"{t}\"\n"))
            .unwrap_or_default();
        work.write_config(&example_config("").replace(
            "exposures_file = \"exposures.jsonl\"\n",
            &format!("exposures_file = \"exposures.jsonl\"\n{extra}"),
        ));
        let d = work.start();
        answered_by(&d, "/process/m?user_key=u1", &[]).1
    };
    assert_eq!(run(Some("staging")), "app_b");
    assert_eq!(run(Some("production")), "app_a");
    assert_eq!(run(None), "app_a");
}
