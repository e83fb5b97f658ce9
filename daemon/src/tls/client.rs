//! The rustls client side, for `https://` remote variants: which CAs are
//! trusted (the system's store, or `tls_ca_file`), the client certificate
//! for mutual TLS, and which protocols ALPN offers. Built once per version
//! of the files and shared by every worker's awc client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::{load_certs, load_key, load_roots, provider, FileSet, TlsError};
use crate::control::config::RemoteTlsConfig;

/// One version of a variant's TLS client configuration.
pub struct Built {
    /// Unique in the process: a worker's awc client made from an older
    /// version is replaced when this changes.
    pub generation: u64,
    /// For requests: ALPN as the variant's `http2` says.
    pub http: Arc<ClientConfig>,
    /// For WebSocket upgrades, which need HTTP/1.1 (awc has no WebSocket
    /// over HTTP/2), so ALPN offers only that.
    pub websocket: Arc<ClientConfig>,
}

/// A variant's TLS client configuration, rebuilt when its files change.
pub struct ClientTls {
    settings: RemoteTlsConfig,
    files: FileSet,
    current: ArcSwap<Built>,
}

impl ClientTls {
    pub fn new(settings: RemoteTlsConfig) -> Result<ClientTls, TlsError> {
        let paths = [
            &settings.ca_file,
            &settings.client_cert,
            &settings.client_key,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        let files = FileSet::new(paths);
        let built = build(&settings)?;
        Ok(ClientTls {
            settings,
            files,
            current: ArcSwap::from_pointee(built),
        })
    }

    /// The version to use now; looks at the files' stamps at most once a
    /// second and rebuilds when they changed.
    pub fn current(&self) -> Arc<Built> {
        if let Some(built) = self
            .files
            .check("remote variant TLS", || build(&self.settings))
        {
            self.current.store(Arc::new(built));
        }
        self.current.load_full()
    }
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// Build both client configurations from the settings' files.
pub fn build(settings: &RemoteTlsConfig) -> Result<Built, TlsError> {
    let verifier: Arc<dyn ServerCertVerifier> = if settings.insecure_skip_verify {
        Arc::new(NoVerification)
    } else {
        let roots = match &settings.ca_file {
            Some(path) => Arc::new(load_roots(path)?),
            None => system_roots()?,
        };
        WebPkiServerVerifier::builder_with_provider(roots, provider())
            .build()
            .map_err(|e| TlsError::Config {
                what: "certificate verifier",
                reason: e.to_string(),
            })?
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config {
            what: "TLS versions",
            reason: e.to_string(),
        })?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (&settings.client_cert, &settings.client_key) {
        (Some(cert), Some(key)) => {
            let chain = load_certs(cert)?;
            let key_der = load_key(key)?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| TlsError::Invalid {
                    path: key.clone(),
                    // rustls says what is wrong (a key that does not match
                    // the certificate, an unsupported type), never the key.
                    reason: format!("cannot be used with {}: {e}", cert.display()),
                })?
        }
        _ => builder.with_no_client_auth(),
    };
    let mut websocket = config.clone();
    websocket.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.alpn_protocols = match settings.http2 {
        // Auto: offer both, and speak what the upstream picks.
        None => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        Some(true) => vec![b"h2".to_vec()],
        Some(false) => vec![b"http/1.1".to_vec()],
    };
    Ok(Built {
        generation: GENERATION.fetch_add(1, Ordering::Relaxed),
        http: Arc::new(config),
        websocket: Arc::new(websocket),
    })
}

/// The machine's trust store (`/etc/ssl/certs` and the like, as
/// rustls-native-certs finds it; `SSL_CERT_FILE`/`SSL_CERT_DIR` override),
/// read once per process.
fn system_roots() -> Result<Arc<RootCertStore>, TlsError> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!(error = %e, "reading the system trust store");
            }
            let mut roots = RootCertStore::empty();
            let (added, ignored) = roots.add_parsable_certificates(found.certs);
            if ignored > 0 {
                tracing::debug!(ignored, "system trust store: certificates rustls cannot use");
            }
            if added == 0 {
                return Err("the system trust store has no usable CA certificate (install ca-certificates, or set tls_ca_file)".into());
            }
            Ok(Arc::new(roots))
        })
        .clone()
        .map_err(|reason| TlsError::Config {
            what: "system trust store",
            reason,
        })
}

/// `insecure_skip_verify = true`: any certificate is accepted, for any
/// name. The handshake's signatures are still checked (the peer must hold
/// the key of the certificate it sent), which protects against nothing
/// when anyone may send any certificate; it exists for test setups only.
#[derive(Debug)]
struct NoVerification;

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What a failed handshake says about the upstream's certificate, in words
/// for the 502 answer; `None` when the failure was not the certificate.
pub fn certificate_problem(e: &rustls::Error) -> Option<String> {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(c) = e else {
        return None;
    };
    Some(match c {
        C::UnknownIssuer => {
            "untrusted: not signed by a CA this variant trusts (tls_ca_file, or the system store)"
                .into()
        }
        C::Expired | C::ExpiredContext { .. } => "expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "not valid yet".into(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "issued for another name (see tls_server_name)".into()
        }
        C::Revoked => "revoked".into(),
        C::BadSignature => "bad signature".into(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => "not issued for TLS servers".into(),
        other => format!("{other:?}"),
    })
}
