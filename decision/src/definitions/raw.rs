//! The definitions file exactly as written: what serde reads before validation.
//!
//! Every struct denies unknown keys (a typo such as `percnt` is an error, not a
//! silently ignored rule), and values that validation may complain about are
//! `Spanned`, so the complaint can name the line and column they are on.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    pub gates: BTreeMap<String, Spanned<RawGate>>,
    #[serde(default)]
    pub experiments: BTreeMap<String, Spanned<RawExperiment>>,
    #[serde(default)]
    pub dynamic_configs: BTreeMap<String, Spanned<RawDynamicConfig>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGate {
    pub salt: Option<Spanned<String>>,
    pub id_type: Option<Spanned<String>>,
    pub enabled: Option<bool>,
    #[serde(default)]
    pub rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExperiment {
    pub salt: Option<Spanned<String>>,
    pub id_type: Option<Spanned<String>>,
    pub enabled: Option<bool>,
    pub parameter: Option<Spanned<String>>,
    pub groups: Spanned<Vec<RawGroup>>,
    #[serde(default)]
    pub targeting: Vec<RawRule>,
    pub allocation: Option<Spanned<f64>>,
    pub allocation_salt: Option<Spanned<String>>,
    pub default: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGroup {
    pub name: Spanned<String>,
    pub id: Option<Spanned<String>>,
    pub percent: Spanned<f64>,
    pub value: Spanned<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDynamicConfig {
    pub salt: Option<Spanned<String>>,
    pub id_type: Option<Spanned<String>>,
    pub enabled: Option<bool>,
    pub parameter: Option<Spanned<String>>,
    #[serde(default)]
    pub rules: Vec<RawRule>,
    pub default: Option<Spanned<toml::Value>>,
}

/// One rule of a gate, of an experiment's targeting or of a dynamic config.
/// Which keys a rule may carry depends on where it is (`value` only in a
/// dynamic config); that is checked in validation, with the key's position.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub name: Spanned<String>,
    pub salt: Option<Spanned<String>>,
    pub user_ids: Option<Spanned<Vec<String>>>,
    pub field: Option<Spanned<String>>,
    pub any_of: Option<Spanned<Vec<toml::Value>>>,
    pub none_of: Option<Spanned<Vec<toml::Value>>>,
    pub passes_gate: Option<Spanned<String>>,
    pub fails_gate: Option<Spanned<String>>,
    pub percent: Option<Spanned<f64>>,
    pub value: Option<Spanned<toml::Value>>,
}
