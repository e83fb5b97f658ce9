//! File watching: the plugin directory, and the directories holding the config
//! and specs files. Directories, not files, are watched: a file watch dies when
//! a deploy renames a new file into place, and Kubernetes ConfigMaps swap a
//! `..data` symlink. Bursts are debounced; temporary names are ignored.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{
    new_debouncer, DebounceEventResult, DebouncedEvent, Debouncer, RecommendedCache,
};

use super::plugins::is_candidate;
use crate::control::config::PluginsConfig;
use crate::control::{Control, ReloadScope};

/// Watch the targets the current config names, then hand the watch to a
/// thread that lives as long as the process. The watches are registered before
/// this returns, so a change made once the daemon says it is listening is seen.
pub fn spawn(control: Arc<Control>) -> std::io::Result<()> {
    let targets = Targets::of(&control);
    let Some(watch) = Watch::start(&targets) else {
        return Ok(());
    };
    std::thread::Builder::new()
        .name("variantd-watch".into())
        .spawn(move || run(control, targets, watch))?;
    Ok(())
}

struct Targets {
    /// The plugin directory and which of its files are plugins.
    plugins: PluginsConfig,
    config_file: PathBuf,
    specs_file: PathBuf,
    debounce: Duration,
}

impl Targets {
    fn of(control: &Control) -> Targets {
        let snapshot = control.snapshot_handle().load_full();
        let c = &snapshot.config;
        Targets {
            plugins: c.plugins.clone(),
            config_file: control.config_path().clone(),
            specs_file: c.statsig.specs_file.clone(),
            debounce: Duration::from_millis(c.plugins.debounce_ms.max(10)),
        }
    }

    fn dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.plugins.dir.clone()];
        for f in [&self.config_file, &self.specs_file] {
            if let Some(parent) = f.parent() {
                dirs.push(parent.to_path_buf());
            }
        }
        dirs.sort();
        dirs.dedup();
        dirs
    }

    fn same_as(&self, other: &Targets) -> bool {
        self.dirs() == other.dirs() && self.debounce == other.debounce
    }

    /// The reloads a batch of events calls for, in the order to run them:
    /// specs, then config (which also rescans plugins), then plugins.
    fn reloads_for(&self, events: &[DebouncedEvent]) -> Vec<ReloadScope> {
        let mut scopes = Vec::new();
        for event in events.iter().filter(|e| !e.kind.is_access()) {
            for path in &event.paths {
                self.classify(path, &mut scopes);
            }
        }
        scopes.sort_by_key(|s| match s {
            ReloadScope::Specs => 0,
            ReloadScope::Config => 1,
            _ => 2,
        });
        if scopes.contains(&ReloadScope::Config) {
            scopes.retain(|s| *s != ReloadScope::Plugins);
        }
        scopes
    }

    /// Which reloads a changed path calls for.
    fn classify(&self, path: &Path, scopes: &mut Vec<ReloadScope>) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = path.parent().unwrap_or(Path::new(""));
        let configmap_swap = name == "..data";
        let mut add = |s: ReloadScope| {
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        };
        if path == self.config_file || (configmap_swap && Some(parent) == self.config_file.parent())
        {
            add(ReloadScope::Config);
        }
        if path == self.specs_file || (configmap_swap && Some(parent) == self.specs_file.parent()) {
            add(ReloadScope::Specs);
        }
        // Judged by name alone: a removed file has nothing else left to judge.
        if parent == self.plugins.dir && (configmap_swap || is_candidate(&self.plugins, &name)) {
            add(ReloadScope::Plugins);
        }
        // The directory's own mode changed (a `chmod o-w` that ends a
        // refusal of every file in it).
        if path == self.plugins.dir {
            add(ReloadScope::Plugins);
        }
    }
}

/// A registered set of directory watches and the channel their debounced
/// events arrive on. Dropping it stops the watches.
struct Watch {
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
    events: mpsc::Receiver<DebounceEventResult>,
}

impl Watch {
    /// Register a watch on each of the targets' directories. `None` (logged)
    /// when no watcher can be made at all; a directory that cannot be watched
    /// is logged and skipped.
    fn start(targets: &Targets) -> Option<Watch> {
        let (tx, events) = mpsc::channel::<DebounceEventResult>();
        let mut debouncer = match new_debouncer(targets.debounce, None, tx) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "cannot start file watcher; reload with SIGHUP or POST /admin/reload");
                return None;
            }
        };
        for dir in targets.dirs() {
            match debouncer.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => tracing::info!(dir = %dir.display(), "watching"),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot watch directory; changes there need SIGHUP")
                }
            }
        }
        Some(Watch {
            _debouncer: debouncer,
            events,
        })
    }
}

/// Reload on each batch of events until the process ends.
fn run(control: Arc<Control>, mut targets: Targets, mut watch: Watch) {
    loop {
        let Ok(result) = watch.events.recv() else {
            return;
        };
        let events = match result {
            Ok(events) => events,
            Err(errors) => {
                for e in errors {
                    tracing::warn!(error = %e, "file watch error");
                }
                continue;
            }
        };
        for scope in targets.reloads_for(&events) {
            tracing::debug!(?scope, "file change; reloading");
            let _ = control.reload(scope);
        }
        // The config moved what we watch: the new watches are registered
        // before the old ones are dropped, so no change falls between them.
        // If no new watcher can be made, the old one keeps watching and the
        // next event tries again.
        // The same watches may still need the new config's `include` globs
        // to tell which files are plugins.
        let now = Targets::of(&control);
        if now.same_as(&targets) {
            targets = now;
        } else if let Some(next) = Watch::start(&now) {
            watch = next;
            targets = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, CreateKind, EventKind};
    use notify::Event;
    use std::time::Instant;

    fn targets() -> Targets {
        targets_including(&["*.so"])
    }

    fn targets_including(globs: &[&str]) -> Targets {
        Targets {
            plugins: PluginsConfig {
                dir: PathBuf::from("/srv/plugins"),
                include: globs
                    .iter()
                    .map(|g| glob::Pattern::new(g).unwrap())
                    .collect(),
                max_retained_libraries: 64,
                debounce_ms: 50,
                watch: true,
                allowed_sha256: Vec::new(),
            },
            config_file: PathBuf::from("/etc/variantd/variantd.toml"),
            specs_file: PathBuf::from("/etc/variantd/specs.json"),
            debounce: Duration::from_millis(50),
        }
    }

    fn events(kind: EventKind, paths: &[&str]) -> Vec<DebouncedEvent> {
        paths
            .iter()
            .map(|p| {
                DebouncedEvent::new(Event::new(kind).add_path(PathBuf::from(p)), Instant::now())
            })
            .collect()
    }

    #[test]
    fn specs_go_first_and_a_config_reload_covers_the_plugins() {
        let created = EventKind::Create(CreateKind::File);
        let batch = events(
            created,
            &[
                "/srv/plugins/libapp_a.so",
                "/etc/variantd/variantd.toml",
                "/etc/variantd/specs.json",
            ],
        );
        assert_eq!(
            targets().reloads_for(&batch),
            vec![ReloadScope::Specs, ReloadScope::Config]
        );
        let plugin_only = events(created, &["/srv/plugins/libapp_a.so"]);
        assert_eq!(
            targets().reloads_for(&plugin_only),
            vec![ReloadScope::Plugins]
        );
    }

    #[test]
    fn temporary_names_other_files_and_reads_reload_nothing() {
        let created = EventKind::Create(CreateKind::File);
        let ignored = events(
            created,
            &[
                "/srv/plugins/.libapp_a.so.tmp",
                "/srv/plugins/libapp_a.so.tmp",
                "/srv/plugins/README",
                "/etc/variantd/other.toml",
            ],
        );
        assert!(targets().reloads_for(&ignored).is_empty());
        let read = events(
            EventKind::Access(AccessKind::Any),
            &["/etc/variantd/variantd.toml"],
        );
        assert!(targets().reloads_for(&read).is_empty());
    }

    #[test]
    fn a_configmap_data_swap_reloads_what_lives_in_that_directory() {
        let swap = events(
            EventKind::Create(CreateKind::Any),
            &["/etc/variantd/..data"],
        );
        assert_eq!(
            targets().reloads_for(&swap),
            vec![ReloadScope::Specs, ReloadScope::Config]
        );
    }

    #[test]
    fn the_include_globs_decide_which_files_are_plugins() {
        let created = EventKind::Create(CreateKind::File);
        let plugin = events(created, &["/srv/plugins/libswapper.plugin"]);
        assert_eq!(
            targets_including(&["*.plugin"]).reloads_for(&plugin),
            vec![ReloadScope::Plugins]
        );
        assert!(targets().reloads_for(&plugin).is_empty());
        let ignored = events(
            created,
            &[
                "/srv/plugins/libapp_a.so",
                "/srv/plugins/.libswapper.plugin.tmp",
                "/srv/plugins/libswapper.plugin.swp",
                "/srv/plugins/libswapper.plugin~",
            ],
        );
        assert!(targets_including(&["*.plugin", "*.swp", "*~"])
            .reloads_for(&ignored[1..])
            .is_empty());
        assert!(targets_including(&["*.plugin"])
            .reloads_for(&ignored)
            .is_empty());
    }
}
