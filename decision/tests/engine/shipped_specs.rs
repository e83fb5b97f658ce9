//! The shipped config/statsig_specs.json, evaluated by statsig-rust.

use crate::*;
use variantd_decision::{DecisionKind, UserContext};

const USERS: usize = 10_000;
/// The Python replica's count: sha256("variant_b.rollout50.userN") % 10000 < 5000.
const PYTHON_REPLICA_PASSES: usize = 5080;

#[tokio::test]
async fn gate_passes_half_of_users_exactly_like_the_python_replica() {
    bounded(async {
        let engine = offline_engine(shipped_specs_path(), None).await;
        let spec = gate("variant_b");
        let mut passes = 0;
        for i in 0..USERS {
            let d = engine.decide(&user(i), &spec);
            assert_eq!(d.reason, "Bootstrap:Recognized");
            assert_eq!(d.rule_id, "rollout50");
            if d.gate_value == Some(true) {
                assert_eq!(d.variant, "b");
                passes += 1;
            } else {
                assert_eq!(d.variant, "a");
            }
        }
        println!("variant_b passes: {passes} of {USERS}");
        let share = passes as f64 / USERS as f64;
        assert!((0.48..=0.52).contains(&share), "share {share}");
        assert_eq!(
            passes, PYTHON_REPLICA_PASSES,
            "same salts as the Python replica"
        );
        engine.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn allowlisted_qa_ids_always_pass_by_the_allowlist_rule() {
    bounded(async {
        let engine = offline_engine(shipped_specs_path(), None).await;
        for id in ["qa-alice", "qa-bob", "qa-carol"] {
            let d = engine.decide(&UserContext::new(id), &gate("variant_b"));
            assert_eq!(d.variant, "b", "{id}");
            assert_eq!(d.gate_value, Some(true));
            assert_eq!(d.rule_id, "qa_allowlist");
            assert_eq!(d.decided_by, "variant_b");
            assert_eq!(d.kind, DecisionKind::Gate);
        }
        engine.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn custom_field_plan_enterprise_passes_by_its_rule() {
    bounded(async {
        let engine = offline_engine(shipped_specs_path(), None).await;
        let spec = gate("variant_b");
        for i in 0..200 {
            let d = engine.decide(&user(i).with_custom("plan", "enterprise"), &spec);
            assert_eq!(
                (d.variant.as_str(), d.rule_id.as_str()),
                ("b", "plan_enterprise")
            );
        }
        // Another plan falls through to the 50% rule.
        let d = engine.decide(&user(1).with_custom("plan", "free"), &spec);
        assert_eq!(d.rule_id, "rollout50");
        engine.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn experiment_splits_users_in_thirds() {
    bounded(async {
        let engine = offline_engine(shipped_specs_path(), None).await;
        let spec = experiment("variant_experiment");
        let mut groups: HashMap<String, usize> = HashMap::new();
        for i in 0..USERS {
            let d = engine.decide(&user(i), &spec);
            let group = d.group_name.clone().expect("every user is in a group");
            assert_eq!(d.value.as_deref(), Some(group.as_str()));
            let expected_variant = match group.as_str() {
                "A" => "app_a",
                "B" => "app_b",
                other => other, // not in the map: the value is the variant name
            };
            assert_eq!(d.variant, expected_variant);
            assert_eq!(d.rule_id, format!("group_{}", group.to_lowercase()));
            *groups.entry(group).or_default() += 1;
        }
        println!("variant_experiment split: {groups:?}");
        assert_eq!(groups.len(), 3);
        for (group, n) in &groups {
            let share = *n as f64 / USERS as f64;
            assert!(
                (0.333 - 0.025..=0.333 + 0.025).contains(&share),
                "{group}: {share}"
            );
        }
        engine.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn dynamic_config_default_and_plan_beta_rule() {
    bounded(async {
        let engine = offline_engine(shipped_specs_path(), None).await;
        let spec = dynamic_config("variant_config");
        let d = engine.decide(&user(7), &spec);
        assert_eq!(
            (d.variant.as_str(), d.value.as_deref()),
            ("app_a", Some("A"))
        );
        assert_eq!(d.kind, DecisionKind::DynamicConfig);
        let d = engine.decide(&user(7).with_custom("plan", "beta"), &spec);
        assert_eq!(
            (d.variant.as_str(), d.value.as_deref()),
            ("app_b", Some("B"))
        );
        assert_eq!(d.rule_id, "plan_beta");
        engine.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn two_engines_agree_on_every_user() {
    bounded(async {
        let first = offline_engine(shipped_specs_path(), None).await;
        let second = offline_engine(shipped_specs_path(), None).await;
        for i in 0..USERS {
            let u = user(i);
            for spec in [gate("variant_b"), experiment("variant_experiment")] {
                assert_eq!(first.decide(&u, &spec), second.decide(&u, &spec), "user{i}");
            }
        }
        first.shutdown().await;
        second.shutdown().await;
    })
    .await
}

#[tokio::test]
async fn unknown_names_get_the_default_and_are_not_known() {
    bounded(async {
        let engine = offline_engine(shipped_specs_path(), None).await;
        let d = engine.decide(&user(1), &gate("no_such_gate"));
        assert_eq!(d.variant, "a");
        assert_eq!(d.reason, "Bootstrap:Unrecognized");
        assert_eq!(d.rule_id, "");
        let d = engine.decide(&user(1), &experiment("no_such_experiment"));
        assert_eq!(d.variant, "app_a");
        assert_eq!(d.reason, "Bootstrap:Unrecognized");

        assert!(!engine.knows(DecisionKind::Gate, "no_such_gate"));
        assert!(engine.knows(DecisionKind::Gate, "variant_b"));
        assert!(engine.knows(DecisionKind::Experiment, "variant_experiment"));
        assert!(!engine.knows(DecisionKind::Gate, "variant_experiment"));
        assert!(engine.knows(DecisionKind::DynamicConfig, "variant_config"));
        assert!(!engine.knows(DecisionKind::DynamicConfig, "variant_experiment"));

        let status = engine.status();
        assert_eq!(
            (status.mode, status.source, status.ready),
            ("offline", "file", true)
        );
        assert_eq!(status.gates, vec!["variant_b"]);
        assert_eq!(status.experiments, vec!["variant_experiment"]);
        assert_eq!(status.dynamic_configs, vec!["variant_config"]);
        assert_eq!(status.last_error, None);
        assert_eq!(status.specs_version, 1);
        engine.shutdown().await;
    })
    .await
}
