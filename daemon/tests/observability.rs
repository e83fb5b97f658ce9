//! Issue 6: metrics, health and readiness, conversion events, access logs,
//! secrets kept out of logs.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

/// The value of the sample whose name and labels contain all of `needles`.
fn sample(text: &str, name: &str, needles: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(name))
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

#[test]
fn request_counters_match_what_was_routed_and_the_histogram_observes() {
    let work = Workdir::new().with_example_plugins();
    work.write_config(&example_config(""));
    let d = work.start();
    let before = d.metrics();
    let mut routed: HashMap<String, usize> = HashMap::new();
    let c = client();
    for i in 0..200 {
        let r = c
            .get(d.url(&format!("/process/m?user_key=metrics-user{i}")))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        *routed
            .entry(
                r.headers()["x-variantd-variant"]
                    .to_str()
                    .unwrap()
                    .to_string(),
            )
            .or_default() += 1;
    }
    let after = d.metrics();
    assert!(
        routed.len() == 2,
        "both variants were routed to: {routed:?}"
    );
    for (variant, n) in &routed {
        let labels = [
            format!("variant=\"{variant}\""),
            "route=\"/process/{message}\"".to_string(),
            "status=\"200\"".to_string(),
        ];
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let delta = |series: &str, needles: &[&str]| {
            sample(&after, series, needles) - sample(&before, series, needles)
        };
        assert_eq!(
            delta("variantd_requests_total", &labels) as usize,
            *n,
            "{variant}"
        );
        // The duration histogram saw the same requests, each in a bucket.
        let series = &labels[..2];
        let count = delta("variantd_request_duration_seconds_count", series);
        assert_eq!(count as usize, *n, "{variant}: histogram count");
        let in_buckets = delta(
            "variantd_request_duration_seconds_bucket",
            &[series, &["le=\"+Inf\""]].concat(),
        );
        assert_eq!(in_buckets as usize, *n, "{variant}: +Inf bucket");
    }
    // Two registries render into /metrics; the histogram is declared once.
    assert_eq!(
        after
            .matches("# TYPE variantd_request_duration_seconds histogram")
            .count(),
        1,
        "{after}"
    );
    for name in [
        "variantd_plugin_events_total",
        "variantd_plugins_loaded",
        "variantd_plugin_libraries_retained",
        "variantd_specs_age_seconds",
        "variantd_specs_source",
        "variantd_exposures_total",
    ] {
        assert!(after.contains(name), "{name} missing from /metrics");
    }
    assert!(after.contains("variantd_specs_source{source=\"file\"} 1"));
}

#[test]
fn readyz_is_503_while_specs_are_missing_and_200_once_they_appear() {
    let work = Workdir::new().with_example_plugins();
    std::fs::remove_file(work.path().join("statsig_specs.json")).unwrap();
    work.write_config(&example_config(""));
    let d = work.start();
    assert_eq!(
        client()
            .get(d.url("/healthz"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let (status, body) = get_json(&d.url("/readyz"));
    assert_eq!(status, 503, "{body}");
    assert!(body["reasons"].to_string().contains("specs"), "{body}");
    // Serving continues with Statsig defaults, and says so.
    let r = client()
        .get(d.url("/process/m?user_key=qa-alice"))
        .send()
        .unwrap();
    assert_eq!(r.headers()["x-variantd-variant"], "app_a");
    write_atomic(
        &d.dir.join("statsig_specs.json"),
        &std::fs::read_to_string(shipped_specs()).unwrap(),
    );
    assert!(
        wait_until(Duration::from_secs(5), || get_json(&d.url("/readyz")).0
            == 200),
        "ready after the file appears"
    );
    let r = client()
        .get(d.url("/process/m?user_key=qa-alice"))
        .send()
        .unwrap();
    assert_eq!(r.headers()["x-variantd-variant"], "app_b");
}

#[test]
fn events_are_validated_and_land_in_the_events_file_after_a_flush() {
    let work = Workdir::new().with_example_plugins();
    work.write_config(&example_config(""));
    let d = work.start();
    let post = |body: Value| {
        let r = client().post(d.url("/events")).json(&body).send().unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    let (status, _) = post(
        json!({ "user_key": "buyer-1", "event_name": "purchase", "value": 9.99, "metadata": { "sku": "A-1" } }),
    );
    assert_eq!(status, 202);
    let (status, _) =
        post(json!({ "user_key": "buyer-2", "event_name": "signup", "value": "pro" }));
    assert_eq!(status, 202);
    for (body, field) in [
        (json!({ "event_name": "x" }), "user_key"),
        (json!({ "user_key": "", "event_name": "x" }), "user_key"),
        (json!({ "user_key": "u" }), "event_name"),
        (
            json!({ "user_key": "u", "event_name": "x", "value": [1] }),
            "value",
        ),
        (
            json!({ "user_key": "u", "event_name": "x", "metadata": "nope" }),
            "metadata",
        ),
        (
            json!({ "user_key": "u", "event_name": "x", "color": "red" }),
            "color",
        ),
    ] {
        let (status, err) = post(body.clone());
        assert_eq!(status, 400, "{body}");
        assert_eq!(err["field"], field, "{body} → {err}");
    }
    let r = client()
        .post(d.url("/events"))
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    let (status, flushed) = {
        let r = client().post(d.url("/admin/flush")).send().unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    assert_eq!(status, 200, "{flushed}");
    let text = std::fs::read_to_string(d.dir.join("exposures.jsonl")).unwrap_or_default();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let purchase = events
        .iter()
        .find(|e| e["eventName"] == "purchase")
        .unwrap_or_else(|| panic!("no purchase in {text}"));
    assert_eq!(purchase["user"]["userID"], "buyer-1");
    assert_eq!(purchase["value"], 9.99);
    assert_eq!(purchase["metadata"]["sku"], "A-1");
    assert!(events
        .iter()
        .any(|e| e["eventName"] == "signup" && e["value"] == "pro"));
    assert!(d.metrics().contains("variantd_events_written_total"));
}

#[test]
fn access_log_lines_are_json_when_asked_and_carry_the_request() {
    let work = Workdir::new().with_example_plugins();
    work.write_config(
        &example_config("")
            .replace("workers = 2", "workers = 2\nlog_format = \"json\"")
            .replace(
                "[[user.attributes]]",
                "[user]\ntrust_forwarded_for = true\n[[user.attributes]]",
            ),
    );
    let d = work.start();
    let r = client()
        .get(d.url("/process/m?user_key=qa-bob"))
        .header("x-request-id", "trace-me-42")
        .send()
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-me-42");
    assert!(d.wait_for_log("trace-me-42", Duration::from_secs(3)));
    let line = d
        .logs()
        .lines()
        .find(|l| l.contains("trace-me-42"))
        .unwrap()
        .to_string();
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert_eq!(v["request_id"], "trace-me-42");
    assert_eq!(v["route"], "/process/{message}");
    assert_eq!(v["variant"], "app_b");
    assert_eq!(v["rule_id"], "qa_allowlist");
    assert_eq!(v["status"], 200);
    assert!(v["duration_ms"].as_f64().is_some());
}

#[test]
fn access_lines_arrive_whole_and_plain_when_stderr_is_collected() {
    let work = Workdir::new().with_example_plugins();
    // Trusted, so the log carries the ids the test sends.
    work.write_config(&example_config("").replace(
        "[[user.attributes]]",
        "[user]\ntrust_forwarded_for = true\n[[user.attributes]]",
    ));
    let d = work.start();
    let c = client();
    let ids: Vec<String> = (0..300).map(|i| format!("burst-{i:03}-end")).collect();
    for id in &ids {
        let r = c
            .get(d.url("/process/m?user_key=u1"))
            .header("x-request-id", id.as_str())
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    // Access lines are written in batches; an idle daemon's within ~100 ms.
    assert!(d.wait_for_log(ids.last().unwrap(), Duration::from_secs(3)));
    let logs = d.logs();
    for id in &ids {
        let lines: Vec<&str> = logs.lines().filter(|l| l.contains(id.as_str())).collect();
        assert_eq!(lines.len(), 1, "{id}: {lines:?}");
        assert_eq!(
            lines[0].matches("request_id=").count(),
            1,
            "whole line: {}",
            lines[0]
        );
    }
    assert!(
        !logs.contains('\u{1b}'),
        "no colour codes in logs read through a pipe"
    );
}

#[test]
fn secrets_never_reach_logs_admin_output_or_error_bodies() {
    // Live mode pointed at a dead loopback port: Statsig is unreachable, the
    // daemon serves from the file and says so — without ever printing the key.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let key = "secret-DoNotLeakThisKey0123456789";
    let token = "admin-token-DoNotLeak-42";
    let work = Workdir::new().with_example_plugins();
    let config = example_config("").replace(
        "exposures_file = \"exposures.jsonl\"",
        &format!("exposures_file = \"exposures.jsonl\"\napi_url = \"http://127.0.0.1:{port}\"\ninit_timeout_ms = 500"),
    );
    work.write_config(&config);
    let d = work.start_with_env(&[("STATSIG_API_KEY", key), ("VARIANTD_ADMIN_TOKEN", token)]);
    let (status, body) = get_json(&d.url("/process/m?user_key=qa-alice"));
    assert_eq!(status, 200, "serves from the local file: {body}");
    assert_eq!(body["ab_test_result"]["selected_variant"], "B");
    let ready: Value = client()
        .get(d.url("/readyz"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(ready["statsig"]["mode"], "live");
    assert!(
        ready["warnings"]
            .to_string()
            .to_lowercase()
            .contains("statsig"),
        "unreachable Statsig is reported: {ready}"
    );

    // Admin wants the token.
    assert_eq!(
        client()
            .get(d.url("/admin/config"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    let wrong = client()
        .get(d.url("/admin/config"))
        .bearer_auth("nope")
        .send()
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let admin = client()
        .get(d.url("/admin/config"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let status = client()
        .get(d.url("/admin/status"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for (what, text) in [
        ("logs", d.logs()),
        ("admin config", admin),
        ("admin status", status),
        ("readyz", ready.to_string()),
    ] {
        assert!(
            !text.contains("DoNotLeakThisKey"),
            "Statsig key leaked into {what}"
        );
        assert!(!text.contains(token), "admin token leaked into {what}");
    }
}
