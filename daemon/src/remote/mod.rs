//! Remote variants: a variant that is an HTTP app variantd proxies to, with
//! pooled per-worker clients, timeouts, bounded retries and a circuit breaker.

mod breaker;
mod client;
mod headers;

use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;
use awc::error::{ConnectError, SendRequestError};
use futures_util::Stream;

use crate::config::RemoteConfig;

pub use breaker::{Breaker, BreakerState};
pub use headers::{forwardable_request_headers, forwardable_response_headers, ForwardContext};

/// A remote variant and its failure state. Lives across snapshots while its
/// config is unchanged so the breaker remembers.
pub struct RemoteVariant {
    name: String,
    config: RemoteConfig,
    pub breaker: Breaker,
}

/// Why a remote variant gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("circuit open after repeated failures")]
    CircuitOpen,
    #[error("connect failed: {0}")]
    Connect(String),
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("upstream error: {0}")]
    Upstream(String),
}

impl RemoteError {
    /// 504 for a timeout, 503 for an open circuit, else 502.
    pub fn status(&self) -> StatusCode {
        match self {
            RemoteError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            RemoteError::CircuitOpen => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_GATEWAY,
        }
    }
}

/// The body to send upstream.
pub enum OutgoingBody {
    Empty,
    Full(Bytes),
    /// Streamed as it arrives; cannot be retried.
    Stream(actix_web::dev::Payload),
}

impl RemoteVariant {
    pub fn new(name: &str, config: RemoteConfig) -> RemoteVariant {
        let breaker = Breaker::new(config.breaker_failures, Duration::from_millis(config.breaker_cooldown_ms));
        RemoteVariant { name: name.to_string(), config, breaker }
    }

    pub fn config(&self) -> &RemoteConfig {
        &self.config
    }

    pub fn url(&self) -> &str {
        &self.config.url
    }

    /// Send one request upstream. `path_and_query` starts with `/`.
    /// Returns the upstream response head with its body still streaming.
    pub async fn send(
        &self,
        method: &Method,
        path_and_query: &str,
        ctx: &ForwardContext,
        body: OutgoingBody,
    ) -> Result<awc::ClientResponse<impl Stream<Item = Result<Bytes, awc::error::PayloadError>>>, RemoteError> {
        if !self.breaker.allow() {
            crate::metrics::upstream_error(&self.name, "circuit_open");
            return Err(RemoteError::CircuitOpen);
        }
        let url = format!("{}{}", self.config.url, path_and_query);
        let idempotent = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE);
        let mut body = Some(body);
        let attempts = if idempotent && !matches!(body, Some(OutgoingBody::Stream(_))) { 1 + self.config.retries } else { 1 };
        let mut last_err = RemoteError::Upstream("no attempt".into());
        for attempt in 0..attempts {
            let client = client::for_variant(&self.name, &self.config);
            let mut req = client
                .request(method.clone(), &url)
                .timeout(Duration::from_millis(self.config.timeout_ms))
                .no_decompress();
            for (name, value) in &ctx.headers {
                req = req.insert_header((name.clone(), value.clone()));
            }
            let sent = match body.take() {
                Some(OutgoingBody::Stream(payload)) => req.send_stream(payload).await,
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
                        crate::metrics::upstream_error(&self.name, "status_5xx");
                    } else {
                        self.breaker.on_success();
                    }
                    return Ok(resp);
                }
                Err(e) => {
                    last_err = classify(e, self.config.timeout_ms);
                    let kind = match last_err {
                        RemoteError::Timeout(_) => "timeout",
                        RemoteError::Connect(_) => "connect",
                        _ => "upstream",
                    };
                    crate::metrics::upstream_error(&self.name, kind);
                    self.breaker.on_failure();
                    tracing::warn!(variant = %self.name, attempt = attempt + 1, error = %last_err, "remote variant failed");
                    // A timeout already spent the request's time budget.
                    if matches!(last_err, RemoteError::Timeout(_)) || !self.breaker.allow_retry() {
                        break;
                    }
                }
            }
        }
        Err(last_err)
    }
}

fn classify(e: SendRequestError, timeout_ms: u64) -> RemoteError {
    match e {
        SendRequestError::Timeout => RemoteError::Timeout(timeout_ms),
        SendRequestError::Connect(ConnectError::Timeout) => RemoteError::Timeout(timeout_ms),
        SendRequestError::Connect(c) => RemoteError::Connect(c.to_string()),
        other => RemoteError::Upstream(other.to_string()),
    }
}
