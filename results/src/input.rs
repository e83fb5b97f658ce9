//! Reading: expanding paths and globs into files, splitting files into lines,
//! and decoding one JSONL line into the handful of fields the engine needs.
//!
//! Lines are written by statsig-rust's event logger (`StatsigEventInternal`,
//! camelCase): `{"eventName", "value", "metadata", "statsigMetadata", "user",
//! "time", "secondaryExposures"}`. Decoding borrows from the line and skips
//! every other field with serde's `IgnoredAny`, so a line costs one scan and
//! almost no allocation.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::Error;

pub(crate) const GATE_EXPOSURE: &str = "statsig::gate_exposure";
pub(crate) const CONFIG_EXPOSURE: &str = "statsig::config_exposure";
pub(crate) const LAYER_EXPOSURE: &str = "statsig::layer_exposure";

/// Expands each pattern: a pattern with glob characters (`*`, `?`, `[`) is
/// matched (in alphabetical order, so rotated files `x.jsonl.1`, `x.jsonl.2`
/// come in a stable order); any other pattern is taken as a path and must
/// exist when read. A file named by several patterns is read once, so that
/// `--exposures 'var/*.jsonl*' --events 'var/*.jsonl*'` does not count
/// events twice.
pub(crate) fn expand_patterns<I, S>(patterns: I, into: &mut Vec<PathBuf>) -> Result<(), Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut seen: HashSet<PathBuf> = into.iter().map(|p| identity(p)).collect();
    for pattern in patterns {
        let pattern = pattern.as_ref();
        let mut matched = Vec::new();
        if pattern.contains(['*', '?', '[']) {
            let paths = glob::glob(pattern).map_err(|source| Error::Pattern {
                pattern: pattern.to_owned(),
                source,
            })?;
            for entry in paths {
                let path = entry.map_err(|e| Error::Read {
                    path: e.path().to_path_buf(),
                    source: e.into(),
                })?;
                if path.is_file() {
                    matched.push(path);
                }
            }
        } else {
            matched.push(PathBuf::from(pattern));
        }
        for path in matched {
            if seen.insert(identity(&path)) {
                into.push(path);
            }
        }
    }
    Ok(())
}

/// The key under which a file is deduplicated: its canonical path when it
/// exists (so `./a` and `a` are one file), else the path as given.
fn identity(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// Calls `each_line` with every non-empty line of `reader`, without its line
/// terminator. Invalid UTF-8 is passed through as bytes and rejected by the
/// decoder, so it is counted like any malformed line.
pub(crate) fn for_each_line(
    mut reader: impl BufRead,
    path: &Path,
    mut each_line: impl FnMut(&[u8]),
) -> Result<(), Error> {
    let mut buffer = Vec::with_capacity(4096);
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .map_err(|source| Error::Read {
                path: path.to_path_buf(),
                source,
            })?;
        if read == 0 {
            return Ok(());
        }
        let mut line = buffer.as_slice();
        while let [rest @ .., b'\n' | b'\r'] = line {
            line = rest;
        }
        if !line.is_empty() {
            each_line(line);
        }
    }
}

pub(crate) fn open(path: &Path) -> Result<impl BufRead, Error> {
    let file = File::open(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // Large buffer: the files are read sequentially, often twice.
    Ok(BufReader::with_capacity(1 << 20, file))
}

/// What a line is, judged from its first bytes only. statsig-rust writes
/// `eventName` first, so most lines can be routed to the pass that needs
/// them without being decoded; anything else is decoded in both passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sniffed {
    /// `{"eventName":"statsig::…`: an exposure or SDK-internal line.
    Statsig,
    /// `{"eventName":"…` with any other name: a custom event.
    Custom,
    /// Not in the logger's layout: decode to find out.
    Unknown,
}

pub(crate) fn sniff(line: &[u8]) -> Sniffed {
    const PREFIX: &[u8] = b"{\"eventName\":\"";
    match line.strip_prefix(PREFIX) {
        Some(rest) if rest.starts_with(b"statsig::") => Sniffed::Statsig,
        // A name starting with a backslash escape could spell `statsig::`.
        Some(rest) if !rest.starts_with(b"\\") => Sniffed::Custom,
        _ => Sniffed::Unknown,
    }
}

/// One decoded line.
#[derive(Debug, PartialEq)]
pub(crate) enum Line<'a> {
    Exposure(Exposure<'a>),
    Event(Event<'a>),
    /// Well-formed but not used: SDK diagnostics, layer exposures.
    Ignored,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExposureKind {
    Gate,
    Config,
}

#[derive(Debug, PartialEq)]
pub(crate) struct Exposure<'a> {
    pub kind: ExposureKind,
    pub decision: Cow<'a, str>,
    pub user: User<'a>,
    pub time: u64,
    pub rule_id: Cow<'a, str>,
    /// Gates: the evaluated value. Configs: `rulePassed` when the logger
    /// wrote it (a rule's pass percentage failing keeps its rule id).
    pub passed: Option<bool>,
}

#[derive(Debug, PartialEq)]
pub(crate) struct Event<'a> {
    pub name: Cow<'a, str>,
    pub user: User<'a>,
    pub time: u64,
    /// The numeric value: a JSON number or a string that parses as one.
    pub value: Option<f64>,
}

#[derive(Debug, Default, PartialEq)]
pub(crate) struct User<'a> {
    pub user_id: Option<Cow<'a, str>>,
    pub custom_ids: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl User<'_> {
    /// The unit id for an id type (`userID` or a custom id name), compared
    /// case-insensitively as statsig-rust does.
    pub fn unit_id(&self, id_type: &str) -> Option<&str> {
        if id_type.eq_ignore_ascii_case("userID") {
            return self.user_id.as_deref().filter(|id| !id.is_empty());
        }
        self.custom_ids
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(id_type))
            .map(|(_, id)| id.as_ref())
            .filter(|id| !id.is_empty())
    }
}

/// Why a line was not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    NotJson,
    MissingField,
}

/// Decodes one line.
pub(crate) fn decode(line: &[u8]) -> Result<Line<'_>, Malformed> {
    let text = std::str::from_utf8(line).map_err(|_| Malformed::NotJson)?;
    let raw: RawLine<'_> = serde_json::from_str(text).map_err(|_| Malformed::NotJson)?;
    let name = raw
        .event_name
        .and_then(Scalar::into_str)
        .ok_or(Malformed::MissingField)?;
    let kind = match name.as_ref() {
        GATE_EXPOSURE => Some(ExposureKind::Gate),
        CONFIG_EXPOSURE => Some(ExposureKind::Config),
        LAYER_EXPOSURE => return Ok(Line::Ignored),
        other if other.starts_with("statsig::") => return Ok(Line::Ignored),
        _ => None,
    };
    let user = raw.user.map(RawUser::into_user).unwrap_or_default();
    let time = raw
        .time
        .and_then(Scalar::into_time)
        .ok_or(Malformed::MissingField)?;
    match kind {
        Some(kind) => {
            let metadata = raw.metadata.ok_or(Malformed::MissingField)?;
            let (decision, passed) = match kind {
                ExposureKind::Gate => (
                    metadata.gate,
                    Some(
                        metadata
                            .gate_value
                            .and_then(Scalar::into_bool)
                            .ok_or(Malformed::MissingField)?,
                    ),
                ),
                ExposureKind::Config => (
                    metadata.config,
                    metadata.rule_passed.and_then(Scalar::into_bool),
                ),
            };
            let decision = decision
                .and_then(Scalar::into_str)
                .filter(|d| !d.is_empty())
                .ok_or(Malformed::MissingField)?;
            let rule_id = metadata
                .rule_id
                .and_then(Scalar::into_str)
                .unwrap_or(Cow::Borrowed(""));
            Ok(Line::Exposure(Exposure {
                kind,
                decision,
                user,
                time,
                rule_id,
                passed,
            }))
        }
        None => Ok(Line::Event(Event {
            name,
            user,
            time,
            value: raw.value.and_then(Scalar::into_number),
        })),
    }
}

#[derive(Deserialize)]
struct RawLine<'a> {
    #[serde(rename = "eventName", borrow, default)]
    event_name: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    user: Option<RawUser<'a>>,
    #[serde(borrow, default)]
    time: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    value: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    metadata: Option<RawMetadata<'a>>,
}

#[derive(Deserialize)]
struct RawUser<'a> {
    #[serde(rename = "userID", borrow, default)]
    user_id: Option<Scalar<'a>>,
    #[serde(rename = "customIDs", borrow, default)]
    custom_ids: Option<CustomIds<'a>>,
}

impl<'a> RawUser<'a> {
    fn into_user(self) -> User<'a> {
        User {
            user_id: self.user_id.and_then(Scalar::into_id),
            custom_ids: self.custom_ids.map(|ids| ids.0).unwrap_or_default(),
        }
    }
}

/// Only the exposure fields; custom events' metadata is skipped by the same
/// struct (unknown keys are ignored, known keys accept any JSON value).
#[derive(Deserialize)]
struct RawMetadata<'a> {
    #[serde(borrow, default)]
    gate: Option<Scalar<'a>>,
    #[serde(rename = "gateValue", borrow, default)]
    gate_value: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    config: Option<Scalar<'a>>,
    #[serde(rename = "ruleID", borrow, default)]
    rule_id: Option<Scalar<'a>>,
    #[serde(rename = "rulePassed", borrow, default)]
    rule_passed: Option<Scalar<'a>>,
}

/// Any JSON value, keeping strings borrowed and numbers exact; containers
/// are skipped. Used for every field whose type the logger does not fix
/// (`value` may be a number or a string, `gateValue` a string or a bool).
#[derive(Debug, Clone, PartialEq)]
enum Scalar<'a> {
    Str(Cow<'a, str>),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
    Null,
    Container,
}

impl<'a> Scalar<'a> {
    fn into_str(self) -> Option<Cow<'a, str>> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Ids are strings, but a numeric id is accepted as its decimal text.
    fn into_id(self) -> Option<Cow<'a, str>> {
        match self {
            Scalar::Str(s) => Some(s),
            Scalar::Unsigned(n) => Some(Cow::Owned(n.to_string())),
            Scalar::Signed(n) => Some(Cow::Owned(n.to_string())),
            _ => None,
        }
    }

    /// Milliseconds since the epoch, as a number or a numeric string.
    fn into_time(self) -> Option<u64> {
        match self {
            Scalar::Unsigned(n) => Some(n),
            Scalar::Float(f) if f.is_finite() && f >= 0.0 => Some(f as u64),
            Scalar::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn into_bool(self) -> Option<bool> {
        match self {
            Scalar::Bool(b) => Some(b),
            Scalar::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Scalar::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    fn into_number(self) -> Option<f64> {
        let number = match self {
            Scalar::Unsigned(n) => n as f64,
            Scalar::Signed(n) => n as f64,
            Scalar::Float(f) => f,
            Scalar::Str(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        number.is_finite().then_some(number)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::Unsigned(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Signed(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Container)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Container)
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// `customIDs`: a map of id type to id; entries that are not ids are dropped.
struct CustomIds<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'de: 'a, 'a> Deserialize<'de> for CustomIds<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdsVisitor;
        impl<'de> Visitor<'de> for IdsVisitor {
            type Value = CustomIds<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of custom ids")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut ids = Vec::new();
                while let Some((name, id)) = map.next_entry::<Scalar<'de>, Scalar<'de>>()? {
                    if let (Some(name), Some(id)) = (name.into_str(), id.into_id()) {
                        ids.push((name, id));
                    }
                }
                Ok(CustomIds(ids))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(CustomIds(Vec::new()))
            }
        }
        deserializer.deserialize_any(IdsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GATE_LINE: &str = r#"{"eventName":"statsig::gate_exposure","value":null,"metadata":{"gate":"variant_b","gateValue":"true","ruleID":"rollout50","reason":"Bootstrap:Recognized","lcut":"1767225600000","receivedAt":"1767225600200"},"statsigMetadata":{"samplingMode":"none"},"user":{"userID":"u1","custom":{"plan":"free"},"statsigEnvironment":{"tier":"production"}},"time":1767225600123,"secondaryExposures":[{"gate":"x","gateValue":"false","ruleID":"default"}]}"#;

    #[test]
    fn decodes_a_statsig_gate_exposure() {
        let Ok(Line::Exposure(e)) = decode(GATE_LINE.as_bytes()) else {
            panic!("not an exposure")
        };
        assert_eq!(e.kind, ExposureKind::Gate);
        assert_eq!(e.decision, "variant_b");
        assert_eq!(e.rule_id, "rollout50");
        assert_eq!(e.passed, Some(true));
        assert_eq!(e.time, 1767225600123);
        assert_eq!(e.user.unit_id("userID"), Some("u1"));
        assert!(
            matches!(e.decision, Cow::Borrowed(_)),
            "borrowed, not copied"
        );
        assert_eq!(sniff(GATE_LINE.as_bytes()), Sniffed::Statsig);
    }

    #[test]
    fn gate_value_may_be_a_bool_and_ids_may_be_custom() {
        let line = r#"{"eventName":"statsig::gate_exposure","metadata":{"gate":"g","gateValue":false,"ruleID":"r"},"user":{"userID":"u","customIDs":{"companyID":"c9","n":7}},"time":"5"}"#;
        let Ok(Line::Exposure(e)) = decode(line.as_bytes()) else {
            panic!()
        };
        assert_eq!(e.passed, Some(false));
        assert_eq!(e.time, 5);
        assert_eq!(e.user.unit_id("companyid"), Some("c9"));
        assert_eq!(e.user.unit_id("n"), Some("7"));
    }

    #[test]
    fn decodes_config_exposures_and_custom_events() {
        let line = r#"{"eventName":"statsig::config_exposure","metadata":{"config":"variant_experiment","ruleID":"group_b","rulePassed":"true"},"user":{"userID":"u2"},"time":10}"#;
        let Ok(Line::Exposure(e)) = decode(line.as_bytes()) else {
            panic!()
        };
        assert_eq!(
            (e.kind, e.decision.as_ref(), e.rule_id.as_ref()),
            (ExposureKind::Config, "variant_experiment", "group_b")
        );
        assert_eq!(e.passed, Some(true));

        for (value, expected) in [
            ("9.99", Some(9.99)),
            ("\"2.5\"", Some(2.5)),
            ("\"home\"", None),
            ("null", None),
            ("{\"a\":1}", None),
        ] {
            let line = format!(
                r#"{{"eventName":"purchase","user":{{"userID":"u\"1"}},"value":{value},"time":11,"metadata":{{"gate":5}}}}"#
            );
            let Ok(Line::Event(e)) = decode(line.as_bytes()) else {
                panic!("{line}")
            };
            assert_eq!(
                (e.name.as_ref(), e.value, e.time),
                ("purchase", expected, 11)
            );
            assert_eq!(e.user.unit_id("userID"), Some("u\"1"));
        }
    }

    #[test]
    fn malformed_lines_are_reported_not_fatal() {
        assert_eq!(decode(&GATE_LINE.as_bytes()[..80]), Err(Malformed::NotJson));
        assert_eq!(decode(b"\xff\xfe"), Err(Malformed::NotJson));
        assert_eq!(decode(b"[1,2]"), Err(Malformed::NotJson));
        assert_eq!(
            decode(br#"{"user":{"userID":"u"},"time":1}"#),
            Err(Malformed::MissingField)
        );
        assert_eq!(
            decode(br#"{"eventName":"buy","user":{"userID":"u"}}"#),
            Err(Malformed::MissingField)
        );
        assert_eq!(
            decode(br#"{"eventName":"statsig::gate_exposure","metadata":{"gate":"g"},"time":1}"#),
            Err(Malformed::MissingField)
        );
        assert_eq!(
            decode(br#"{"eventName":"statsig::layer_exposure","time":1}"#),
            Ok(Line::Ignored)
        );
    }

    #[test]
    fn sniffing_only_trusts_the_loggers_layout() {
        assert_eq!(
            sniff(br#"{"eventName":"purchase","time":1}"#),
            Sniffed::Custom
        );
        assert_eq!(
            sniff(br#"{"eventName":"\u0073tatsig::gate_exposure"}"#),
            Sniffed::Unknown
        );
        assert_eq!(
            sniff(br#"{"time":1,"eventName":"purchase"}"#),
            Sniffed::Unknown
        );
        assert_eq!(sniff(br#" {"eventName":"purchase"}"#), Sniffed::Unknown);
    }
}
