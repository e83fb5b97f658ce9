//! The public API: JSON shape, errors, custom unit ids, the table.

use std::path::Path;

use serde_json::Value;
use variantd_results::{render_table, Analysis, Designs, Error};

fn specs() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/statsig_specs.json"),
    )
    .unwrap()
}

fn gate(user: &str, time: u64, pass: bool, rule: &str) -> String {
    format!(
        r#"{{"eventName":"statsig::gate_exposure","metadata":{{"gate":"variant_b","gateValue":"{pass}","ruleID":"{rule}"}},"user":{{"userID":"{user}"}},"time":{time}}}"#
    )
}

fn event(user: &str, time: u64, name: &str, value: &str) -> String {
    format!(
        r#"{{"eventName":"{name}","value":{value},"user":{{"userID":"{user}"}},"time":{time}}}"#
    )
}

#[test]
fn json_has_the_public_keys() {
    let mut lines = Vec::new();
    for i in 0..40 {
        let user = format!("u{i}");
        lines.push(gate(&user, 1000 + i, i % 2 == 0, "rollout50"));
        if i % 3 == 0 {
            lines.push(event(&user, 2000 + i, "purchase", "9.99"));
        }
    }
    let report = Analysis::builder()
        .specs_json(&specs())
        .unwrap()
        .variants("variant_b", "pass", ["app_b"])
        .compute_from_lines(lines.iter().map(String::as_str));
    let json = serde_json::to_value(&report.decisions[0]).unwrap();
    for key in ["name", "kind", "control", "groups", "srm", "metrics"] {
        assert!(json.get(key).is_some(), "{key}: {json}");
    }
    assert_eq!(json["kind"], "gate");
    assert_eq!(json["control"], "fail");
    assert_eq!(
        json["groups"][1],
        serde_json::json!({"group":"pass","variants":["app_b"],"units":20})
    );
    for key in ["chi2", "p_value", "mismatch"] {
        assert!(json["srm"].get(key).is_some(), "srm.{key}");
    }
    let row = &json["metrics"][1];
    for key in [
        "event",
        "group",
        "units",
        "converted",
        "rate",
        "rate_ci",
        "value_mean",
        "value_ci",
        "lift",
        "lift_ci",
        "p_value",
        "sequential_ci",
    ] {
        assert!(row.get(key).is_some(), "metrics.{key}: {row}");
    }
    assert!(row["rate_ci"].as_array().is_some_and(|ci| ci.len() == 2));
    // The control's own row carries no lift.
    let control = &json["metrics"][0];
    assert_eq!(
        (control["group"].as_str(), &control["lift"]),
        (Some("fail"), &Value::Null)
    );
}

#[test]
fn decisions_with_a_custom_unit_id() {
    let specs = r#"{"dynamic_configs":{"pricing":{"entity":"experiment","idType":"companyID","rules":[
        {"id":"r1","groupName":"Control","conditions":["b1"]},{"id":"r2","groupName":"Test","conditions":["b2"]}]}},
        "condition_map":{"b1":{"type":"user_bucket","operator":"lt","targetValue":500},
                         "b2":{"type":"user_bucket","operator":"lt","targetValue":1000}}}"#;
    let line = |company: &str, user: &str, time: u64, rule: &str| {
        format!(
            r#"{{"eventName":"statsig::config_exposure","metadata":{{"config":"pricing","ruleID":"{rule}"}},"user":{{"userID":"{user}","customIDs":{{"companyID":"{company}"}}}},"time":{time}}}"#
        )
    };
    let lines = [
        line("c1", "alice", 10, "r1"),
        line("c1", "bob", 11, "r1"), // the same company: one unit
        line("c2", "carol", 12, "r2"),
        r#"{"eventName":"buy","value":3,"user":{"userID":"bob","customIDs":{"companyID":"c1"}},"time":20}"#.to_owned(),
        r#"{"eventName":"buy","value":3,"user":{"userID":"dave"},"time":20}"#.to_owned(),
    ];
    let report = Analysis::builder()
        .specs_json(specs)
        .unwrap()
        .compute_from_lines(lines.iter().map(String::as_str));
    let pricing = report.decision("pricing").unwrap();
    assert_eq!(pricing.id_type, "companyID");
    let units: Vec<_> = pricing
        .groups
        .iter()
        .map(|g| (g.group.as_str(), g.units))
        .collect();
    assert_eq!(units, [("Control", 1), ("Test", 1)]);
    assert_eq!(pricing.metrics[0].converted, 1);
    assert_eq!(pricing.srm.units, 2);
}

#[test]
fn bad_paths_and_specs_are_typed_errors() {
    assert!(matches!(
        Analysis::builder().add_paths(["[unclosed"]),
        Err(Error::Pattern { .. })
    ));
    let missing = Analysis::builder()
        .add_paths(["/nonexistent/variantd/exposures.jsonl"])
        .unwrap()
        .compute();
    assert!(matches!(missing, Err(Error::Read { .. })), "{missing:?}");
    assert!(matches!(
        Designs::from_specs_json("nope"),
        Err(Error::Specs(_))
    ));
    // A glob that matches nothing is an empty input, not an error.
    let empty = Analysis::builder()
        .add_paths(["/nonexistent/variantd/*.jsonl"])
        .unwrap()
        .compute()
        .unwrap();
    assert!(empty.decisions.is_empty());
    assert_eq!(render_table(&empty.decisions), "no exposures found\n");
}

#[test]
fn a_file_named_twice_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exposures.jsonl");
    let text = [gate("u1", 1, true, "rollout50"), event("u1", 2, "buy", "5")].join("\n");
    std::fs::write(&path, text).unwrap();
    let exact = path.display().to_string();
    let glob = dir.path().join("*.jsonl*").display().to_string();
    let builder = Analysis::builder()
        .add_paths([&exact, &glob, &exact])
        .unwrap();
    assert_eq!(builder.paths().len(), 1);
    let report = builder.compute().unwrap();
    assert_eq!(report.input.counts.events, 1);
    assert_eq!(report.decisions[0].metrics[1].value_mean, Some(5.0));
}

#[test]
fn the_table_warns_about_a_mismatch() {
    let lines: Vec<String> = (0..400)
        .map(|i| gate(&format!("u{i}"), i, i % 10 < 7, "rollout50"))
        .collect();
    let report = Analysis::builder()
        .specs_json(&specs())
        .unwrap()
        .compute_from_lines(lines.iter().map(String::as_str));
    assert!(report.decisions[0].srm.mismatch);
    let table = render_table(&report.decisions);
    assert!(
        table.contains("variant_b (gate), control: fail, 400 units"),
        "{table}"
    );
    assert!(table.contains("WARNING sample ratio mismatch"), "{table}");
    assert!(table.contains("no events after exposure"), "{table}");
}
