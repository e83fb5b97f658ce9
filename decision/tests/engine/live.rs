//! Live mode against an unreachable Statsig (a dead loopback port): startup is
//! bounded, decisions come from the local file, status says why, the key never shows.

use crate::*;
use std::time::Instant;
use variantd_decision::SecretKey;

const FAKE_KEY: &str = "secret-variantd-test-FAKEKEY0123456789";

fn dead_loopback_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn unreachable_statsig_keeps_serving_the_file() {
    bounded(async {
        let init_timeout = Duration::from_millis(1500);
        let settings = StatsigSettings {
            api_key: Some(SecretKey::new(FAKE_KEY)),
            init_timeout,
            environment: Some("test".into()),
            api_url: Some(dead_loopback_url()),
            ..StatsigSettings::offline(shipped_specs_path())
        };
        assert!(!format!("{settings:?}").contains(FAKE_KEY));

        let started = Instant::now();
        let engine = DecisionEngine::start(settings).await.unwrap();
        let took = started.elapsed();
        println!("live start against a dead port took {took:?}");
        assert!(
            took < init_timeout + Duration::from_millis(1000),
            "{took:?}"
        );

        let status = engine.status();
        assert_eq!(
            (status.mode, status.source, status.ready),
            ("live", "file", true)
        );
        let err = status
            .last_error
            .clone()
            .expect("unreachable Statsig is reported");
        assert!(err.contains("unreachable"), "{err}");
        println!("live status last_error: {err}");

        let d = engine.decide(&UserContext::new("qa-carol"), &gate("variant_b"));
        assert_eq!(
            (d.variant.as_str(), d.rule_id.as_str()),
            ("b", "qa_allowlist")
        );
        assert_eq!(d.reason, "Bootstrap:Recognized");
        let passes = (0..1000)
            .filter(|i| engine.decide(&user(*i), &gate("variant_b")).variant == "b")
            .count();
        assert!((450..=550).contains(&passes));

        let shown = format!(
            "{status:?} {} {engine:?}",
            serde_json::to_string(&status).unwrap()
        );
        assert!(!shown.contains(FAKE_KEY), "key leaked: {shown}");
        assert!(!shown.contains("FAKEKEY"), "key leaked: {shown}");

        let stopping = Instant::now();
        engine.shutdown().await;
        let stop_took = stopping.elapsed();
        println!("live shutdown took {stop_took:?}");
        assert!(stop_took < Duration::from_millis(1500), "{stop_took:?}");
    })
    .await
}

#[test]
fn secret_key_never_prints() {
    let key = SecretKey::new(FAKE_KEY);
    assert_eq!(format!("{key}"), "[redacted]");
    assert_eq!(format!("{key:?}"), "[redacted]");
    assert_eq!(
        key.redact(&format!("GET /v2/{FAKE_KEY}.json")),
        "GET /v2/[redacted].json"
    );
}

#[tokio::test]
async fn a_statsig_that_never_answers_cannot_hold_startup_past_init_timeout() {
    bounded(async {
        // Accepts connections (the kernel does, via the backlog) but never answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let init_timeout = Duration::from_millis(400);
        let settings = StatsigSettings {
            api_key: Some(SecretKey::new(FAKE_KEY)),
            init_timeout,
            api_url: Some(url),
            ..StatsigSettings::offline(shipped_specs_path())
        };
        let started = Instant::now();
        let engine = DecisionEngine::start(settings).await.unwrap();
        let took = started.elapsed();
        println!("live start against a silent server took {took:?}");
        assert!(took >= init_timeout - Duration::from_millis(50), "{took:?}");
        assert!(
            took < init_timeout + Duration::from_millis(1000),
            "{took:?}"
        );

        let status = engine.status();
        assert_eq!((status.source, status.ready), ("file", true));
        assert!(status.last_error.unwrap().contains("unreachable"));
        let d = engine.decide(&UserContext::new("qa-bob"), &gate("variant_b"));
        assert_eq!(d.rule_id, "qa_allowlist");

        let stopping = Instant::now();
        engine.shutdown().await;
        let stop_took = stopping.elapsed();
        println!("live shutdown with a silent server took {stop_took:?}");
        assert!(stop_took < Duration::from_millis(1500), "{stop_took:?}");
        drop(listener);
    })
    .await
}
