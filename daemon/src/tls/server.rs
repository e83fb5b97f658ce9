//! The rustls server side: `[server.tls]`. The certificate is chosen per
//! handshake by a resolver that rereads `cert_file`/`key_file` when they
//! change, so a renewal (certbot, cert-manager) is served from the next
//! handshake on, with no restart, while connections already open keep the
//! session they have. Likewise the client-CA verifier for `client_ca_file`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};

use super::{load_certs, load_key, load_roots, provider, FileSet, TlsError};
use crate::control::config::ServerTlsConfig;

/// The rustls configuration to serve HTTPS with. ALPN is left to
/// actix-http, which offers `h2` and `http/1.1`.
pub fn server_config(tls: &ServerTlsConfig) -> Result<ServerConfig, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config {
            what: "TLS versions",
            reason: e.to_string(),
        })?;
    let builder = match &tls.client_ca_file {
        Some(ca) => {
            builder.with_client_cert_verifier(Arc::new(ReloadingClientVerifier::new(ca.clone())?))
        }
        None => builder.with_no_client_auth(),
    };
    let resolver = ReloadingCert::new(tls.cert_file.clone(), tls.key_file.clone())?;
    Ok(builder.with_cert_resolver(Arc::new(resolver)))
}

/// Check that the files make a usable configuration (for `--check` and
/// config validation), without keeping anything.
pub fn check(tls: &ServerTlsConfig) -> Result<(), TlsError> {
    server_config(tls).map(drop)
}

fn certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = load_certs(cert)?;
    let key_der = load_key(key)?;
    CertifiedKey::from_der(chain, key_der, &provider()).map_err(|e| TlsError::Invalid {
        path: key.to_path_buf(),
        reason: format!("cannot be used with {}: {e}", cert.display()),
    })
}

/// The server certificate, reloaded when its files change.
#[derive(Debug)]
struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    files: FileSet,
    current: ArcSwap<CertifiedKey>,
}

impl ReloadingCert {
    fn new(cert_file: PathBuf, key_file: PathBuf) -> Result<ReloadingCert, TlsError> {
        let files = FileSet::new(vec![cert_file.clone(), key_file.clone()]);
        let current = ArcSwap::from_pointee(certified_key(&cert_file, &key_file)?);
        Ok(ReloadingCert {
            cert_file,
            key_file,
            files,
            current,
        })
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(key) = self.files.check("server.tls certificate", || {
            certified_key(&self.cert_file, &self.key_file)
        }) {
            self.current.store(Arc::new(key));
        }
        Some(self.current.load_full())
    }
}

/// `client_ca_file`: client certificates are required and must chain to one
/// of its CAs; the file is reread when it changes.
///
/// It sends no CA names in its certificate request (the names live in the
/// verifier of the moment, which cannot be lent out): clients that pick a
/// certificate by those names (few do; curl, rustls and browsers with one
/// certificate do not) must be configured with the one to send.
#[derive(Debug)]
struct ReloadingClientVerifier {
    ca_file: PathBuf,
    files: FileSet,
    current: ArcSwap<Arc<dyn ClientCertVerifier>>,
}

fn client_verifier(ca_file: &Path) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let roots = Arc::new(load_roots(ca_file)?);
    WebPkiClientVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| TlsError::Invalid {
            path: ca_file.to_path_buf(),
            reason: e.to_string(),
        })
}

impl ReloadingClientVerifier {
    fn new(ca_file: PathBuf) -> Result<ReloadingClientVerifier, TlsError> {
        let files = FileSet::new(vec![ca_file.clone()]);
        let current = ArcSwap::from_pointee(client_verifier(&ca_file)?);
        Ok(ReloadingClientVerifier {
            ca_file,
            files,
            current,
        })
    }

    fn verifier(&self) -> Arc<dyn ClientCertVerifier> {
        if let Some(v) = self
            .files
            .check("server.tls client CA", || client_verifier(&self.ca_file))
        {
            self.current.store(Arc::new(v));
        }
        Arc::clone(&self.current.load())
    }
}

impl ClientCertVerifier for ReloadingClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.verifier()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.current
            .load()
            .verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.current
            .load()
            .verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.current.load().supported_verify_schemes()
    }

    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }
}
