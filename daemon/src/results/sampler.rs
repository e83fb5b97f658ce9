//! The dashboard's live numbers, sampled from the daemon's own counters.
//!
//! Requests only count into the metrics they always counted into; once a
//! second this task renders those metrics (the same text `/metrics`
//! serves), keeps the per-route/variant request counters and the latency
//! histogram buckets in a ring buffer bounded to [`WINDOW`], and turns the
//! differences between samples into the traffic, latency and error-rate
//! JSON the dashboard polls. It also watches the control path's plugin
//! status and keeps a bounded history of swaps and refusals, which no
//! counter records.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::web::Bytes;
use arc_swap::ArcSwap;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;

use crate::control::Control;

/// How far back the traffic chart reaches.
pub const WINDOW: Duration = Duration::from_secs(300);
/// The span latency percentiles and error rates are computed over.
pub const LATENCY_WINDOW: Duration = Duration::from_secs(60);
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Plugin events kept (loads, swaps, removals, refusals).
const HISTORY: usize = 200;

const REQUESTS: &str = "variantd_requests_total";
const DURATION_BUCKET: &str = "variantd_request_duration_seconds_bucket";

/// One reading of the counters.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Sample {
    pub at_ms: u64,
    /// `variantd_requests_total` by (route, variant, status).
    pub requests: HashMap<(String, String, u16), f64>,
    /// `variantd_request_duration_seconds` buckets by variant (summed over
    /// routes), keyed by the bucket's upper bound as f64 bits: for positive
    /// numbers (and +Inf) bit order is numeric order.
    pub buckets: HashMap<String, BTreeMap<u64, f64>>,
}

/// Read the request counters and duration buckets out of Prometheus text.
/// Lines it does not understand are skipped: the text comes from our own
/// registries, and a dashboard gap is better than a dead sampler.
pub fn parse_sample(text: &str, at_ms: u64) -> Sample {
    let mut sample = Sample {
        at_ms,
        ..Sample::default()
    };
    for line in text.lines() {
        let Some((name, labels, value)) = parse_line(line) else {
            continue;
        };
        let label = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if name == REQUESTS {
            let (Some(route), Some(variant), Some(status)) =
                (label("route"), label("variant"), label("status"))
            else {
                continue;
            };
            let Ok(status) = status.parse::<u16>() else {
                continue;
            };
            *sample.requests.entry((route, variant, status)).or_default() += value;
        } else if name == DURATION_BUCKET {
            let (Some(variant), Some(le)) = (label("variant"), label("le")) else {
                continue;
            };
            let le = match le.as_str() {
                "+Inf" => f64::INFINITY,
                s => match s.parse::<f64>() {
                    Ok(v) if v >= 0.0 => v,
                    _ => continue,
                },
            };
            *sample
                .buckets
                .entry(variant)
                .or_default()
                .entry(le.to_bits())
                .or_default() += value;
        }
    }
    sample
}

type Labels = Vec<(String, String)>;

/// `name{a="x",b="y"} value [timestamp]`; label values unescaped.
fn parse_line(line: &str) -> Option<(&str, Labels, f64)> {
    if line.starts_with('#') {
        return None;
    }
    let open = line.find('{')?;
    let name = &line[..open];
    let mut labels = Vec::new();
    let mut rest = &line[open + 1..];
    loop {
        rest = rest.trim_start_matches(',');
        if let Some(after) = rest.strip_prefix('}') {
            rest = after;
            break;
        }
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_owned();
        rest = rest[eq + 1..].strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        rest = &rest[end + 1..];
        labels.push((key, value));
    }
    let value = rest.split_whitespace().next()?.parse::<f64>().ok()?;
    Some((name, labels, value))
}

/// What the dashboard's traffic, latency and error-rate parts show.
#[derive(Debug, Serialize, PartialEq)]
pub struct TrafficView {
    pub window_secs: u64,
    pub latency_window_secs: u64,
    /// End of each interval, seconds since the epoch.
    pub times: Vec<f64>,
    pub series: Vec<TrafficSeries>,
    pub variants: Vec<VariantHealth>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct TrafficSeries {
    pub route: String,
    pub variant: String,
    /// Requests per second in each interval.
    pub rps: Vec<f64>,
}

/// One variant over the last [`LATENCY_WINDOW`].
#[derive(Debug, Serialize, PartialEq)]
pub struct VariantHealth {
    pub variant: String,
    pub requests: u64,
    pub rps: f64,
    /// Answers with a 5xx status.
    pub errors: u64,
    pub error_rate: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// The view of a ring of samples, oldest first.
pub fn traffic_view(samples: &VecDeque<Sample>) -> TrafficView {
    let mut times = Vec::new();
    let mut series: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    let pairs: Vec<(&Sample, &Sample)> = samples.iter().zip(samples.iter().skip(1)).collect();
    for (i, (before, after)) in pairs.iter().enumerate() {
        let secs = (after.at_ms.saturating_sub(before.at_ms) as f64 / 1000.0).max(0.001);
        times.push(after.at_ms as f64 / 1000.0);
        let mut per_interval: HashMap<(String, String), f64> = HashMap::new();
        for ((route, variant, status), count) in &after.requests {
            let was = before
                .requests
                .get(&(route.clone(), variant.clone(), *status))
                .copied()
                .unwrap_or(0.0);
            *per_interval
                .entry((route.clone(), variant.clone()))
                .or_default() += (count - was).max(0.0);
        }
        for (key, delta) in per_interval {
            // A series first seen now had no traffic in the earlier intervals.
            series
                .entry(key)
                .or_insert_with(|| vec![0.0; i])
                .push(delta / secs);
        }
        for values in series.values_mut() {
            values.resize(i + 1, 0.0);
        }
    }
    let series = series
        .into_iter()
        .map(|((route, variant), rps)| TrafficSeries {
            route,
            variant,
            rps,
        })
        .collect();
    TrafficView {
        window_secs: WINDOW.as_secs(),
        latency_window_secs: LATENCY_WINDOW.as_secs(),
        times,
        series,
        variants: variant_health(samples),
    }
}

fn variant_health(samples: &VecDeque<Sample>) -> Vec<VariantHealth> {
    let (Some(newest), Some(_)) = (samples.back(), samples.front()) else {
        return Vec::new();
    };
    let since = newest
        .at_ms
        .saturating_sub(LATENCY_WINDOW.as_millis() as u64);
    // The newest sample at least LATENCY_WINDOW old, else the oldest there is.
    let base = samples
        .iter()
        .rev()
        .find(|s| s.at_ms <= since)
        .or(samples.front())
        .unwrap_or(newest);
    let secs = (newest.at_ms.saturating_sub(base.at_ms) as f64 / 1000.0).max(0.001);
    let mut totals: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for ((route, variant, status), count) in &newest.requests {
        let was = base
            .requests
            .get(&(route.clone(), variant.clone(), *status))
            .copied()
            .unwrap_or(0.0);
        let delta = (count - was).max(0.0);
        let entry = totals.entry(variant.as_str()).or_default();
        entry.0 += delta;
        if *status >= 500 {
            entry.1 += delta;
        }
    }
    totals
        .into_iter()
        .map(|(variant, (requests, errors))| {
            let deltas = bucket_deltas(newest.buckets.get(variant), base.buckets.get(variant));
            VariantHealth {
                variant: variant.to_owned(),
                requests: requests as u64,
                rps: requests / secs,
                errors: errors as u64,
                error_rate: (requests > 0.0).then(|| errors / requests),
                p50_ms: quantile(&deltas, 0.5).map(|s| s * 1000.0),
                p99_ms: quantile(&deltas, 0.99).map(|s| s * 1000.0),
            }
        })
        .collect()
}

/// Cumulative counts per upper bound, newest minus base.
fn bucket_deltas(
    newest: Option<&BTreeMap<u64, f64>>,
    base: Option<&BTreeMap<u64, f64>>,
) -> Vec<(f64, f64)> {
    let Some(newest) = newest else {
        return Vec::new();
    };
    newest
        .iter()
        .map(|(le, count)| {
            let was = base.and_then(|b| b.get(le)).copied().unwrap_or(0.0);
            (f64::from_bits(*le), (count - was).max(0.0))
        })
        .collect()
}

/// The q-quantile of cumulative histogram buckets, interpolated linearly
/// within the bucket it falls in (as Prometheus' `histogram_quantile`);
/// in the +Inf bucket, the largest finite bound.
pub fn quantile(cumulative: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = cumulative.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut previous = (0.0, 0.0);
    for &(le, count) in cumulative {
        if count >= rank {
            if le.is_infinite() {
                return Some(previous.0);
            }
            let in_bucket = count - previous.1;
            let share = if in_bucket > 0.0 {
                (rank - previous.1) / in_bucket
            } else {
                1.0
            };
            return Some(previous.0 + (le - previous.0) * share);
        }
        previous = (le, count);
    }
    Some(previous.0)
}

/// A change in the plugins the control path serves.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PluginEvent {
    pub at_ms: u64,
    /// `loaded`, `swapped`, `removed`, `refused` or `refusal_cleared`.
    pub kind: &'static str,
    /// The plugin's name, or the refused file.
    pub subject: String,
    pub from_version: Option<String>,
    pub to_version: Option<String>,
    pub reason: Option<String>,
}

/// What the previous look at the control path saw.
#[derive(Default)]
struct SeenPlugins {
    versions: HashMap<String, (String, String)>,
    refusals: HashSet<(String, String)>,
}

/// The sampler's results, read by dashboard requests.
pub struct Sampler {
    traffic: ArcSwap<Bytes>,
    history: Mutex<VecDeque<PluginEvent>>,
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::new()
    }
}

impl Sampler {
    pub fn new() -> Sampler {
        let empty = traffic_view(&VecDeque::new());
        Sampler {
            traffic: ArcSwap::from_pointee(Bytes::from(
                serde_json::to_vec(&empty).unwrap_or_default(),
            )),
            history: Mutex::new(VecDeque::new()),
        }
    }

    /// The latest [`TrafficView`], as JSON.
    pub fn traffic_json(&self) -> Bytes {
        Bytes::clone(&self.traffic.load())
    }

    /// Plugin events, oldest first.
    pub fn history(&self) -> Vec<PluginEvent> {
        self.history
            .lock()
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn record(&self, events: Vec<PluginEvent>) {
        if events.is_empty() {
            return;
        }
        if let Ok(mut history) = self.history.lock() {
            history.extend(events);
            while history.len() > HISTORY {
                history.pop_front();
            }
        }
    }
}

/// Sample every second until aborted.
pub fn spawn(
    sampler: Arc<Sampler>,
    metrics: PrometheusHandle,
    control: Arc<Control>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let capacity = (WINDOW.as_secs() / SAMPLE_EVERY.as_secs()) as usize + 1;
        let mut samples: VecDeque<Sample> = VecDeque::with_capacity(capacity);
        // Spawned before the server accepts a connection, when every
        // counter is still 0: the first interval then counts the requests
        // that arrive before the first tick runs.
        samples.push_back(Sample {
            at_ms: now_ms(),
            ..Sample::default()
        });
        let mut seen = SeenPlugins::default();
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let text = crate::telemetry::metrics::render(&metrics);
            if samples.len() == capacity {
                samples.pop_front();
            }
            samples.push_back(parse_sample(&text, now_ms()));
            let view = traffic_view(&samples);
            if let Ok(json) = serde_json::to_vec(&view) {
                sampler.traffic.store(Arc::new(Bytes::from(json)));
            }
            sampler.record(plugin_changes(&control, &mut seen));
        }
    })
}

fn plugin_changes(control: &Control, seen: &mut SeenPlugins) -> Vec<PluginEvent> {
    let status = control.status();
    let at_ms = now_ms();
    let mut events = Vec::new();
    let event = |kind, subject: &str| PluginEvent {
        at_ms,
        kind,
        subject: subject.to_owned(),
        from_version: None,
        to_version: None,
        reason: None,
    };
    let mut versions = HashMap::new();
    for p in &status.plugins {
        let now = (p.version.clone(), p.sha256.clone());
        match seen.versions.get(&p.name) {
            None => events.push(PluginEvent {
                to_version: Some(p.version.clone()),
                ..event("loaded", &p.name)
            }),
            Some(was) if *was != now => events.push(PluginEvent {
                from_version: Some(was.0.clone()),
                to_version: Some(p.version.clone()),
                ..event("swapped", &p.name)
            }),
            Some(_) => {}
        }
        versions.insert(p.name.clone(), now);
    }
    for (name, (version, _)) in &seen.versions {
        if !versions.contains_key(name) {
            events.push(PluginEvent {
                from_version: Some(version.clone()),
                ..event("removed", name)
            });
        }
    }
    let refusals: HashSet<(String, String)> = status
        .refused
        .iter()
        .map(|r| (r.file.display().to_string(), r.reason.clone()))
        .collect();
    for (file, reason) in refusals.difference(&seen.refusals) {
        events.push(PluginEvent {
            reason: Some(reason.clone()),
            ..event("refused", file)
        });
    }
    for (file, reason) in seen.refusals.difference(&refusals) {
        events.push(PluginEvent {
            reason: Some(reason.clone()),
            ..event("refusal_cleared", file)
        });
    }
    seen.versions = versions;
    seen.refusals = refusals;
    events
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# TYPE variantd_requests_total counter
variantd_requests_total{variant="app_a",route="/process/{message}",status="200"} 10
variantd_requests_total{variant="app_a",route="/process/{message}",status="503"} 2
variantd_requests_total{variant="we\"ird\\",route="/x",status="200"} 1
variantd_request_duration_seconds_bucket{variant="app_a",route="/process/{message}",le="0.001"} 6
variantd_request_duration_seconds_bucket{variant="app_a",route="/process/{message}",le="0.01"} 12
variantd_request_duration_seconds_bucket{variant="app_a",route="/process/{message}",le="+Inf"} 12
"#;

    #[test]
    fn reads_counters_and_buckets_with_escaped_labels() {
        let s = parse_sample(TEXT, 1000);
        assert_eq!(
            s.requests[&("/process/{message}".into(), "app_a".into(), 200)],
            10.0
        );
        assert_eq!(s.requests[&("/x".into(), "we\"ird\\".into(), 200)], 1.0);
        let buckets = &s.buckets["app_a"];
        assert_eq!(buckets.len(), 3);
        assert_eq!(buckets[&f64::INFINITY.to_bits()], 12.0);
    }

    #[test]
    fn quantiles_interpolate_within_a_bucket() {
        let cumulative = [(0.001, 6.0), (0.01, 12.0), (f64::INFINITY, 12.0)];
        assert_eq!(quantile(&cumulative, 0.5), Some(0.001));
        let p99 = quantile(&cumulative, 0.99).unwrap();
        assert!((p99 - (0.001 + 0.009 * (11.88 - 6.0) / 6.0)).abs() < 1e-12);
        assert_eq!(quantile(&[(f64::INFINITY, 0.0)], 0.5), None);
        assert_eq!(
            quantile(&[(0.5, 1.0), (f64::INFINITY, 4.0)], 0.99),
            Some(0.5)
        );
    }

    #[test]
    fn rates_and_errors_come_from_differences_between_samples() {
        let first = parse_sample(TEXT, 1_000);
        let later = TEXT
            .replace("status=\"200\"} 10", "status=\"200\"} 28")
            .replace("le=\"0.01\"} 12", "le=\"0.01\"} 32")
            .replace("le=\"+Inf\"} 12", "le=\"+Inf\"} 32");
        let second = parse_sample(&later, 3_000);
        let view = traffic_view(&VecDeque::from([first, second]));
        assert_eq!(view.times, vec![3.0]);
        let a = view.series.iter().find(|s| s.variant == "app_a").unwrap();
        assert_eq!(a.rps, vec![9.0], "18 requests in 2 s");
        let health = view.variants.iter().find(|v| v.variant == "app_a").unwrap();
        assert_eq!((health.requests, health.errors), (18, 0));
        assert_eq!(health.error_rate, Some(0.0));
        // All 20 new observations fell in (0.001, 0.01].
        assert!(health.p50_ms.unwrap() > 1.0 && health.p99_ms.unwrap() <= 10.0);
    }
}
