//! Issue 3: the original example's API on a real daemon, with real plugins and
//! real statsig-rust evaluation of the shipped specs.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

fn example_daemon() -> Daemon {
    let work = Workdir::new().with_example_plugins();
    work.write_config(&example_config(""));
    work.start()
}

/// `selected_variant` for each key, requested from `d` with `threads` clients.
fn selected_variants(
    d: &Daemon,
    path: &str,
    keys: &[String],
    threads: usize,
) -> HashMap<String, String> {
    let keys = Arc::new(keys.to_vec());
    let chunks: Vec<Vec<String>> = keys
        .chunks(keys.len().div_ceil(threads))
        .map(|c| c.to_vec())
        .collect();
    let handles: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let base = d.url(path);
            std::thread::spawn(move || {
                let client = client();
                chunk
                    .into_iter()
                    .map(|k| {
                        let body: Value = client
                            .get(&base)
                            .query(&[("user_key", &k)])
                            .send()
                            .unwrap()
                            .json()
                            .unwrap();
                        let v = body["ab_test_result"]["selected_variant"]
                            .as_str()
                            .unwrap_or_else(|| panic!("{body}"))
                            .to_string();
                        (k, v)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect()
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user{i}")).collect()
}

#[test]
fn envelope_is_exactly_the_originals() {
    let d = example_daemon();
    let r = client()
        .get(d.url("/process/hello"))
        .query(&[("user_key", "user1")])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let variant = r.headers()["x-variantd-variant"]
        .to_str()
        .unwrap()
        .to_string();
    let rule = r.headers()["x-variantd-rule-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(r.headers()["x-variantd-decided-by"], "gate=variant_b");
    assert!(r.headers()["x-variantd-reason"]
        .to_str()
        .unwrap()
        .contains("Recognized"));
    assert_eq!(rule, "rollout50");
    let text = r.text().unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    let (label, app, algorithm) = if variant == "app_b" {
        ("B", "B", "enhanced-processing")
    } else {
        ("A", "A", "fast-processing")
    };
    // Byte for byte, field order included, as the original FastAPI app answers.
    assert_eq!(
        text,
        format!(
            r#"{{"ab_test_result":{{"user_key":"user1","selected_variant":"{label}","gate_name":"variant_b"}},"response":{{"variant":"{app}","message":"App {app} processed: hello","algorithm":"{algorithm}"}}}}"#
        )
    );
    assert_eq!(
        body,
        json!({
            "ab_test_result": { "user_key": "user1", "selected_variant": label, "gate_name": "variant_b" },
            "response": { "variant": app, "message": format!("App {app} processed: hello"), "algorithm": algorithm }
        })
    );
}

#[test]
fn gate_splits_half_and_half_over_10000_keys_and_is_stable() {
    let d = example_daemon();
    let all = keys(10_000);
    let first = selected_variants(&d, "/process/x", &all, 4);
    let b = first.values().filter(|v| *v == "B").count();
    let share = b as f64 / all.len() as f64;
    println!("variant_b passed {b} of 10000 ({share:.4})");
    assert!((0.48..=0.52).contains(&share), "B share {share}");
    // Statsig's rule: sha256("variant_b.rollout50.<key>") — the Python replica counts 5080.
    assert_eq!(b, 5080);

    // The same key gets the same variant on every request...
    let sample: Vec<String> = all.iter().step_by(20).cloned().collect();
    let again = selected_variants(&d, "/process/x", &sample, 2);
    assert!(sample.iter().all(|k| again[k] == first[k]));

    // ...from a second instance at the same time...
    let other = example_daemon();
    let there = selected_variants(&other, "/process/x", &sample, 2);
    assert!(
        sample.iter().all(|k| there[k] == first[k]),
        "two instances disagree"
    );

    // ...and after a restart.
    drop(d);
    let restarted = example_daemon();
    let after = selected_variants(&restarted, "/process/x", &sample, 2);
    assert!(
        sample.iter().all(|k| after[k] == first[k]),
        "a restart changed assignments"
    );
}

#[test]
fn allowlisted_qa_users_always_get_b() {
    let d = example_daemon();
    for user in ["qa-alice", "qa-bob", "qa-carol"] {
        let r = client()
            .get(d.url("/process/hi"))
            .query(&[("user_key", user)])
            .send()
            .unwrap();
        assert_eq!(r.headers()["x-variantd-rule-id"], "qa_allowlist");
        let body: Value = r.json().unwrap();
        assert_eq!(body["ab_test_result"]["selected_variant"], "B", "{user}");
    }
}

#[test]
fn experiment_splits_about_a_third_each() {
    let d = example_daemon();
    let all = keys(3000);
    let got = selected_variants(&d, "/experiment/process/x", &all, 4);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for v in got.values() {
        *counts.entry(v.as_str()).or_default() += 1;
    }
    println!("experiment split over 3000: {counts:?}");
    for label in ["A", "B", "C"] {
        let share = counts.get(label).copied().unwrap_or(0) as f64 / 3000.0;
        assert!((0.30..=0.367).contains(&share), "{label}: {share}");
    }
    // The variant's own answer matches the chosen label.
    let body: Value = client()
        .get(d.url("/experiment/process/hi?user_key=user7"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        body["ab_test_result"]["selected_variant"],
        body["response"]["variant"]
    );
    assert_eq!(
        body["ab_test_result"]["experiment_name"],
        "variant_experiment"
    );
}

#[test]
fn a_header_mapped_attribute_drives_a_custom_rule() {
    let d = example_daemon();
    // Find users the 50% rollout sends to A, then send them with the header.
    let failing: Vec<String> = keys(40)
        .into_iter()
        .filter(|k| {
            let r = client()
                .get(d.url("/process/x"))
                .query(&[("user_key", k)])
                .send()
                .unwrap();
            r.headers()["x-variantd-variant"] == "app_a"
        })
        .take(5)
        .collect();
    assert!(!failing.is_empty());
    for k in &failing {
        let r = client()
            .get(d.url("/process/x"))
            .query(&[("user_key", k)])
            .header("X-User-Plan", "enterprise")
            .send()
            .unwrap();
        assert_eq!(r.headers()["x-variantd-rule-id"], "plan_enterprise", "{k}");
        assert_eq!(r.headers()["x-variantd-variant"], "app_b", "{k}");
    }
}

#[test]
fn errors_are_json_and_name_what_is_wrong() {
    let d = example_daemon();
    let (status, body) = get_json(&d.url("/process/hello"));
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("user_key"),
        "{body}"
    );

    let (status, body) = get_json(&d.url("/variants/nope/process/x"));
    assert_eq!(status, 404);
    assert_eq!(body["variant"], "nope");

    let (status, body) = get_json(&d.url("/no/such/route"));
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
    // The direct mount's own prefix, without a variant name, is no route
    // either: the same JSON 404, not the framework's empty one.
    for path in ["/variants", "/variants/"] {
        let (status, body) = get_json(&d.url(path));
        assert_eq!((status, body["path"].as_str()), (404, Some(path)), "{body}");
    }

    let r = client()
        .delete(d.url("/process/x?user_key=u"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert!(r.json::<Value>().unwrap()["allowed"].is_array());

    let r = client().get(d.url("/variants/app_a/nope")).send().unwrap();
    assert_eq!(
        r.status().as_u16(),
        404,
        "a variant's own 404 passes through"
    );
}

#[test]
fn endpoints_point_at_direct_mounts_that_answer_without_a_gate() {
    let d = example_daemon();
    let (status, body) = get_json(&d.url("/endpoints"));
    assert_eq!(status, 200);
    let obj = body.as_object().unwrap();
    assert_eq!(obj.len(), 3, "{body}");
    for (name, label) in [("app_a", "A"), ("app_b", "B"), ("app_c", "C")] {
        let url = obj[&format!("{name}_endpoint")].as_str().unwrap();
        assert_eq!(url, format!("http://{}/variants/{name}", d.addr));
        let (status, answer) = get_json(&format!("{url}/process/hi"));
        assert_eq!(status, 200);
        assert_eq!(answer["variant"], label);
    }
}

#[test]
fn other_routes_pass_method_and_body_through_with_decision_headers() {
    let d = example_daemon();
    let r = client()
        .post(d.url("/analyze?user_key=qa-bob"))
        .body(r#"{"text":"a fine day"}"#)
        .header("content-type", "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-variantd-variant"], "app_b");
    assert_eq!(r.headers()["x-variantd-decided-by"], "gate=variant_b");
    let body: Value = r.json().unwrap();
    assert_eq!(body["variant"], "B");
    assert_eq!(body["word_count"], 3);
}

#[test]
fn user_key_can_come_from_a_header_or_a_cookie() {
    let work = Workdir::new().with_example_plugins();
    let config = example_config("").replace("[[user.attributes]]", "[user]\nkey_query = \"uid\"\nkey_header = \"X-User-Key\"\nkey_cookie = \"uid\"\n\n[[user.attributes]]");
    work.write_config(&config);
    let d = work.start();
    for (how, req) in [
        ("query", client().get(d.url("/process/m?uid=qa-alice"))),
        (
            "header",
            client()
                .get(d.url("/process/m"))
                .header("X-User-Key", "qa-alice"),
        ),
        (
            "cookie",
            client()
                .get(d.url("/process/m"))
                .header("cookie", "uid=qa-alice"),
        ),
    ] {
        let body: Value = req.send().unwrap().json().unwrap();
        assert_eq!(body["ab_test_result"]["user_key"], "qa-alice", "{how}");
    }
    let (status, body) = get_json(&d.url("/process/m"));
    assert_eq!(status, 400);
    let msg = body["error"].as_str().unwrap();
    assert!(msg.contains("uid") && msg.contains("X-User-Key"), "{msg}");
}

#[test]
fn an_invalid_config_fails_startup_with_its_line() {
    let work = Workdir::new();
    let text = example_config("").replace("label = \"B\"", "label = \"B\"\nlable = \"typo\"");
    let line = text.lines().position(|l| l.starts_with("lable")).unwrap() + 1;
    work.write_config(&text);
    let err = work.start_fails();
    assert!(
        err.contains(&format!("variantd.toml:{line}:")),
        "expected line {line}: {err}"
    );
    assert!(err.contains("lable"), "{err}");
}

#[test]
fn a_gate_missing_from_the_specs_is_a_warning_not_an_error() {
    let work = Workdir::new().with_example_plugins();
    work.write_config(&example_config(
        "[[routes]]\npath = \"/new/process/{m}\"\nstrip_prefix = \"/new\"\ngate = \"not_yet_created\"\npass = \"app_b\"\nfail = \"app_a\"\n",
    ));
    let d = work.start();
    let r = client()
        .get(d.url("/new/process/x?user_key=qa-alice"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text());
    assert_eq!(
        r.headers()["x-variantd-variant"],
        "app_a",
        "Statsig's default for an unknown gate is false"
    );
    assert!(r.headers()["x-variantd-reason"]
        .to_str()
        .unwrap()
        .contains("Unrecognized"));
    assert!(
        d.logs().contains("not_yet_created"),
        "startup warns about it"
    );
    let (status, ready) = get_json(&d.url("/readyz"));
    assert_eq!(status, 200);
    assert!(
        ready["warnings"].to_string().contains("not_yet_created"),
        "{ready}"
    );
}

#[test]
fn sigterm_finishes_in_flight_requests_flushes_exposures_and_exits_zero() {
    let work = Workdir::new().with_example_plugins();
    deploy("fixture_echo", &work.plugins(), "libecho.so");
    work.write_config(&example_config(
        "[variants.slow]\nplugin = \"echo\"\nblocking = true\n",
    ));
    let mut d = work.start();
    let dir = d.dir.clone();
    let (status, _) = get_json(&d.url("/process/x?user_key=exposed-user"));
    assert_eq!(status, 200);
    let slow_url = d.url("/variants/slow/x?sleep_ms=700");
    let slow =
        std::thread::spawn(move || client().get(slow_url).send().map(|r| r.status().as_u16()));
    std::thread::sleep(Duration::from_millis(200));
    let status = d.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(
        slow.join().unwrap().unwrap(),
        200,
        "the in-flight request finished"
    );
    let exposures =
        std::fs::read_to_string(dir.join("exposures.jsonl")).expect("exposures file written");
    assert!(
        exposures
            .lines()
            .any(|l| l.contains("exposed-user") && l.contains("variant_b")),
        "{exposures}"
    );
}

/// `x-variantd-*` header names on an answer, sorted.
fn decision_header_names(r: &reqwest::blocking::Response) -> Vec<String> {
    let mut names: Vec<String> = r
        .headers()
        .keys()
        .map(|n| n.as_str().to_string())
        .filter(|n| n.starts_with("x-variantd-"))
        .collect();
    names.sort();
    names
}

#[test]
fn decision_headers_can_be_cut_to_the_variant_or_to_none() {
    let config_with = |setting: &str| {
        example_config("").replace(
            "workers = 2\n",
            &format!("workers = 2\ndecision_headers = \"{setting}\"\n"),
        )
    };
    for (setting, expected) in [("variant", vec!["x-variantd-variant"]), ("none", vec![])] {
        let work = Workdir::new().with_example_plugins();
        work.write_config(&config_with(setting));
        let d = work.start();
        let envelope = client()
            .get(d.url("/process/hello?user_key=qa-alice"))
            .send()
            .unwrap();
        assert_eq!(envelope.status().as_u16(), 200);
        assert_eq!(
            decision_header_names(&envelope),
            expected,
            "{setting}, envelope"
        );
        assert!(envelope.headers().contains_key("x-request-id"));
        let body: Value = envelope.json().unwrap();
        assert_eq!(
            body["ab_test_result"]["selected_variant"], "B",
            "{setting}: the decision itself is unchanged (qa-alice is allowlisted)"
        );
        let transparent = client()
            .post(d.url("/analyze?user_key=qa-alice"))
            .body(r#"{"text":"a fine day"}"#)
            .header("content-type", "application/json")
            .send()
            .unwrap();
        assert_eq!(transparent.status().as_u16(), 200);
        assert_eq!(
            decision_header_names(&transparent),
            expected,
            "{setting}, transparent"
        );
    }

    let work = Workdir::new();
    work.write_config(&config_with("some"));
    let err = work.start_fails();
    assert!(err.contains("decision_headers"), "{err}");
}

#[test]
fn every_built_in_endpoint_is_served_by_variantd_before_any_route() {
    use variantd::http::endpoints::{Methods, BUILT_INS};
    // A catch-all route would answer every path the built-ins do not.
    let work = Workdir::new().with_example_plugins();
    work.write_config(&example_config(
        "[[routes]]\npath = \"/{*rest}\"\nvariant = \"app_a\"\n",
    ));
    let d = work.start();
    let client = client();
    for built_in in BUILT_INS {
        let path = built_in
            .pattern
            .replace("{name}", "app_a")
            .replace("{*asset}", "app.js")
            .replace("{*rest}", "nope")
            .replace("{*tail}", "process/x");
        let request = match built_in.methods {
            Methods::Post => client.post(d.url(&path)).body("[]"),
            Methods::Get | Methods::Any => client.get(d.url(&path)),
        };
        let r = request.send().unwrap();
        let routed_to_app_a = r
            .headers()
            .get("x-variantd-variant")
            .is_some_and(|v| v == "app_a")
            && !path.starts_with("/variants/");
        assert!(
            !routed_to_app_a,
            "{path} reached the catch-all route instead of variantd's own endpoint"
        );
        assert_ne!(r.status().as_u16(), 405, "{path}");
    }
    // A method the endpoint does not take: a JSON 405 naming the one it does.
    let r = client.delete(d.url("/admin/reload")).send().unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.json::<Value>().unwrap()["allowed"], json!(["POST"]));
}
