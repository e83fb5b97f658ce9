//! Issue 22, item 1: gates and experiments defined in a TOML definitions
//! file, served by a real daemon through real statsig-rust, edited live;
//! and the `variantd specs` tools on the shipped files.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::*;

fn variant_of(d: &Daemon, user: &str) -> String {
    let (status, body) = get_json(&d.url(&format!("/process/m?user_key={user}")));
    assert_eq!(status, 200, "{body}");
    body["ab_test_result"]["selected_variant"]
        .as_str()
        .unwrap()
        .to_string()
}

fn definitions_workdir(definitions: &str) -> Workdir {
    let work = Workdir::new().with_example_plugins();
    std::fs::write(work.path().join("experiments.toml"), definitions).unwrap();
    work.write_config(&example_config("").replace(
        "specs_file = \"statsig_specs.json\"",
        "definitions_file = \"experiments.toml\"",
    ));
    work
}

#[test]
fn the_shipped_definitions_route_every_user_as_the_shipped_specs_do() {
    let shipped =
        std::fs::read_to_string(workspace_root().join("config/experiments.toml")).unwrap();
    let from_definitions = definitions_workdir(&shipped).start();
    let work = Workdir::new().with_example_plugins();
    work.write_config(&example_config(""));
    let from_specs = work.start();
    let users: Vec<String> = ["qa-alice", "qa-bob", "qa-carol", "user0", "user1"]
        .iter()
        .map(|u| u.to_string())
        .chain((0..200).map(|i| format!("user-{i}")))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for user in &users {
        for path in [
            format!("/process/m?user_key={user}"),
            format!("/experiment/process/m?user_key={user}"),
        ] {
            let a = get_json(&from_definitions.url(&path));
            let b = get_json(&from_specs.url(&path));
            assert_eq!(a, b, "{path}");
            seen.insert(a.1["ab_test_result"]["selected_variant"].to_string());
        }
    }
    assert!(seen.len() >= 3, "A, B and C all served: {seen:?}");
}

#[test]
fn a_definitions_edit_applies_live_and_an_invalid_one_is_refused_with_its_line() {
    let rollout = |percent: u32| {
        format!(
            "[gates.variant_b]\nrules = [\n  {{ name = \"rollout\", percent = {percent} }},\n]\n"
        )
    };
    let d = definitions_workdir(&rollout(0)).start();
    let users: Vec<String> = (0..40).map(|i| format!("u{i}")).collect();
    assert!(users.iter().all(|u| variant_of(&d, u) == "A"));

    write_atomic(&d.dir.join("experiments.toml"), &rollout(100));
    assert!(
        wait_until(Duration::from_secs(10), || variant_of(&d, "u0") == "B"),
        "{}",
        d.logs()
    );
    assert!(users.iter().all(|u| variant_of(&d, u) == "B"));

    write_atomic(
        &d.dir.join("experiments.toml"),
        "[gates.variant_b]\nrules = [\n  { name = \"rollout\", percent = 500 },\n]\n",
    );
    assert!(
        d.wait_for_log("experiments.toml:3:", Duration::from_secs(10)),
        "{}",
        d.logs()
    );
    assert!(
        users.iter().all(|u| variant_of(&d, u) == "B"),
        "the last good rules keep deciding"
    );
    let (_, ready) = get_json(&d.url("/readyz"));
    assert!(ready["warnings"].to_string().contains("percent"), "{ready}");
}

#[test]
fn specs_build_and_show_describe_the_shipped_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("specs.json");
    let build = Command::new(env!("CARGO_BIN_EXE_variantd"))
        .args(["specs", "build"])
        .arg(workspace_root().join("config/experiments.toml"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(doc["response_format"], "dcs-v2");
    assert!(doc["feature_gates"]["variant_b"].is_object());

    let show = Command::new(env!("CARGO_BIN_EXE_variantd"))
        .args(["specs", "show"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(show.status.success());
    let text = String::from_utf8_lossy(&show.stdout);
    for needle in [
        "variant_b",
        "qa_allowlist",
        "rollout50",
        "50%",
        "variant_experiment",
    ] {
        assert!(text.contains(needle), "{needle} in:\n{text}");
    }

    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[gates.g]\nrules = [ { name = \"r\", percnt = 5 } ]\n",
    )
    .unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_variantd"))
        .args(["specs", "build"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("bad.toml:2:") && err.contains("percnt"),
        "{err}"
    );
}
