//! Integration tests of variantd-decision: real statsig-rust evaluation, no mocks,
//! no network. One test binary (statsig-rust makes every binary slow to link).

mod definitions;
mod exposures;
mod live;
mod reload;
mod shipped_specs;

pub use std::collections::HashMap;
pub use std::future::Future;
pub use std::path::PathBuf;
pub use std::time::Duration;
pub use variantd_decision::{DecisionEngine, DecisionSpec, StatsigSettings, UserContext};

/// Every test body runs under this bound.
pub const TEST_BOUND: Duration = Duration::from_secs(60);

pub async fn bounded<F: Future<Output = T>, T>(fut: F) -> T {
    tokio::time::timeout(TEST_BOUND, fut)
        .await
        .expect("test exceeded its time bound")
}

pub fn shipped_specs_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/statsig_specs.json")
}

pub fn shipped_specs() -> String {
    std::fs::read_to_string(shipped_specs_path()).unwrap()
}

pub async fn offline_engine(specs_path: PathBuf, exposures: Option<PathBuf>) -> DecisionEngine {
    let mut settings = StatsigSettings::offline(specs_path);
    settings.exposures_path = exposures;
    DecisionEngine::start(settings)
        .await
        .expect("offline start never fails")
}

pub fn gate(name: &str) -> DecisionSpec {
    DecisionSpec::Gate {
        name: name.into(),
        pass: "b".into(),
        fail: "a".into(),
    }
}

pub fn experiment(name: &str) -> DecisionSpec {
    DecisionSpec::Experiment {
        name: name.into(),
        parameter: "variant".into(),
        variants: HashMap::from([("A".into(), "app_a".into()), ("B".into(), "app_b".into())]),
        default: "app_a".into(),
    }
}

pub fn dynamic_config(name: &str) -> DecisionSpec {
    DecisionSpec::DynamicConfig {
        name: name.into(),
        parameter: "variant".into(),
        variants: HashMap::from([("A".into(), "app_a".into()), ("B".into(), "app_b".into())]),
        default: "app_default".into(),
    }
}

pub fn user(i: usize) -> UserContext {
    UserContext::new(format!("user{i}"))
}

/// The shipped specs with the 50% rollout replaced and `time` bumped.
pub fn specs_with_rollout(percent: u32, time_bump: u64) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(&shipped_specs()).unwrap();
    let rules = doc["feature_gates"]["variant_b"]["rules"]
        .as_array_mut()
        .unwrap();
    let rollout = rules.iter_mut().find(|r| r["id"] == "rollout50").unwrap();
    rollout["passPercentage"] = percent.into();
    let time = doc["time"].as_u64().unwrap() + time_bump;
    doc["time"] = time.into();
    doc.to_string()
}
