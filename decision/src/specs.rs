//! Validating a dcs-v2 specs document before statsig sees it.
//!
//! statsig-rust accepts only the v2 format ("dcs-v2": rules name their conditions
//! by id, conditions live in a top-level `condition_map`). It skips a malformed
//! gate with nothing but an ERROR log line, and silently ignores a document
//! older than the one loaded; this module catches those cases up front so a
//! reload can be refused with a clear error while the old specs keep deciding.

use crate::error::DecisionError;
use serde::Serialize;
use serde_json::{Map, Value};

/// Top-level keys every dcs-v2 document must carry (objects).
const REQUIRED_MAPS: [&str; 4] = [
    "feature_gates",
    "dynamic_configs",
    "layer_configs",
    "condition_map",
];
const REQUIRED_SPEC_FIELDS: [&str; 7] = [
    "type",
    "salt",
    "defaultValue",
    "enabled",
    "rules",
    "idType",
    "entity",
];
const REQUIRED_RULE_FIELDS: [&str; 6] = [
    "name",
    "id",
    "passPercentage",
    "returnValue",
    "conditions",
    "idType",
];

/// What a successfully (re)loaded specs document contains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpecsInfo {
    /// The document's `time` (ms since the epoch).
    pub specs_time: u64,
    /// The engine's specs counter after this load.
    pub specs_version: u64,
    pub gates: Vec<String>,
    pub experiments: Vec<String>,
    pub dynamic_configs: Vec<String>,
}

/// A document that passed [`validate`]: its time and entity names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValidSpecs {
    pub time: u64,
    pub gates: Vec<String>,
    pub experiments: Vec<String>,
    pub dynamic_configs: Vec<String>,
}

/// Checks that `json` is a dcs-v2 specs document statsig-rust will accept.
pub(crate) fn validate(json: &str) -> Result<ValidSpecs, DecisionError> {
    let invalid = |msg: String| DecisionError::InvalidSpecs(msg);
    let doc: Value = serde_json::from_str(json).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let top = doc
        .as_object()
        .ok_or_else(|| invalid("top level is not a JSON object".into()))?;

    for key in REQUIRED_MAPS {
        match top.get(key) {
            Some(Value::Object(_)) => {}
            Some(_) => return Err(invalid(format!("\"{key}\" is not an object"))),
            None => {
                let hint = if key == "condition_map" {
                    " (statsig-rust accepts only the dcs-v2 format: conditions by id in a top-level condition_map)"
                } else {
                    ""
                };
                return Err(invalid(format!("missing top-level \"{key}\"{hint}")));
            }
        }
    }
    if top.get("has_updates") != Some(&Value::Bool(true)) {
        return Err(invalid("\"has_updates\" must be true".into()));
    }
    let time = top
        .get("time")
        .and_then(Value::as_u64)
        .filter(|t| *t > 0)
        .ok_or_else(|| {
            invalid("\"time\" must be a positive integer (ms since the epoch)".into())
        })?;
    if let Some(format) = top.get("response_format").and_then(Value::as_str) {
        if format != "dcs-v2" {
            return Err(invalid(format!(
                "response_format is \"{format}\", expected \"dcs-v2\""
            )));
        }
    }

    let conditions = top["condition_map"].as_object().expect("checked above");
    let mut gates = Vec::new();
    let mut experiments = Vec::new();
    let mut dynamic_configs = Vec::new();
    for section in ["feature_gates", "dynamic_configs", "layer_configs"] {
        for (name, spec) in top[section].as_object().expect("checked above") {
            let entity = check_spec(section, name, spec, conditions).map_err(invalid)?;
            match (section, entity.as_str()) {
                ("feature_gates", _) => gates.push(name.clone()),
                ("dynamic_configs", "experiment") => experiments.push(name.clone()),
                ("dynamic_configs", "dynamic_config") => dynamic_configs.push(name.clone()),
                _ => {}
            }
        }
    }
    gates.sort();
    experiments.sort();
    dynamic_configs.sort();
    Ok(ValidSpecs {
        time,
        gates,
        experiments,
        dynamic_configs,
    })
}

/// Checks one gate/config/layer; returns its `entity`.
fn check_spec(
    section: &str,
    name: &str,
    spec: &Value,
    conditions: &Map<String, Value>,
) -> Result<String, String> {
    let at = format!("{section}.{name}");
    let spec = spec
        .as_object()
        .ok_or_else(|| format!("{at} is not an object"))?;
    for field in REQUIRED_SPEC_FIELDS {
        if !spec.contains_key(field) {
            return Err(format!("{at} lacks \"{field}\""));
        }
    }
    let rules = spec["rules"]
        .as_array()
        .ok_or_else(|| format!("{at}.rules is not an array"))?;
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("{at}.rules[{i}]");
        let rule = rule
            .as_object()
            .ok_or_else(|| format!("{at} is not an object"))?;
        for field in REQUIRED_RULE_FIELDS {
            if !rule.contains_key(field) {
                return Err(format!("{at} lacks \"{field}\""));
            }
        }
        if !rule["passPercentage"].is_number() {
            return Err(format!("{at}.passPercentage is not a number"));
        }
        let ids = rule["conditions"]
            .as_array()
            .ok_or_else(|| format!("{at}.conditions is not an array"))?;
        for id in ids {
            let id = id
                .as_str()
                .ok_or_else(|| format!("{at}.conditions holds a non-string (inline v1 conditions are not accepted; use condition ids)"))?;
            if !conditions.contains_key(id) {
                return Err(format!(
                    "{at} refers to condition \"{id}\", absent from condition_map"
                ));
            }
        }
    }
    Ok(spec["entity"].as_str().unwrap_or_default().to_string())
}

/// An empty but well-formed document with `time` 0: lets statsig start (and its
/// bootstrap adapter get a listener) before any real specs exist.
pub(crate) const EMPTY_SPECS: &str = r#"{"has_updates":true,"time":0,"response_format":"dcs-v2","feature_gates":{},"dynamic_configs":{},"layer_configs":{},"condition_map":{},"experiment_to_layer":{}}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_file_is_valid() {
        let json = include_str!("../../config/statsig_specs.json");
        let v = validate(json).unwrap();
        assert_eq!(v.gates, vec!["variant_b"]);
        assert_eq!(v.experiments, vec!["variant_experiment"]);
        assert_eq!(v.dynamic_configs, vec!["variant_config"]);
        assert!(v.time > 0);
    }

    #[test]
    fn v1_inline_conditions_are_refused() {
        let json = r#"{"has_updates":true,"time":1,"feature_gates":{"g":{"type":"feature_gate",
            "salt":"g","defaultValue":false,"enabled":true,"idType":"userID","entity":"feature_gate",
            "rules":[{"name":"r","id":"r","passPercentage":50,"returnValue":true,"idType":"userID",
            "conditions":[{"type":"public"}]}]}},"dynamic_configs":{},"layer_configs":{}}"#;
        let err = validate(json).unwrap_err().to_string();
        assert!(err.contains("condition_map"), "{err}");
        let with_map = json.replacen(
            r#""layer_configs":{}"#,
            r#""layer_configs":{},"condition_map":{}"#,
            1,
        );
        let err = validate(&with_map).unwrap_err().to_string();
        assert!(err.contains("condition"), "{err}");
    }

    #[test]
    fn garbage_and_missing_keys_are_refused() {
        assert!(validate("{not json").is_err());
        assert!(validate("[]").is_err());
        assert!(validate(r#"{"has_updates":true,"time":1}"#).is_err());
        assert!(
            validate(EMPTY_SPECS).is_err(),
            "time 0 is not a loadable document"
        );
    }
}
