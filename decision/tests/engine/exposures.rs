//! Offline exposures and custom events land in the JSONL file.

use crate::*;
use serde_json::Value;
use variantd_decision::EventValue;

#[tokio::test]
async fn exposures_and_custom_events_are_appended_as_json_lines() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nested/dir/exposures.jsonl");
        let engine = offline_engine(shipped_specs_path(), Some(out.clone())).await;

        let alice = UserContext::new("qa-alice").with_custom("plan", "enterprise");
        engine.decide(&alice, &gate("variant_b"));
        engine.decide(&user(3), &experiment("variant_experiment"));
        engine.log_event(
            &alice,
            "checkout",
            Some(EventValue::Number(42.5)),
            HashMap::from([("variant".to_string(), "b".to_string())]),
        );
        engine.log_event(
            &user(3),
            "page_view",
            Some(EventValue::Text("home".into())),
            HashMap::new(),
        );
        engine.flush().await;

        let text = std::fs::read_to_string(&out).expect("file written by flush");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let named = |n: &str| {
            lines
                .iter()
                .filter(|l| l["eventName"] == n)
                .collect::<Vec<_>>()
        };

        let gate_expo = named("statsig::gate_exposure");
        assert_eq!(gate_expo.len(), 1, "{text}");
        let g = gate_expo[0];
        assert_eq!(g["user"]["userID"], "qa-alice");
        assert_eq!(g["user"]["custom"]["plan"], "enterprise");
        assert_eq!(g["metadata"]["gate"], "variant_b");
        assert_eq!(g["metadata"]["gateValue"], "true");
        assert_eq!(g["metadata"]["ruleID"], "qa_allowlist");
        assert!(
            g["metadata"]["reason"]
                .as_str()
                .unwrap()
                .contains("Bootstrap"),
            "{g}"
        );
        assert!(g["time"].as_u64().unwrap() > 0);

        let config_expo = named("statsig::config_exposure");
        assert_eq!(config_expo.len(), 1, "{text}");
        assert_eq!(config_expo[0]["metadata"]["config"], "variant_experiment");

        let checkout = named("checkout");
        assert_eq!(checkout.len(), 1, "{text}");
        assert_eq!(checkout[0]["value"], 42.5);
        assert_eq!(checkout[0]["metadata"]["variant"], "b");
        assert_eq!(checkout[0]["user"]["userID"], "qa-alice");
        let page_view = named("page_view");
        assert_eq!(page_view[0]["value"], "home");

        assert!(
            lines.iter().all(|l| {
                let n = l["eventName"].as_str().unwrap();
                !n.starts_with("statsig::") || n.ends_with("_exposure")
            }),
            "internal telemetry filtered: {text}"
        );

        // Appending: a second batch adds lines, the first stay.
        engine.log_event(&user(4), "checkout", None, HashMap::new());
        engine.shutdown().await;
        let after = std::fs::read_to_string(&out).unwrap();
        assert!(after.starts_with(&text));
        assert_eq!(after.lines().count(), lines.len() + 1);
    })
    .await
}
