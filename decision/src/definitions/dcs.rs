//! Definitions → the dcs-v2 document, shaped as Statsig's console produces it.
//!
//! The shapes follow the real downloads shipped in statsig-rust's tests
//! (`tests/data/eval_proj_dcs.json`): an experiment's groups are
//! `isExperimentGroup` rules on `user_bucket < N` (of 1000, salted with the
//! experiment's salt); units outside the allocation are caught first by a
//! `layerAssignment` rule (`user_bucket` *none of* the allocated buckets, on a
//! separate salt), then units outside the targeting by an
//! `inlineTargetingRules` rule that fails a `segment:inline_targeting:<name>`
//! segment holding the targeting rules; a not-started experiment has a single
//! `prestart` rule and `isActive: false`; a disabled gate or config has
//! `enabled: false` and no rules (statsig-rust then reports rule id `disabled`).

use super::{
    Condition, Definitions, DynamicConfig, Experiment, Gate, ListOperator, Rule, UserField, BUCKETS,
};
use serde_json::{json, Map, Value};

pub(super) const PRESTART_RULE_ID: &str = "prestart";
pub(super) const ALLOCATION_RULE_ID: &str = "layerAssignment";
pub(super) const TARGETING_RULE_ID: &str = "inlineTargetingRules";
const TARGETING_SEGMENT_PREFIX: &str = "segment:inline_targeting:";
/// Says where a document came from when someone reads it later.
const COMPANY_ID: &str = "variantd-definitions";
/// Statsig versions every spec; exposures carry it. Definitions have no history.
const SPEC_VERSION: u32 = 1;

pub(super) fn document(defs: &Definitions, time_ms: u64) -> Value {
    let mut out = Document::default();
    for gate in &defs.gates {
        let spec = out.gate(gate);
        out.feature_gates.insert(gate.name.clone(), spec);
    }
    for experiment in &defs.experiments {
        let spec = out.experiment(experiment);
        out.dynamic_configs.insert(experiment.name.clone(), spec);
    }
    for config in &defs.dynamic_configs {
        let spec = out.dynamic_config(config);
        out.dynamic_configs.insert(config.name.clone(), spec);
    }
    json!({
        "has_updates": true,
        "time": time_ms,
        "response_format": "dcs-v2",
        "company_id": COMPANY_ID,
        "feature_gates": out.feature_gates,
        "dynamic_configs": out.dynamic_configs,
        "layer_configs": {},
        "experiment_to_layer": {},
        "condition_map": out.condition_map,
    })
}

#[derive(Default)]
struct Document {
    feature_gates: Map<String, Value>,
    dynamic_configs: Map<String, Value>,
    condition_map: Map<String, Value>,
}

impl Document {
    fn gate(&mut self, gate: &Gate) -> Value {
        let rules: Vec<Value> = if gate.enabled {
            gate.rules
                .iter()
                .map(|rule| self.rule(&gate.name, rule, &gate.id_type, Value::Bool(true)))
                .collect()
        } else {
            Vec::new()
        };
        json!({
            "type": "feature_gate",
            "entity": "feature_gate",
            "salt": gate.salt,
            "enabled": gate.enabled,
            "defaultValue": false,
            "idType": gate.id_type,
            "version": SPEC_VERSION,
            "rules": rules,
        })
    }

    fn experiment(&mut self, exp: &Experiment) -> Value {
        let id_type = &exp.id_type;
        let outside = Value::Object(exp.default.clone());
        let mut rules = Vec::new();
        if !exp.enabled {
            let public = self.condition(&exp.name, PRESTART_RULE_ID, public(id_type));
            rules.push(special_rule(PRESTART_RULE_ID, public, &outside, id_type));
        } else {
            if exp.allocation_buckets < BUCKETS {
                let allocated: Map<String, Value> = (0..exp.allocation_buckets)
                    .map(|b| (b.to_string(), Value::Bool(true)))
                    .collect();
                let condition = json!({
                    "type": "user_bucket",
                    "targetValue": allocated,
                    "operator": "none",
                    "field": null,
                    "additionalValues": {"salt": exp.allocation_salt},
                    "idType": id_type,
                });
                let id = self.condition(&exp.name, ALLOCATION_RULE_ID, condition);
                rules.push(special_rule(ALLOCATION_RULE_ID, id, &outside, id_type));
            }
            if !exp.targeting.is_empty() {
                let segment = format!("{TARGETING_SEGMENT_PREFIX}{}", exp.name);
                let segment_rules: Vec<Value> = exp
                    .targeting
                    .iter()
                    .map(|rule| self.rule(&segment, rule, id_type, Value::Bool(true)))
                    .collect();
                self.feature_gates.insert(
                    segment.clone(),
                    json!({
                        "type": "feature_gate",
                        "entity": "segment",
                        "salt": exp.salt,
                        "enabled": true,
                        "defaultValue": false,
                        "idType": id_type,
                        "version": SPEC_VERSION,
                        "rules": segment_rules,
                    }),
                );
                let condition = json!({
                    "type": "fail_gate",
                    "targetValue": segment,
                    "operator": null,
                    "field": null,
                    "additionalValues": {},
                    "idType": id_type,
                });
                let id = self.condition(&exp.name, TARGETING_RULE_ID, condition);
                rules.push(special_rule(TARGETING_RULE_ID, id, &outside, id_type));
            }
            let mut upper = 0;
            for group in &exp.groups {
                upper += group.buckets;
                let condition = json!({
                    "type": "user_bucket",
                    "targetValue": upper,
                    "operator": "lt",
                    "field": null,
                    "additionalValues": {"salt": exp.salt},
                    "idType": id_type,
                });
                let id = self.condition(&exp.name, &group.id, condition);
                rules.push(json!({
                    "name": group.id,
                    "id": group.id,
                    "salt": group.id,
                    "groupName": group.name,
                    "passPercentage": 100,
                    "conditions": [id],
                    "returnValue": group.value,
                    "idType": id_type,
                    "isExperimentGroup": true,
                }));
            }
        }
        json!({
            "type": "dynamic_config",
            "entity": "experiment",
            "salt": exp.salt,
            "enabled": true,
            "defaultValue": outside,
            "idType": id_type,
            "version": SPEC_VERSION,
            "isActive": exp.enabled,
            "hasSharedParams": false,
            "rules": rules,
        })
    }

    fn dynamic_config(&mut self, config: &DynamicConfig) -> Value {
        let rules: Vec<Value> = if config.enabled {
            config
                .rules
                .iter()
                .map(|r| {
                    self.rule(
                        &config.name,
                        &r.rule,
                        &config.id_type,
                        Value::Object(r.value.clone()),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        json!({
            "type": "dynamic_config",
            "entity": "dynamic_config",
            "salt": config.salt,
            "enabled": config.enabled,
            "defaultValue": config.default,
            "idType": config.id_type,
            "version": SPEC_VERSION,
            "rules": rules,
        })
    }

    fn rule(&mut self, owner: &str, rule: &Rule, id_type: &str, return_value: Value) -> Value {
        let mut ids = Vec::new();
        if rule.conditions.is_empty() {
            ids.push(self.condition(owner, &rule.name, public(id_type)));
        }
        for condition in &rule.conditions {
            let json = condition_json(condition, id_type);
            ids.push(self.condition(owner, &rule.name, json));
        }
        json!({
            "name": rule.name,
            "id": rule.name,
            "salt": rule.salt,
            "passPercentage": percentage(rule.percent),
            "conditions": ids,
            "returnValue": return_value,
            "idType": id_type,
        })
    }

    /// Stores a condition under a readable id (`variant_b:qa_allowlist:0`), so
    /// a generated document can be read and diffed; ids only need be unique.
    fn condition(&mut self, owner: &str, rule: &str, condition: Value) -> Value {
        let mut n = 0;
        let id = loop {
            let id = format!("{owner}:{rule}:{n}");
            if !self.condition_map.contains_key(&id) {
                break id;
            }
            n += 1;
        };
        self.condition_map.insert(id.clone(), condition);
        Value::String(id)
    }
}

/// Allocation, targeting and prestart rules: matching units are *outside* the
/// experiment and get its default value, as with Statsig's own rules of these ids.
fn special_rule(id: &str, condition: Value, outside: &Value, id_type: &str) -> Value {
    json!({
        "name": id,
        "id": id,
        "salt": "",
        "passPercentage": 100,
        "conditions": [condition],
        "returnValue": outside,
        "idType": id_type,
    })
}

/// Whole percents as integers, as Statsig writes them (`50`, not `50.0`).
fn percentage(percent: f64) -> Value {
    if percent.fract() == 0.0 {
        Value::from(percent as u64)
    } else {
        Value::from(percent)
    }
}

fn public(id_type: &str) -> Value {
    json!({
        "type": "public",
        "targetValue": null,
        "operator": null,
        "field": null,
        "additionalValues": {},
        "idType": id_type,
    })
}

fn operator(op: ListOperator) -> &'static str {
    match op {
        ListOperator::AnyOf => "any",
        ListOperator::NoneOf => "none",
    }
}

fn condition_json(condition: &Condition, id_type: &str) -> Value {
    match condition {
        // The console writes a userID list as a `user_field` condition and any
        // other unit's list as `unit_id` with `custom_id`; both are kept.
        Condition::UnitId { operator: op, ids } if id_type.eq_ignore_ascii_case("userID") => {
            json!({
                "type": "user_field",
                "targetValue": ids,
                "operator": operator(*op),
                "field": "userID",
                "additionalValues": {},
                "idType": id_type,
            })
        }
        Condition::UnitId { operator: op, ids } => json!({
            "type": "unit_id",
            "targetValue": ids,
            "operator": operator(*op),
            "field": id_type,
            "additionalValues": {"custom_id": id_type},
            "idType": id_type,
        }),
        Condition::Field {
            field,
            operator: op,
            values,
        } => {
            let (kind, name, additional) = match field {
                UserField::TopLevel(name) => ("user_field", name.as_str(), json!({})),
                UserField::UserAgent(name) => ("ua_based", name.as_str(), json!({})),
                UserField::Country => ("ip_based", "country", json!({})),
                UserField::Custom(name) => {
                    ("user_field", name.as_str(), json!({"custom_field": name}))
                }
            };
            json!({
                "type": kind,
                "targetValue": values,
                "operator": operator(*op),
                "field": name,
                "additionalValues": additional,
                "idType": id_type,
            })
        }
        Condition::Gate { gate, passes } => json!({
            "type": if *passes { "pass_gate" } else { "fail_gate" },
            "targetValue": gate,
            "operator": null,
            "field": null,
            "additionalValues": {},
            "idType": id_type,
        }),
    }
}
