//! `GET /results` and `variantd results` on a real daemon: real plugins, the
//! shipped specs, real traffic and real events through HTTP, the daemon's
//! own exposures file. The expected numbers come from what the daemon told
//! each user (which variant it got) and from the events this test sent.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const USERS: usize = 240;
const EXPERIMENT_USERS: usize = 90;

/// Who got what, and what they sent.
struct Traffic {
    /// user → gate group (`pass`/`fail`).
    gate_group: BTreeMap<String, &'static str>,
    /// user → experiment group (`A`/`B`/`C`).
    experiment_group: BTreeMap<String, String>,
    /// user → purchase value, for the users who bought.
    purchases: BTreeMap<String, f64>,
}

fn purchase_value(i: usize) -> Option<f64> {
    // Every third user buys; every ninth buys twice (values add up).
    i.is_multiple_of(3).then_some((i % 7) as f64 + 0.5)
}

fn send_traffic(d: &Daemon) -> Traffic {
    let c = client();
    let mut gate_group = BTreeMap::new();
    for i in 0..USERS {
        let user = format!("user{i}");
        let body: Value = c
            .get(d.url(&format!("/process/hello?user_key={user}")))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let group = match body["ab_test_result"]["selected_variant"].as_str() {
            Some("B") => "pass",
            Some("A") => "fail",
            other => panic!("{user}: unexpected variant {other:?}: {body}"),
        };
        gate_group.insert(user, group);
    }
    let mut experiment_group = BTreeMap::new();
    for i in 0..EXPERIMENT_USERS {
        let user = format!("user{i}");
        let body: Value = c
            .get(d.url(&format!("/experiment/process/hi?user_key={user}")))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let label = body["ab_test_result"]["selected_variant"]
            .as_str()
            .unwrap_or_else(|| panic!("{user}: no variant: {body}"))
            .to_owned();
        experiment_group.insert(user, label);
    }
    let mut purchases = BTreeMap::new();
    let post = |user: &str, event: &str, value: f64| {
        let r = c
            .post(d.url("/events"))
            .json(&json!({ "user_key": user, "event_name": event, "value": value }))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "POST /events: {}", r.status());
    };
    for i in 0..USERS {
        let user = format!("user{i}");
        if let Some(value) = purchase_value(i) {
            post(&user, "purchase", value);
            let mut total = value;
            if i.is_multiple_of(9) {
                post(&user, "purchase", 1.0);
                total += 1.0;
            }
            purchases.insert(user, total);
        }
    }
    // Never exposed: must not count anywhere.
    post("ghost-user", "purchase", 100.0);
    let r = c.post(d.url("/admin/flush")).send().unwrap();
    assert!(r.status().is_success(), "flush: {}", r.status());
    Traffic {
        gate_group,
        experiment_group,
        purchases,
    }
}

fn group<'a>(decision: &'a Value, name: &str) -> &'a Value {
    decision["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == name)
        .unwrap_or_else(|| panic!("no group {name} in {decision}"))
}

fn metric<'a>(decision: &'a Value, event: &str, group: &str) -> &'a Value {
    decision["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["event"] == event && m["group"] == group)
        .unwrap_or_else(|| panic!("no {event}/{group} row in {decision}"))
}

/// Wait until the background refresh has seen every unit and every
/// purchase of an exposed unit.
fn wait_for_results(d: &Daemon, decision: &str, units: u64, purchasers: u64) -> Value {
    let mut last = Value::Null;
    let done = wait_until(Duration::from_secs(40), || {
        let (status, body) = get_json(&d.url(&format!("/results/{decision}")));
        let seen: u64 = body["groups"]
            .as_array()
            .map(|g| g.iter().map(|g| g["units"].as_u64().unwrap_or(0)).sum())
            .unwrap_or(0);
        let converted: u64 = body["metrics"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter(|m| m["event"] == "purchase")
                    .map(|m| m["converted"].as_u64().unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0);
        last = body;
        if status != 200 || seen != units || converted != purchasers {
            std::thread::sleep(Duration::from_millis(300));
            return false;
        }
        true
    });
    assert!(
        done,
        "/results/{decision} never showed {units} units: {last}"
    );
    last
}

/// Complementary error function (Numerical Recipes `erfcc`, fractional
/// error below 1.2e-7): the test's own normal tail, independent of the
/// results crate's.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398
                                    + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Pooled two-proportion z-test, two-sided.
fn two_proportion_p(c_t: f64, n_t: f64, c_c: f64, n_c: f64) -> f64 {
    let pooled = (c_t + c_c) / (n_t + n_c);
    let se = (pooled * (1.0 - pooled) * (1.0 / n_t + 1.0 / n_c)).sqrt();
    let z = (c_t / n_t - c_c / n_c) / se;
    erfc(z.abs() / std::f64::consts::SQRT_2)
}

fn wilson(c: f64, n: f64) -> (f64, f64) {
    let z = 1.959_963_984_540_054_f64;
    let p = c / n;
    let centre = p + z * z / (2.0 * n);
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    let denom = 1.0 + z * z / n;
    ((centre - half) / denom, (centre + half) / denom)
}

fn close(a: &Value, b: f64, tolerance: f64, what: &str) {
    let a = a
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {a}"));
    assert!(
        (a - b).abs() <= tolerance,
        "{what}: daemon says {a}, the test computes {b}"
    );
}

#[test]
fn results_match_what_the_daemon_routed_and_the_events_sent() {
    let wd = Workdir::new().with_example_plugins();
    wd.write_config(&example_config(""));
    let d = wd.start();

    // Before any traffic the endpoint answers at once, computing or ready.
    let r = client().get(d.url("/results")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let header = |r: &reqwest::blocking::Response, n: &str| {
        r.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let state = header(&r, "x-variantd-results-state");
    assert!(state == "computing" || state == "ready", "{state}");
    assert_eq!(header(&r, "x-variantd-results-mode"), "offline");
    let envelope: Value = r.json().unwrap();
    assert!(envelope.is_array(), "{envelope}");
    let (_, overview) = get_json(&d.url("/ui/api/overview"));
    assert_eq!(overview["results"]["mode"], "offline", "{overview}");

    let traffic = send_traffic(&d);
    let gate = wait_for_results(
        &d,
        "variant_b",
        USERS as u64,
        traffic.purchases.len() as u64,
    );

    // Exactly: units per group, conversions per group, value sums.
    let count = |g: &str| traffic.gate_group.values().filter(|v| **v == g).count() as u64;
    let (pass, fail) = (count("pass"), count("fail"));
    assert!(pass > 50 && fail > 50, "a 50% rollout: {pass}/{fail}");
    assert_eq!(gate["kind"], "gate");
    assert_eq!(gate["control"], "fail");
    assert_eq!(group(&gate, "pass")["units"], pass);
    assert_eq!(group(&gate, "fail")["units"], fail);
    assert_eq!(group(&gate, "pass")["variants"], json!(["app_b"]));
    assert_eq!(group(&gate, "fail")["variants"], json!(["app_a"]));
    assert_eq!(gate["events_from_unexposed"], 1, "the ghost's purchase");
    assert_eq!(gate["srm"]["mismatch"], false);
    let converted = |g: &str| {
        traffic
            .purchases
            .keys()
            .filter(|u| traffic.gate_group[*u] == g)
            .count() as u64
    };
    let value_sum = |g: &str| -> f64 {
        traffic
            .purchases
            .iter()
            .filter(|(u, _)| traffic.gate_group[*u] == g)
            .map(|(_, v)| v)
            .sum()
    };
    let (c_pass, c_fail) = (converted("pass"), converted("fail"));
    let row_pass = metric(&gate, "purchase", "pass");
    let row_fail = metric(&gate, "purchase", "fail");
    assert_eq!(row_pass["units"], pass);
    assert_eq!(row_pass["converted"], c_pass);
    assert_eq!(row_fail["converted"], c_fail);
    close(
        &row_pass["value_mean"],
        value_sum("pass") / pass as f64,
        1e-9,
        "pass value_mean",
    );
    assert!(row_fail["lift"].is_null(), "the control has no lift");

    // Approximately: the statistics against the test's own formulas.
    let (n_t, n_c, c_t, c_c) = (pass as f64, fail as f64, c_pass as f64, c_fail as f64);
    close(&row_pass["rate"], c_t / n_t, 1e-12, "rate");
    let (lo, hi) = wilson(c_t, n_t);
    close(&row_pass["rate_ci"][0], lo, 1e-9, "Wilson low");
    close(&row_pass["rate_ci"][1], hi, 1e-9, "Wilson high");
    close(
        &row_pass["lift"],
        (c_t / n_t - c_c / n_c) / (c_c / n_c),
        1e-9,
        "lift",
    );
    close(
        &row_pass["p_value"],
        two_proportion_p(c_t, n_t, c_c, n_c),
        1e-5,
        "two-proportion p-value",
    );
    let (seq, ci) = (&row_pass["sequential_ci"], &row_pass["lift_ci"]);
    assert!(
        seq[0].as_f64() < ci[0].as_f64() && seq[1].as_f64() > ci[1].as_f64(),
        "the always-valid interval is wider: {seq} vs {ci}"
    );

    // The experiment: groups are the labels users were answered with.
    let experiment_purchasers = traffic
        .purchases
        .keys()
        .filter(|u| traffic.experiment_group.contains_key(*u))
        .count() as u64;
    let experiment = wait_for_results(
        &d,
        "variant_experiment",
        EXPERIMENT_USERS as u64,
        experiment_purchasers,
    );
    for label in ["A", "B", "C"] {
        let units = traffic
            .experiment_group
            .values()
            .filter(|g| *g == label)
            .count() as u64;
        assert_eq!(group(&experiment, label)["units"], units, "group {label}");
    }
    assert_eq!(
        experiment["control"], "A",
        "the route's default variant's group"
    );
    assert_eq!(group(&experiment, "C")["variants"], json!(["app_c"]));

    // The envelope and the 404.
    let r = client().get(d.url("/results")).send().unwrap();
    assert_eq!(r.headers()["x-variantd-results-state"], "ready");
    let envelope: Value = r.json().unwrap();
    let names: Vec<&str> = envelope
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert!(names.contains(&"variant_b") && names.contains(&"variant_experiment"));
    let (status, missing) = get_json(&d.url("/results/no_such_gate"));
    assert_eq!(status, 404);
    assert!(missing["known"]
        .as_array()
        .unwrap()
        .contains(&json!("variant_b")));

    // The CLI on the same files gives the same numbers, to the last digit.
    let glob = format!("{}/exposures.jsonl*", d.dir.display());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_variantd"))
        .args(["--config"])
        .arg(d.dir.join("variantd.toml"))
        .args(["results", "--exposures", &glob, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "variantd results: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cli_decision = |name: &str| {
        cli.as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing from the CLI's output"))
    };
    assert_eq!(cli_decision("variant_b"), gate);
    assert_eq!(cli_decision("variant_experiment"), experiment);

    let table = std::process::Command::new(env!("CARGO_BIN_EXE_variantd"))
        .arg("--config")
        .arg(d.dir.join("variantd.toml"))
        .args(["results", "--exposures", &glob])
        .output()
        .unwrap();
    assert!(table.status.success());
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("variant_b"), "{table}");
    assert!(table.contains(&pass.to_string()), "{table}");
    assert!(table.contains("SRM ok"), "{table}");

    // --control names another control group.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_variantd"))
        .arg("--config")
        .arg(d.dir.join("variantd.toml"))
        .args([
            "results",
            "--exposures",
            &glob,
            "--format",
            "json",
            "--control",
            "variant_experiment=B",
        ])
        .output()
        .unwrap();
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    let experiment = cli
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "variant_experiment")
        .unwrap();
    assert_eq!(experiment["control"], "B");
}
