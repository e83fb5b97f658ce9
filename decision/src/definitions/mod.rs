//! Gates, experiments and dynamic configs defined in a small TOML file, turned
//! into the dcs-v2 document statsig-rust evaluates.
//!
//! Hand-editing Statsig's dcs-v2 internals (conditions by id, `user_bucket`
//! thresholds over 1000 buckets) is how rollouts go wrong; this module lets an
//! operator say what they mean (`percent = 50`, three groups of a third) and
//! produces the document Statsig's own console would, with the same salts, so
//! a user lands in the same bucket here as under Statsig. The format is
//! described in `decision/DEFINITIONS.md`.
//!
//! | submodule | what                                                   |
//! |-----------|--------------------------------------------------------|
//! | `raw`     | the file as serde reads it (unknown keys are errors)   |
//! | `dcs`     | [`Definitions::to_dcs_v2`]: the document statsig reads |

mod dcs;
mod raw;

use raw::{RawDynamicConfig, RawExperiment, RawFile, RawGate, RawGroup, RawRule};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The unit a spec is hashed on when the file does not say.
pub const DEFAULT_ID_TYPE: &str = "userID";

/// Rule ids statsig-rust or Statsig's console give a meaning to inside an
/// experiment; a group may not take them.
const RESERVED_EXPERIMENT_RULE_IDS: [&str; 5] = [
    dcs::PRESTART_RULE_ID,
    dcs::ALLOCATION_RULE_ID,
    dcs::TARGETING_RULE_ID,
    "targetingGate",
    "launchedGroup",
];

/// Experiment groups and allocations are whole buckets of Statsig's 1000.
const BUCKETS: u32 = 1000;

/// A definitions file that parsed and passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Definitions {
    /// File order is not kept: specs are listed by name, as in a dcs document.
    pub gates: Vec<Gate>,
    pub experiments: Vec<Experiment>,
    pub dynamic_configs: Vec<DynamicConfig>,
}

/// A feature gate: the first rule whose conditions hold decides; its
/// percentage then passes that share of units, the rest fail.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub name: String,
    pub salt: String,
    pub id_type: String,
    pub enabled: bool,
    pub rules: Vec<Rule>,
}

/// A rule: all its conditions must hold (none = everyone), then `percent` of
/// the units that match pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Also the rule id Statsig reports (`x-variantd-rule-id`).
    pub name: String,
    pub salt: String,
    pub conditions: Vec<Condition>,
    /// 0..=100; hash of `"{spec_salt}.{rule_salt}.{unit_id}"` mod 10000 < percent × 100.
    pub percent: f64,
}

/// One condition of a rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The unit id (of the spec's `id_type`) is / is not one of `ids`.
    UnitId {
        operator: ListOperator,
        ids: Vec<String>,
    },
    /// A user field is / is not one of `values` (case-insensitive, as Statsig's "any of").
    Field {
        field: UserField,
        operator: ListOperator,
        values: Vec<Value>,
    },
    /// Another gate of this file passes (`passes = true`) or fails.
    Gate { gate: String, passes: bool },
}

/// Statsig's `any` / `none` operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOperator {
    AnyOf,
    NoneOf,
}

/// Where a field's value comes from, which decides the dcs condition type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserField {
    /// A top-level field of the Statsig user (`userID`, `email`, `ip`, `locale`,
    /// `appVersion`, `userAgent`): condition type `user_field`.
    TopLevel(String),
    /// Parsed from the user agent (`browser_name`, `browser_version`, `os_name`,
    /// `os_version`): condition type `ua_based`.
    UserAgent(String),
    /// `country`: the user's country field, else looked up from the IP (`ip_based`).
    Country,
    /// Anything else: a custom field (`user_field` with `custom_field`).
    Custom(String),
}

/// An experiment: targeting and allocation decide who enters; those who enter
/// are split into groups by bucket (hash of `"{salt}.{unit_id}"` mod 1000).
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    pub name: String,
    pub salt: String,
    pub id_type: String,
    /// `false`: not started; everyone gets `default` (rule id `prestart`).
    pub enabled: bool,
    pub parameter: Option<String>,
    pub groups: Vec<Group>,
    /// Empty: everyone is eligible. Otherwise a unit must match one of these rules.
    pub targeting: Vec<Rule>,
    /// Share of units in the experiment, in buckets of 1000 (1000 = everyone).
    pub allocation_buckets: u32,
    /// Salt of the allocation hash; distinct from `salt` so allocation and group
    /// assignment are independent.
    pub allocation_salt: String,
    /// The value of units outside the experiment (`{}` unless given).
    pub default: Map<String, Value>,
}

/// An experiment group: the next `buckets` of 1000 after the previous groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Statsig's `groupName`.
    pub name: String,
    /// The rule id Statsig reports for units in this group.
    pub id: String,
    pub buckets: u32,
    pub value: Map<String, Value>,
}

/// A dynamic config: the first matching rule's value, else `default`.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamicConfig {
    pub name: String,
    pub salt: String,
    pub id_type: String,
    pub enabled: bool,
    pub rules: Vec<ConfigRule>,
    pub default: Map<String, Value>,
}

/// A dynamic config rule and the value units passing it get.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigRule {
    pub rule: Rule,
    pub value: Map<String, Value>,
}

/// Why a definitions file was refused.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionsError {
    #[error("cannot read definitions file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Same shape as the daemon's config errors: `experiments.toml:12:5: gates.x.rules[0].percent: …`.
    #[error("{file}:{line}:{column}: {key}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
}

impl DefinitionsError {
    /// The key path the error is about (`gates.variant_b.rules[2].percent`), if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            DefinitionsError::Invalid { key, .. } => Some(key),
            DefinitionsError::Read { .. } => None,
        }
    }
}

impl Definitions {
    /// Parses and validates a definitions file's text. `file_name` only labels
    /// errors (`experiments.toml:12:5: …`).
    pub fn parse(text: &str, file_name: &str) -> Result<Definitions, DefinitionsError> {
        let loc = Locator {
            file: file_name,
            text,
        };
        let deserializer = toml::Deserializer::parse(text).map_err(|e| loc.toml(e, None))?;
        let raw: RawFile = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            // `Spanned` tables show up in the path as toml's private wrapper field.
            let key = e
                .path()
                .to_string()
                .replace(".$__serde_spanned_private_value", "");
            loc.toml(e.into_inner(), Some(key))
        })?;
        Validator { loc: &loc }.definitions(raw)
    }

    /// Reads and parses `path`; errors name the file as the path's last component.
    pub fn read_file(path: &Path) -> Result<Definitions, DefinitionsError> {
        let text = std::fs::read_to_string(path).map_err(|source| DefinitionsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Definitions::parse(&text, &name)
    }

    /// The dcs-v2 document statsig-rust evaluates; `time_ms` becomes its `time`
    /// (statsig ignores a document older than the one it holds, so reloads need
    /// a newer time). A `time_ms` of 0 is taken as 1: 0 means "no specs".
    pub fn to_dcs_v2(&self, time_ms: u64) -> Value {
        dcs::document(self, time_ms.max(1))
    }

    /// [`Self::to_dcs_v2`] as pretty JSON, ready for a specs file.
    pub fn to_dcs_v2_string(&self, time_ms: u64) -> String {
        let mut text = serde_json::to_string_pretty(&self.to_dcs_v2(time_ms))
            .expect("a JSON value always serializes");
        text.push('\n');
        text
    }
}

/// Whether `path` names a definitions file (`*.toml`) rather than a dcs-v2
/// specs file (JSON). The engine reads either from `specs_path`.
pub fn is_definitions_file(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("toml"))
}

/// `variantd specs build FILE`: reads a definitions file and returns its dcs-v2
/// document as pretty JSON with `time` = `time_ms`.
pub fn build_specs_from_file(path: &Path, time_ms: u64) -> Result<String, DefinitionsError> {
    Ok(Definitions::read_file(path)?.to_dcs_v2_string(time_ms))
}

// ------------------------------------------------------------------ locating

/// Turns byte spans into `file:line:column`.
struct Locator<'a> {
    file: &'a str,
    text: &'a str,
}

impl Locator<'_> {
    fn at(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> DefinitionsError {
        let before = &self.text[..span.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rfind('\n')
            .map_or(before.len(), |nl| before.len() - nl - 1)
            + 1;
        DefinitionsError::Invalid {
            file: self.file.to_string(),
            line,
            column,
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn toml(&self, err: toml::de::Error, key: Option<String>) -> DefinitionsError {
        let key = key
            .filter(|k| !k.is_empty() && k != ".")
            .unwrap_or_else(|| "(syntax)".into());
        let message = err.message().trim().to_string();
        self.at(err.span().unwrap_or(0..0), &key, message)
    }
}

// ---------------------------------------------------------------- validating

struct Validator<'a> {
    loc: &'a Locator<'a>,
}

/// Where a rule sits decides which keys it may carry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RuleKind {
    Gate,
    Targeting,
    DynamicConfig,
}

impl Validator<'_> {
    fn definitions(&self, raw: RawFile) -> Result<Definitions, DefinitionsError> {
        // Experiments and dynamic configs share dcs-v2's `dynamic_configs` map,
        // and a name used twice would make every route and log line ambiguous.
        let mut names = BTreeSet::new();
        let sections = [
            (
                "gates",
                raw.gates
                    .iter()
                    .map(|(n, s)| (n, s.span()))
                    .collect::<Vec<_>>(),
            ),
            (
                "experiments",
                raw.experiments.iter().map(|(n, s)| (n, s.span())).collect(),
            ),
            (
                "dynamic_configs",
                raw.dynamic_configs
                    .iter()
                    .map(|(n, s)| (n, s.span()))
                    .collect(),
            ),
        ];
        for (section, specs) in &sections {
            for (name, span) in specs {
                let key = format!("{section}.{name}");
                self.name(name, span.clone(), &key)?;
                if !names.insert(name.as_str()) {
                    return Err(self.loc.at(
                        span.clone(),
                        &key,
                        format!("the name `{name}` is used twice; gates, experiments and dynamic configs need distinct names"),
                    ));
                }
            }
        }

        let gate_names: BTreeSet<&str> = raw.gates.keys().map(String::as_str).collect();
        let gates = raw
            .gates
            .iter()
            .map(|(name, g)| self.gate(name, g, &gate_names))
            .collect::<Result<_, _>>()?;
        let experiments = raw
            .experiments
            .iter()
            .map(|(name, e)| self.experiment(name, e, &gate_names))
            .collect::<Result<_, _>>()?;
        let dynamic_configs = raw
            .dynamic_configs
            .iter()
            .map(|(name, c)| self.dynamic_config(name, c, &gate_names))
            .collect::<Result<_, _>>()?;
        Ok(Definitions {
            gates,
            experiments,
            dynamic_configs,
        })
    }

    fn name(&self, name: &str, span: Range<usize>, key: &str) -> Result<(), DefinitionsError> {
        if name.trim().is_empty() {
            return Err(self.loc.at(span, key, "the name is empty"));
        }
        if name.trim() != name {
            return Err(self
                .loc
                .at(span, key, "the name has leading or trailing spaces"));
        }
        if name.starts_with("segment:") {
            return Err(self.loc.at(
                span,
                key,
                "names starting with `segment:` are Statsig's segments",
            ));
        }
        Ok(())
    }

    fn gate(
        &self,
        name: &str,
        spanned: &Spanned<RawGate>,
        gates: &BTreeSet<&str>,
    ) -> Result<Gate, DefinitionsError> {
        let key = format!("gates.{name}");
        let g = spanned.get_ref();
        let rules = self.rules(&g.rules, &key, "rules", RuleKind::Gate, gates, Some(name))?;
        Ok(Gate {
            name: name.to_string(),
            salt: self.text_or(&g.salt, name, &format!("{key}.salt"))?,
            id_type: self.text_or(&g.id_type, DEFAULT_ID_TYPE, &format!("{key}.id_type"))?,
            enabled: g.enabled.unwrap_or(true),
            rules: rules.into_iter().map(|(rule, _)| rule).collect(),
        })
    }

    fn experiment(
        &self,
        name: &str,
        spanned: &Spanned<RawExperiment>,
        gates: &BTreeSet<&str>,
    ) -> Result<Experiment, DefinitionsError> {
        let key = format!("experiments.{name}");
        let e = spanned.get_ref();
        let salt = self.text_or(&e.salt, name, &format!("{key}.salt"))?;
        let parameter = self.optional_text(&e.parameter, &format!("{key}.parameter"))?;
        let targeting = self
            .rules(
                &e.targeting,
                &key,
                "targeting",
                RuleKind::Targeting,
                gates,
                None,
            )?
            .into_iter()
            .map(|(rule, _)| rule)
            .collect();

        if e.groups.get_ref().is_empty() {
            return Err(self.loc.at(
                e.groups.span(),
                &format!("{key}.groups"),
                "an experiment needs at least one group",
            ));
        }
        let mut groups = Vec::new();
        let mut total_buckets = 0;
        let mut group_names = BTreeSet::new();
        let mut group_ids = BTreeSet::new();
        for (i, g) in e.groups.get_ref().iter().enumerate() {
            let group = self.group(g, &format!("{key}.groups[{i}]"), parameter.as_deref())?;
            if !group_names.insert(group.name.clone()) {
                return Err(self.loc.at(
                    g.name.span(),
                    &format!("{key}.groups[{i}].name"),
                    format!("group `{}` is defined twice", group.name),
                ));
            }
            if !group_ids.insert(group.id.clone()) {
                return Err(self.loc.at(
                    g.id.as_ref().map_or(g.name.span(), Spanned::span),
                    &format!("{key}.groups[{i}].id"),
                    format!("rule id `{}` is used by two groups", group.id),
                ));
            }
            total_buckets += group.buckets;
            groups.push(group);
        }
        if total_buckets > BUCKETS {
            return Err(self.loc.at(
                e.groups.span(),
                &format!("{key}.groups"),
                format!(
                    "group percents add up to {}%, more than 100%",
                    f64::from(total_buckets) / 10.0
                ),
            ));
        }

        let allocation_buckets = match &e.allocation {
            Some(p) => self.buckets(p, &format!("{key}.allocation"))?,
            None => BUCKETS,
        };
        let allocation_salt = self.text_or(
            &e.allocation_salt,
            &format!("{salt}.allocation"),
            &format!("{key}.allocation_salt"),
        )?;
        let default = match &e.default {
            Some(v) => self.parameter_value(v, parameter.as_deref(), &format!("{key}.default"))?,
            None => Map::new(),
        };
        Ok(Experiment {
            name: name.to_string(),
            salt,
            id_type: self.text_or(&e.id_type, DEFAULT_ID_TYPE, &format!("{key}.id_type"))?,
            enabled: e.enabled.unwrap_or(true),
            parameter,
            groups,
            targeting,
            allocation_buckets,
            allocation_salt,
            default,
        })
    }

    fn group(
        &self,
        g: &RawGroup,
        key: &str,
        parameter: Option<&str>,
    ) -> Result<Group, DefinitionsError> {
        let name = g.name.get_ref().clone();
        if name.trim().is_empty() {
            return Err(self
                .loc
                .at(g.name.span(), &format!("{key}.name"), "the name is empty"));
        }
        let id = match &g.id {
            Some(id) => self.text(id, &format!("{key}.id"))?,
            None => name.clone(),
        };
        if RESERVED_EXPERIMENT_RULE_IDS.contains(&id.as_str()) {
            let span = g.id.as_ref().map_or(g.name.span(), Spanned::span);
            return Err(self.loc.at(
                span,
                &format!("{key}.id"),
                format!("`{id}` is a rule id Statsig reserves in experiments; set another `id`"),
            ));
        }
        Ok(Group {
            buckets: self.buckets(&g.percent, &format!("{key}.percent"))?,
            value: self.parameter_value(&g.value, parameter, &format!("{key}.value"))?,
            name,
            id,
        })
    }

    fn dynamic_config(
        &self,
        name: &str,
        spanned: &Spanned<RawDynamicConfig>,
        gates: &BTreeSet<&str>,
    ) -> Result<DynamicConfig, DefinitionsError> {
        let key = format!("dynamic_configs.{name}");
        let c = spanned.get_ref();
        let parameter = self.optional_text(&c.parameter, &format!("{key}.parameter"))?;
        let mut rules = Vec::new();
        for (i, (rule, raw)) in self
            .rules(
                &c.rules,
                &key,
                "rules",
                RuleKind::DynamicConfig,
                gates,
                None,
            )?
            .into_iter()
            .enumerate()
        {
            let value_key = format!("{key}.rules[{i}].value");
            let value = match &raw.value {
                Some(v) => self.parameter_value(v, parameter.as_deref(), &value_key)?,
                None => {
                    return Err(self.loc.at(
                        raw.name.span(),
                        &value_key,
                        "a dynamic config rule needs the `value` its units get",
                    ))
                }
            };
            rules.push(ConfigRule { rule, value });
        }
        let default = match &c.default {
            Some(v) => self.parameter_value(v, parameter.as_deref(), &format!("{key}.default"))?,
            None => Map::new(),
        };
        Ok(DynamicConfig {
            name: name.to_string(),
            salt: self.text_or(&c.salt, name, &format!("{key}.salt"))?,
            id_type: self.text_or(&c.id_type, DEFAULT_ID_TYPE, &format!("{key}.id_type"))?,
            enabled: c.enabled.unwrap_or(true),
            rules,
            default,
        })
    }

    /// Validates a list of rules; returns each with the raw rule it came from.
    fn rules<'r>(
        &self,
        raw: &'r [RawRule],
        spec_key: &str,
        list: &str,
        kind: RuleKind,
        gates: &BTreeSet<&str>,
        this_gate: Option<&str>,
    ) -> Result<Vec<(Rule, &'r RawRule)>, DefinitionsError> {
        let mut seen = BTreeSet::new();
        let mut rules = Vec::new();
        for (i, r) in raw.iter().enumerate() {
            let key = format!("{spec_key}.{list}[{i}]");
            let rule = self.rule(r, &key, kind, gates, this_gate)?;
            if !seen.insert(rule.name.clone()) {
                return Err(self.loc.at(
                    r.name.span(),
                    &format!("{key}.name"),
                    format!("rule `{}` is defined twice; rule names are the rule ids Statsig reports and must be distinct", rule.name),
                ));
            }
            rules.push((rule, r));
        }
        Ok(rules)
    }

    fn rule(
        &self,
        r: &RawRule,
        key: &str,
        kind: RuleKind,
        gates: &BTreeSet<&str>,
        this_gate: Option<&str>,
    ) -> Result<Rule, DefinitionsError> {
        let name = self.text(&r.name, &format!("{key}.name"))?;
        if kind == RuleKind::Targeting && name == dcs::TARGETING_RULE_ID {
            return Err(self.loc.at(
                r.name.span(),
                &format!("{key}.name"),
                format!("`{name}` is reserved; choose another rule name"),
            ));
        }
        if kind != RuleKind::DynamicConfig {
            if let Some(v) = &r.value {
                return Err(self.loc.at(
                    v.span(),
                    &format!("{key}.value"),
                    "only dynamic config rules return a `value` (a gate rule passes; experiment groups carry the values)",
                ));
            }
        }

        let mut conditions = Vec::new();
        if let Some(ids) = &r.user_ids {
            let ids = self.non_empty_strings(ids, &format!("{key}.user_ids"))?;
            conditions.push(Condition::UnitId {
                operator: ListOperator::AnyOf,
                ids,
            });
        }
        match (&r.field, &r.any_of, &r.none_of) {
            (None, None, None) => {}
            (None, Some(list), _) | (None, None, Some(list)) => return Err(self.loc.at(
                list.span(),
                &format!("{key}.field"),
                "`any_of` / `none_of` need the `field` they test (for example field = \"plan\")",
            )),
            (Some(field), None, None) => {
                return Err(self.loc.at(
                    field.span(),
                    &format!("{key}.field"),
                    "a `field` needs `any_of = [...]` or `none_of = [...]`",
                ))
            }
            (Some(field), any_of, none_of) => {
                let field_name = self.text(field, &format!("{key}.field"))?;
                let user_field = user_field(&field_name);
                for (list, operator, list_key) in [
                    (any_of, ListOperator::AnyOf, "any_of"),
                    (none_of, ListOperator::NoneOf, "none_of"),
                ] {
                    if let Some(list) = list {
                        let values = self.scalars(list, &format!("{key}.{list_key}"))?;
                        conditions.push(Condition::Field {
                            field: user_field.clone(),
                            operator,
                            values,
                        });
                    }
                }
            }
        }
        for (gate, passes, gate_key) in [
            (&r.passes_gate, true, "passes_gate"),
            (&r.fails_gate, false, "fails_gate"),
        ] {
            if let Some(gate) = gate {
                let gate_name = self.text(gate, &format!("{key}.{gate_key}"))?;
                if !gates.contains(gate_name.as_str()) {
                    return Err(self.loc.at(
                        gate.span(),
                        &format!("{key}.{gate_key}"),
                        format!("no gate `{gate_name}` is defined in this file"),
                    ));
                }
                if this_gate == Some(gate_name.as_str()) {
                    return Err(self.loc.at(
                        gate.span(),
                        &format!("{key}.{gate_key}"),
                        "a gate cannot depend on itself",
                    ));
                }
                conditions.push(Condition::Gate {
                    gate: gate_name,
                    passes,
                });
            }
        }

        let percent = match &r.percent {
            Some(p) => self.percent(p, &format!("{key}.percent"))?,
            None => 100.0,
        };
        let salt = match &r.salt {
            Some(s) => self.text(s, &format!("{key}.salt"))?,
            None => name.clone(),
        };
        Ok(Rule {
            name,
            salt,
            conditions,
            percent,
        })
    }

    fn percent(&self, p: &Spanned<f64>, key: &str) -> Result<f64, DefinitionsError> {
        let v = *p.get_ref();
        if !v.is_finite() || !(0.0..=100.0).contains(&v) {
            return Err(self
                .loc
                .at(p.span(), key, format!("{v} is not a percent from 0 to 100")));
        }
        Ok(v)
    }

    /// A percent of Statsig's 1000 buckets: steps of 0.1.
    fn buckets(&self, p: &Spanned<f64>, key: &str) -> Result<u32, DefinitionsError> {
        let v = self.percent(p, key)?;
        let tenths = v * 10.0;
        if (tenths - tenths.round()).abs() > 1e-6 {
            return Err(self.loc.at(
                p.span(),
                key,
                format!("{v}% is not a whole number of Statsig's 1000 buckets; use steps of 0.1"),
            ));
        }
        Ok(tenths.round() as u32)
    }

    fn text(&self, s: &Spanned<String>, key: &str) -> Result<String, DefinitionsError> {
        if s.get_ref().trim().is_empty() {
            return Err(self.loc.at(s.span(), key, "must not be empty"));
        }
        Ok(s.get_ref().clone())
    }

    fn text_or(
        &self,
        s: &Option<Spanned<String>>,
        default: &str,
        key: &str,
    ) -> Result<String, DefinitionsError> {
        match s {
            Some(s) => self.text(s, key),
            None => Ok(default.to_string()),
        }
    }

    fn optional_text(
        &self,
        s: &Option<Spanned<String>>,
        key: &str,
    ) -> Result<Option<String>, DefinitionsError> {
        s.as_ref().map(|s| self.text(s, key)).transpose()
    }

    fn non_empty_strings(
        &self,
        list: &Spanned<Vec<String>>,
        key: &str,
    ) -> Result<Vec<String>, DefinitionsError> {
        if list.get_ref().is_empty() {
            return Err(self.loc.at(
                list.span(),
                key,
                "the list is empty; a rule on it would match no one",
            ));
        }
        if list.get_ref().iter().any(|s| s.is_empty()) {
            return Err(self
                .loc
                .at(list.span(), key, "the list holds an empty string"));
        }
        Ok(list.get_ref().clone())
    }

    /// Values to compare a field with: strings, numbers or booleans.
    fn scalars(
        &self,
        list: &Spanned<Vec<toml::Value>>,
        key: &str,
    ) -> Result<Vec<Value>, DefinitionsError> {
        if list.get_ref().is_empty() {
            return Err(self.loc.at(
                list.span(),
                key,
                "the list is empty; a rule on it would match no one",
            ));
        }
        list.get_ref()
            .iter()
            .map(|v| match v {
                toml::Value::String(s) if s.is_empty() => {
                    Err(self
                        .loc
                        .at(list.span(), key, "the list holds an empty string"))
                }
                toml::Value::String(_)
                | toml::Value::Integer(_)
                | toml::Value::Float(_)
                | toml::Value::Boolean(_) => Ok(toml_to_json(v)),
                other => Err(self.loc.at(
                    list.span(),
                    key,
                    format!(
                        "holds a {}; only strings, numbers and booleans can be compared",
                        other.type_str()
                    ),
                )),
            })
            .collect()
    }

    /// A group's / rule's / default value: with `parameter`, the value of that
    /// parameter; without, a table of parameters.
    fn parameter_value(
        &self,
        v: &Spanned<toml::Value>,
        parameter: Option<&str>,
        key: &str,
    ) -> Result<Map<String, Value>, DefinitionsError> {
        if let toml::Value::String(s) = v.get_ref() {
            if s.is_empty() {
                return Err(self.loc.at(v.span(), key, "the value is empty"));
            }
        }
        match (parameter, toml_to_json(v.get_ref())) {
            (Some(p), value) => Ok(Map::from_iter([(p.to_string(), value)])),
            (None, Value::Object(map)) => Ok(map),
            (None, _) => Err(self.loc.at(
                v.span(),
                key,
                "without `parameter` the value must be a table, for example { variant = \"B\" }",
            )),
        }
    }
}

fn user_field(name: &str) -> UserField {
    const TOP_LEVEL: [&str; 6] = ["userID", "email", "ip", "locale", "appVersion", "userAgent"];
    const USER_AGENT: [&str; 4] = ["browser_name", "browser_version", "os_name", "os_version"];
    if let Some(top) = TOP_LEVEL.iter().find(|f| f.eq_ignore_ascii_case(name)) {
        UserField::TopLevel(top.to_string())
    } else if let Some(ua) = USER_AGENT.iter().find(|f| f.eq_ignore_ascii_case(name)) {
        UserField::UserAgent(ua.to_string())
    } else if name.eq_ignore_ascii_case("country") {
        UserField::Country
    } else {
        UserField::Custom(name.to_string())
    }
}

fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests;
