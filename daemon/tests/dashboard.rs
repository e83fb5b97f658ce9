//! `/ui` rendered by a real headless Chromium (Debian's `chromium`) against
//! a real daemon with real traffic and events: the page must show every
//! decision with its unit counts, escape what it shows, and show the admin
//! parts to a loopback caller. A screenshot is kept under
//! `target/test-artifacts/`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const USERS: usize = 120;
/// An event name is whatever a client POSTs: the page must show it as text.
const HOSTILE_EVENT: &str = "<img id=\"injected\" src=x onerror=\"document.title='pwned'\">";

fn chromium() -> PathBuf {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "this test renders /ui in a real headless Chromium, and none is installed: \
         run `apt-get update && apt-get install -y chromium` (.ci/run does)"
    );
}

/// Run headless Chromium on `url` with `extra` arguments; its stdout.
fn run_chromium(url: &str, extra: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--virtual-time-budget=6000",
            "--window-size=1280,2200",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn artifacts_dir() -> PathBuf {
    let dir = workspace_root().join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The HTML of the element carrying `attr`, up to the next sibling of its
/// kind (enough to look inside one decision's block).
fn block<'a>(dom: &'a str, attr: &str, next: &str) -> &'a str {
    let start = dom
        .find(attr)
        .unwrap_or_else(|| panic!("the page has no {attr}:\n{dom}"));
    let rest = &dom[start..];
    let end = rest[attr.len()..]
        .find(next)
        .map_or(rest.len(), |i| i + attr.len());
    &rest[..end]
}

#[test]
fn the_dashboard_shows_every_decision_with_its_units_in_a_real_browser() {
    let chromium_path = chromium(); // fail first, and clearly, without a browser
    let wd = Workdir::new().with_example_plugins();
    wd.write_config(&example_config(""));
    let d = wd.start();
    let c = client();

    for i in 0..USERS {
        let user = format!("user{i}");
        let r = c
            .get(d.url(&format!("/process/hello?user_key={user}")))
            .send()
            .unwrap();
        assert!(r.status().is_success());
        if i < 60 {
            let r = c
                .get(d.url(&format!("/experiment/process/hi?user_key={user}")))
                .send()
                .unwrap();
            assert!(r.status().is_success());
        }
        if i.is_multiple_of(4) {
            let r = c
                .post(d.url("/events"))
                .json(&json!({ "user_key": user, "event_name": "purchase", "value": 2.5 }))
                .send()
                .unwrap();
            assert!(r.status().is_success());
        }
    }
    let r = c
        .post(d.url("/events"))
        .json(&json!({ "user_key": "user0", "event_name": HOSTILE_EVENT, "value": 1 }))
        .send()
        .unwrap();
    assert!(r.status().is_success());
    assert!(c
        .post(d.url("/admin/flush"))
        .send()
        .unwrap()
        .status()
        .is_success());

    // What the page must show: the daemon's own numbers, once computed.
    let mut expected: Value = Value::Null;
    let computed = wait_until(Duration::from_secs(40), || {
        let (_, body) = get_json(&d.url("/results"));
        let units = |name: &str| -> u64 {
            body.as_array()
                .and_then(|ds| ds.iter().find(|d| d["name"] == name))
                .map_or(0, |d| {
                    d["groups"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|g| g["units"].as_u64().unwrap_or(0))
                        .sum()
                })
        };
        let hostile_seen = body.to_string().contains("injected");
        let ok =
            units("variant_b") == USERS as u64 && units("variant_experiment") == 60 && hostile_seen;
        expected = body;
        if !ok {
            std::thread::sleep(Duration::from_millis(300));
        }
        ok
    });
    assert!(computed, "results never covered the traffic: {expected}");

    let dom = run_chromium(&d.url("/ui"), &["--dump-dom".to_string()]);
    std::fs::write(artifacts_dir().join("dashboard.html"), &dom).unwrap();
    assert!(
        dom.contains("data-loaded=\"true\""),
        "the page never loaded its data:\n{dom}"
    );

    for decision in expected.as_array().unwrap() {
        let groups = decision["groups"].as_array().unwrap();
        if groups.is_empty() {
            continue;
        }
        let name = decision["name"].as_str().unwrap();
        let html = block(&dom, &format!("data-decision=\"{name}\""), "data-decision=");
        let total: u64 = groups.iter().map(|g| g["units"].as_u64().unwrap()).sum();
        assert!(
            html.contains(&format!("<span class=\"total-units\">{total}</span>")),
            "{name}: total {total} not shown:\n{html}"
        );
        for g in groups {
            let group = g["group"].as_str().unwrap();
            let row = block(html, &format!("<tr data-group=\"{group}\">"), "</tr>");
            assert!(
                row.contains(&format!("<td class=\"num units\">{}</td>", g["units"])),
                "{name}/{group}: {} units not shown:\n{row}",
                g["units"]
            );
        }
        let srm_shown = html.contains("SRM ok") || html.contains("sample ratio mismatch");
        assert!(srm_shown, "{name}: no SRM line:\n{html}");
    }
    // A verdict for the gate's purchases, and the routes.
    let gate = block(&dom, "data-decision=\"variant_b\"", "data-decision=");
    assert!(gate.contains("purchase: pass"), "no verdict:\n{gate}");
    assert!(dom.contains("/process/{message}"), "no routes table");
    // Traffic and latency come from the sampler.
    assert!(
        dom.contains("data-variant=\"app_b\""),
        "no latency row for app_b"
    );
    // The hostile event name is text, not an element.
    assert!(
        !dom.contains("<img id=\"injected\""),
        "an event name was rendered as HTML"
    );
    assert!(
        dom.contains("&lt;img id=\"injected\""),
        "the event name is not shown"
    );
    // Loopback and no forwarding header: the admin parts are shown.
    assert!(
        dom.contains("data-plugin=\"app_a\""),
        "no plugin rows for a loopback caller"
    );

    // A proxied caller does not get the admin JSON the page needs for them.
    let r = c
        .get(d.url("/ui/api/admin"))
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // Assets come from the binary, with a policy that allows no inline script.
    let r = c.get(d.url("/ui")).send().unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(c
        .get(d.url("/ui/vendor/uPlot.iife.min.js"))
        .send()
        .unwrap()
        .status()
        .is_success());

    let screenshot = artifacts_dir().join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    run_chromium(
        &d.url("/ui"),
        &[format!("--screenshot={}", screenshot.display())],
    );
    let size = std::fs::metadata(&screenshot).map_or(0, |m| m.len());
    assert!(
        size > 10_000,
        "no screenshot at {} ({size} bytes; chromium {})",
        screenshot.display(),
        chromium_path.display()
    );
}
