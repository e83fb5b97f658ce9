//! TLS with rustls (ring as the crypto provider; no OpenSSL), both ways:
//! [`client`] builds what awc uses to reach `https://` upstreams, [`server`]
//! what actix-web serves HTTPS with. Both read PEM files named in the config
//! and pick up new versions of those files while running (certificate
//! renewals), checking their stamps at most once per [`CHECK_EVERY`].
//!
//! Private keys are read into rustls and never logged, printed or put in an
//! error message: errors name the file and what was wrong with it.

pub mod client;
pub mod server;

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// How often the files behind a TLS configuration are looked at (one `stat`
/// each): a renewed certificate is in use within this long.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Why TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: no PEM certificate in it", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: no PEM private key in it (PKCS#8, PKCS#1 or SEC1)", path.display())]
    NoKey { path: PathBuf },
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("{what}: {reason}")]
    Config { what: &'static str, reason: String },
}

/// The one crypto provider, chosen explicitly rather than by whichever
/// rustls features other crates happen to enable.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: LazyLock<Arc<CryptoProvider>> =
        LazyLock::new(|| Arc::new(rustls::crypto::ring::default_provider()));
    PROVIDER.clone()
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Every certificate in a PEM file, in order (a leaf and its chain, or CAs).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Invalid {
            path: path.to_path_buf(),
            reason: format!("not a valid PEM certificate file: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The first private key in a PEM file. The error never contains key bytes.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_path_buf(),
        },
        // The parser's message names the section, not its contents.
        e => TlsError::Invalid {
            path: path.to_path_buf(),
            reason: format!("not a valid PEM private key: {e}"),
        },
    })
}

/// A root store made of the CAs in a PEM file.
pub fn load_roots(path: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in load_certs(path)? {
        roots.add(cert).map_err(|e| TlsError::Invalid {
            path: path.to_path_buf(),
            reason: format!("not a usable CA certificate: {e}"),
        })?;
    }
    Ok(roots)
}

/// What identifies one version of a file: a renewal that replaces it
/// (rename, symlink swap as cert-manager does) changes the inode, an edit in
/// place changes the mtime or length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
    device: u64,
}

impl Stamp {
    /// The file's current stamp; `None` when it cannot be looked at (then
    /// the last good version keeps serving).
    pub fn of(path: &Path) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        // Follows symlinks: the file a link points to now is the one read.
        let meta = std::fs::metadata(path).ok()?;
        Some(Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode: meta.ino(),
            device: meta.dev(),
        })
    }
}

/// Files watched by polling their stamps, at most once per [`CHECK_EVERY`],
/// from whichever thread asks first (the others skip the check rather than
/// wait for it).
#[derive(Debug)]
pub(crate) struct FileSet {
    paths: Vec<PathBuf>,
    state: Mutex<FileSetState>,
}

#[derive(Debug)]
struct FileSetState {
    last_check: Instant,
    /// The stamps of the files the serving version was built from.
    loaded: Vec<Option<Stamp>>,
    /// The stamps of a version that failed to load: tried again (and logged)
    /// only once the files change again.
    failed: Option<Vec<Option<Stamp>>>,
}

impl FileSet {
    /// Stamps taken *before* the files are read, so a change while reading
    /// is seen at the next check.
    pub(crate) fn new(paths: Vec<PathBuf>) -> FileSet {
        let loaded = paths.iter().map(|p| Stamp::of(p)).collect();
        FileSet {
            paths,
            state: Mutex::new(FileSetState {
                last_check: Instant::now(),
                loaded,
                failed: None,
            }),
        }
    }

    /// If it is time to look and the files changed since they were loaded,
    /// run `reload`; on success its result is the new version, on failure
    /// the old one stays (and the error is logged once per change).
    pub(crate) fn check<T>(
        &self,
        what: &str,
        reload: impl FnOnce() -> Result<T, TlsError>,
    ) -> Option<T> {
        let Ok(mut state) = self.state.try_lock() else {
            return None;
        };
        if state.last_check.elapsed() < CHECK_EVERY {
            return None;
        }
        state.last_check = Instant::now();
        let now: Vec<Option<Stamp>> = self.paths.iter().map(|p| Stamp::of(p)).collect();
        if now == state.loaded || state.failed.as_ref() == Some(&now) {
            return None;
        }
        match reload() {
            Ok(value) => {
                tracing::info!(what, files = ?self.paths, "TLS files changed; now using the new version");
                state.loaded = now;
                state.failed = None;
                Some(value)
            }
            Err(e) => {
                // A renewal writes the certificate and the key one after the
                // other: a mismatch in between is expected, and retried at
                // the next change.
                tracing::warn!(what, error = %e, "TLS files changed but cannot be used; keeping the version loaded before");
                state.failed = Some(now);
                None
            }
        }
    }
}
