//! Per-unit accumulation: the only state that grows with the input.
//!
//! Memory is bounded by distinct units, never by lines:
//! - one interned id per distinct unit and id type: a 32-byte hash-map slot
//!   (ids up to 22 bytes are stored in it; longer ones on the heap) at a
//!   load factor of 1/2 to 7/8, so 37–64 bytes per unit;
//! - per decision, a dense 16-byte [`FirstExposure`] slot per unit of its id
//!   type (time, group, rule, flags);
//! - per decision and event name, one 4+8-byte entry per unit that
//!   converted after its first exposure (the sum of its values), needed at
//!   the end for the per-unit variance.
//!
//! Events are judged against the unit's *final* first exposure time, which
//! is only known once every exposure has been read (files are not in time
//! order: rotated files, several replicas, events written before the
//! exposure that precedes them in time). Reading files, the engine makes two
//! passes: exposures first, then events, so each event is settled the moment
//! it is read. A stream that can only be read once ([`Pass::Both`]) keeps its
//! events as 32-byte pending records until [`Accumulator::settle`]; that mode
//! is for tests and small inputs.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use serde::Serialize;

use crate::designs::{Designs, DEFAULT_RULE, GATE_FAIL, GATE_PASS};
use crate::input::{self, Event, Exposure, ExposureKind, Line, Sniffed};

/// Which lines a pass over the input acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    /// First pass over files: exposures only.
    Exposures,
    /// Second pass over files: events only, against final exposures.
    Events,
    /// A single pass over a stream: exposures now, events kept pending.
    Both,
}

/// What the input contained, line by line. Every line is counted once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct InputCounts {
    pub lines: u64,
    /// Not JSON, truncated, or without the fields its kind requires.
    pub malformed_lines: u64,
    pub exposures: u64,
    pub events: u64,
    /// Well-formed lines not analysed: layer exposures, SDK diagnostics.
    pub ignored_lines: u64,
    /// Exposures whose user lacks the decision's unit id.
    pub exposures_without_unit: u64,
}

const NOT_EXPOSED: u64 = u64::MAX;
/// Up to this many names, look up by scanning instead of hashing.
const LINEAR_SCAN_MAX: usize = 8;
const PASSED_UNKNOWN: u8 = 2;

/// A unit's first exposure to one decision.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FirstExposure {
    /// Milliseconds; [`NOT_EXPOSED`] for a unit never exposed.
    pub time: u64,
    pub group: u16,
    pub rule: u16,
    /// 0 false, 1 true, [`PASSED_UNKNOWN`].
    passed: u8,
    /// Exposed in more than one group.
    pub multiple_groups: bool,
}

impl FirstExposure {
    const NONE: Self = Self {
        time: NOT_EXPOSED,
        group: 0,
        rule: 0,
        passed: PASSED_UNKNOWN,
        multiple_groups: false,
    };

    pub fn is_exposed(&self) -> bool {
        self.time != NOT_EXPOSED
    }

    pub fn passed(&self) -> Option<bool> {
        match self.passed {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

/// Small string interner for group names and rule ids, indexed by `u16` to
/// keep [`FirstExposure`] at 16 bytes. Garbage input with more than 65 535
/// distinct rule ids folds the rest into one overflow entry.
#[derive(Debug, Default)]
pub(crate) struct Names {
    pub names: Vec<String>,
    index: HashMap<String, u16>,
}

impl Names {
    const OVERFLOW: &'static str = "(too many distinct names)";

    pub fn intern(&mut self, name: &str) -> u16 {
        if let Some(i) = self.find(name) {
            return i;
        }
        let name = if self.names.len() >= u16::MAX as usize {
            Self::OVERFLOW
        } else {
            name
        };
        if let Some(i) = self.find(name) {
            return i;
        }
        let i = self.names.len() as u16;
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), i);
        i
    }

    pub fn find(&self, name: &str) -> Option<u16> {
        // A decision has a handful of groups and rules: comparing a few
        // short strings beats hashing on every exposure line.
        if self.names.len() <= LINEAR_SCAN_MAX {
            return self.names.iter().position(|n| n == name).map(|i| i as u16);
        }
        self.index.get(name).copied()
    }
}

/// Units of one id type.
#[derive(Debug)]
struct Namespace {
    id_type: String,
    units: HashMap<UnitKey, u32>,
}

/// Longest unit id stored inside the hash-map slot itself.
const INLINE_KEY: usize = 22;

/// A unit id as a hash-map key, kept inside the map's slot when short (user
/// ids usually are): with a million units the table does not fit in cache,
/// and a lookup that had to follow a pointer to a separately allocated key
/// paid a second cache miss per line.
#[derive(Debug, Clone)]
enum UnitKey {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(Box<str>),
}

impl UnitKey {
    fn new(id: &str) -> Self {
        if id.len() <= INLINE_KEY {
            let mut bytes = [0; INLINE_KEY];
            bytes[..id.len()].copy_from_slice(id.as_bytes());
            UnitKey::Inline {
                len: id.len() as u8,
                bytes,
            }
        } else {
            UnitKey::Heap(id.into())
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Always valid: these are the bytes of a whole `str`.
            UnitKey::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..*len as usize]).unwrap_or_default()
            }
            UnitKey::Heap(id) => id,
        }
    }
}

// Hash and equality of the `str`, so the map can be queried with `&str`.
impl PartialEq for UnitKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for UnitKey {}

impl Hash for UnitKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Borrow<str> for UnitKey {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

/// Everything accumulated for one decision.
#[derive(Debug)]
pub(crate) struct DecisionState {
    pub name: String,
    pub exposure_kind: ExposureKind,
    namespace: usize,
    pub groups: Names,
    pub rules: Names,
    /// Indexed by unit; shorter than the namespace when later units were
    /// never exposed to this decision.
    pub first: Vec<FirstExposure>,
    /// Indexed by event id: unit → sum of the event's values at or after
    /// the unit's first exposure. Presence means converted.
    pub conversions: Vec<HashMap<u32, f64>>,
    pub events_before_exposure: u64,
    pub events_from_unexposed: u64,
}

impl DecisionState {
    pub fn exposure(&self, unit: u32) -> Option<&FirstExposure> {
        self.first.get(unit as usize).filter(|f| f.is_exposed())
    }
}

/// An event read before exposures were final.
#[derive(Debug, Clone, Copy)]
struct PendingEvent {
    namespace: u32,
    unit: u32,
    event: u32,
    time: u64,
    value: f64,
}

#[derive(Debug)]
pub(crate) struct Accumulator {
    designs: Designs,
    namespaces: Vec<Namespace>,
    pub decisions: Vec<DecisionState>,
    decision_index: HashMap<String, usize>,
    pub event_names: Vec<String>,
    event_index: HashMap<String, u32>,
    pending: Vec<PendingEvent>,
    pub counts: InputCounts,
}

impl Accumulator {
    pub fn new(designs: Designs) -> Self {
        let mut accumulator = Self {
            designs,
            namespaces: Vec::new(),
            decisions: Vec::new(),
            decision_index: HashMap::new(),
            event_names: Vec::new(),
            event_index: HashMap::new(),
            pending: Vec::new(),
            counts: InputCounts::default(),
        };
        // Every id type a decision may use exists from the start, so that a
        // single-pass stream can keep events that precede any exposure.
        let id_types: Vec<String> = accumulator
            .designs
            .iter()
            .map(|d| d.id_type.clone())
            .collect();
        for id_type in std::iter::once("userID").chain(id_types.iter().map(String::as_str)) {
            accumulator.namespace_for(id_type);
        }
        accumulator
    }

    pub fn designs(&self) -> &Designs {
        &self.designs
    }

    /// Feeds one line to the given pass. Each line is counted once: the
    /// exposures pass (or the single pass) counts every line it sees; the
    /// events pass counts only the events, and the malformed lines among the
    /// custom-event lines the exposures pass skipped unread.
    pub fn ingest_line(&mut self, line: &[u8], pass: Pass) {
        let sniffed = input::sniff(line);
        let first_look = pass != Pass::Events;
        if first_look {
            self.counts.lines += 1;
        }
        match (pass, sniffed) {
            (Pass::Exposures, Sniffed::Custom) | (Pass::Events, Sniffed::Statsig) => return,
            _ => {}
        }
        match input::decode(line) {
            Err(_) if first_look || sniffed == Sniffed::Custom => self.counts.malformed_lines += 1,
            Err(_) => {}
            Ok(Line::Ignored) if first_look => self.counts.ignored_lines += 1,
            Ok(Line::Exposure(exposure)) if first_look => {
                self.counts.exposures += 1;
                self.ingest_exposure(&exposure);
            }
            Ok(Line::Event(event)) if pass != Pass::Exposures => {
                self.counts.events += 1;
                self.ingest_event(&event, pass == Pass::Both);
            }
            Ok(_) => {}
        }
    }

    fn decision_for(&mut self, exposure: &Exposure<'_>) -> usize {
        let name = exposure.decision.as_ref();
        let known = if self.decisions.len() <= LINEAR_SCAN_MAX {
            self.decisions.iter().position(|d| d.name == name)
        } else {
            self.decision_index.get(name).copied()
        };
        if let Some(i) = known {
            return i;
        }
        let id_type = self
            .designs
            .get(&exposure.decision)
            .map(|d| d.id_type.clone())
            .unwrap_or_else(|| "userID".to_owned());
        let namespace = self.namespace_for(&id_type);
        let i = self.decisions.len();
        self.decisions.push(DecisionState {
            name: exposure.decision.to_string(),
            exposure_kind: exposure.kind,
            namespace,
            groups: Names::default(),
            rules: Names::default(),
            first: Vec::new(),
            conversions: Vec::new(),
            events_before_exposure: 0,
            events_from_unexposed: 0,
        });
        self.decision_index.insert(exposure.decision.to_string(), i);
        i
    }

    fn namespace_for(&mut self, id_type: &str) -> usize {
        if let Some(i) = self
            .namespaces
            .iter()
            .position(|n| n.id_type.eq_ignore_ascii_case(id_type))
        {
            return i;
        }
        self.namespaces.push(Namespace {
            id_type: id_type.to_owned(),
            units: HashMap::new(),
        });
        self.namespaces.len() - 1
    }

    fn intern_unit(&mut self, namespace: usize, id: &str) -> u32 {
        let units = &mut self.namespaces[namespace].units;
        if let Some(&unit) = units.get(id) {
            return unit;
        }
        let unit = units.len() as u32;
        units.insert(UnitKey::new(id), unit);
        unit
    }

    fn ingest_exposure(&mut self, exposure: &Exposure<'_>) {
        let d = self.decision_for(exposure);
        let namespace = self.decisions[d].namespace;
        let Some(id) = exposure.user.unit_id(&self.namespaces[namespace].id_type) else {
            self.counts.exposures_without_unit += 1;
            return;
        };
        let unit = self.intern_unit(namespace, id) as usize;
        let group_name = group_name(&self.designs, exposure);
        let decision = &mut self.decisions[d];
        let group = decision.groups.intern(group_name);
        let rule = decision.rules.intern(&exposure.rule_id);
        if decision.first.len() <= unit {
            decision.first.resize(unit + 1, FirstExposure::NONE);
        }
        let slot = &mut decision.first[unit];
        if slot.is_exposed() && slot.group != group {
            slot.multiple_groups = true;
        }
        // Strictly earlier: of two exposures in the same millisecond the one
        // read first wins, so results do not depend on hash order.
        if exposure.time < slot.time {
            slot.time = exposure.time;
            slot.group = group;
            slot.rule = rule;
            slot.passed = match exposure.passed {
                Some(false) => 0,
                Some(true) => 1,
                None => PASSED_UNKNOWN,
            };
        }
    }

    fn event_id(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.event_index.get(name) {
            return i;
        }
        let i = self.event_names.len() as u32;
        self.event_names.push(name.to_owned());
        self.event_index.insert(name.to_owned(), i);
        i
    }

    fn ingest_event(&mut self, event: &Event<'_>, exposures_may_follow: bool) {
        let value = event.value.unwrap_or(0.0);
        let event_id = self.event_id(&event.name);
        for namespace in 0..self.namespaces.len() {
            let Some(id) = event.user.unit_id(&self.namespaces[namespace].id_type) else {
                continue;
            };
            if exposures_may_follow {
                let unit = self.intern_unit(namespace, id);
                self.pending.push(PendingEvent {
                    namespace: namespace as u32,
                    unit,
                    event: event_id,
                    time: event.time,
                    value,
                });
            } else {
                let unit = self.namespaces[namespace].units.get(id).copied();
                self.settle_event(namespace, unit, event_id, event.time, value);
            }
        }
    }

    /// Attributes one event to every decision of its unit's id type.
    fn settle_event(
        &mut self,
        namespace: usize,
        unit: Option<u32>,
        event: u32,
        time: u64,
        value: f64,
    ) {
        for decision in self
            .decisions
            .iter_mut()
            .filter(|d| d.namespace == namespace)
        {
            let first = unit.and_then(|u| decision.exposure(u).map(|f| (u, f.time)));
            match first {
                None => decision.events_from_unexposed += 1,
                Some((_, first_time)) if time < first_time => decision.events_before_exposure += 1,
                Some((unit, _)) => {
                    let event = event as usize;
                    if decision.conversions.len() <= event {
                        decision.conversions.resize_with(event + 1, HashMap::new);
                    }
                    *decision.conversions[event].entry(unit).or_insert(0.0) += value;
                }
            }
        }
    }

    /// Settles the events a single-pass stream kept pending; exposures are
    /// final from here on.
    pub fn settle(&mut self) {
        for pending in std::mem::take(&mut self.pending) {
            self.settle_event(
                pending.namespace as usize,
                Some(pending.unit),
                pending.event,
                pending.time,
                pending.value,
            );
        }
    }
}

/// The group an exposure assigns, named as the report names it.
fn group_name<'e>(designs: &'e Designs, exposure: &'e Exposure<'_>) -> &'e str {
    match exposure.kind {
        ExposureKind::Gate => {
            if exposure.passed == Some(true) {
                GATE_PASS
            } else {
                GATE_FAIL
            }
        }
        // A config rule whose pass percentage failed serves the default
        // value, like no rule matching; it keeps its rule id for SRM.
        ExposureKind::Config if exposure.passed == Some(false) => DEFAULT_RULE,
        ExposureKind::Config if exposure.rule_id.is_empty() => DEFAULT_RULE,
        ExposureKind::Config => match designs.get(&exposure.decision) {
            Some(design) => design.group_of_rule(&exposure.rule_id),
            None => &exposure.rule_id,
        },
    }
}
