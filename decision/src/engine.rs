//! The decision engine: statsig-rust behind a small, synchronous `decide`.

use crate::definitions::{is_definitions_file, Definitions};
use crate::error::DecisionError;
use crate::exposures::{EventCounts, JsonlEventSink};
use crate::live::FileThenNetworkSpecsAdapter;
use crate::model::{Decision, DecisionKind, DecisionSpec, EventValue, TopLevelField, UserContext};
use crate::settings::StatsigSettings;
use crate::specs::{self, SpecsInfo, ValidSpecs, EMPTY_SPECS};
use crate::statsig_log::{register_secret, TracingOutputLogger, STATSIG_LOG_LEVEL};
use crate::status::EngineStatus;
use serde_json::Value;
use statsig_rust::{
    DynamicConfigEvaluationOptions, ExperimentEvaluationOptions, FeatureGateEvaluationOptions,
    SpecStore, SpecsSource, SpecsUpdateListener, Statsig, StatsigBootstrapSpecsAdapter,
    StatsigHttpSpecsAdapter, StatsigOptions, StatsigUser, StatsigUserBuilder,
};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Reason given for decisions made while no specs are loaded (statsig not consulted).
pub const NOT_READY_REASON: &str = "NotReady:NoValues";

/// Offline there is no network to wait for; this only guards against the unexpected.
const OFFLINE_INIT_BOUND: Duration = Duration::from_secs(10);
const OFFLINE_FLUSH_BOUND: Duration = Duration::from_secs(5);
const LIVE_FLUSH_BOUND: Duration = Duration::from_secs(2);
const OFFLINE_SHUTDOWN_BOUND: Duration = Duration::from_secs(2);
const LIVE_SHUTDOWN_FLUSH_BOUND: Duration = Duration::from_millis(500);
const LIVE_SHUTDOWN_BOUND: Duration = Duration::from_millis(500);
/// How often `specs_version` looks at statsig's specs store for a live update.
const OBSERVE_EVERY_MS: u64 = 50;

static OFFLINE_INSTANCE: AtomicU64 = AtomicU64::new(0);

/// Decides variants with statsig-rust. `Send + Sync`; share it in an `Arc`.
pub struct DecisionEngine {
    statsig: Statsig,
    spec_store: Arc<SpecStore>,
    /// Feeds the local file (and reloads) to statsig, offline and live.
    file_adapter: Arc<StatsigBootstrapSpecsAdapter>,
    live_adapter: Option<Arc<FileThenNetworkSpecsAdapter>>,
    settings: StatsigSettings,
    ready: AtomicBool,
    version: AtomicU64,
    seen_lcut: AtomicU64,
    loaded_at_ms: AtomicU64,
    /// File / reload problems.
    last_error: RwLock<Option<String>>,
    /// Live: why Statsig could not be reached at startup.
    live_error: RwLock<Option<String>>,
    known: RwLock<Known>,
    reload_lock: Mutex<()>,
    shut_down: AtomicBool,
    event_counts: Arc<EventCounts>,
    /// When `specs_version` last consulted the specs store, in ms since `clock_origin`.
    observed_at_ms: AtomicU64,
    clock_origin: Instant,
}

/// Entity names of the loaded specs, cached per specs time.
#[derive(Default)]
struct Known {
    lcut: u64,
    gates: Vec<String>,
    experiments: Vec<String>,
    dynamic_configs: Vec<String>,
}

impl DecisionEngine {
    /// Starts statsig.
    ///
    /// Offline (`api_key` None): network disabled, specs from `specs_path` through
    /// statsig's bootstrap adapter, exposures and events to the JSONL file (or
    /// discarded when `exposures_path` is None). A missing or invalid specs file
    /// is not an error: the engine starts not ready and `reload_specs` fixes it.
    ///
    /// Live (`api_key` Some): specs from the local file when present, then from
    /// Statsig; startup waits at most `init_timeout`. If Statsig cannot be
    /// reached the engine keeps serving the file and says so in `status()`.
    pub async fn start(settings: StatsigSettings) -> Result<Self, DecisionError> {
        let live = settings.api_key.is_some();
        let (initial, file_error) = match read_specs_source(&settings, 0) {
            Ok((json, _)) => (Some(json), None),
            Err(e) => (None, Some(e.to_string())),
        };
        if let Some(err) = &file_error {
            tracing::warn!(mode = settings.mode(), error = %err,
                "specs file not loaded; decisions use each spec's default until reload_specs succeeds");
        }

        let sdk_key = match &settings.api_key {
            Some(key) => {
                register_secret(key);
                key.expose().to_string()
            }
            None => format!(
                "secret-variantd-offline-{}",
                OFFLINE_INSTANCE.fetch_add(1, Ordering::Relaxed)
            ),
        };

        let file_adapter = Arc::new(StatsigBootstrapSpecsAdapter::new(
            initial.clone().unwrap_or_else(|| EMPTY_SPECS.to_string()),
        ));
        let event_counts = Arc::new(EventCounts::default());
        let mut options = StatsigOptions::new();
        options.output_logger_provider = Some(Arc::new(TracingOutputLogger));
        options.output_log_level = Some(STATSIG_LOG_LEVEL);
        options.environment = settings.environment.clone();

        let mut live_adapter = None;
        if live {
            options.init_timeout_ms = Some(settings.init_timeout.as_millis().max(1) as u64);
            if let Some(base) = &settings.api_url {
                let base = base.trim_end_matches('/');
                options.specs_url = Some(format!("{base}/v2/download_config_specs"));
                options.log_event_url = Some(format!("{base}/v1/log_event"));
            }
            let network = Arc::new(StatsigHttpSpecsAdapter::new(&sdk_key, Some(&options), None));
            let adapter = Arc::new(FileThenNetworkSpecsAdapter::new(
                file_adapter.clone(),
                initial.is_some(),
                network,
            ));
            options.specs_adapter = Some(adapter.clone());
            live_adapter = Some(adapter);
        } else {
            options.disable_network = Some(true);
            options.specs_adapter = Some(file_adapter.clone());
            match &settings.exposures_path {
                Some(path) => {
                    options.event_logging_adapter = Some(Arc::new(JsonlEventSink::new(
                        path.clone(),
                        settings.exposures_rotation,
                        event_counts.clone(),
                    )))
                }
                None => options.disable_all_logging = Some(true),
            }
        }

        let statsig = Statsig::new(&sdk_key, Some(Arc::new(options)));
        let bound = if live {
            settings.init_timeout + Duration::from_millis(500)
        } else {
            OFFLINE_INIT_BOUND
        };
        let init = tokio::time::timeout(bound, statsig.initialize_with_details()).await;
        let api_key = settings.api_key.clone();
        let redact = |s: String| match &api_key {
            Some(key) => key.redact(&s),
            None => s,
        };
        let init_problem = match init {
            Err(_) => Some(format!("no answer within {} ms", bound.as_millis())),
            Ok(Err(e)) if !live => return Err(DecisionError::Startup(redact(e.to_string()))),
            Ok(Err(e)) => Some(redact(e.to_string())),
            Ok(Ok(details)) => details.failure_details.map(|f| redact(f.reason)),
        };

        let spec_store = statsig.get_context().spec_store;
        let engine = Self {
            statsig,
            spec_store,
            file_adapter,
            live_adapter,
            settings,
            ready: AtomicBool::new(false),
            version: AtomicU64::new(0),
            seen_lcut: AtomicU64::new(0),
            loaded_at_ms: AtomicU64::new(0),
            last_error: RwLock::new(file_error),
            live_error: RwLock::new(None),
            known: RwLock::new(Known::default()),
            reload_lock: Mutex::new(()),
            shut_down: AtomicBool::new(false),
            event_counts,
            observed_at_ms: AtomicU64::new(0),
            clock_origin: Instant::now(),
        };
        engine.observe();

        if live {
            let info = engine.spec_store.get_current_specs_info();
            if info.source != SpecsSource::Network {
                let why = engine
                    .live_adapter
                    .as_ref()
                    .and_then(|a| a.network_error())
                    .map(redact)
                    .or(init_problem)
                    .unwrap_or_else(|| "no specs received".to_string());
                let serving = if engine.is_ready() {
                    "serving specs from the local file"
                } else {
                    "no specs to serve"
                };
                let msg = format!("Statsig unreachable at startup ({why}); {serving}");
                tracing::warn!(error = %msg, "statsig live sync failed");
                *write(&engine.live_error) = Some(msg);
            }
        } else if let Some(problem) = init_problem {
            if engine.is_ready() {
                tracing::warn!(error = %problem, "statsig reported an initialization problem");
            }
        }
        let status = engine.status();
        tracing::info!(
            mode = status.mode,
            source = status.source,
            ready = status.ready,
            specs_time = status.specs_time.unwrap_or(0),
            gates = status.gates.len(),
            experiments = status.experiments.len(),
            dynamic_configs = status.dynamic_configs.len(),
            "decision engine started"
        );
        Ok(engine)
    }

    /// Decides the variant for `user`. Logs statsig's exposure. Never fails:
    /// unknown names and missing specs give the spec's default, with the reason.
    pub fn decide(&self, user: &UserContext, spec: &DecisionSpec) -> Decision {
        self.evaluate(user, spec, true)
    }

    /// The decision [`decide`](Self::decide) would make, without logging an
    /// exposure: for explaining a routing, never for serving one.
    pub fn explain(&self, user: &UserContext, spec: &DecisionSpec) -> Decision {
        self.evaluate(user, spec, false)
    }

    fn evaluate(&self, user: &UserContext, spec: &DecisionSpec, expose: bool) -> Decision {
        if !self.is_ready() {
            return fallback(spec, NOT_READY_REASON.to_string());
        }
        let su = statsig_user(user);
        let disable_exposure_logging = !expose;
        match spec {
            DecisionSpec::Gate { name, pass, fail } => {
                let gate = self.statsig.get_feature_gate_with_options(
                    &su,
                    name,
                    FeatureGateEvaluationOptions {
                        disable_exposure_logging,
                    },
                );
                Decision {
                    variant: if gate.value {
                        pass.clone()
                    } else {
                        fail.clone()
                    },
                    decided_by: name.clone(),
                    kind: DecisionKind::Gate,
                    rule_id: gate.rule_id,
                    reason: gate.details.reason,
                    gate_value: Some(gate.value),
                    group_name: None,
                    value: None,
                    unit_type: gate.id_type,
                }
            }
            DecisionSpec::Experiment {
                name,
                parameter,
                variants,
                default,
            } => {
                let exp = self.statsig.get_experiment_with_options(
                    &su,
                    name,
                    ExperimentEvaluationOptions {
                        disable_exposure_logging,
                        ..ExperimentEvaluationOptions::default()
                    },
                );
                let value = exp.value.get(parameter).and_then(value_to_string);
                Decision {
                    variant: pick_variant(value.as_deref(), variants, default),
                    decided_by: name.clone(),
                    kind: DecisionKind::Experiment,
                    rule_id: exp.rule_id,
                    reason: exp.details.reason,
                    gate_value: None,
                    group_name: exp.group_name,
                    value,
                    unit_type: exp.id_type,
                }
            }
            DecisionSpec::DynamicConfig {
                name,
                parameter,
                variants,
                default,
            } => {
                let config = self.statsig.get_dynamic_config_with_options(
                    &su,
                    name,
                    DynamicConfigEvaluationOptions {
                        disable_exposure_logging,
                    },
                );
                let value = config.value.get(parameter).and_then(value_to_string);
                Decision {
                    variant: pick_variant(value.as_deref(), variants, default),
                    decided_by: name.clone(),
                    kind: DecisionKind::DynamicConfig,
                    rule_id: config.rule_id,
                    reason: config.details.reason,
                    gate_value: None,
                    group_name: None,
                    value,
                    unit_type: config.id_type,
                }
            }
        }
    }

    /// Re-reads the specs file (or definitions file) and feeds it to statsig.
    /// On error the old specs keep deciding.
    pub fn reload_specs(&self) -> Result<SpecsInfo, DecisionError> {
        let result = read_specs_source(&self.settings, self.observe())
            .and_then(|(json, valid)| self.apply(&json, valid));
        self.record(result)
    }

    /// Feeds `json` (a dcs-v2 document) to statsig. On error the old specs keep deciding.
    pub fn reload_specs_from_str(&self, json: &str) -> Result<SpecsInfo, DecisionError> {
        let result = specs::validate(json).and_then(|valid| self.apply(json, valid));
        self.record(result)
    }

    /// Logs a custom event for `user` (offline: to the JSONL file).
    pub fn log_event(
        &self,
        user: &UserContext,
        event_name: &str,
        value: Option<EventValue>,
        metadata: HashMap<String, String>,
    ) {
        let su = statsig_user(user);
        let metadata = (!metadata.is_empty()).then_some(metadata);
        match value {
            Some(EventValue::Number(n)) => {
                self.statsig
                    .log_event_with_number(&su, event_name, Some(n), metadata)
            }
            Some(EventValue::Text(t)) => self.statsig.log_event(&su, event_name, Some(t), metadata),
            None => self.statsig.log_event(&su, event_name, None, metadata),
        }
    }

    /// Where the engine stands. Never contains the API key.
    pub fn status(&self) -> EngineStatus {
        let ready = self.is_ready();
        let info = self.spec_store.get_current_specs_info();
        let lcut = info.lcut.unwrap_or(0);
        let source = match (&info.source, lcut > 0) {
            (_, false) => "none",
            (SpecsSource::Network, true) => "live",
            (_, true) => "file",
        };
        let last_error = read(&self.last_error).clone().or_else(|| {
            if source == "live" {
                None
            } else {
                read(&self.live_error).clone()
            }
        });
        let loaded_at = self.loaded_at_ms.load(Ordering::Relaxed);
        let known = self.known();
        EngineStatus {
            mode: self.settings.mode(),
            source,
            ready,
            specs_time: (lcut > 0).then_some(lcut),
            loaded_at: (loaded_at > 0).then_some(loaded_at),
            age_seconds: (lcut > 0).then(|| now_ms().saturating_sub(lcut) / 1000),
            specs_version: self.specs_version(),
            specs_path: self.settings.specs_path.display().to_string(),
            last_error,
            gates: known.gates.clone(),
            experiments: known.experiments.clone(),
            dynamic_configs: known.dynamic_configs.clone(),
            events_written: self.event_counts.written.load(Ordering::Relaxed),
            events_dropped: self.event_counts.dropped.load(Ordering::Relaxed),
            events_write_failures: self.event_counts.write_failures.load(Ordering::Relaxed),
        }
    }

    /// Whether the loaded specs contain that gate / experiment / dynamic config.
    pub fn knows(&self, kind: DecisionKind, name: &str) -> bool {
        let known = self.known();
        let list = match kind {
            DecisionKind::Gate => &known.gates,
            DecisionKind::Experiment => &known.experiments,
            DecisionKind::DynamicConfig => &known.dynamic_configs,
        };
        list.iter().any(|n| n == name)
    }

    /// Counter bumped on every successful (re)load, including live syncs.
    ///
    /// Called on every routed request, so statsig's specs store (a lock and a
    /// few string copies) is consulted at most every [`OBSERVE_EVERY_MS`];
    /// reloads through this engine bump the version at once.
    pub fn specs_version(&self) -> u64 {
        self.specs_version_at(Instant::now())
    }

    /// [`Self::specs_version`] for a caller that has read the clock already:
    /// the request path reads it once, for this and for its own cache expiry.
    pub fn specs_version_at(&self, now: Instant) -> u64 {
        let now = now.saturating_duration_since(self.clock_origin).as_millis() as u64;
        if now.saturating_sub(self.observed_at_ms.load(Ordering::Relaxed)) >= OBSERVE_EVERY_MS {
            self.observed_at_ms.store(now, Ordering::Relaxed);
            self.observe();
        }
        self.version.load(Ordering::Acquire)
    }

    /// Flushes queued exposures and events now (offline: to the JSONL file). Bounded in time.
    pub async fn flush(&self) {
        let bound = if self.live_adapter.is_some() {
            LIVE_FLUSH_BOUND
        } else {
            OFFLINE_FLUSH_BOUND
        };
        if tokio::time::timeout(bound, self.statsig.flush_events())
            .await
            .is_err()
        {
            tracing::warn!(
                bound_ms = bound.as_millis() as u64,
                "flushing statsig events timed out"
            );
        }
    }

    /// Offline with an exposures file: a task that flushes every
    /// `exposures_flush_interval`, so exposures are on disk within that
    /// time (statsig itself waits up to a minute or 2,000 events). Ends when
    /// the engine is dropped or shut down. `None` when there is nothing to
    /// flush to (live mode sends to Statsig on statsig's own schedule).
    pub fn spawn_flusher(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        if self.live_adapter.is_some() || self.settings.exposures_path.is_none() {
            return None;
        }
        let every = self
            .settings
            .exposures_flush_interval
            .max(Duration::from_millis(1));
        let engine = Arc::downgrade(self);
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(engine) = engine.upgrade() else {
                    return;
                };
                if engine.shut_down.load(Ordering::SeqCst) {
                    return;
                }
                engine.flush().await;
            }
        }))
    }

    /// Flushes and stops statsig's background work, bounded in time (live: about
    /// 1 s in all, so an unreachable Statsig cannot hold up the daemon's exit). Idempotent.
    pub async fn shutdown(&self) {
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return;
        }
        let (flush_bound, stop_bound) = if self.live_adapter.is_some() {
            (LIVE_SHUTDOWN_FLUSH_BOUND, LIVE_SHUTDOWN_BOUND)
        } else {
            (OFFLINE_FLUSH_BOUND, OFFLINE_SHUTDOWN_BOUND)
        };
        if tokio::time::timeout(flush_bound, self.statsig.flush_events())
            .await
            .is_err()
        {
            tracing::warn!(
                bound_ms = flush_bound.as_millis() as u64,
                "final flush of statsig events timed out"
            );
        }
        let stop = self.statsig.shutdown_with_timeout(stop_bound);
        match tokio::time::timeout(stop_bound + Duration::from_millis(100), stop).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %self.redact(e.to_string()), "statsig shutdown reported an error")
            }
            Err(_) => tracing::warn!("statsig shutdown timed out"),
        }
    }

    // ------------------------------------------------------------------ private

    fn is_ready(&self) -> bool {
        if self.ready.load(Ordering::Acquire) {
            return true;
        }
        // Live mode may become ready later through a background sync.
        self.observe() > 0
    }

    /// Looks at statsig's store; when its specs time changed, counts a new load.
    /// Returns the current specs time (0 = nothing loaded).
    fn observe(&self) -> u64 {
        let lcut = self.spec_store.get_current_specs_info().lcut.unwrap_or(0);
        if lcut > 0 {
            self.ready.store(true, Ordering::Release);
            if self.seen_lcut.swap(lcut, Ordering::AcqRel) != lcut {
                self.version.fetch_add(1, Ordering::AcqRel);
                self.loaded_at_ms.store(now_ms(), Ordering::Relaxed);
            }
        }
        lcut
    }

    fn apply(&self, json: &str, valid: ValidSpecs) -> Result<SpecsInfo, DecisionError> {
        let _serial = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        let loaded = self.observe();
        if loaded > 0 && valid.time < loaded {
            return Err(DecisionError::StaleSpecs {
                offered: valid.time,
                loaded,
            });
        }
        self.file_adapter
            .set_data(json.to_string())
            .map_err(|e| DecisionError::Rejected(self.redact(e.to_string())))?;
        let now_loaded = self.spec_store.get_current_specs_info().lcut.unwrap_or(0);
        if now_loaded != valid.time {
            return Err(DecisionError::Rejected(format!(
                "statsig did not apply the document (time {}); it still holds time {now_loaded}",
                valid.time
            )));
        }
        // Count this load even when the time did not change (same-time replacement).
        self.seen_lcut.store(now_loaded, Ordering::Release);
        self.ready.store(true, Ordering::Release);
        let version = self.version.fetch_add(1, Ordering::AcqRel) + 1;
        self.loaded_at_ms.store(now_ms(), Ordering::Relaxed);
        Ok(SpecsInfo {
            specs_time: valid.time,
            specs_version: version,
            gates: valid.gates,
            experiments: valid.experiments,
            dynamic_configs: valid.dynamic_configs,
        })
    }

    /// Keeps `last_error` in step with the outcome of a reload.
    fn record(&self, result: Result<SpecsInfo, DecisionError>) -> Result<SpecsInfo, DecisionError> {
        match &result {
            Ok(info) => {
                *write(&self.last_error) = None;
                tracing::info!(
                    specs_time = info.specs_time,
                    specs_version = info.specs_version,
                    gates = info.gates.len(),
                    experiments = info.experiments.len(),
                    dynamic_configs = info.dynamic_configs.len(),
                    "specs reloaded"
                );
            }
            Err(e) => {
                let msg = format!("reload refused, previous specs kept: {e}");
                tracing::warn!(error = %e, "specs reload refused; previous specs keep deciding");
                *write(&self.last_error) = Some(msg);
            }
        }
        result
    }

    fn known(&self) -> std::sync::RwLockReadGuard<'_, Known> {
        let lcut = self.observe();
        {
            let known = read(&self.known);
            if known.lcut == lcut {
                return known;
            }
        }
        {
            let mut known = write(&self.known);
            let mut gates = self.statsig.get_feature_gate_list();
            let mut experiments = self.statsig.get_experiment_list();
            let mut dynamic_configs = self.statsig.get_dynamic_config_list();
            gates.sort();
            experiments.sort();
            dynamic_configs.sort();
            *known = Known {
                lcut,
                gates,
                experiments,
                dynamic_configs,
            };
        }
        read(&self.known)
    }

    fn redact(&self, text: String) -> String {
        match &self.settings.api_key {
            Some(key) => key.redact(&text),
            None => text,
        }
    }
}

impl fmt::Debug for DecisionEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecisionEngine")
            .field("mode", &self.settings.mode())
            .field("specs_path", &self.settings.specs_path)
            .field("ready", &self.ready.load(Ordering::Relaxed))
            .field("specs_version", &self.version.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------- helpers

/// Reads `specs_path`: a dcs-v2 file as is, or a definitions file (`.toml`)
/// turned into a dcs-v2 document. `loaded` is the time of the specs statsig
/// holds (0: none).
/// Reads and checks the specs source at `path` (a dcs-v2 file or a
/// definitions file) as the engine would at start, without starting one:
/// for `variantd --check`.
pub fn check_specs_source(path: &std::path::Path) -> Result<SpecsInfo, DecisionError> {
    let (_, valid) = read_specs_source(&StatsigSettings::offline(path), 0)?;
    Ok(SpecsInfo {
        specs_time: valid.time,
        specs_version: 0,
        gates: valid.gates,
        experiments: valid.experiments,
        dynamic_configs: valid.dynamic_configs,
    })
}

fn read_specs_source(
    settings: &StatsigSettings,
    loaded: u64,
) -> Result<(String, ValidSpecs), DecisionError> {
    if !is_definitions_file(&settings.specs_path) {
        return read_specs_file(settings);
    }
    let definitions = Definitions::read_file(&settings.specs_path)?;
    let json = definitions.to_dcs_v2_string(definitions_time(settings, loaded));
    let valid = specs::validate(&json)?;
    Ok((json, valid))
}

/// The `time` a definitions document gets. Statsig keeps whichever document is
/// newest. Offline every edit must win, so: now, and always after what is
/// loaded. Live, Statsig's download must be able to replace the file, so the
/// file's modification time: a console change made after the file's last edit
/// wins, and an edit made after the console's last change wins until the next one.
fn definitions_time(settings: &StatsigSettings, loaded: u64) -> u64 {
    if settings.api_key.is_some() {
        let modified = std::fs::metadata(&settings.specs_path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as u64);
        modified.unwrap_or(1).max(1)
    } else {
        now_ms().max(loaded + 1)
    }
}

fn read_specs_file(settings: &StatsigSettings) -> Result<(String, ValidSpecs), DecisionError> {
    let json = std::fs::read_to_string(&settings.specs_path).map_err(|reason| {
        DecisionError::SpecsRead {
            path: settings.specs_path.clone(),
            reason,
        }
    })?;
    let valid = specs::validate(&json)?;
    Ok((json, valid))
}

fn statsig_user(user: &UserContext) -> StatsigUser {
    let ids = (!user.custom_ids.is_empty()).then(|| user.custom_ids.iter().cloned());
    let mut builder = if user.user_key.is_empty() {
        StatsigUserBuilder::new_with_custom_ids(ids.into_iter().flatten())
    } else {
        StatsigUserBuilder::new_with_user_id(user.user_key.clone()).custom_ids(ids)
    };
    if let Some(ip) = &user.ip {
        builder = builder.ip(Some(ip.clone()));
    }
    if let Some(agent) = &user.user_agent {
        builder = builder.user_agent(Some(agent.clone()));
    }
    for (field, value) in &user.top_level {
        let value = Some(value.clone());
        builder = match field {
            TopLevelField::Email => builder.email(value),
            TopLevelField::Country => builder.country(value),
            TopLevelField::Locale => builder.locale(value),
            TopLevelField::AppVersion => builder.app_version(value),
        };
    }
    if !user.custom.is_empty() {
        builder = builder.custom_from_str_map(Some(user.custom.iter().cloned().collect()));
    }
    builder.build()
}

fn value_to_string(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn pick_variant(value: Option<&str>, variants: &HashMap<String, String>, default: &str) -> String {
    match value {
        Some(v) => variants.get(v).cloned().unwrap_or_else(|| v.to_string()),
        None => default.to_string(),
    }
}

fn fallback(spec: &DecisionSpec, reason: String) -> Decision {
    Decision {
        variant: spec.default_variant().to_string(),
        decided_by: spec.name().to_string(),
        kind: spec.kind(),
        rule_id: String::new(),
        reason,
        gate_value: None,
        group_name: None,
        value: None,
        unit_type: String::new(),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

/// The daemon shares one engine across actix workers in an `Arc`.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DecisionEngine>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_mapping() {
        let map = HashMap::from([("A".to_string(), "app_a".to_string())]);
        assert_eq!(pick_variant(Some("A"), &map, "d"), "app_a");
        assert_eq!(pick_variant(Some("Z"), &map, "d"), "Z");
        assert_eq!(pick_variant(None, &map, "d"), "d");
    }
}
