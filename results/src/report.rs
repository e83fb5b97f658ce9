//! The report: per decision, its groups, its SRM test and its metric rows,
//! computed from the accumulated per-unit state. The JSON keys of these
//! structs are a public interface (issue 20): scripts rely on them.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::accumulate::{Accumulator, DecisionState, InputCounts};
use crate::designs::{DecisionKind, Design, GATE_FAIL, GATE_PASS};
use crate::input::ExposureKind;
use crate::stats::{
    self, ChiSquaredFit, Interval, Moments, RelativeLift, StatisticKind, ALPHA, SEQUENTIAL_TUNING,
};

/// p-value under which the observed split is declared a mismatch.
pub const SRM_THRESHOLD: f64 = 0.001;

/// Everything one computation produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub decisions: Vec<DecisionResult>,
    pub input: InputSummary,
}

impl Report {
    pub fn decision(&self, name: &str) -> Option<&DecisionResult> {
        self.decisions.iter().find(|d| d.name == name)
    }
}

/// What was read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputSummary {
    pub files: Vec<String>,
    #[serde(flatten)]
    pub counts: InputCounts,
}

/// The results of one gate, experiment or dynamic config.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionResult {
    pub name: String,
    pub kind: DecisionKind,
    /// The group lifts are measured against (`null` with no groups).
    pub control: Option<String>,
    pub id_type: String,
    pub groups: Vec<GroupResult>,
    /// Units exposed in more than one group; each is counted in the group
    /// of its first exposure.
    pub multiple_exposures: u64,
    /// Events of units exposed to this decision, but only later.
    pub events_before_exposure: u64,
    /// Events of units never exposed to this decision.
    pub events_from_unexposed: u64,
    pub srm: Srm,
    pub metrics: Vec<MetricRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupResult {
    pub group: String,
    /// The variants this group routed to, as the caller configured them.
    pub variants: Vec<String>,
    pub units: u64,
}

/// Sample ratio mismatch: the sum of the independent chi-squared tests of
/// each percentage split (`tests`); `null` statistics when there is nothing
/// to test (no percentage rule, or no units through one).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Srm {
    pub chi2: Option<f64>,
    pub p_value: Option<f64>,
    pub mismatch: bool,
    pub dof: u32,
    /// Units taking part in the test.
    pub units: u64,
    pub tests: Vec<SrmTest>,
}

/// One split: the units of one percentage rule (pass vs fail), or of a set
/// of `user_bucket` rules (one category per rule).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SrmTest {
    pub rules: Vec<String>,
    pub categories: Vec<String>,
    pub observed: Vec<u64>,
    pub expected: Vec<f64>,
    pub chi2: f64,
    pub dof: u32,
    pub p_value: Option<f64>,
}

/// One event in one group. Intervals are 95%; the lift fields are `null`
/// for the control group and wherever undefined (zero baseline or variance).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRow {
    pub event: String,
    pub group: String,
    /// Exposed units in the group (the denominator).
    pub units: u64,
    /// Units that sent the event at or after their first exposure.
    pub converted: u64,
    pub rate: Option<f64>,
    /// Wilson score interval.
    pub rate_ci: Option<Interval>,
    /// Mean over all exposed units of each unit's summed value (0 for units
    /// without the event).
    pub value_mean: Option<f64>,
    /// Student's t interval of `value_mean`.
    pub value_ci: Option<Interval>,
    /// Relative lift of `rate` over the control's.
    pub lift: Option<f64>,
    /// gbstats frequentist (delta method, Welch t) interval of `lift`.
    pub lift_ci: Option<Interval>,
    /// Two-proportion z-test of `rate` against the control, two-sided.
    pub p_value: Option<f64>,
    /// gbstats sequential (always-valid) interval of `lift`.
    pub sequential_ci: Option<Interval>,
    pub value_lift: Option<f64>,
    pub value_lift_ci: Option<Interval>,
    /// Welch's t-test of `value_mean` against the control, two-sided.
    pub value_p_value: Option<f64>,
    pub value_sequential_ci: Option<Interval>,
}

/// What the caller knows that the files do not say.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// decision → control group.
    pub controls: HashMap<String, String>,
    /// (decision, group) → variant names.
    pub variants: HashMap<(String, String), Vec<String>>,
}

pub(crate) fn build(accumulator: &Accumulator, options: &Options, files: Vec<String>) -> Report {
    let mut decisions: Vec<DecisionResult> = accumulator
        .decisions
        .iter()
        .map(|state| decision_result(accumulator, state, options))
        .collect();
    decisions.sort_by(|a, b| a.name.cmp(&b.name));
    Report {
        decisions,
        input: InputSummary {
            files,
            counts: accumulator.counts,
        },
    }
}

fn decision_result(
    accumulator: &Accumulator,
    state: &DecisionState,
    options: &Options,
) -> DecisionResult {
    let design = accumulator.designs().get(&state.name);
    let kind = match (design, state.exposure_kind) {
        (Some(design), _) => design.kind,
        (None, ExposureKind::Gate) => DecisionKind::Gate,
        (None, ExposureKind::Config) => DecisionKind::DynamicConfig,
    };

    // Group order: the design's, then groups only the data shows, by name.
    let mut order: Vec<String> = match (design, kind) {
        (Some(design), _) => design.groups.clone(),
        (None, DecisionKind::Gate) => vec![GATE_FAIL.to_owned(), GATE_PASS.to_owned()],
        (None, _) => Vec::new(),
    };
    let mut extra: Vec<&String> = state
        .groups
        .names
        .iter()
        .filter(|g| !order.contains(g))
        .collect();
    extra.sort();
    order.extend(extra.into_iter().cloned());
    let control = options
        .controls
        .get(&state.name)
        .cloned()
        .or_else(|| (kind == DecisionKind::Gate).then(|| GATE_FAIL.to_owned()))
        .or_else(|| order.first().cloned());
    if let Some(control) = &control {
        if !order.contains(control) {
            order.push(control.clone());
        }
    }
    // Position in `order` of each interned group.
    let position: Vec<usize> = state
        .groups
        .names
        .iter()
        .map(|g| order.iter().position(|o| o == g).unwrap_or(0))
        .collect();

    let mut units = vec![0u64; order.len()];
    let mut multiple_exposures = 0;
    for first in state.first.iter().filter(|f| f.is_exposed()) {
        units[position[first.group as usize]] += 1;
        multiple_exposures += u64::from(first.multiple_groups);
    }

    let groups = order
        .iter()
        .zip(&units)
        .map(|(group, &units)| GroupResult {
            group: group.clone(),
            variants: options
                .variants
                .get(&(state.name.clone(), group.clone()))
                .cloned()
                .unwrap_or_default(),
            units,
        })
        .collect();

    let control_index = control
        .as_ref()
        .and_then(|c| order.iter().position(|o| o == c));
    let metrics = metric_rows(accumulator, state, &order, &position, &units, control_index);

    DecisionResult {
        name: state.name.clone(),
        kind,
        control,
        id_type: design.map_or_else(|| "userID".to_owned(), |d| d.id_type.clone()),
        groups,
        multiple_exposures,
        events_before_exposure: state.events_before_exposure,
        events_from_unexposed: state.events_from_unexposed,
        srm: design.map_or_else(Srm::untested, |d| srm(d, state)),
        metrics,
    }
}

fn metric_rows(
    accumulator: &Accumulator,
    state: &DecisionState,
    order: &[String],
    position: &[usize],
    units: &[u64],
    control: Option<usize>,
) -> Vec<MetricRow> {
    // Events by name, for a stable row order.
    let events: BTreeMap<&str, usize> = state
        .conversions
        .iter()
        .enumerate()
        .filter(|(_, per_unit)| !per_unit.is_empty())
        .map(|(i, _)| (accumulator.event_names[i].as_str(), i))
        .collect();
    let mut rows = Vec::new();
    for (event, index) in events {
        let mut converted = vec![0u64; order.len()];
        let mut values: Vec<Moments> = units
            .iter()
            .map(|&n| Moments {
                n,
                ..Moments::default()
            })
            .collect();
        for (&unit, &sum) in &state.conversions[index] {
            let Some(first) = state.exposure(unit) else {
                continue;
            };
            let g = position[first.group as usize];
            converted[g] += 1;
            values[g].sum += sum;
            values[g].sum_squares += sum * sum;
        }
        let rates: Vec<Moments> = units
            .iter()
            .zip(&converted)
            .map(|(&n, &c)| Moments {
                n,
                sum: c as f64,
                sum_squares: c as f64,
            })
            .collect();
        for g in 0..order.len() {
            let versus = control.filter(|&c| c != g);
            let rate_lift = versus
                .and_then(|c| RelativeLift::new(StatisticKind::Proportion, &rates[g], &rates[c]));
            let value_lift = versus
                .and_then(|c| RelativeLift::new(StatisticKind::SampleMean, &values[g], &values[c]));
            rows.push(MetricRow {
                event: event.to_owned(),
                group: order[g].clone(),
                units: units[g],
                converted: converted[g],
                rate: rates[g].mean(),
                rate_ci: stats::wilson_interval(converted[g], units[g], ALPHA),
                value_mean: values[g].mean(),
                value_ci: stats::mean_interval(&values[g], ALPHA),
                lift: versus
                    .and_then(|c| stats::relative_difference(rates[g].mean(), rates[c].mean())),
                lift_ci: rate_lift.and_then(|l| l.interval(ALPHA)),
                p_value: versus.and_then(|c| {
                    stats::two_proportion_p_value(converted[g], units[g], converted[c], units[c])
                }),
                sequential_ci: rate_lift
                    .and_then(|l| l.sequential_interval(ALPHA, SEQUENTIAL_TUNING)),
                value_lift: versus
                    .and_then(|c| stats::relative_difference(values[g].mean(), values[c].mean())),
                value_lift_ci: value_lift.and_then(|l| l.interval(ALPHA)),
                value_p_value: versus.and_then(|c| stats::welch_p_value(&values[g], &values[c])),
                value_sequential_ci: value_lift
                    .and_then(|l| l.sequential_interval(ALPHA, SEQUENTIAL_TUNING)),
            });
        }
    }
    rows
}

impl Srm {
    fn untested() -> Self {
        Self {
            chi2: None,
            p_value: None,
            mismatch: false,
            dof: 0,
            units: 0,
            tests: Vec::new(),
        }
    }
}

/// The SRM tests a design implies, run on the units' first exposures.
fn srm(design: &Design, state: &DecisionState) -> Srm {
    let mut tests = Vec::new();

    // Bucket rules share the buckets between them: one category per rule.
    let bucket_rules: Vec<_> = design
        .rules
        .iter()
        .filter(|r| r.buckets.is_some_and(|b| b > 0))
        .collect();
    if bucket_rules.len() >= 2 {
        let rule_ids: Vec<Option<u16>> = bucket_rules
            .iter()
            .map(|r| state.rules.find(&r.id))
            .collect();
        let mut observed = vec![0u64; bucket_rules.len()];
        for first in state.first.iter().filter(|f| f.is_exposed()) {
            if let Some(i) = rule_ids.iter().position(|&r| r == Some(first.rule)) {
                observed[i] += 1;
            }
        }
        let shares: Vec<f64> = bucket_rules
            .iter()
            .map(|r| f64::from(r.buckets.unwrap_or(0)))
            .collect();
        let names: Vec<String> = bucket_rules.iter().map(|r| r.id.clone()).collect();
        push_test(&mut tests, names.clone(), names, observed, &shares);
    }

    // Percentage rules: pass vs fail among the units whose conditions matched.
    for rule in design.rules.iter().filter(|r| r.splits_by_percentage()) {
        let Some(rule_id) = state.rules.find(&rule.id) else {
            continue;
        };
        let mut observed = [0u64; 2];
        for first in state
            .first
            .iter()
            .filter(|f| f.is_exposed() && f.rule == rule_id)
        {
            match first.passed() {
                Some(true) => observed[0] += 1,
                Some(false) => observed[1] += 1,
                None => {}
            }
        }
        let p = rule.pass_percentage;
        push_test(
            &mut tests,
            vec![rule.id.clone()],
            vec![GATE_PASS.to_owned(), GATE_FAIL.to_owned()],
            observed.to_vec(),
            &[p, 100.0 - p],
        );
    }

    if tests.is_empty() {
        return Srm::untested();
    }
    let chi2: f64 = tests.iter().map(|t| t.chi2).sum();
    let dof: u32 = tests.iter().map(|t| t.dof).sum();
    let p_value = stats::chi_squared_p_value(chi2, dof);
    Srm {
        chi2: Some(chi2),
        p_value,
        mismatch: p_value.is_some_and(|p| p < SRM_THRESHOLD),
        dof,
        units: tests.iter().map(|t| t.observed.iter().sum::<u64>()).sum(),
        tests,
    }
}

fn push_test(
    tests: &mut Vec<SrmTest>,
    rules: Vec<String>,
    categories: Vec<String>,
    observed: Vec<u64>,
    shares: &[f64],
) {
    let Some(fit) = ChiSquaredFit::new(&observed, shares) else {
        return;
    };
    let total: u64 = observed.iter().sum();
    let share_total: f64 = shares.iter().sum();
    tests.push(SrmTest {
        rules,
        categories,
        expected: shares
            .iter()
            .map(|s| total as f64 * s / share_total)
            .collect(),
        observed,
        chi2: fit.chi2,
        dof: fit.dof,
        p_value: stats::chi_squared_p_value(fit.chi2, fit.dof),
    });
}
