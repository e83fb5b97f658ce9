//! Missing specs, reloads from file and string, refused documents.

use crate::*;
use variantd_decision::{DecisionError, DecisionKind};

#[tokio::test]
async fn missing_file_starts_not_ready_then_reload_makes_it_ready() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("specs.json");
        let engine = offline_engine(path.clone(), None).await;

        let status = engine.status();
        assert!(!status.ready);
        assert_eq!(status.source, "none");
        assert_eq!(status.specs_version, 0);
        assert!(
            status
                .last_error
                .as_deref()
                .unwrap()
                .contains("cannot read specs file"),
            "{status:?}"
        );
        assert!(!engine.knows(DecisionKind::Gate, "variant_b"));
        for spec in [
            gate("variant_b"),
            experiment("variant_experiment"),
            dynamic_config("variant_config"),
        ] {
            let d = engine.decide(&UserContext::new("qa-alice"), &spec);
            assert_eq!(d.variant, spec.default_variant());
            assert!(d.reason.starts_with("NotReady"), "{}", d.reason);
        }
        assert!(matches!(
            engine.reload_specs(),
            Err(DecisionError::SpecsRead { .. })
        ));

        std::fs::write(&path, shipped_specs()).unwrap();
        let info = engine.reload_specs().unwrap();
        assert_eq!(info.gates, vec!["variant_b"]);
        assert_eq!(info.specs_version, 1);
        let status = engine.status();
        assert!(status.ready);
        assert_eq!((status.source, status.last_error.clone()), ("file", None));
        let d = engine.decide(&UserContext::new("qa-alice"), &gate("variant_b"));
        assert_eq!(
            (d.variant.as_str(), d.reason.as_str()),
            ("b", "Bootstrap:Recognized")
        );
        assert!(engine.knows(DecisionKind::Gate, "variant_b"));
        engine.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn reload_from_string_takes_effect_and_bad_documents_are_refused() {
    bounded(async {
        let engine = offline_engine(shipped_specs_path(), None).await;
        let spec = gate("variant_b");
        let passes = |e: &DecisionEngine| {
            (0..1000)
                .filter(|i| e.decide(&user(*i), &spec).variant == "b")
                .count()
        };
        let before = passes(&engine);
        assert!((450..=550).contains(&before), "{before}");
        let v1 = engine.specs_version();

        // 100% rollout, newer time: everyone passes at once.
        let info = engine
            .reload_specs_from_str(&specs_with_rollout(100, 1000))
            .unwrap();
        assert_eq!(info.specs_version, v1 + 1);
        assert_eq!(engine.specs_version(), v1 + 1);
        assert_eq!(passes(&engine), 1000);

        // Invalid documents are refused, the 100% specs keep deciding.
        for bad in ["{ not json", "[]", r#"{"has_updates":true,"time":5}"#] {
            let err = engine.reload_specs_from_str(bad).unwrap_err();
            assert!(matches!(err, DecisionError::InvalidSpecs(_)), "{err}");
        }
        assert!(engine
            .status()
            .last_error
            .unwrap()
            .contains("previous specs kept"));
        assert_eq!(passes(&engine), 1000);
        assert_eq!(engine.specs_version(), v1 + 1);

        // A document older than the loaded one would be ignored by statsig: refused.
        let err = engine
            .reload_specs_from_str(&specs_with_rollout(0, 0))
            .unwrap_err();
        assert!(matches!(err, DecisionError::StaleSpecs { .. }), "{err}");
        assert_eq!(passes(&engine), 1000);

        // An invalid file on disk is refused the same way.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("specs.json");
        std::fs::write(&path, shipped_specs()).unwrap();
        let file_engine = offline_engine(path.clone(), None).await;
        std::fs::write(&path, "{\"truncated\": ").unwrap();
        assert!(matches!(
            file_engine.reload_specs(),
            Err(DecisionError::InvalidSpecs(_))
        ));
        let d = file_engine.decide(&UserContext::new("qa-bob"), &spec);
        assert_eq!(
            (d.variant.as_str(), d.rule_id.as_str()),
            ("b", "qa_allowlist")
        );
        // A good, newer file is accepted and clears the error.
        std::fs::write(&path, specs_with_rollout(0, 5)).unwrap();
        file_engine.reload_specs().unwrap();
        assert_eq!(file_engine.status().last_error, None);
        assert_eq!(passes(&file_engine), 0);

        engine.shutdown().await;
        file_engine.shutdown().await;
    })
    .await
}
