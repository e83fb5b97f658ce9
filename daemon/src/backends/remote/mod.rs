//! Remote variants: a variant that is an HTTP app variantd proxies to, with
//! pooled per-worker clients, timeouts, bounded retries and a circuit breaker.

mod breaker;
mod call;
mod client;
mod headers;
pub(crate) mod relay;
mod websocket;

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::uri::{self, Authority, PathAndQuery, Scheme};
use actix_web::http::{Method, StatusCode, Uri};
use actix_web::web::Bytes;
use awc::error::{ConnectError, SendRequestError};
use futures_util::stream::LocalBoxStream;

use crate::control::config::RemoteConfig;
use crate::tls::client::ClientTls;

pub use breaker::{Breaker, BreakerState, Permit};
pub(crate) use call::call;
pub use headers::{
    forwardable_request_headers, forwardable_response_headers, ForwardContext, X_REQUEST_ID,
};
pub use websocket::{UpstreamSocket, WebSocketHandshake};

/// A remote variant and its failure state. Lives across snapshots while its
/// config is unchanged so the breaker remembers.
pub struct RemoteVariant {
    name: String,
    config: RemoteConfig,
    /// `config.url` taken apart once, so a request only parses its own path.
    /// With `tls_server_name`, that name (and the URL's port): awc sends it
    /// as SNI and verifies the certificate against it.
    authority: Authority,
    scheme: Scheme,
    /// Where to connect when `authority` is not the URL's host
    /// (`tls_server_name` set).
    connect_to: Option<ConnectTo>,
    /// `https://`: the TLS client configuration, or why it could not be
    /// built (then every request fails with that reason).
    tls: Option<Result<ClientTls, String>>,
    base_path: String,
    /// The Host header for the upstream, as awc would write it (`host`, or
    /// `host:port` unless the port is 80 or 443): made once here, where awc
    /// would format it for every request.
    host_header: HeaderValue,
    pub breaker: Breaker,
    /// The `variantd_circuit_state` gauge of this variant, and the state it
    /// last showed: set when the state changes, not on every request.
    circuit_gauge: metrics::Gauge,
    circuit_shown: AtomicU8,
}

/// Why a remote variant gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(
        "circuit open after repeated failures; not calling the upstream until its cool-down ends"
    )]
    CircuitOpen,
    #[error("connect failed: {0}")]
    Connect(String),
    #[error("no connection within {0} ms")]
    ConnectTimeout(u64),
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("upstream closed the connection before answering")]
    Closed,
    #[error("upstream error: {0}")]
    Upstream(String),
    #[error("upstream answered {0}")]
    Status(u16),
    #[error("upstream TLS certificate rejected: {0}")]
    Certificate(String),
    #[error("TLS handshake with the upstream failed: {0}")]
    Tls(String),
    #[error("TLS configuration unusable: {0}")]
    TlsConfig(String),
    #[error("upstream refused the WebSocket upgrade: {0}")]
    WebSocket(String),
}

/// The address behind a `tls_server_name`: the URL's host.
#[derive(Debug, Clone)]
enum ConnectTo {
    Addr(std::net::SocketAddr),
    /// A DNS name, resolved when a request needs a connection address.
    Host(String, u16),
}

impl RemoteError {
    /// 504 when the time ran out, else 502 (an open circuit included: the
    /// upstream is known to be failing).
    pub fn status(&self) -> StatusCode {
        match self {
            RemoteError::Timeout(_) | RemoteError::ConnectTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    fn metric_kind(&self) -> &'static str {
        match self {
            RemoteError::CircuitOpen => "circuit_open",
            RemoteError::Connect(_) => "connect",
            RemoteError::ConnectTimeout(_) => "connect_timeout",
            RemoteError::Timeout(_) => "timeout",
            RemoteError::Closed => "closed",
            RemoteError::Upstream(_) => "upstream",
            RemoteError::Status(_) => "status_5xx",
            RemoteError::Certificate(_) => "tls_certificate",
            RemoteError::Tls(_) => "tls",
            RemoteError::TlsConfig(_) => "tls_config",
            RemoteError::WebSocket(_) => "websocket_refused",
        }
    }
}

/// A request body streamed as it arrives from the client.
pub type BodyStream = LocalBoxStream<'static, Result<Bytes, PayloadError>>;

/// The body to send upstream.
pub enum OutgoingBody {
    Empty,
    /// Whole in memory: sent with a content-length, and replayable for a retry.
    Full(Bytes),
    /// Streamed as it arrives (chunked); cannot be retried.
    Stream(BodyStream),
}

impl OutgoingBody {
    fn replayable(&self) -> bool {
        !matches!(self, OutgoingBody::Stream(_))
    }
}

/// What a request asks of the upstream: a method, and a path (starting with
/// `/`) and query (without its `?`; empty for none) below the variant's base
/// path.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: &'a str,
}

/// Methods that may be sent again after a failed attempt (RFC 9110 §9.2.2).
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// An upstream answer: its head, with the body still streaming.
pub type UpstreamResponse = awc::ClientResponse;

impl RemoteVariant {
    pub fn new(name: &str, config: RemoteConfig) -> RemoteVariant {
        let breaker = Breaker::new(
            config.breaker_failures,
            Duration::from_millis(config.breaker_cooldown_ms),
        );
        // Validated as an http(s) URL with a host when the config was parsed.
        let base: Uri = config.url.parse().unwrap_or_default();
        let url_authority = base
            .authority()
            .cloned()
            .unwrap_or_else(|| Authority::from_static("invalid"));
        let https = base.scheme_str() == Some("https");
        let scheme = if https { Scheme::HTTPS } else { Scheme::HTTP };
        let base_path = base.path().trim_end_matches('/').to_string();
        let server_name = config.tls.as_ref().and_then(|t| t.server_name.clone());
        let (authority, connect_to) = match &server_name {
            Some(sni) => {
                let port = url_authority.port_u16().unwrap_or(443);
                let host = url_authority
                    .host()
                    .trim_start_matches('[')
                    .trim_end_matches(']');
                let to = match host.parse::<std::net::IpAddr>() {
                    Ok(ip) => ConnectTo::Addr((ip, port).into()),
                    Err(_) => ConnectTo::Host(host.to_string(), port),
                };
                let named = match sni.parse::<std::net::Ipv6Addr>() {
                    Ok(_) => format!("[{sni}]:{port}"),
                    Err(_) => format!("{sni}:{port}"),
                };
                (
                    Authority::try_from(named.as_str()).unwrap_or(url_authority),
                    Some(to),
                )
            }
            None => (url_authority, None),
        };
        let host = match authority.port_u16() {
            None | Some(80) | Some(443) => authority.host().to_string(),
            Some(port) => format!("{}:{port}", authority.host()),
        };
        let tls = config.tls.clone().map(|settings| {
            if settings.insecure_skip_verify {
                tracing::warn!(variant = name, url = %config.url, "INSECURE: insecure_skip_verify = true: this variant's TLS certificate is NOT verified; anyone on the path can read and change its traffic. Test setups only.");
            }
            ClientTls::new(settings).map_err(|e| {
                tracing::error!(variant = name, error = %e, "remote variant TLS configuration unusable; its requests fail until the files are fixed");
                e.to_string()
            })
        });
        let host_header =
            HeaderValue::from_str(&host).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
        let circuit_gauge = crate::telemetry::metrics::circuit_gauge(name);
        circuit_gauge.set(BreakerState::Closed.as_gauge());
        RemoteVariant {
            name: name.to_string(),
            config,
            authority,
            scheme,
            connect_to,
            tls,
            base_path,
            host_header,
            breaker,
            circuit_gauge,
            circuit_shown: AtomicU8::new(BreakerState::Closed as u8),
        }
    }

    /// Update the circuit gauge if the breaker changed state.
    pub fn show_circuit_state(&self) {
        let state = self.breaker.state();
        if self.circuit_shown.swap(state as u8, Ordering::Relaxed) != state as u8 {
            self.circuit_gauge.set(state.as_gauge());
        }
    }

    /// The upstream URI for `target`'s path and query.
    fn upstream_uri(&self, target: Target<'_>) -> Result<Uri, RemoteError> {
        let Target { path, query, .. } = target;
        let invalid = |e: &dyn std::fmt::Display| {
            RemoteError::Upstream(format!("invalid upstream path: {e}"))
        };
        // Pushed, not `format!`ed: this runs for every proxied request.
        let mut joined = String::with_capacity(self.base_path.len() + path.len() + 1 + query.len());
        joined.push_str(&self.base_path);
        joined.push_str(path);
        if !query.is_empty() {
            joined.push('?');
            joined.push_str(query);
        }
        let path_and_query = PathAndQuery::try_from(joined).map_err(|e| invalid(&e))?;
        let mut parts = uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path_and_query);
        Uri::from_parts(parts).map_err(|e| invalid(&e))
    }

    pub fn config(&self) -> &RemoteConfig {
        &self.config
    }

    /// Whether this variant accepts any certificate (`insecure_skip_verify`).
    pub fn insecure(&self) -> bool {
        self.config
            .tls
            .as_ref()
            .is_some_and(|t| t.insecure_skip_verify)
    }

    /// The TLS configuration to use now (`None` for http), or why there is none.
    fn tls_now(&self) -> Result<Option<std::sync::Arc<crate::tls::client::Built>>, RemoteError> {
        match &self.tls {
            None => Ok(None),
            Some(Ok(tls)) => Ok(Some(tls.current())),
            Some(Err(e)) => Err(RemoteError::TlsConfig(e.clone())),
        }
    }

    /// The socket address to connect to when it is not the authority's
    /// (`tls_server_name`); `None` to let awc resolve the authority.
    async fn connect_addr(&self) -> Result<Option<std::net::SocketAddr>, RemoteError> {
        match &self.connect_to {
            None => Ok(None),
            Some(ConnectTo::Addr(a)) => Ok(Some(*a)),
            Some(ConnectTo::Host(host, port)) => tokio::net::lookup_host((host.as_str(), *port))
                .await
                .map_err(|e| RemoteError::Connect(format!("resolving {host}: {e}")))?
                .next()
                .map(Some)
                .ok_or_else(|| RemoteError::Connect(format!("{host} has no address"))),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// When a request starting now must have its answer.
    pub fn deadline(&self) -> Instant {
        Instant::now() + Duration::from_millis(self.config.timeout_ms)
    }

    /// Send one request upstream.
    ///
    /// Every attempt shares one time budget that ends at `deadline`: connect
    /// (itself bounded by `connect_timeout_ms`), send and the response head.
    /// Failed attempts are retried up to `retries` times, only for idempotent
    /// methods with a replayable body, never after a timeout, and not once the
    /// breaker has opened. A 5xx answer is returned (it is an answer) but
    /// counts as a failure for the breaker.
    /// `identity` asks the upstream for an uncompressed body (the envelope
    /// must parse it).
    pub async fn send(
        &self,
        target: Target<'_>,
        ctx: &ForwardContext,
        body: OutgoingBody,
        deadline: Instant,
        identity: bool,
    ) -> Result<UpstreamResponse, RemoteError> {
        let Some(permit) = self.breaker.admit() else {
            crate::telemetry::metrics::upstream_error(&self.name, "circuit_open");
            return Err(RemoteError::CircuitOpen);
        };
        let uri = match self.upstream_uri(target) {
            Ok(uri) => uri,
            Err(e) => {
                drop(permit);
                return Err(e);
            }
        };
        let (tls, addr) = match self.tls_now() {
            Ok(tls) if self.connect_to.is_none() => (tls, None),
            Ok(tls) => match self.connect_addr().await {
                Ok(addr) => (tls, addr),
                Err(e) => return Err(self.failed_before_sending(e, permit)),
            },
            Err(e) => return Err(self.failed_before_sending(e, permit)),
        };
        let method = target.method;
        let attempts = if is_idempotent(method) && body.replayable() {
            1 + self.config.retries
        } else {
            1
        };
        let mut body = Some(body);
        let mut last_err = RemoteError::Upstream("no attempt".into());
        for attempt in 0..attempts {
            let now = Instant::now();
            if now >= deadline {
                last_err = RemoteError::Timeout(self.config.timeout_ms);
                break;
            }
            let client = client::for_variant(&self.name, &self.config, tls.as_deref());
            let mut req = client
                .request(method.clone(), uri.clone())
                .timeout(deadline - now)
                .no_decompress();
            if let Some(addr) = addr {
                req = req.address(addr);
            }
            // Through `headers_mut`, not the by-value builder: each builder
            // call moves the whole request (a few hundred bytes).
            let headers = req.headers_mut();
            headers.insert(header::HOST, self.host_header.clone());
            for (name, value) in &ctx.headers {
                if identity && name == header::ACCEPT_ENCODING {
                    continue;
                }
                headers.append(name.clone(), value.clone());
            }
            let sent = match body.take() {
                Some(OutgoingBody::Stream(stream)) => req.send_stream(stream).await,
                Some(OutgoingBody::Full(bytes)) => {
                    body = Some(OutgoingBody::Full(bytes.clone()));
                    req.send_body(bytes).await
                }
                Some(OutgoingBody::Empty) | None => {
                    body = Some(OutgoingBody::Empty);
                    req.send().await
                }
            };
            match sent {
                Ok(resp) => {
                    if resp.status().is_server_error() {
                        self.breaker.on_failure();
                        crate::telemetry::metrics::upstream_error(&self.name, "status_5xx");
                    } else {
                        self.breaker.on_success();
                    }
                    drop(permit);
                    return Ok(resp);
                }
                Err(e) => {
                    last_err = self.classify(e);
                    crate::telemetry::metrics::upstream_error(&self.name, last_err.metric_kind());
                    self.breaker.on_failure();
                    tracing::warn!(variant = %self.name, attempt = attempt + 1, of = attempts, error = %last_err, "remote variant failed");
                    // A timeout already spent the request's time budget, and
                    // a certificate that failed verification fails again.
                    if matches!(
                        last_err,
                        RemoteError::Timeout(_) | RemoteError::Certificate(_)
                    ) || !self.breaker.allow_retry()
                    {
                        break;
                    }
                }
            }
        }
        drop(permit);
        Err(last_err)
    }

    /// The body of an upstream answer broke off (closed early, stalled): the
    /// upstream failed after all.
    pub fn on_body_failure(&self) {
        crate::telemetry::metrics::upstream_error(&self.name, "body");
        self.breaker.on_failure();
    }

    /// A failure found before any attempt (no TLS configuration, no
    /// address): counted and fed to the breaker like a failed connect.
    fn failed_before_sending(&self, e: RemoteError, permit: Permit<'_>) -> RemoteError {
        crate::telemetry::metrics::upstream_error(&self.name, e.metric_kind());
        self.breaker.on_failure();
        tracing::warn!(variant = %self.name, error = %e, "remote variant failed");
        drop(permit);
        e
    }

    fn classify(&self, e: SendRequestError) -> RemoteError {
        // A TLS alert can surface after the handshake (TLS 1.3 sends a
        // refused client certificate's alert with the first read), inside
        // whichever error the read or write failed with.
        let inner_io = match &e {
            SendRequestError::Send(io) => Some(io),
            SendRequestError::Response(actix_web::error::ParseError::Io(io)) => Some(io),
            _ => None,
        };
        if let Some(tls) = inner_io
            .and_then(|io| rustls_error(io))
            .or_else(|| rustls_error(&e))
        {
            return classify_tls(tls);
        }
        match e {
            SendRequestError::Connect(ConnectError::Io(io)) => classify_io(io),
            SendRequestError::Timeout => RemoteError::Timeout(self.config.timeout_ms),
            SendRequestError::Connect(ConnectError::Timeout) => {
                RemoteError::ConnectTimeout(self.config.connect_timeout_ms)
            }
            // awc's "connector has been disconnected": the upstream hung up.
            SendRequestError::Connect(ConnectError::Disconnected) => RemoteError::Closed,
            SendRequestError::Connect(c) => RemoteError::Connect(c.to_string()),
            SendRequestError::Send(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                RemoteError::Closed
            }
            SendRequestError::Response(actix_web::error::ParseError::Incomplete) => {
                RemoteError::Closed
            }
            other => RemoteError::Upstream(other.to_string()),
        }
    }
}

/// A connect error that may be a TLS handshake failure: tokio-rustls hands
/// rustls' error up inside the io::Error.
fn classify_io(io: std::io::Error) -> RemoteError {
    let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) else {
        return RemoteError::Connect(io.to_string());
    };
    classify_tls(tls)
}

/// The rustls error somewhere in `e`'s chain of sources.
fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(tls);
            }
        }
        next = err.source();
    }
    None
}

fn classify_tls(tls: &rustls::Error) -> RemoteError {
    match crate::tls::client::certificate_problem(tls) {
        Some(problem) => RemoteError::Certificate(problem),
        None => RemoteError::Tls(match tls {
            // The upstream refused us: most often a client certificate it
            // wants and did not get, or does not trust.
            rustls::Error::AlertReceived(alert) => format!(
                "the upstream sent alert {alert:?} (does it require a client certificate? see tls_client_cert)"
            ),
            other => other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(url: &str) -> RemoteVariant {
        RemoteVariant::new(
            "v",
            RemoteConfig {
                url: url.to_string(),
                tls: None,
                websocket_idle_timeout_ms: 1000,
                websocket_max_message_bytes: 1024,
                connect_timeout_ms: 100,
                timeout_ms: 100,
                retries: 0,
                breaker_failures: 5,
                breaker_cooldown_ms: 1000,
            },
        )
    }

    #[test]
    fn upstream_uri_joins_base_path_path_and_query() {
        let base = variant("http://127.0.0.1:8081/api/");
        let get = Method::GET;
        let target = |path, query| Target {
            method: &get,
            path,
            query,
        };
        let uri = |path, query| base.upstream_uri(target(path, query)).unwrap().to_string();
        assert_eq!(uri("/x", "a=1&b=2"), "http://127.0.0.1:8081/api/x?a=1&b=2");
        assert_eq!(uri("/x", ""), "http://127.0.0.1:8081/api/x");
        let root = variant("http://127.0.0.1:8081");
        assert_eq!(
            root.upstream_uri(target("/p/q", "k=v"))
                .unwrap()
                .to_string(),
            "http://127.0.0.1:8081/p/q?k=v"
        );
        assert!(
            root.upstream_uri(target("/bad path", "")).is_err(),
            "a space cannot be sent"
        );
    }

    #[test]
    fn host_header_is_what_awc_would_write() {
        for (url, host) in [
            ("http://127.0.0.1:8081", "127.0.0.1:8081"),
            ("http://app-a.internal", "app-a.internal"),
            ("http://app-a.internal:80/base", "app-a.internal"),
            ("http://[::1]:9000", "[::1]:9000"),
        ] {
            assert_eq!(variant(url).host_header, host, "{url}");
        }
    }
}
