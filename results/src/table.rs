//! A readable terminal table of a report: groups and units, the SRM verdict,
//! and per event the rates with intervals, lift, p-value and the
//! always-valid interval.

use std::fmt::Write;

use crate::report::{DecisionResult, MetricRow, SRM_THRESHOLD};
use crate::stats::Interval;

/// Renders decisions one after another, separated by a blank line.
pub fn render_table(decisions: &[DecisionResult]) -> String {
    let mut out = String::new();
    if decisions.is_empty() {
        out.push_str("no exposures found\n");
    }
    for (i, decision) in decisions.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        render_decision(&mut out, decision);
    }
    out
}

fn render_decision(out: &mut String, d: &DecisionResult) {
    let total: u64 = d.groups.iter().map(|g| g.units).sum();
    let _ = write!(
        out,
        "{} ({}), control: {}, {} units",
        d.name,
        d.kind.as_str(),
        d.control.as_deref().unwrap_or("-"),
        total
    );
    if d.multiple_exposures > 0 {
        let _ = write!(
            out,
            ", {} seen in several groups (kept in their first)",
            d.multiple_exposures
        );
    }
    out.push('\n');

    let mut groups = vec![row(["group", "units", "variants"])];
    for g in &d.groups {
        groups.push(row([
            g.group.clone(),
            g.units.to_string(),
            if g.variants.is_empty() {
                "-".to_owned()
            } else {
                g.variants.join(", ")
            },
        ]));
    }
    write_aligned(out, &groups, &[false, true, false]);

    match (d.srm.chi2, d.srm.p_value) {
        (Some(chi2), Some(p)) if d.srm.mismatch => {
            let _ = writeln!(
                out,
                "  WARNING sample ratio mismatch: chi2 {chi2:.2}, {} dof, p = {} < {SRM_THRESHOLD} over {} units; \
                 the split differs from the configured one, do not trust these results",
                d.srm.dof,
                format_p(p),
                d.srm.units
            );
        }
        (Some(chi2), Some(p)) => {
            let _ = writeln!(
                out,
                "  SRM ok: chi2 {chi2:.2}, {} dof, p = {} over {} units",
                d.srm.dof,
                format_p(p),
                d.srm.units
            );
        }
        _ => out.push_str("  SRM: no percentage split to test\n"),
    }

    if d.metrics.is_empty() {
        out.push_str("  no events after exposure\n");
        return;
    }
    let mut rows = vec![row([
        "event",
        "group",
        "units",
        "conv",
        "rate [95% CI]",
        "lift [95% CI]",
        "p",
        "always-valid lift CI",
        "value/unit [95% CI]",
        "value lift",
        "value p",
    ])];
    for m in &d.metrics {
        rows.push(metric_row(m));
    }
    write_aligned(
        out,
        &rows,
        &[
            false, false, true, true, false, false, true, false, false, false, true,
        ],
    );
    for verdict in verdicts(d) {
        let _ = writeln!(out, "  {verdict}");
    }
}

/// Per event, the treatment with the highest lift over the control, and
/// whether it is significant: at 5% for one look (p-value), and at any
/// number of looks (its always-valid interval excludes 0).
fn verdicts(d: &DecisionResult) -> Vec<String> {
    let control = d.control.as_deref().unwrap_or("-");
    let mut out = Vec::new();
    for rows in d.metrics.chunk_by(|a, b| a.event == b.event) {
        let best = rows
            .iter()
            .filter_map(|m| Some((m, m.lift?)))
            .max_by(|(_, a), (_, b)| a.total_cmp(b));
        let Some((best, lift)) = best else {
            continue;
        };
        let significance = match (best.p_value, best.sequential_ci) {
            (_, Some([lo, hi])) if lo > 0.0 || hi < 0.0 => {
                "significant, even with peeking (always-valid interval excludes 0)"
            }
            (Some(p), _) if p < 0.05 => "significant at 5% for a single look, not yet with peeking",
            _ => "not significant",
        };
        out.push(format!(
            "{}: best {} {} vs {control} (p = {}): {significance}",
            best.event,
            best.group,
            signed_percent(lift),
            best.p_value.map_or_else(|| "-".to_owned(), format_p),
        ));
    }
    out
}

fn metric_row(m: &MetricRow) -> Vec<String> {
    let is_control = m.lift.is_none() && m.p_value.is_none() && m.lift_ci.is_none();
    let dash = || "-".to_owned();
    vec![
        m.event.clone(),
        m.group.clone(),
        m.units.to_string(),
        m.converted.to_string(),
        match m.rate {
            Some(rate) => format!("{} {}", percent(rate), interval(m.rate_ci, percent)),
            None => dash(),
        },
        match m.lift {
            Some(lift) => format!(
                "{} {}",
                signed_percent(lift),
                interval(m.lift_ci, signed_percent)
            ),
            None if is_control => "(control)".to_owned(),
            None => dash(),
        },
        m.p_value.map_or_else(dash, format_p),
        m.sequential_ci
            .map_or_else(dash, |ci| interval(Some(ci), signed_percent)),
        match m.value_mean {
            Some(mean) => format!("{mean:.3} {}", interval(m.value_ci, |v| format!("{v:.3}"))),
            None => dash(),
        },
        m.value_lift.map_or_else(dash, signed_percent),
        m.value_p_value.map_or_else(dash, format_p),
    ]
}

fn row<const N: usize>(cells: [impl Into<String>; N]) -> Vec<String> {
    cells.into_iter().map(Into::into).collect()
}

fn percent(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

fn signed_percent(v: f64) -> String {
    format!("{:+.1}%", v * 100.0)
}

fn interval(ci: Option<Interval>, format: impl Fn(f64) -> String) -> String {
    match ci {
        Some([lo, hi]) => format!("[{}, {}]", format(lo), format(hi)),
        None => "[-]".to_owned(),
    }
}

fn format_p(p: f64) -> String {
    if p < 0.0001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

/// Writes rows as columns two spaces apart, indented by two; `right[i]`
/// right-aligns column i (numbers).
fn write_aligned(out: &mut String, rows: &[Vec<String>], right: &[bool]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::from(" ");
        for (c, cell) in r.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            line.push(' ');
            if right.get(c).copied().unwrap_or(false) {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            }
            line.push(' ');
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}
