//! The plugin directory's state: which file is loaded as which plugin, which
//! files were refused and why. A scan loads only files whose content changed.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::config::PluginsConfig;
use crate::plugin_host::{LoadError, Loader, PluginLibrary};

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
        for file in &files {
            // Stamped before reading: a file changing under the read gets a
            // new stamp, so the next scan reads it again.
            let Ok(stamp) = std::fs::metadata(file).map(|m| Stamp::of(&m)) else {
                continue;
            };
            let sha = match self.seen.get(file) {
                Some((seen, sha)) if *seen == stamp => sha.clone(),
                _ => {
                    let Ok(bytes) = std::fs::read(file) else {
                        continue;
                    };
                    hex::encode(Sha256::digest(&bytes))
                }
            };
            // Unchanged since the last scan, or (after a forced reload forgot
            // the hashes) the very content already serving: nothing to load.
            // A forced reload thus retries refused files without churning a
            // new copy of every healthy plugin.
            if self.seen.get(file).is_some_and(|(_, seen)| *seen == sha)
                || self
                    .current
                    .values()
                    .any(|l| l.file == *file && l.sha256 == sha)
            {
                if self
                    .current
                    .values()
                    .any(|l| l.file == *file && l.sha256 == sha)
                {
                    self.refused.remove(file);
                }
                self.seen.insert(file.clone(), (stamp, sha));
                continue;
            }
            self.seen.insert(file.clone(), (stamp, sha));
            match loader.load(file) {
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
                crate::metrics::plugin_event("removed");
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

    pub fn refuse(&mut self, file: &Path, e: &LoadError) {
        tracing::error!(file = %file.display(), reason = %e, "plugin refused; the previous state keeps serving");
        crate::metrics::plugin_event("refused");
        self.refused.insert(
            file.to_path_buf(),
            Refusal {
                file: file.to_path_buf(),
                reason: e.to_string(),
                at: SystemTime::now(),
            },
        );
    }

    /// Forget a file's hash so the next scan loads it again (SIGHUP / admin reload).
    pub fn forget_hashes(&mut self) {
        self.seen.clear();
    }
}

fn list_plugin_files(dir: &Path, config: &PluginsConfig) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            // Temporary names of a deploy in progress are not plugins yet.
            !name.starts_with('.')
                && config.includes(&name)
                && std::fs::metadata(e.path())
                    .map(|m| m.is_file())
                    .unwrap_or(false)
        })
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}
