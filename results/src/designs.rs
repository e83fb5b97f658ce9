//! Designs: what each decision was configured to do, read from a dcs-v2
//! specs file (`config/statsig_specs.json`): its kind, its unit id type, its
//! groups in specs order, and the splits its percentage rules promise, which
//! the SRM test checks the observed assignment against.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::Error;

/// Statsig buckets units into `hash % 1000` for `user_bucket` conditions.
const USER_BUCKETS: usize = 1000;

/// What kind of decision a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Gate,
    Experiment,
    DynamicConfig,
}

impl DecisionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Gate => "gate",
            DecisionKind::Experiment => "experiment",
            DecisionKind::DynamicConfig => "dynamic_config",
        }
    }
}

/// Group names of a gate: units that got `false`, and units that got `true`.
pub const GATE_FAIL: &str = "fail";
pub const GATE_PASS: &str = "pass";
/// statsig's rule id when no rule matched; also the group of units a
/// config's percentage rule let through to the default value.
pub const DEFAULT_RULE: &str = "default";

/// One decision's design.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    pub name: String,
    pub kind: DecisionKind,
    /// `userID` or a custom id name (`companyID`, …).
    pub id_type: String,
    /// Groups in specs order (gate: `fail`, `pass`; dynamic config:
    /// `default` then its rules; experiment: its rules' `groupName`s).
    pub groups: Vec<String>,
    pub rules: Vec<RuleDesign>,
}

/// One rule, as far as results need it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDesign {
    pub id: String,
    /// The experiment group it assigns (`groupName`), if any.
    pub group_name: Option<String>,
    /// 0–100.
    pub pass_percentage: f64,
    /// For a rule whose only conditions are `user_bucket` ranges (and
    /// `public`): how many of the 1000 buckets it claims that no earlier
    /// bucket rule already took. Units reaching such rules are split between
    /// them in these proportions.
    pub buckets: Option<u32>,
}

impl RuleDesign {
    /// A pass percentage strictly between 0 and 100 splits the units whose
    /// conditions matched into passing and failing ones.
    pub fn splits_by_percentage(&self) -> bool {
        self.pass_percentage > 0.0 && self.pass_percentage < 100.0
    }
}

impl Design {
    /// The group a rule assigns: its `groupName`, else its id.
    pub fn group_of_rule<'a>(&'a self, rule_id: &'a str) -> &'a str {
        self.rule(rule_id)
            .and_then(|r| r.group_name.as_deref())
            .unwrap_or(rule_id)
    }

    pub fn rule(&self, rule_id: &str) -> Option<&RuleDesign> {
        self.rules.iter().find(|r| r.id == rule_id)
    }
}

/// All designs from one specs file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Designs {
    by_name: BTreeMap<String, Design>,
}

impl Designs {
    /// No designs: decisions are discovered from the exposures, with no SRM
    /// test and groups in the order of their names.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Reads a dcs-v2 specs document (`feature_gates`, `dynamic_configs`,
    /// `condition_map`). Layers and holdouts are not analysed.
    pub fn from_specs_json(json: &str) -> Result<Self, Error> {
        let specs: Value = serde_json::from_str(json).map_err(Error::Specs)?;
        let Some(root) = specs.as_object() else {
            return Err(Error::SpecsShape("not a JSON object"));
        };
        let empty = serde_json::Map::new();
        let conditions = root
            .get("condition_map")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let mut by_name = BTreeMap::new();
        for (section, default_kind) in [
            ("feature_gates", DecisionKind::Gate),
            ("dynamic_configs", DecisionKind::DynamicConfig),
        ] {
            let Some(entries) = root.get(section) else {
                continue;
            };
            let entries = entries.as_object().ok_or(Error::SpecsShape(
                "feature_gates/dynamic_configs must be objects",
            ))?;
            for (name, spec) in entries {
                let kind = match spec.get("entity").and_then(Value::as_str) {
                    Some("experiment") => DecisionKind::Experiment,
                    Some("feature_gate") => DecisionKind::Gate,
                    Some("dynamic_config") => DecisionKind::DynamicConfig,
                    // autotune, layer, holdout, segment…: not routed on.
                    Some(_) => continue,
                    None => default_kind,
                };
                by_name.insert(name.clone(), design_of(name, kind, spec, conditions));
            }
        }
        Ok(Self { by_name })
    }

    pub fn get(&self, name: &str) -> Option<&Design> {
        self.by_name.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Design> {
        self.by_name.values()
    }
}

fn design_of(
    name: &str,
    kind: DecisionKind,
    spec: &Value,
    conditions: &serde_json::Map<String, Value>,
) -> Design {
    let id_type = spec
        .get("idType")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("userID")
        .to_owned();
    let mut claimed = vec![false; USER_BUCKETS];
    let rules: Vec<RuleDesign> = spec
        .get("rules")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|rule| {
            let id = rule.get("id").and_then(Value::as_str)?.to_owned();
            let buckets = bucket_set(rule, conditions).map(|set| {
                let mut fresh = 0;
                for (bucket, in_rule) in set.iter().enumerate() {
                    if *in_rule && !claimed[bucket] {
                        claimed[bucket] = true;
                        fresh += 1;
                    }
                }
                fresh
            });
            Some(RuleDesign {
                id,
                group_name: rule
                    .get("groupName")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                pass_percentage: rule
                    .get("passPercentage")
                    .and_then(Value::as_f64)
                    .unwrap_or(100.0),
                buckets,
            })
        })
        .collect();
    let mut groups: Vec<String> = Vec::new();
    let mut push = |g: &str| {
        if !groups.iter().any(|x| x == g) {
            groups.push(g.to_owned());
        }
    };
    match kind {
        // The control (`fail`) first.
        DecisionKind::Gate => {
            push(GATE_FAIL);
            push(GATE_PASS);
        }
        DecisionKind::Experiment => {
            for rule in &rules {
                if let Some(group) = &rule.group_name {
                    push(group);
                }
            }
        }
        // The default value is the baseline every rule deviates from.
        DecisionKind::DynamicConfig => {
            push(DEFAULT_RULE);
            for rule in &rules {
                push(rule.group_name.as_deref().unwrap_or(&rule.id));
            }
        }
    }
    Design {
        name: name.to_owned(),
        kind,
        id_type,
        groups,
        rules,
    }
}

/// The buckets a rule's conditions admit, if every condition is a
/// `user_bucket` range or set (or `public`); `None` for rules that target by
/// attribute, whose units are not part of the SRM test.
fn bucket_set(rule: &Value, conditions: &serde_json::Map<String, Value>) -> Option<Vec<bool>> {
    let mut set = vec![true; USER_BUCKETS];
    let mut any_bucket_condition = false;
    for condition in rule.get("conditions")?.as_array()? {
        // dcs-v2 names conditions in `condition_map`; older files inline them.
        let condition = match condition {
            Value::String(id) => conditions.get(id)?,
            inline @ Value::Object(_) => inline,
            _ => return None,
        };
        match condition.get("type").and_then(Value::as_str)? {
            "public" => {}
            "user_bucket" => {
                any_bucket_condition = true;
                let operator = condition.get("operator").and_then(Value::as_str)?;
                let target = condition.get("targetValue")?;
                for (bucket, admitted) in set.iter_mut().enumerate() {
                    *admitted &= bucket_matches(bucket as f64, operator, target)?;
                }
            }
            _ => return None,
        }
    }
    any_bucket_condition.then_some(set)
}

fn bucket_matches(bucket: f64, operator: &str, target: &Value) -> Option<bool> {
    let number = || target.as_f64().or_else(|| target.as_str()?.parse().ok());
    let listed = || {
        target.as_array().map(|values| {
            values
                .iter()
                .any(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()) == Some(bucket))
        })
    };
    Some(match operator {
        "lt" => bucket < number()?,
        "lte" => bucket <= number()?,
        "gt" => bucket > number()?,
        "gte" => bucket >= number()?,
        "eq" => bucket == number()?,
        "neq" => bucket != number()?,
        "any" => listed()?,
        "none" => !listed()?,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../tests/data/statsig_specs.json");

    #[test]
    fn reads_the_shipped_specs() {
        let designs = Designs::from_specs_json(SHIPPED).unwrap();
        let gate = designs.get("variant_b").unwrap();
        assert_eq!(gate.kind, DecisionKind::Gate);
        assert_eq!(gate.groups, ["fail", "pass"]);
        let rollout = gate.rule("rollout50").unwrap();
        assert!(rollout.splits_by_percentage());
        assert_eq!(rollout.buckets, None);
        assert!(!gate.rule("qa_allowlist").unwrap().splits_by_percentage());

        let experiment = designs.get("variant_experiment").unwrap();
        assert_eq!(experiment.kind, DecisionKind::Experiment);
        assert_eq!(experiment.groups, ["A", "B", "C"]);
        let buckets: Vec<_> = experiment.rules.iter().map(|r| r.buckets).collect();
        assert_eq!(buckets, [Some(334), Some(333), Some(333)]);
        assert_eq!(experiment.group_of_rule("group_b"), "B");
        assert_eq!(
            experiment.group_of_rule("layerAssignment"),
            "layerAssignment"
        );

        let config = designs.get("variant_config").unwrap();
        assert_eq!(config.kind, DecisionKind::DynamicConfig);
        assert_eq!(config.groups, ["default", "plan_beta"]);
    }

    #[test]
    fn bucket_ranges_and_sets() {
        let specs = r#"{"dynamic_configs":{"e":{"entity":"experiment","idType":"companyID","rules":[
            {"id":"low","groupName":"Low","conditions":[{"type":"user_bucket","operator":"gte","targetValue":100},{"type":"user_bucket","operator":"lt","targetValue":300}]},
            {"id":"listed","groupName":"Listed","conditions":[{"type":"user_bucket","operator":"any","targetValue":[1,2,"3",150]}]},
            {"id":"targeted","groupName":"T","conditions":[{"type":"user_field","field":"plan","operator":"any","targetValue":["x"]}]}
        ]}}}"#;
        let designs = Designs::from_specs_json(specs).unwrap();
        let e = designs.get("e").unwrap();
        assert_eq!(e.id_type, "companyID");
        let buckets: Vec<_> = e.rules.iter().map(|r| r.buckets).collect();
        // bucket 150 is already claimed by `low`.
        assert_eq!(buckets, [Some(200), Some(3), None]);
    }

    #[test]
    fn rejects_what_is_not_a_specs_file() {
        assert!(matches!(
            Designs::from_specs_json("{"),
            Err(Error::Specs(_))
        ));
        assert!(matches!(
            Designs::from_specs_json("[]"),
            Err(Error::SpecsShape(_))
        ));
        assert!(Designs::from_specs_json("{}").unwrap().get("x").is_none());
    }
}
