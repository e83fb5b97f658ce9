//! A dcs-v2 document in plain words (`variantd specs show`).
//!
//! Works on any dcs-v2 document, generated from definitions or downloaded from
//! Statsig: unknown condition types and operators are named rather than
//! refused, because a console feature newer than this code must not stop an
//! operator from reading the rest.

use serde_json::{Map, Value};
use std::fmt::Write as _;

/// Longest list printed in full; longer ones are cut with a count.
const LIST_SHOWN: usize = 12;

/// Why a document could not be described.
#[derive(Debug, thiserror::Error)]
pub enum DescribeError {
    #[error("not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("not a dcs-v2 specs document: {0}")]
    NotSpecs(String),
}

/// Every gate, segment, holdout, experiment, dynamic config and layer of a
/// dcs-v2 document, one line per rule, e.g.
///
/// ```text
/// gate variant_b (unit userID):
///   1. qa_allowlist: userID is any of qa-alice, qa-bob → pass
///   2. rollout50: everyone → 50% pass, the rest fail
///   otherwise fail
/// ```
pub fn describe_specs(json: &str) -> Result<String, DescribeError> {
    let doc: Value = serde_json::from_str(json)?;
    let top = doc
        .as_object()
        .ok_or_else(|| DescribeError::NotSpecs("the top level is not an object".into()))?;
    let empty = Map::new();
    let section = |key: &str| -> Result<&Map<String, Value>, DescribeError> {
        match top.get(key) {
            None | Some(Value::Null) => Ok(&empty),
            Some(Value::Object(map)) => Ok(map),
            Some(_) => Err(DescribeError::NotSpecs(format!(
                "\"{key}\" is not an object"
            ))),
        }
    };
    let conditions = section("condition_map")?;
    let layers_of = section("experiment_to_layer")?;
    let describer = Describer { conditions };

    let mut specs: Vec<(u8, &str, &String, &Value)> = Vec::new();
    for (section_name, fallback) in [
        ("feature_gates", "feature_gate"),
        ("dynamic_configs", "dynamic_config"),
        ("layer_configs", "layer"),
    ] {
        for (name, spec) in section(section_name)? {
            let entity = spec
                .get("entity")
                .and_then(Value::as_str)
                .unwrap_or(fallback);
            let order = match entity {
                "feature_gate" => 0,
                "segment" => 1,
                "holdout" => 2,
                "experiment" => 3,
                "dynamic_config" => 4,
                "layer" => 5,
                _ => 6,
            };
            specs.push((order, entity, name, spec));
        }
    }
    specs.sort_by(|a, b| (a.0, a.2).cmp(&(b.0, b.2)));

    let mut out = String::new();
    if let Some(time) = top.get("time").and_then(Value::as_u64) {
        let _ = writeln!(out, "specs time {time}");
    }
    if specs.is_empty() {
        out.push_str("no gates, experiments or dynamic configs\n");
    }
    for (_, entity, name, spec) in specs {
        let layer = layers_of.get(name).and_then(Value::as_str);
        describer.spec(&mut out, entity, name, spec, layer);
    }
    Ok(out)
}

struct Describer<'a> {
    conditions: &'a Map<String, Value>,
}

impl Describer<'_> {
    fn spec(&self, out: &mut String, entity: &str, name: &str, spec: &Value, layer: Option<&str>) {
        let label = match entity {
            "feature_gate" => "gate".to_string(),
            "dynamic_config" => "dynamic config".to_string(),
            other => other.replace('_', " "),
        };
        let id_type = spec
            .get("idType")
            .and_then(Value::as_str)
            .unwrap_or("userID");
        let mut notes = vec![format!("unit {id_type}")];
        if let Some(salt) = spec.get("salt").and_then(Value::as_str) {
            if salt != name {
                notes.push(format!("salt {salt}"));
            }
        }
        let enabled = spec.get("enabled").and_then(Value::as_bool).unwrap_or(true);
        if !enabled {
            notes.push("disabled".into());
        }
        if entity == "experiment" && spec.get("isActive").and_then(Value::as_bool) == Some(false) {
            notes.push("not active".into());
        }
        if let Some(layer) = layer {
            notes.push(format!("in layer {layer}"));
        }
        let _ = writeln!(out, "{label} {name} ({}):", notes.join(", "));

        let default = spec.get("defaultValue").unwrap_or(&Value::Null);
        let is_gate = default.is_boolean();
        let rules = spec
            .get("rules")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for (i, rule) in rules.iter().enumerate() {
            let _ = writeln!(out, "  {}. {}", i + 1, self.rule(rule, is_gate, default));
        }
        let otherwise = if !enabled && rules.is_empty() {
            format!(
                "disabled: everyone gets {} (rule id disabled)",
                outcome(default, is_gate)
            )
        } else if rules.is_empty() {
            format!("everyone gets {}", outcome(default, is_gate))
        } else {
            format!("otherwise {}", outcome(default, is_gate))
        };
        let _ = writeln!(out, "  {otherwise}");
    }

    fn rule(&self, rule: &Value, is_gate: bool, default: &Value) -> String {
        let id = rule.get("id").and_then(Value::as_str).unwrap_or("(no id)");
        let mut head = id.to_string();
        if let Some(group) = rule.get("groupName").and_then(Value::as_str) {
            head.push_str(&format!(" (group {group})"));
        }
        let meaning = match id {
            "layerAssignment" => Some("not allocated"),
            "targetingGate" | "inlineTargetingRules" => Some("not targeted"),
            "prestart" => Some("not started"),
            "launchedGroup" => Some("shipped"),
            _ => None,
        };
        if let Some(meaning) = meaning {
            head.push_str(&format!(" [{meaning}]"));
        }

        let ids = rule
            .get("conditions")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let conditions = if ids.is_empty() {
            "everyone".to_string()
        } else {
            ids.iter()
                .map(
                    |id| match id.as_str().and_then(|id| self.conditions.get(id)) {
                        Some(condition) => condition_words(condition),
                        None => format!("missing condition {}", plain(id)),
                    },
                )
                .collect::<Vec<_>>()
                .join(" and ")
        };

        let value = rule.get("returnValue").unwrap_or(&Value::Null);
        let percent = rule
            .get("passPercentage")
            .and_then(Value::as_f64)
            .unwrap_or(100.0);
        let result = if percent >= 100.0 {
            outcome(value, is_gate)
        } else if percent <= 0.0 {
            format!("0% pass, so the default: {}", outcome(default, is_gate))
        } else if is_gate && value.as_bool() != Some(false) {
            format!("{}% pass, the rest fail", number(percent))
        } else {
            format!(
                "{}% get {}, the rest {}",
                number(percent),
                outcome(value, is_gate),
                outcome(default, is_gate)
            )
        };
        format!("{head}: {conditions} → {result}")
    }
}

fn outcome(value: &Value, is_gate: bool) -> String {
    match value {
        Value::Bool(true) if is_gate => "pass".into(),
        Value::Bool(false) if is_gate => "fail".into(),
        other => other.to_string(),
    }
}

fn condition_words(c: &Value) -> String {
    let kind = c.get("type").and_then(Value::as_str).unwrap_or("(none)");
    let field = c.get("field").and_then(Value::as_str);
    let op = c.get("operator").and_then(Value::as_str).unwrap_or("");
    let target = c.get("targetValue").unwrap_or(&Value::Null);
    let id_type = c.get("idType").and_then(Value::as_str).unwrap_or("userID");
    let salt = c
        .get("additionalValues")
        .and_then(|a| a.get("salt"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let compare =
        |subject: String| format!("{subject} {} {}", operator_words(op), target_words(target));
    match kind {
        "public" => "everyone".into(),
        "user_field" => compare(field.unwrap_or("(no field)").to_string()),
        "unit_id" => compare(id_type.to_string()),
        "ua_based" => compare(format!("{} (from the user agent)", field.unwrap_or("?"))),
        "ip_based" => compare(format!("{} (from the IP)", field.unwrap_or("?"))),
        "environment_field" => compare(format!("environment {}", field.unwrap_or("tier"))),
        "current_time" => compare("the time (ms since the epoch)".into()),
        "target_app" => compare("the target app".into()),
        "experiment_group" => compare(format!("the group in experiment {}", field.unwrap_or("?"))),
        "pass_gate" | "fail_gate" => {
            let gate = plain(target);
            let passes = kind == "pass_gate";
            match gate.strip_prefix("segment:") {
                Some(segment) if passes => format!("is in segment {segment}"),
                Some(segment) => format!("is not in segment {segment}"),
                None if passes => format!("passes gate {gate}"),
                None => format!("fails gate {gate}"),
            }
        }
        "user_bucket" => {
            let bucket = format!("{id_type} bucket (salt {salt})");
            match (op, target) {
                ("lt" | "lte" | "gt" | "gte", Value::Number(n)) => {
                    format!("{bucket} {} {n} of 1000", operator_words(op))
                }
                (_, Value::Object(set)) => {
                    let listed: Vec<&String> = set.keys().filter(|k| *k != "-1").collect();
                    match op {
                        _ if listed.is_empty() && op == "any" => {
                            format!("never ({bucket} in an empty list)")
                        }
                        "none" => format!(
                            "{bucket} is none of {} allocated buckets of 1000",
                            listed.len()
                        ),
                        _ => format!("{bucket} is one of {} buckets of 1000", listed.len()),
                    }
                }
                _ => compare(bucket),
            }
        }
        other => format!("condition of type {other}"),
    }
}

fn operator_words(op: &str) -> String {
    match op {
        "any" => "is any of",
        "none" => "is none of",
        "any_case_sensitive" => "is any of (case-sensitive)",
        "none_case_sensitive" => "is none of (case-sensitive)",
        "gt" => ">",
        "gte" => "≥",
        "lt" => "<",
        "lte" => "≤",
        "eq" => "equals",
        "neq" => "does not equal",
        "version_gt" => "is a version >",
        "version_gte" => "is a version ≥",
        "version_lt" => "is a version <",
        "version_lte" => "is a version ≤",
        "version_eq" => "is version",
        "version_neq" => "is not version",
        "str_starts_with_any" => "starts with any of",
        "str_ends_with_any" => "ends with any of",
        "str_contains_any" => "contains any of",
        "str_contains_none" => "contains none of",
        "str_matches" => "matches the regex",
        "before" => "is before",
        "after" => "is after",
        "on" => "is on the day of",
        "in_segment_list" => "is in the ID list",
        "not_in_segment_list" => "is not in the ID list",
        "array_contains_any" => "contains any of",
        "array_contains_none" => "contains none of",
        "array_contains_all" => "contains all of",
        "not_array_contains_all" => "does not contain all of",
        "" => "(no operator)",
        other => return format!("[operator {other}]"),
    }
    .to_string()
}

fn target_words(target: &Value) -> String {
    match target {
        Value::Array(items) => {
            let mut shown: Vec<String> = items.iter().take(LIST_SHOWN).map(plain).collect();
            if items.len() > LIST_SHOWN {
                shown.push(format!("… ({} in all)", items.len()));
            }
            shown.join(", ")
        }
        Value::Null => "nothing".into(),
        Value::Object(map) => format!("{} values", map.len()),
        other => plain(other),
    }
}

/// A string without its quotes; anything else as JSON.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `50`, not `50.0`.
fn number(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}
