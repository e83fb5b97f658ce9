//! Experiment results on the daemon (`GET /results`, the dashboard, the
//! `variantd results` command), computed with `variantd-results` from the
//! daemon's own exposures files.
//!
//! The computation reads whole files, so it never runs on a request: a
//! background task ([`spawn_refresher`]) recomputes at most every
//! [`REFRESH_INTERVAL`], and only when the files, the specs or the config
//! changed; requests read the last finished computation from an
//! [`ArcSwap`], serialised once when it was made.
//!
//! The files do not know routes, so which variants a group routes to (and
//! an experiment's control) come from the config, see [`apply_routes`].

pub mod sampler;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::web::Bytes;
use arc_swap::ArcSwap;
use serde::Serialize;
use variantd_decision::{DecisionEngine, DecisionSpec};
use variantd_results::{AnalysisBuilder, DecisionResult, InputSummary};

use crate::control::config::{Config, RouteConfig, RouteDecision};
use crate::snapshot::Snapshot;

/// Shortest time between two computations: the files grow with every
/// request, and a computation rereads them whole.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(5);
/// How often the refresher looks whether anything changed (a few `stat`s).
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("cannot read the specs file {}: {source}", path.display())]
    ReadSpecs {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build specs from the definitions file {}: {source}", path.display())]
    Definitions {
        path: PathBuf,
        #[source]
        source: variantd_decision::DefinitionsError,
    },
    #[error(transparent)]
    Results(#[from] variantd_results::Error),
}

/// The dcs-v2 document behind `path`: the file itself, or the one a
/// definitions file (`.toml`) builds.
pub fn specs_json(path: &Path) -> Result<String, ResultsError> {
    if variantd_decision::is_definitions_file(path) {
        variantd_decision::build_specs_from_file(path, now_ms()).map_err(|source| {
            ResultsError::Definitions {
                path: path.to_path_buf(),
                source,
            }
        })
    } else {
        std::fs::read_to_string(path).map_err(|source| ResultsError::ReadSpecs {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// The glob that takes an exposures file and its rotated copies
/// (`exposures.jsonl`, `.1`, `.2`, …), with the path's own glob
/// characters escaped.
pub fn exposures_glob(exposures_file: &Path) -> String {
    format!(
        "{}*",
        glob::Pattern::escape(&exposures_file.to_string_lossy())
    )
}

/// Tell the analysis what only the routes know: the variants each group
/// routes to, and an experiment's control.
///
/// - A gate route: group `pass` → its `pass` variant, `fail` → its `fail`
///   variant (`fail` is the control, the library's default for gates).
/// - An experiment route: group `X` → `map[X]` (statsig's group names are
///   the parameter values the shipped routes map); the control is the group
///   whose variant is the route's `default`, when exactly one group is.
/// - A dynamic config's groups are rule ids, not parameter values, so its
///   routes say nothing about them; it keeps the library's defaults.
///
/// Several routes on one decision (the shipped `/process` and `/analyze`
/// both use gate `variant_b`): a group's variants are the union over those
/// routes, in route order; a control is set only when the routes agree on it.
pub fn apply_routes(mut builder: AnalysisBuilder, routes: &[RouteConfig]) -> AnalysisBuilder {
    let mut variants: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut add = |decision: &str, group: &str, variant: &str| {
        let list = variants
            .entry((decision.to_owned(), group.to_owned()))
            .or_default();
        if !list.iter().any(|v| v == variant) {
            list.push(variant.to_owned());
        }
    };
    // Per experiment: the control each route implies (None: it implies none).
    let mut controls: HashMap<String, Vec<Option<String>>> = HashMap::new();
    for route in routes {
        let RouteDecision::Decide(spec) = &route.decision else {
            continue;
        };
        match spec {
            DecisionSpec::Gate { name, pass, fail } => {
                add(name, "pass", pass);
                add(name, "fail", fail);
            }
            DecisionSpec::Experiment {
                name,
                variants: map,
                default,
                ..
            } => {
                let mut sorted: Vec<_> = map.iter().collect();
                sorted.sort();
                for (group, variant) in &sorted {
                    add(name, group, variant);
                }
                let mut to_default = sorted.iter().filter(|(_, v)| *v == default);
                let control = match (to_default.next(), to_default.next()) {
                    (Some((group, _)), None) => Some((*group).clone()),
                    _ => None,
                };
                controls.entry(name.clone()).or_default().push(control);
            }
            DecisionSpec::DynamicConfig { .. } => {}
        }
    }
    for ((decision, group), list) in variants {
        builder = builder.variants(&decision, &group, list);
    }
    for (decision, implied) in controls {
        if let Some(Some(first)) = implied.first() {
            if implied.iter().all(|c| c.as_deref() == Some(first.as_str())) {
                builder = builder.control(decision, first.clone());
            }
        }
    }
    builder
}

/// Where the last computation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultsState {
    /// Nothing computed yet.
    Computing,
    Ready,
    /// The last computation failed (`error` says why); no decisions.
    Error,
}

/// What `GET /results` answers: the decisions as variantd-results
/// serialises them, and where they come from.
#[derive(Debug, Serialize)]
pub struct ResultsEnvelope {
    pub state: ResultsState,
    /// The engine's mode: `offline` or `live`.
    pub mode: &'static str,
    /// Said when the numbers may not be the whole story (live mode, no
    /// exposures file).
    pub note: Option<String>,
    pub error: Option<String>,
    /// When the files were read (ms since the epoch).
    pub computed_at_ms: Option<u64>,
    pub compute_ms: Option<u64>,
    pub refresh_interval_secs: u64,
    pub input: Option<InputSummary>,
    pub decisions: Vec<DecisionResult>,
}

/// One computation, serialised once for every request that reads it.
pub struct ResultsView {
    pub state: ResultsState,
    /// The whole envelope as JSON (the dashboard's feed).
    pub envelope_json: Bytes,
    /// The decisions alone, a JSON array (`GET /results`).
    pub decisions_json: Bytes,
    pub mode: &'static str,
    pub computed_at_ms: Option<u64>,
    /// Each decision's JSON, by name.
    pub decision_json: HashMap<String, Bytes>,
    /// Decision names in report order (for a 404 that names them).
    pub names: Vec<String>,
}

impl ResultsView {
    fn of(envelope: &ResultsEnvelope) -> ResultsView {
        let decision_json = envelope
            .decisions
            .iter()
            .map(|d| (d.name.clone(), to_json_bytes(d)))
            .collect();
        ResultsView {
            state: envelope.state,
            envelope_json: to_json_bytes(envelope),
            decisions_json: to_json_bytes(&envelope.decisions),
            mode: envelope.mode,
            computed_at_ms: envelope.computed_at_ms,
            decision_json,
            names: envelope.decisions.iter().map(|d| d.name.clone()).collect(),
        }
    }
}

fn to_json_bytes<T: Serialize>(value: &T) -> Bytes {
    // These structs hold only strings, numbers and options: serialising
    // them cannot fail, and an empty object is a safe answer if it did.
    Bytes::from(serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec()))
}

/// The last computation, for requests.
pub struct ResultsCache {
    current: ArcSwap<ResultsView>,
}

impl Default for ResultsCache {
    fn default() -> Self {
        ResultsCache::new()
    }
}

impl ResultsCache {
    pub fn new() -> ResultsCache {
        let computing = ResultsEnvelope {
            state: ResultsState::Computing,
            mode: "offline",
            note: Some("the first computation has not finished yet".into()),
            error: None,
            computed_at_ms: None,
            compute_ms: None,
            refresh_interval_secs: REFRESH_INTERVAL.as_secs(),
            input: None,
            decisions: Vec::new(),
        };
        ResultsCache {
            current: ArcSwap::from_pointee(ResultsView::of(&computing)),
        }
    }

    pub fn current(&self) -> Arc<ResultsView> {
        self.current.load_full()
    }

    fn publish(&self, envelope: &ResultsEnvelope) {
        self.current.store(Arc::new(ResultsView::of(envelope)));
    }
}

/// Compute the results for the config in `snapshot` now (blocking: reads files).
pub fn compute(config: &Config, mode: &'static str) -> ResultsEnvelope {
    let started = Instant::now();
    let computed_at_ms = now_ms();
    let live_note = (mode == "live").then(|| {
        "live mode: exposures go to Statsig, whose console has the full results; \
         these come only from what the exposures file holds (empty if nothing wrote it)"
            .to_owned()
    });
    let Some(exposures_file) = &config.statsig.exposures_file else {
        return ResultsEnvelope {
            state: ResultsState::Ready,
            mode,
            note: Some(
                "no [statsig] exposures_file is configured, so there is nothing to read".into(),
            ),
            error: None,
            computed_at_ms: Some(computed_at_ms),
            compute_ms: Some(0),
            refresh_interval_secs: REFRESH_INTERVAL.as_secs(),
            input: None,
            decisions: Vec::new(),
        };
    };
    let report = specs_json(&config.statsig.specs_file)
        .and_then(|json| Ok(variantd_results::Analysis::builder().specs_json(&json)?))
        .and_then(|builder| {
            Ok(apply_routes(builder, &config.routes)
                .add_paths([exposures_glob(exposures_file)])?
                .compute()?)
        });
    let compute_ms = Some(started.elapsed().as_millis() as u64);
    match report {
        Ok(report) => ResultsEnvelope {
            state: ResultsState::Ready,
            mode,
            note: live_note,
            error: None,
            computed_at_ms: Some(computed_at_ms),
            compute_ms,
            refresh_interval_secs: REFRESH_INTERVAL.as_secs(),
            input: Some(report.input),
            decisions: report.decisions,
        },
        Err(e) => ResultsEnvelope {
            state: ResultsState::Error,
            mode,
            note: live_note,
            error: Some(e.to_string()),
            computed_at_ms: Some(computed_at_ms),
            compute_ms,
            refresh_interval_secs: REFRESH_INTERVAL.as_secs(),
            input: None,
            decisions: Vec::new(),
        },
    }
}

/// What a computation depends on: the config generation, the specs file
/// and every exposures file (name, size, mtime). Equal fingerprints give
/// equal results.
#[derive(Debug, PartialEq, Eq)]
struct Fingerprint {
    generation: u64,
    files: Vec<(PathBuf, u64, Option<SystemTime>)>,
}

fn fingerprint(snapshot: &Snapshot) -> Fingerprint {
    let config = &snapshot.config;
    let stat = |p: PathBuf| {
        let meta = std::fs::metadata(&p).ok();
        let len = meta.as_ref().map_or(0, |m| m.len());
        let mtime = meta.and_then(|m| m.modified().ok());
        (p, len, mtime)
    };
    let mut files = vec![stat(config.statsig.specs_file.clone())];
    if let Some(exposures) = &config.statsig.exposures_file {
        if let Ok(paths) = glob::glob(&exposures_glob(exposures)) {
            files.extend(paths.filter_map(Result::ok).map(stat));
        }
    }
    Fingerprint {
        generation: snapshot.generation,
        files,
    }
}

/// Recompute in the background whenever the inputs changed, at most every
/// [`REFRESH_INTERVAL`]. The first computation runs at once.
pub fn spawn_refresher(
    cache: Arc<ResultsCache>,
    snapshots: Arc<ArcSwap<Snapshot>>,
    engine: Arc<DecisionEngine>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECK_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last: Option<(Instant, Fingerprint)> = None;
        loop {
            tick.tick().await;
            if last
                .as_ref()
                .is_some_and(|(at, _)| at.elapsed() < REFRESH_INTERVAL)
            {
                continue;
            }
            let snapshot = snapshots.load_full();
            let previous = last.as_ref().map(|(_, f)| f);
            let mode = engine.status().mode;
            let cache = cache.clone();
            let outcome = tokio::task::spawn_blocking({
                let changed_since = previous.map(|f| (f.generation, f.files.clone()));
                move || {
                    let now = fingerprint(&snapshot);
                    let unchanged = changed_since
                        .is_some_and(|(g, files)| g == now.generation && files == now.files);
                    if unchanged {
                        return None;
                    }
                    let envelope = compute(&snapshot.config, mode);
                    if let Some(e) = &envelope.error {
                        tracing::warn!(error = %e, "results: computation failed");
                    }
                    cache.publish(&envelope);
                    Some(now)
                }
            })
            .await;
            match outcome {
                Ok(Some(now)) => last = Some((Instant::now(), now)),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "results: computation did not finish"),
            }
        }
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::exposures_glob;
    use std::path::Path;

    #[test]
    fn the_exposures_glob_takes_rotated_files_and_escapes_the_path() {
        assert_eq!(
            exposures_glob(Path::new("/var/x/exposures.jsonl")),
            "/var/x/exposures.jsonl*"
        );
        assert_eq!(exposures_glob(Path::new("/a[1]/e")), "/a[[]1[]]/e*");
    }
}
