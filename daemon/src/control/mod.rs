//! The control path: the only writer. On startup, a file change, SIGHUP or an
//! admin call it loads and validates config, plugins and specs, builds a new
//! [`Snapshot`] and publishes it atomically. Anything invalid is refused with
//! its reason while the last good snapshot keeps serving.

pub mod config;
mod plugins;
pub mod watch;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use variantd_decision::DecisionEngine;

use crate::backends::plugin::{LoadError, Loader, PluginInstance, PluginLibrary, Retention};
use crate::backends::remote::RemoteVariant;
use crate::control::config::{Config, ConfigError, Overrides, VariantTarget};
use crate::snapshot::{Backend, RouteTable, Snapshot, Variant};

use plugins::PluginDir;
pub use plugins::{is_candidate, Refusal};

/// What kind of reload to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadScope {
    Plugins,
    Config,
    Specs,
    /// SIGHUP / admin: everything, re-reading every file.
    All,
}

/// Why a reload was refused. In every case the previous state keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Specs(#[from] variantd_decision::DecisionError),
    /// A changed config is refused whole when one of its plugin variants
    /// fails `init` under it: serving half of a config would be worse.
    // The load error is in the message, so it is not also a `source`:
    // `{:#}` would print it twice.
    #[error("variant `{variant}`: {error}")]
    VariantInit { variant: String, error: LoadError },
}

impl ReloadError {
    /// The part of the state it refused, which names the recorded error it
    /// replaces and the metric it counts under.
    fn what(&self) -> &'static str {
        match self {
            ReloadError::Specs(_) => "specs",
            ReloadError::Config(_) | ReloadError::VariantInit { .. } => "config",
        }
    }
}

/// The last refused reload of one part, as `/admin` and `/readyz` show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecordedError {
    pub what: &'static str,
    pub reason: String,
    #[serde(with = "crate::util::rfc3339")]
    pub at: SystemTime,
}

pub struct Control {
    config_path: PathBuf,
    overrides: Overrides,
    loader: Loader,
    engine: Arc<DecisionEngine>,
    published: Arc<ArcSwap<Snapshot>>,
    generation: AtomicU64,
    /// Held by the one reload running; nothing else takes it.
    reloading: Mutex<()>,
    /// The state as of the last reload. Admin and `/readyz` read it without
    /// waiting: a reload can take seconds (a plugin's `init`, a slow disk),
    /// and they answer on the request workers.
    committed: ArcSwap<State>,
    /// The config the process started with: what the restart-only keys
    /// still hold.
    started: Arc<Config>,
}

/// Everything the control path owns. A reload works on a clone and commits
/// it only when the new snapshot is published, so a refused reload leaves no
/// trace here (no half-accepted library shown in admin but not serving).
#[derive(Clone)]
struct State {
    config: Arc<Config>,
    dir: PluginDir,
    /// Serving instance per variant name, reused while library and config are unchanged.
    instances: HashMap<String, Arc<PluginInstance>>,
    remotes: HashMap<String, Arc<RemoteVariant>>,
    last_config_error: Option<RecordedError>,
    last_specs_error: Option<RecordedError>,
    /// Keys whose value in the file differs from what the process runs
    /// with: read once at start, they apply only after a restart.
    needs_restart: Vec<&'static str>,
}

impl State {
    /// Record a refused reload: its log line, its metric, and the last
    /// error of its part that `/admin` and `/readyz` show.
    fn record(&mut self, refused: &ReloadError) {
        let what = refused.what();
        let reason = refused.to_string();
        let slot = if what == "specs" {
            tracing::error!(reason = %reason, "statsig specs refused; the previous specs keep deciding");
            &mut self.last_specs_error
        } else {
            tracing::error!(reason = %reason, "config refused; the previous config keeps serving");
            &mut self.last_config_error
        };
        crate::telemetry::metrics::reload(what, false);
        *slot = Some(RecordedError {
            what,
            reason,
            at: SystemTime::now(),
        });
    }
}

/// How to read one key's value from a config, for comparing.
type ReadKey = fn(&Config) -> String;

/// The keys read only at start, with how to read each from a config. Every
/// other key applies on reload.
const RESTART_KEYS: &[(&str, ReadKey)] = &[
    ("server.listen", |c| c.listen.clone()),
    ("server.admin_listen", |c| format!("{:?}", c.admin_listen)),
    ("server.workers", |c| c.workers.to_string()),
    ("server.shutdown_timeout_secs", |c| {
        c.shutdown_timeout_secs.to_string()
    }),
    ("server.max_connections", |c| c.max_connections.to_string()),
    ("server.log_format", |c| format!("{:?}", c.log_format)),
    ("statsig.specs_file / definitions_file", |c| {
        c.statsig.specs_file.display().to_string()
    }),
    ("statsig.exposures_file", |c| {
        format!("{:?}", c.statsig.exposures_file)
    }),
    ("statsig.exposures_flush_ms", |c| {
        format!("{:?}", c.statsig.exposures_flush)
    }),
    ("statsig.exposures_max_bytes", |c| {
        c.statsig.exposures_max_bytes.to_string()
    }),
    ("statsig.exposures_keep", |c| {
        c.statsig.exposures_keep.to_string()
    }),
    ("statsig.init_timeout_ms", |c| {
        c.statsig.init_timeout_ms.to_string()
    }),
    ("statsig.environment", |c| {
        format!("{:?}", c.statsig.environment)
    }),
    ("statsig.api_url", |c| format!("{:?}", c.statsig.api_url)),
    ("statsig.decision_cache_entries", |c| {
        c.statsig.decision_cache_entries.to_string()
    }),
    ("plugins.watch", |c| c.plugins.watch.to_string()),
];

/// The restart-only keys on which `file` differs from `running`.
fn needs_restart(running: &Config, file: &Config) -> Vec<&'static str> {
    RESTART_KEYS
        .iter()
        .filter(|(_, read)| read(running) != read(file))
        .map(|(key, _)| *key)
        .collect()
}

impl Control {
    /// Build the first snapshot from an already validated config. Plugins that
    /// fail are refused and reported; they do not stop startup.
    pub fn start(
        config: Config,
        config_path: PathBuf,
        overrides: Overrides,
        engine: Arc<DecisionEngine>,
    ) -> anyhow::Result<Arc<Control>> {
        let retention = Arc::new(Retention::new(config.plugins.max_retained_libraries));
        let loader = Loader::new(retention);
        let config = Arc::new(config);
        let mut state = State {
            config: config.clone(),
            dir: PluginDir::default(),
            instances: HashMap::new(),
            remotes: HashMap::new(),
            last_config_error: None,
            last_specs_error: None,
            needs_restart: Vec::new(),
        };
        let started = config.clone();
        let snapshot = build(&loader, &mut state, config, 1, false)?;
        let control = Control {
            config_path,
            overrides,
            loader,
            engine,
            published: Arc::new(ArcSwap::from_pointee(snapshot)),
            generation: AtomicU64::new(1),
            reloading: Mutex::new(()),
            committed: ArcSwap::from_pointee(state),
            started,
        };
        Ok(Arc::new(control))
    }

    /// The handle requests read snapshots from.
    pub fn snapshot_handle(&self) -> Arc<ArcSwap<Snapshot>> {
        self.published.clone()
    }

    pub fn engine(&self) -> &Arc<DecisionEngine> {
        &self.engine
    }

    pub fn retention(&self) -> &Arc<Retention> {
        self.loader.retention()
    }

    pub fn config_path(&self) -> &PathBuf {
        &self.config_path
    }

    /// Run a reload. Errors are also recorded for `/admin` and `/readyz`.
    pub fn reload(&self, scope: ReloadScope) -> Result<(), ReloadError> {
        let _one_writer = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let mut state = State::clone(&self.committed.load());
        let result = self.reload_state(&mut state, scope);
        self.committed.store(Arc::new(state));
        result
    }

    /// The reload itself, on a private copy of the state that is committed
    /// whatever the outcome (a refusal is recorded in it too). Specs and
    /// config are refused independently, so one refused part does not stop
    /// the other; the first refusal is the answer.
    fn reload_state(&self, state: &mut State, scope: ReloadScope) -> Result<(), ReloadError> {
        let outcomes = [
            matches!(scope, ReloadScope::Specs | ReloadScope::All)
                .then(|| self.reload_specs(state)),
            (scope != ReloadScope::Specs).then(|| self.reload_config_and_plugins(state, scope)),
        ];
        let mut first = None;
        for refused in outcomes.into_iter().flatten().filter_map(Result::err) {
            state.record(&refused);
            first.get_or_insert(refused);
        }
        first.map_or(Ok(()), Err)
    }

    fn reload_specs(&self, state: &mut State) -> Result<(), ReloadError> {
        let info = self.engine.reload_specs()?;
        tracing::info!(
            specs_time = info.specs_time,
            specs_version = info.specs_version,
            gates = info.gates.join(",").as_str(),
            experiments = info.experiments.join(",").as_str(),
            dynamic_configs = info.dynamic_configs.join(",").as_str(),
            "statsig specs reloaded"
        );
        state.last_specs_error = None;
        crate::telemetry::metrics::reload("specs", true);
        Ok(())
    }

    /// Reread the config (for the scopes that name it), rescan the plugins
    /// and publish what they make.
    fn reload_config_and_plugins(
        &self,
        state: &mut State,
        scope: ReloadScope,
    ) -> Result<(), ReloadError> {
        if scope == ReloadScope::All {
            state.dir.forget_hashes();
        }
        let mut refused = None;
        let config = if matches!(scope, ReloadScope::Config | ReloadScope::All) {
            match Config::load(&self.config_path, &self.overrides) {
                Ok(c) => Arc::new(c),
                Err(e) if scope == ReloadScope::Config => return Err(e.into()),
                Err(e) => {
                    // SIGHUP / admin: plugins still reload, under the previous config.
                    refused = Some(e);
                    state.config.clone()
                }
            }
        } else {
            state.config.clone()
        };
        self.publish(state, config)?;
        refused.map_or(Ok(()), |e| Err(e.into()))
    }

    /// Build a snapshot from `config` and publish it. Only a changed config
    /// can be refused here, and then nothing of the attempt is kept.
    fn publish(&self, state: &mut State, config: Arc<Config>) -> Result<(), ReloadError> {
        let config_changed = !Arc::ptr_eq(&config, &state.config);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let mut draft = state.clone();
        let snapshot = build(&self.loader, &mut draft, config, generation, config_changed)?;
        *state = draft;
        if config_changed {
            state.last_config_error = None;
            crate::telemetry::metrics::reload("config", true);
            let pending = needs_restart(&self.started, &snapshot.config);
            if pending.is_empty() {
                tracing::info!(file = %self.config_path.display(), "config reloaded");
            } else {
                tracing::warn!(
                    file = %self.config_path.display(),
                    needs_restart = pending.join(", ").as_str(),
                    "config reloaded; the keys named need a restart to take effect and keep their old values until then"
                );
            }
            state.needs_restart = pending;
        }
        self.loader
            .retention()
            .set_limit(snapshot.config.plugins.max_retained_libraries);
        self.published.store(Arc::new(snapshot));
        Ok(())
    }

    /// Plugins, refusals and errors, for the admin API.
    pub fn status(&self) -> ControlStatus {
        let state = self.committed.load();
        let snapshot = self.published.load();
        let open = self.retention().open_libraries();
        let retained = self.retention().retained();
        let mut plugins = Vec::new();
        for lib in state.dir.current.values() {
            let variants: Vec<String> = state
                .instances
                .values()
                .filter(|i| Arc::ptr_eq(i.library(), lib))
                .map(|i| i.variant.clone())
                .collect();
            let mut old: Vec<OldVersion> = open
                .iter()
                .filter(|o| o.plugin == lib.name && o.private_path != lib.private_path())
                .map(|o| OldVersion {
                    version: o.version.clone(),
                    sha256: o.sha256.clone(),
                    state: "draining",
                    in_flight: o.in_flight,
                    since: o.loaded_at,
                })
                .collect();
            old.extend(
                retained
                    .iter()
                    .filter(|r| r.plugin == lib.name)
                    .map(|r| OldVersion {
                        version: r.version.clone(),
                        sha256: String::new(),
                        state: "retained",
                        in_flight: 0,
                        since: r.since,
                    }),
            );
            plugins.push(PluginStatus::of(lib, variants, old));
        }
        ControlStatus {
            generation: snapshot.generation,
            plugins,
            refused: state.dir.refused.values().cloned().collect(),
            libraries_open: self.retention().open_count(),
            libraries_released: self.retention().released_count(),
            retained,
            max_retained_libraries: snapshot.config.plugins.max_retained_libraries,
            last_config_error: state.last_config_error.clone(),
            last_specs_error: state.last_specs_error.clone(),
        }
    }

    /// Restart-only keys the config file changed since start (they keep
    /// their old values until a restart).
    pub fn needs_restart(&self) -> Vec<&'static str> {
        self.committed.load().needs_restart.clone()
    }

    /// The declared names of the plugins loaded now, sorted and joined
    /// (`app_a, app_b`, or `none`), for messages about a missing one.
    pub fn loaded_plugins(&self) -> String {
        loaded_names(self.committed.load().dir.current.keys())
    }

    /// Plugin files refused as of the last reload, which `/readyz` reports.
    pub fn refusals(&self) -> Vec<Refusal> {
        self.committed
            .load()
            .dir
            .refused
            .values()
            .cloned()
            .collect()
    }

    /// The last refused config and specs reloads, which `/readyz` reports as
    /// warnings (the previous state keeps serving, so they do not fail it).
    pub fn last_errors(&self) -> Vec<RecordedError> {
        let state = self.committed.load();
        state
            .last_config_error
            .iter()
            .chain(state.last_specs_error.iter())
            .cloned()
            .collect()
    }
}

#[derive(Debug, serde::Serialize)]
pub struct ControlStatus {
    pub generation: u64,
    pub plugins: Vec<PluginStatus>,
    pub refused: Vec<Refusal>,
    pub libraries_open: usize,
    pub libraries_released: usize,
    pub retained: Vec<crate::backends::plugin::RetainedLibrary>,
    pub max_retained_libraries: usize,
    pub last_config_error: Option<RecordedError>,
    pub last_specs_error: Option<RecordedError>,
}

#[derive(Debug, serde::Serialize)]
pub struct PluginStatus {
    pub name: String,
    pub version: String,
    pub file: PathBuf,
    pub sha256: String,
    #[serde(with = "crate::util::rfc3339")]
    pub loaded_at: SystemTime,
    pub in_flight: usize,
    pub variants: Vec<String>,
    /// Older versions of this plugin still in memory: `draining` (closed to
    /// new requests, finishing the ones that started on it) or `retained`
    /// (released, but the dynamic loader keeps it mapped).
    pub retained_old_versions: Vec<OldVersion>,
}

#[derive(Debug, serde::Serialize)]
pub struct OldVersion {
    pub version: String,
    /// Empty for a retained copy (only its path is kept).
    pub sha256: String,
    pub state: &'static str,
    pub in_flight: usize,
    /// Loaded at (draining) or released at (retained).
    #[serde(with = "crate::util::rfc3339")]
    pub since: SystemTime,
}

impl PluginStatus {
    fn of(
        lib: &Arc<PluginLibrary>,
        variants: Vec<String>,
        retained_old_versions: Vec<OldVersion>,
    ) -> PluginStatus {
        PluginStatus {
            name: lib.name.clone(),
            version: lib.version.clone(),
            file: lib.file.clone(),
            sha256: lib.sha256.clone(),
            loaded_at: lib.loaded_at,
            in_flight: lib.in_flight(),
            variants,
            retained_old_versions,
        }
    }
}

/// Scan plugins, instantiate every plugin variant, and assemble a snapshot.
///
/// A new library version is accepted only if `init` succeeds for every
/// variant that uses it; otherwise it is refused and the current version
/// stays. When the config itself changed (`strict`), an `init` failure with
/// the new config refuses the whole config instead.
fn build(
    loader: &Loader,
    state: &mut State,
    config: Arc<Config>,
    generation: u64,
    strict: bool,
) -> Result<Snapshot, ReloadError> {
    let outcome = state.dir.scan(loader, &config.plugins);
    try_candidates(state, &config, outcome.candidates);
    reuse_instances(state, &config, strict)?;
    reuse_remotes(state, &config);
    Ok(assemble(state, config, generation))
}

/// The plugin variants of `config` that `plugin` serves, with their config.
fn variants_of<'a>(
    config: &'a Config,
    plugin: &'a str,
) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    config
        .variants
        .values()
        .filter_map(move |v| match &v.target {
            VariantTarget::Plugin {
                plugin: p,
                config_json,
                ..
            } if p == plugin => Some((v.name.as_str(), config_json.as_str())),
            _ => None,
        })
}

/// Accept each new library whose `init` succeeds for every variant that
/// uses it, keeping those instances; refuse the others (the current version
/// keeps serving).
fn try_candidates(state: &mut State, config: &Config, candidates: Vec<Arc<PluginLibrary>>) {
    for lib in candidates {
        let tried: Result<Vec<_>, LoadError> = variants_of(config, &lib.name)
            .map(|(variant, config_json)| PluginInstance::init(&lib, variant, config_json))
            .collect();
        match tried {
            // The instances that did init are dropped: their shutdown runs on the reaper.
            Err(e) => state.dir.refuse(&lib.file, &e),
            Ok(fresh) => {
                let replaced = state.dir.current.insert(lib.name.clone(), lib.clone());
                crate::telemetry::metrics::plugin_event(if replaced.is_some() {
                    "swapped"
                } else {
                    "loaded"
                });
                tracing::info!(plugin = %lib.name, version = %lib.version, file = %lib.file.display(), sha256 = %lib.sha256, swapped = replaced.is_some(), "plugin loaded");
                for i in fresh {
                    state.instances.insert(i.variant.clone(), i);
                }
            }
        }
    }
}

/// Every plugin variant: reuse its instance if library and config are the
/// same, else init one from the current library. Under a changed config
/// (`strict`) a failing `init` refuses the config; otherwise the library.
fn reuse_instances(state: &mut State, config: &Config, strict: bool) -> Result<(), ReloadError> {
    let mut instances: HashMap<String, Arc<PluginInstance>> = HashMap::new();
    for v in config.variants.values() {
        let VariantTarget::Plugin {
            plugin,
            config_json,
            ..
        } = &v.target
        else {
            continue;
        };
        let Some(lib) = state.dir.current.get(plugin).cloned() else {
            // Most often a typo or a file/declared-name mix-up: say what is there.
            let loaded = loaded_names(state.dir.current.keys());
            tracing::warn!(variant = %v.name, plugin = %plugin, loaded = %loaded, "plugin not loaded; variant answers 503 or its fallback");
            continue;
        };
        if let Some(existing) = state.instances.get(&v.name) {
            if Arc::ptr_eq(existing.library(), &lib) && existing.config_json == *config_json {
                instances.insert(v.name.clone(), existing.clone());
                continue;
            }
        }
        match PluginInstance::init(&lib, &v.name, config_json) {
            Ok(i) => {
                instances.insert(v.name.clone(), i);
            }
            Err(error) if strict => {
                return Err(ReloadError::VariantInit {
                    variant: v.name.clone(),
                    error,
                })
            }
            Err(e) => state.dir.refuse(&lib.file, &e),
        }
    }
    state.instances = instances;
    Ok(())
}

/// Remote variants keep their client state (circuit breaker) while unchanged.
fn reuse_remotes(state: &mut State, config: &Config) {
    let mut remotes = HashMap::new();
    for v in config.variants.values() {
        if let VariantTarget::Remote(rc) = &v.target {
            let remote = match state.remotes.get(&v.name) {
                Some(r) if r.config() == rc => r.clone(),
                _ => Arc::new(RemoteVariant::new(&v.name, rc.clone())),
            };
            remotes.insert(v.name.clone(), remote);
        }
    }
    state.remotes = remotes;
}

/// The snapshot of `config` over the instances and remotes now in `state`.
fn assemble(state: &mut State, config: Arc<Config>, generation: u64) -> Snapshot {
    let variants = config
        .variants
        .values()
        .map(|v| {
            let backend = match &v.target {
                VariantTarget::Plugin {
                    plugin, blocking, ..
                } => Backend::Plugin {
                    instance: state.instances.get(&v.name).cloned(),
                    plugin: plugin.clone(),
                    blocking: *blocking,
                },
                VariantTarget::Remote(_) => Backend::Remote(state.remotes[&v.name].clone()),
            };
            (v.name.clone(), Variant::new(v.clone(), backend))
        })
        .collect();
    state.config = config.clone();
    crate::telemetry::metrics::plugins_loaded(state.dir.current.len());
    Snapshot {
        generation,
        routes: RouteTable::new(&config.routes),
        variants,
        config,
    }
}

/// Declared plugin names, sorted and joined, or `none`.
fn loaded_names<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let mut names: Vec<&str> = names.map(String::as_str).collect();
    names.sort_unstable();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}
