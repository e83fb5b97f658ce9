//! What happens to old plugin versions: their `shutdown` runs on a reaper
//! thread (never on a request thread), then the library is closed. A library
//! that stays mapped after `dlclose` (a Rust plugin whose thread-locals live in
//! our worker threads, or one that started threads) is *retained*: counted,
//! listed, re-checked, and bounded by `plugins.max_retained_libraries`.
//!
//! The bound: once that many closed copies are still mapped, the loader
//! refuses *new* versions (the serving ones keep serving) until some are
//! released; so at most `max_retained_libraries` dead copies plus the open
//! ones (serving, or draining their last requests) are ever mapped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::SystemTime;

use libloading::os::unix::{Library, RTLD_NOW};

use super::loader::LoadError;
use super::private_copy::PrivateCopy;

/// glibc's RTLD_NOLOAD: open only if already loaded.
const RTLD_NOLOAD: i32 = 0x4;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug, Clone, serde::Serialize)]
pub struct RetainedLibrary {
    pub plugin: String,
    pub version: String,
    pub private_path: PathBuf,
    #[serde(with = "crate::util::rfc3339")]
    pub since: SystemTime,
    /// Kept open while mapped: its path must not name another file meanwhile.
    #[serde(skip)]
    copy: Arc<PrivateCopy>,
}

/// A library that is open (serving, or draining its last requests).
#[derive(Debug, Clone)]
pub(super) struct OpenLibrary {
    pub plugin: String,
    pub version: String,
    pub sha256: String,
    pub private_path: PathBuf,
    pub loaded_at: SystemTime,
    pub in_flight: Arc<AtomicUsize>,
}

/// What admin shows of one open library.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OpenLibraryStatus {
    pub plugin: String,
    pub version: String,
    pub sha256: String,
    pub private_path: PathBuf,
    #[serde(with = "crate::util::rfc3339")]
    pub loaded_at: SystemTime,
    pub in_flight: usize,
}

pub struct Retention {
    limit: AtomicUsize,
    open: Mutex<Vec<OpenLibrary>>,
    released: AtomicUsize,
    retained: Mutex<Vec<RetainedLibrary>>,
    reaper: Mutex<Option<mpsc::Sender<Job>>>,
}

impl Retention {
    pub fn new(limit: usize) -> Retention {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("variantd-reaper".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .expect("spawn reaper thread");
        Retention {
            limit: AtomicUsize::new(limit),
            open: Mutex::new(Vec::new()),
            released: AtomicUsize::new(0),
            retained: Mutex::new(Vec::new()),
            reaper: Mutex::new(Some(tx)),
        }
    }

    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Run `job` on the reaper thread (inline once the reaper is stopped).
    pub(super) fn defer(&self, job: Job) {
        let sender = self.reaper.lock().ok().and_then(|g| g.clone());
        match sender {
            Some(tx) => {
                if let Err(mpsc::SendError(job)) = tx.send(job) {
                    job();
                }
            }
            None => job(),
        }
    }

    /// Wait until every deferred shutdown so far has run.
    pub fn drain(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        self.defer(Box::new(move || {
            let _ = done_tx.send(());
        }));
        let _ = done_rx.recv_timeout(std::time::Duration::from_secs(10));
    }

    pub(super) fn over_limit(&self) -> Option<LoadError> {
        // Re-check first: copies the dynamic loader has released since they
        // were counted must not block a new version.
        let retained = self.retained().len();
        let limit = self.limit.load(Ordering::Relaxed);
        (retained >= limit).then_some(LoadError::RetainedLimit { retained, limit })
    }

    pub(super) fn library_opened(&self, library: OpenLibrary) {
        if let Ok(mut open) = self.open.lock() {
            open.push(library);
        }
        crate::telemetry::metrics::library_counts(self.open_count(), self.retained_count());
    }

    pub(super) fn library_closed(&self, plugin: &str, version: &str, copy: Arc<PrivateCopy>) {
        if let Ok(mut open) = self.open.lock() {
            open.retain(|l| l.private_path != copy.path());
        }
        if !self.retain_if_mapped(plugin, version, copy) {
            self.released.fetch_add(1, Ordering::Relaxed);
        }
        crate::telemetry::metrics::library_counts(self.open_count(), self.retained_count());
    }

    /// A copy refused after `dlopen` (bad ABI, no entry symbol, …). A library
    /// marked NODELETE stays mapped even so, and must keep its path.
    pub(super) fn refused_copy(&self, file_name: &str, copy: PrivateCopy) {
        if self.retain_if_mapped(file_name, "(refused)", Arc::new(copy)) {
            crate::telemetry::metrics::library_counts(self.open_count(), self.retained_count());
        }
    }

    /// Keep `copy` (and so its path) while the dynamic loader still maps it;
    /// otherwise let it go. Whether it was kept.
    fn retain_if_mapped(&self, plugin: &str, version: &str, copy: Arc<PrivateCopy>) -> bool {
        if !still_mapped(copy.path()) {
            return false;
        }
        tracing::info!(plugin, version, path = %copy.path().display(), "old plugin version stays mapped after dlclose; retained");
        if let Ok(mut r) = self.retained.lock() {
            r.push(RetainedLibrary {
                plugin: plugin.to_string(),
                version: version.to_string(),
                private_path: copy.path().to_path_buf(),
                since: SystemTime::now(),
                copy,
            });
        }
        true
    }

    /// Libraries that were closed but are still mapped. Re-checks each one,
    /// forgetting those the dynamic loader has since released.
    pub fn retained(&self) -> Vec<RetainedLibrary> {
        let Ok(mut r) = self.retained.lock() else {
            return Vec::new();
        };
        // A copy no longer mapped is dropped here, which frees its memory.
        r.retain(|lib| still_mapped(lib.copy.path()));
        r.clone()
    }

    pub fn retained_count(&self) -> usize {
        self.retained.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// Libraries currently open (serving or draining).
    pub fn open_count(&self) -> usize {
        self.open.lock().map(|o| o.len()).unwrap_or(0)
    }

    /// Every open library (serving, or an old version draining its requests).
    pub fn open_libraries(&self) -> Vec<OpenLibraryStatus> {
        let Ok(open) = self.open.lock() else {
            return Vec::new();
        };
        open.iter()
            .map(|l| OpenLibraryStatus {
                plugin: l.plugin.clone(),
                version: l.version.clone(),
                sha256: l.sha256.clone(),
                private_path: l.private_path.clone(),
                loaded_at: l.loaded_at,
                in_flight: l.in_flight.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Libraries closed and really unmapped.
    pub fn released_count(&self) -> usize {
        self.released.load(Ordering::Relaxed)
    }
}

fn still_mapped(path: &Path) -> bool {
    // SAFETY: RTLD_NOLOAD never loads or runs anything; it only looks the
    // path up among loaded objects (and takes a reference we drop at once).
    match unsafe { Library::open(Some(path), RTLD_NOW | RTLD_NOLOAD) } {
        Ok(lib) => {
            let _ = lib.close();
            true
        }
        Err(_) => false,
    }
}
