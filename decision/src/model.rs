//! The vocabulary of decisions: who asks, what is asked, what was decided.

use serde::Serialize;
use std::collections::HashMap;

/// The user a decision is made for, as Statsig's server SDKs take it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserContext {
    /// Statsig `userID`: the unit that is hashed into buckets. Empty for an
    /// anonymous visitor known only by a custom id.
    pub user_key: String,
    /// Client IP, if known.
    pub ip: Option<String>,
    /// Statsig `userAgent`: browser, OS and version rules parse it.
    pub user_agent: Option<String>,
    /// Statsig's other top-level fields, e.g. `(Email, "a@b.c")`.
    pub top_level: Vec<(TopLevelField, String)>,
    /// Custom fields, e.g. `("plan", "enterprise")`; rules can target them.
    pub custom: Vec<(String, String)>,
    /// Custom unit ids, e.g. `("stableID", "…")`, for gates and experiments
    /// whose unit is not `userID`.
    pub custom_ids: Vec<(String, String)>,
}

/// The top-level fields of a Statsig user besides `userID`, `ip` and
/// `userAgent` (which have fields of their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopLevelField {
    Email,
    Country,
    Locale,
    AppVersion,
}

impl TopLevelField {
    /// The field Statsig calls `name` (as in its console), if it is one.
    pub fn from_statsig_name(name: &str) -> Option<TopLevelField> {
        match name {
            "email" => Some(TopLevelField::Email),
            "country" => Some(TopLevelField::Country),
            "locale" => Some(TopLevelField::Locale),
            "appVersion" => Some(TopLevelField::AppVersion),
            _ => None,
        }
    }
}

impl UserContext {
    pub fn new(user_key: impl Into<String>) -> Self {
        Self {
            user_key: user_key.into(),
            ..Self::default()
        }
    }

    /// Adds a custom field (builder style).
    pub fn with_custom(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.custom.push((key.into(), value.into()));
        self
    }

    pub fn with_ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = Some(ip.into());
        self
    }
}

/// What kind of Statsig entity decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
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

impl std::fmt::Display for DecisionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to turn a Statsig answer into a variant name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionSpec {
    /// Gate passes -> `pass`, otherwise `fail`.
    Gate {
        name: String,
        pass: String,
        fail: String,
    },
    /// The experiment's `parameter` value, mapped through `variants` (param value ->
    /// variant name; a value not in the map is the variant name itself); `default`
    /// when the parameter is absent.
    Experiment {
        name: String,
        parameter: String,
        variants: HashMap<String, String>,
        default: String,
    },
    /// Same as `Experiment`, for a dynamic config.
    DynamicConfig {
        name: String,
        parameter: String,
        variants: HashMap<String, String>,
        default: String,
    },
}

impl DecisionSpec {
    pub fn kind(&self) -> DecisionKind {
        match self {
            DecisionSpec::Gate { .. } => DecisionKind::Gate,
            DecisionSpec::Experiment { .. } => DecisionKind::Experiment,
            DecisionSpec::DynamicConfig { .. } => DecisionKind::DynamicConfig,
        }
    }

    /// The gate / experiment / config name.
    pub fn name(&self) -> &str {
        match self {
            DecisionSpec::Gate { name, .. }
            | DecisionSpec::Experiment { name, .. }
            | DecisionSpec::DynamicConfig { name, .. } => name,
        }
    }

    /// The variant used when nothing better is known (gate: `fail`).
    pub fn default_variant(&self) -> &str {
        match self {
            DecisionSpec::Gate { fail, .. } => fail,
            DecisionSpec::Experiment { default, .. }
            | DecisionSpec::DynamicConfig { default, .. } => default,
        }
    }
}

/// The outcome of a decision, with the why.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Decision {
    /// Chosen variant name.
    pub variant: String,
    /// Gate / experiment / config name that decided.
    pub decided_by: String,
    pub kind: DecisionKind,
    /// Statsig rule id, "" when none.
    pub rule_id: String,
    /// Statsig's evaluation reason ("Bootstrap:Recognized", "Bootstrap:Unrecognized",
    /// "Network:Recognized", "NoValues", ...), or "NotReady:NoValues" when the
    /// engine has no specs loaded (then statsig is not consulted at all).
    pub reason: String,
    /// Gates: statsig's boolean.
    pub gate_value: Option<bool>,
    /// Experiments: the assigned group.
    pub group_name: Option<String>,
    /// Experiments / configs: the parameter value statsig returned.
    pub value: Option<String>,
    /// The unit the spec is evaluated on (`userID`, `stableID`, ...); empty
    /// when statsig was not consulted.
    pub unit_type: String,
}

/// The value of a custom event.
#[derive(Debug, Clone, PartialEq)]
pub enum EventValue {
    Number(f64),
    Text(String),
}
