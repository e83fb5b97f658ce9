//! Prometheus metrics. Names are the public contract:
//! `variantd_requests_total`, `variantd_request_duration_seconds`, ...
//!
//! Everything goes through the `metrics` facade and its Prometheus exporter,
//! except the request-duration histogram: the exporter buffers every sample
//! until it is drained, which cost 2–9% of plugin-mode throughput
//! (BENCHMARKS.md, "2026-11-25 — a new VM of the same kind", the paragraphs
//! from "Request metrics again": three runs; the fixed buckets won +2% back
//! in six rounds, and `metrics/request` went from 71.7 to 60.2 ns). That
//! one histogram lives in a `prometheus` registry whose histograms count
//! into fixed buckets as they record. [`render`] puts both registries' text
//! together; neither is ever formatted by hand. A histogram
//! added later belongs in that registry too: through the facade its samples
//! would pile up between scrapes, as nothing drains the exporter's buffers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use metrics::{counter, gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use prometheus::{HistogramOpts, HistogramVec, Registry, TextEncoder};

const REQUEST_DURATION_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// `variantd_request_duration_seconds{variant,route}`, in a registry of its own.
struct RequestDuration {
    registry: Registry,
    histogram: HistogramVec,
}

static REQUEST_DURATION: LazyLock<RequestDuration> = LazyLock::new(RequestDuration::new);

impl RequestDuration {
    fn new() -> RequestDuration {
        let histogram = HistogramVec::new(
            HistogramOpts::new(
                "variantd_request_duration_seconds",
                "Time to answer a routed request.",
            )
            .buckets(REQUEST_DURATION_BUCKETS.to_vec()),
            &["variant", "route"],
        )
        .expect("static histogram options are valid");
        let registry = Registry::new();
        registry
            .register(Box::new(histogram.clone()))
            .expect("registered once, in a registry of its own");
        RequestDuration {
            registry,
            histogram,
        }
    }
}

/// Install the global recorder; returns the handle `/metrics` renders from.
/// Safe to call more than once (later calls build a private recorder).
pub fn install() -> PrometheusHandle {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _ = metrics::set_global_recorder(recorder);
    describe();
    handle
}

/// The Prometheus text of every variantd metric: the exporter's, then the
/// request-duration histogram's.
pub fn render(handle: &PrometheusHandle) -> String {
    render_with(handle, &REQUEST_DURATION.registry)
}

fn render_with(handle: &PrometheusHandle, durations: &Registry) -> String {
    let mut text = handle.render();
    match TextEncoder::new().encode_to_string(&durations.gather()) {
        Ok(histogram) => text.push_str(&histogram),
        Err(e) => tracing::warn!(error = %e, "could not render the request-duration histogram"),
    }
    text
}

fn describe() {
    metrics::describe_counter!(
        "variantd_requests_total",
        "Requests answered, by variant, route and status."
    );
    metrics::describe_counter!(
        "variantd_plugin_events_total",
        "Plugin loads, swaps, refusals and removals."
    );
    metrics::describe_gauge!("variantd_plugins_loaded", "Plugins currently serving.");
    metrics::describe_gauge!(
        "variantd_plugin_libraries_open",
        "Plugin library versions open (serving or draining)."
    );
    metrics::describe_gauge!(
        "variantd_plugin_libraries_retained",
        "Closed plugin libraries the dynamic loader keeps mapped."
    );
    metrics::describe_counter!(
        "variantd_reloads_total",
        "Reloads of config and specs, by outcome."
    );
    metrics::describe_counter!(
        "variantd_upstream_errors_total",
        "Remote variant failures, by kind."
    );
    metrics::describe_gauge!(
        "variantd_circuit_state",
        "Remote variant circuit: 0 closed, 1 open, 2 half-open."
    );
    metrics::describe_counter!("variantd_exposures_total", "Decisions evaluated by Statsig (each queues an exposure; Statsig de-duplicates within 60 s).");
    metrics::describe_counter!(
        "variantd_events_written_total",
        "Offline: exposures and events appended to the JSONL file."
    );
    metrics::describe_counter!(
        "variantd_events_dropped_total",
        "Offline: exposures and events lost because the file could not be written."
    );
    metrics::describe_counter!(
        "variantd_events_write_failures_total",
        "Offline: failed writes to the JSONL file; their events are retried with the next flush."
    );
    metrics::describe_gauge!("variantd_connections_open", "Client connections open now.");
    metrics::describe_counter!(
        "variantd_connection_limit_reached_total",
        "Connections accepted while server.max_connections were already open; new ones wait."
    );
    metrics::describe_gauge!(
        "variantd_specs_age_seconds",
        "Age of the Statsig specs in use."
    );
    metrics::describe_gauge!(
        "variantd_specs_source",
        "1 for the source the specs come from (file or live)."
    );
    metrics::describe_counter!(
        "variantd_fallbacks_total",
        "Requests answered by a fallback variant."
    );
}

/// Count one answered request and observe its duration. The handles are
/// cached per worker thread, so the hot path neither allocates label strings
/// nor searches the registry after the first request of each label set.
///
/// What that saves has not been measured on its own: it came with other
/// changes (BENCHMARKS.md, "2026-11-24 — commit 85226d9", "metric handles
/// cached per worker" among the steps from 66.1k to 86.4k req/s). Keying
/// the handles by foldhash took `metrics/request` from 57 to 36 ns
/// (BENCHMARKS.md, "2026-11-25 (evening) — 8d9448b", table of changes). The
/// reference, the facade's and the registry's lookups by labels on every
/// request, is `record_by_labels` in the tests, which check that both
/// render the same text.
pub fn request(variant: &str, route: &str, status: u16, elapsed: Duration) {
    REQUEST_HANDLES.with(|cell| {
        record(
            &mut cell.borrow_mut(),
            &REQUEST_DURATION,
            variant,
            route,
            status,
            elapsed,
        )
    });
}

/// [`request`] on the given handles, creating missing ones in the current
/// recorder and in `durations` (forced only then).
#[inline]
fn record(
    handles: &mut RequestHandles,
    durations: &LazyLock<RequestDuration>,
    variant: &str,
    route: &str,
    status: u16,
    elapsed: Duration,
) {
    let by_route = match handles.get_mut(variant) {
        Some(m) => m,
        None => handles.entry(variant.to_string()).or_default(),
    };
    let by_status = match by_route.get_mut(route) {
        Some(m) => m,
        None => by_route.entry(route.to_string()).or_default(),
    };
    let (count, duration) = by_status.entry(status).or_insert_with(|| {
        (
            counter!("variantd_requests_total", "variant" => variant.to_string(), "route" => route.to_string(), "status" => status.to_string()),
            durations.histogram.with_label_values(&[variant, route]),
        )
    });
    count.increment(1);
    duration.observe(elapsed.as_secs_f64());
}

/// Keyed by names from config (variants, routes), not by clients: a fast
/// hash, still seeded per map.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type RequestHandles =
    FastMap<String, FastMap<String, FastMap<u16, (metrics::Counter, prometheus::Histogram)>>>;

thread_local! {
    static REQUEST_HANDLES: RefCell<RequestHandles> = RefCell::new(RequestHandles::default());
}

pub fn plugin_event(kind: &'static str) {
    counter!("variantd_plugin_events_total", "event" => kind).increment(1);
}

pub fn plugins_loaded(n: usize) {
    gauge!("variantd_plugins_loaded").set(n as f64);
}

pub fn library_counts(open: usize, retained: usize) {
    gauge!("variantd_plugin_libraries_open").set(open as f64);
    gauge!("variantd_plugin_libraries_retained").set(retained as f64);
}

pub fn reload(what: &'static str, ok: bool) {
    counter!("variantd_reloads_total", "what" => what, "outcome" => if ok { "ok" } else { "refused" }).increment(1);
}

pub fn upstream_error(variant: &str, kind: &'static str) {
    counter!("variantd_upstream_errors_total", "variant" => variant.to_string(), "kind" => kind)
        .increment(1);
}

/// The handle of one variant's circuit gauge, for the variant to keep.
pub fn circuit_gauge(variant: &str) -> metrics::Gauge {
    gauge!("variantd_circuit_state", "variant" => variant.to_string())
}

pub fn exposure() {
    counter!("variantd_exposures_total").increment(1);
}

pub fn fallback(from: &str, to: &str) {
    counter!("variantd_fallbacks_total", "from" => from.to_string(), "to" => to.to_string())
        .increment(1);
}

pub fn specs(source: &str, age_seconds: f64, events: &variantd_decision::EngineStatus) {
    counter!("variantd_events_written_total").absolute(events.events_written);
    counter!("variantd_events_dropped_total").absolute(events.events_dropped);
    counter!("variantd_events_write_failures_total").absolute(events.events_write_failures);
    for s in ["file", "live", "none"] {
        gauge!("variantd_specs_source", "source" => s).set(if s == source { 1.0 } else { 0.0 });
    }
    gauge!("variantd_specs_age_seconds").set(age_seconds);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference for [`record`]: the counter and the histogram looked
    /// up by their labels on every request.
    fn record_by_labels(
        durations: &RequestDuration,
        variant: &str,
        route: &str,
        status: u16,
        elapsed: Duration,
    ) {
        counter!("variantd_requests_total", "variant" => variant.to_string(), "route" => route.to_string(), "status" => status.to_string()).increment(1);
        durations
            .histogram
            .with_label_values(&[variant, route])
            .observe(elapsed.as_secs_f64());
    }

    /// `/metrics` after `requests`, through the cached handles or the
    /// reference, each into a recorder and a registry of its own.
    fn rendered(requests: &[(&str, &str, u16, Duration)], cached: bool) -> Vec<String> {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let durations: LazyLock<RequestDuration> = LazyLock::new(RequestDuration::new);
        let mut handles = RequestHandles::default();
        metrics::with_local_recorder(&recorder, || {
            describe();
            for &(variant, route, status, elapsed) in requests {
                if cached {
                    record(&mut handles, &durations, variant, route, status, elapsed);
                } else {
                    record_by_labels(&durations, variant, route, status, elapsed);
                }
            }
        });
        // The exporter writes label sets in hash-map order, which differs
        // between recorders; a scrape's meaning does not depend on it.
        let mut lines: Vec<String> = render_with(&handle, &durations.registry)
            .lines()
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    }

    #[test]
    fn cached_handles_render_what_lookups_by_labels_render() {
        let variants = ["app_a", "app_b", "remote-c"];
        let routes = ["/", "/checkout", "/api/{id}"];
        let statuses = [200, 200, 200, 404, 502];
        let requests: Vec<(&str, &str, u16, Duration)> = (0..5_000u64)
            .map(|i| {
                (
                    variants[(i % 3) as usize],
                    routes[(i / 3 % 3) as usize],
                    statuses[(i / 7 % 5) as usize],
                    Duration::from_micros(i * 37 % 20_000),
                )
            })
            .collect();
        let cached = rendered(&requests, true);
        assert_eq!(cached, rendered(&requests, false));
        // Every label set is there, counted.
        let counted = cached
            .iter()
            .filter(|l| l.starts_with("variantd_requests_total{"))
            .count();
        assert_eq!(counted, 3 * 3 * 3);
        assert!(cached
            .iter()
            .any(|l| l.starts_with("variantd_request_duration_seconds_count{")));
    }
}
