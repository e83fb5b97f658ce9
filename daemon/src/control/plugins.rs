//! The plugin directory's state: which file is loaded as which plugin, which
//! files were refused and why. A scan loads only files whose content changed.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::backends::plugin::{LoadError, Loader, PluginLibrary, TrustedDir};
use crate::control::config::PluginsConfig;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Refusal {
    pub file: PathBuf,
    pub reason: String,
    #[serde(with = "crate::util::rfc3339")]
    pub at: SystemTime,
}

/// What a scan found that is new.
pub struct ScanOutcome {
    /// Newly loaded libraries, not yet accepted (their `init` has not run).
    pub candidates: Vec<Arc<PluginLibrary>>,
}

/// What a file's metadata was when it was last hashed. The same stamp means
/// the same content without reading it again: a deploy renames a new inode
/// in, and a write in place changes the size, mtime or ctime.
#[derive(Clone, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

#[derive(Default, Clone)]
pub struct PluginDir {
    /// Content hash last seen per file, and the stamp it was read under, so an
    /// unchanged file is neither read nor reloaded, and a refused one is not
    /// retried until it changes.
    seen: HashMap<PathBuf, (Stamp, String)>,
    /// The serving version of each plugin name.
    pub current: BTreeMap<String, Arc<PluginLibrary>>,
    pub refused: BTreeMap<PathBuf, Refusal>,
}

impl PluginDir {
    /// Look at the directory and load what changed.
    pub fn scan(&mut self, loader: &Loader, config: &PluginsConfig) -> ScanOutcome {
        let files = list_plugin_files(&config.dir, config);
        let mut candidates: Vec<Arc<PluginLibrary>> = Vec::new();
        let dir = TrustedDir::check(&config.dir);
        for file in &files {
            // Trust is judged from the metadata every scan, before anything
            // remembered is consulted: a refusal for a file's mode or place
            // lasts exactly as long as its cause. A refused file is also
            // forgotten, so the fix (a chmod, which changes nothing a
            // content hash sees) loads it.
            let inspected = match &dir {
                Ok(dir) => dir.inspect(file).map_err(LoadError::from),
                Err(e) => Err(LoadError::from(e.clone())),
            };
            let (real, meta) = match inspected {
                Ok(found) => found,
                Err(e) => {
                    self.refuse_untrusted(file, e);
                    continue;
                }
            };
            let dir = dir.as_ref().expect("inspected under a trusted directory");
            // Stamped before reading: a file changing under the read gets a
            // new stamp, so the next scan reads it again.
            let stamp = Stamp::of(&meta);
            let serving = |sha: &str| {
                self.current
                    .values()
                    .any(|l| l.file == *file && l.sha256 == sha)
            };
            if let Some((seen, sha)) = self.seen.get(file) {
                // Unchanged since the last scan: nothing to load (and a
                // refusal for its content stands).
                if *seen == stamp {
                    if serving(sha) {
                        self.refused.remove(file);
                    }
                    continue;
                }
            }
            let trusted = match dir.read(&real, &config.allowed_sha256) {
                Ok(t) => t,
                Err(e) => {
                    self.refuse_untrusted(file, e.into());
                    continue;
                }
            };
            let stamp = Stamp::of(&trusted.metadata);
            let sha = trusted.sha256.clone();
            // The same content as last time (the stamp changed but not the
            // bytes), or (after a forced reload forgot the hashes) the very
            // content already serving: nothing to load. A forced reload thus
            // retries refused files without churning a new copy of every
            // healthy plugin.
            let same_as_seen = self.seen.get(file).is_some_and(|(_, seen)| *seen == sha);
            self.seen.insert(file.clone(), (stamp, sha.clone()));
            if serving(&sha) {
                self.refused.remove(file);
                continue;
            }
            if same_as_seen {
                continue;
            }
            match loader.load_bytes(file, &trusted.bytes, trusted.sha256) {
                Ok(lib) => {
                    self.refused.remove(file);
                    candidates.push(lib);
                }
                Err(e) => self.refuse(file, &e),
            }
        }
        // Files that went away.
        self.seen.retain(|f, _| files.contains(f));
        self.refused.retain(|f, _| files.contains(f));
        let removed: Vec<String> = self
            .current
            .iter()
            .filter(|(_, lib)| !files.contains(&lib.file))
            .map(|(name, _)| name.clone())
            .collect();
        for name in &removed {
            if let Some(lib) = self.current.remove(name) {
                tracing::warn!(plugin = %name, file = %lib.file.display(), "plugin file removed; its variants answer 503 or their fallback until it returns");
                crate::telemetry::metrics::plugin_event("removed");
            }
        }
        // A name may be served by one file only.
        let mut accepted: Vec<Arc<PluginLibrary>> = Vec::new();
        for lib in candidates {
            let clash = self
                .current
                .get(&lib.name)
                .filter(|cur| cur.file != lib.file)
                .map(|cur| cur.file.clone())
                .or_else(|| {
                    accepted
                        .iter()
                        .find(|a| a.name == lib.name)
                        .map(|a| a.file.clone())
                });
            match clash {
                Some(other) => {
                    let e = LoadError::DuplicateName {
                        name: lib.name.clone(),
                        other: other.display().to_string(),
                    };
                    self.refuse(&lib.file, &e);
                }
                None => accepted.push(lib),
            }
        }
        ScanOutcome {
            candidates: accepted,
        }
    }

    /// Refuse a file for what it is now (its mode, owner, place, hash).
    /// Every scan judges that afresh; a refusal that stands is reported
    /// once, not at every file event in the directory.
    fn refuse_untrusted(&mut self, file: &Path, e: LoadError) {
        self.seen.remove(file);
        if self
            .refused
            .get(file)
            .is_none_or(|r| r.reason != e.to_string())
        {
            self.refuse(file, &e);
        }
    }

    pub fn refuse(&mut self, file: &Path, e: &LoadError) {
        let reason = e.to_string();
        tracing::error!(file = %file.display(), reason = %e, "plugin refused; the previous state keeps serving");
        crate::telemetry::metrics::plugin_event("refused");
        self.refused.insert(
            file.to_path_buf(),
            Refusal {
                file: file.to_path_buf(),
                reason,
                at: SystemTime::now(),
            },
        );
    }

    /// Forget a file's hash so the next scan loads it again (SIGHUP / admin reload).
    pub fn forget_hashes(&mut self) {
        self.seen.clear();
    }
}

/// Whether `file_name` in the plugin directory names a plugin: the
/// `[plugins] include` globs take it and it is not the temporary name of a
/// deploy or an editor at work. The watcher and the scan both ask this one
/// question, so a file event reloads exactly what a SIGHUP would.
pub fn is_candidate(config: &PluginsConfig, file_name: &str) -> bool {
    let temporary = file_name.starts_with('.')
        || file_name.ends_with(".tmp")
        || file_name.ends_with('~')
        || file_name.ends_with(".swp");
    !temporary && config.includes(file_name)
}

fn list_plugin_files(dir: &Path, config: &PluginsConfig) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            is_candidate(config, &e.file_name().to_string_lossy())
                && std::fs::metadata(e.path())
                    .map(|m| m.is_file())
                    .unwrap_or(false)
        })
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}
