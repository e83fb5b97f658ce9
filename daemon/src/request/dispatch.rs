//! Variant dispatch: hand one request to a variant — a plugin through the ABI
//! or a remote app through awc — and fall back to its configured fallback
//! variant when it cannot answer.

use std::sync::Arc;
use std::time::Duration;

use actix_web::error::PayloadError;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH};
use actix_web::http::{Method, StatusCode};
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpMessage, HttpResponse};
use futures_util::StreamExt;

use crate::backends::plugin::{PluginInstance, PluginRequest};
use crate::backends::remote::{ForwardContext, OutgoingBody, RemoteError, RemoteVariant, Target};
use crate::snapshot::{Backend, Snapshot, Variant};

/// Everything about the incoming request a variant needs, borrowed.
pub struct CallInput<'a> {
    pub method: &'a Method,
    /// Path as the variant sees it (below its mount point, or the routed path).
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub user_key: &'a str,
    pub decided_by: &'a str,
    pub rule_id: &'a str,
    /// The matched route's `{params}`, for plugins (empty when the variant
    /// is addressed directly).
    pub route_params: &'a [(&'a str, &'a str)],
    /// Largest request body a variant may receive.
    pub max_body: usize,
    /// Headers for a remote hop (filtered, X-Forwarded-* added).
    pub forward: &'a ForwardContext,
}

pub enum RequestBody {
    Full(Bytes),
    /// Only ever given to a remote variant without fallback: small bodies are
    /// still read whole (see `BUFFER_SMALL_BODY`), larger ones stream.
    Stream(actix_web::dev::Payload),
}

/// How much of the answer the caller needs in memory.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AnswerMode {
    /// The whole body, up to this many bytes (envelope routes, which answer
    /// with headers of their own: a remote answer's are not kept).
    Buffered(usize),
    /// Stream remote bodies through (transparent routes).
    Streaming,
}

pub enum AnswerBody {
    Full(Bytes),
    /// A streaming response whose status and headers are already set.
    Streaming(HttpResponse),
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: AnswerBody,
}

/// Who answered, for headers, envelope and access log.
pub struct Served<'s> {
    pub variant: &'s Variant,
    /// Set when a fallback answered instead of the chosen variant.
    pub fallback_from: Option<&'s Variant>,
    pub answer: Answer,
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("variant `{variant}` is not available: plugin `{plugin}` is not loaded")]
    Unavailable { variant: String, plugin: String },
    #[error("variant `{variant}` failed: {reason}")]
    PluginFailed { variant: String, reason: String },
    #[error("variant `{variant}` is unreachable: {error}")]
    Remote { variant: String, error: RemoteError },
    #[error("variant `{variant}` is not configured")]
    UnknownVariant { variant: String },
    #[error("variant `{variant}`: reading its answer failed: {reason}")]
    AnswerBody { variant: String, reason: String },
    #[error("variant `{variant}`: reading the request body failed: {reason}")]
    RequestBody { variant: String, reason: String },
    #[error("request body larger than {limit} bytes")]
    RequestTooLarge { variant: String, limit: usize },
}

impl DispatchError {
    pub fn status(&self) -> StatusCode {
        match self {
            DispatchError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            DispatchError::PluginFailed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            DispatchError::Remote { error, .. } => error.status(),
            DispatchError::UnknownVariant { .. } => StatusCode::NOT_FOUND,
            DispatchError::AnswerBody { .. } => StatusCode::BAD_GATEWAY,
            DispatchError::RequestBody { .. } => StatusCode::BAD_REQUEST,
            DispatchError::RequestTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    pub fn variant(&self) -> &str {
        match self {
            DispatchError::Unavailable { variant, .. }
            | DispatchError::PluginFailed { variant, .. }
            | DispatchError::Remote { variant, .. }
            | DispatchError::UnknownVariant { variant }
            | DispatchError::AnswerBody { variant, .. }
            | DispatchError::RequestBody { variant, .. }
            | DispatchError::RequestTooLarge { variant, .. } => variant,
        }
    }
}

/// Send the request to `variant_name`, or its fallback if it cannot answer.
/// A fallback is tried once (no chains), and only with a buffered body.
/// A remote variant with a fallback "cannot answer" when it gives no answer
/// (connect failure, timeout, open circuit, broken body) or answers 5xx;
/// without a fallback its 5xx is returned as given.
/// When the fallback fails too, the error is the chosen variant's.
pub async fn dispatch<'s>(
    snapshot: &'s Snapshot,
    variant_name: &str,
    input: &CallInput<'_>,
    body: RequestBody,
    mode: AnswerMode,
) -> Result<Served<'s>, DispatchError> {
    let variant =
        snapshot
            .variants
            .get(variant_name)
            .ok_or_else(|| DispatchError::UnknownVariant {
                variant: variant_name.to_string(),
            })?;
    let fallback = variant
        .config
        .fallback
        .as_deref()
        .and_then(|f| snapshot.variants.get(f));
    let retry_body = match (&body, fallback) {
        (RequestBody::Full(b), Some(_)) => Some(b.clone()),
        _ => None,
    };
    match call_variant(variant, input, body, mode, retry_body.is_some()).await {
        Ok(answer) => Ok(Served {
            variant,
            fallback_from: None,
            answer,
        }),
        Err(primary) => {
            let (Some(fb), Some(body)) = (fallback, retry_body) else {
                return Err(primary);
            };
            tracing::warn!(variant = %variant_name, fallback = %fb.config.name, error = %primary, "answering with the fallback variant");
            crate::telemetry::metrics::fallback(variant_name, &fb.config.name);
            match call_variant(fb, input, RequestBody::Full(body), mode, false).await {
                Ok(answer) => Ok(Served {
                    variant: fb,
                    fallback_from: Some(variant),
                    answer,
                }),
                Err(e) => {
                    tracing::warn!(variant = %variant_name, fallback = %fb.config.name, error = %e, "the fallback variant failed too");
                    Err(primary)
                }
            }
        }
    }
}

async fn call_variant(
    variant: &Variant,
    input: &CallInput<'_>,
    body: RequestBody,
    mode: AnswerMode,
    has_fallback: bool,
) -> Result<Answer, DispatchError> {
    let name = &variant.config.name;
    match &variant.backend {
        Backend::Plugin {
            instance: None,
            plugin,
            ..
        } => Err(DispatchError::Unavailable {
            variant: name.clone(),
            plugin: plugin.clone(),
        }),
        Backend::Plugin {
            instance: Some(instance),
            blocking,
            ..
        } => {
            let body = match body {
                RequestBody::Full(b) => b,
                RequestBody::Stream(_) => unreachable!("plugins always get a buffered body"),
            };
            call_plugin(instance, name, input, body, *blocking).await
        }
        // Boxed: the remote call's state (about 750 bytes of awc futures)
        // would otherwise be part of every request's future, and be copied
        // whenever that future moves, plugin calls included.
        Backend::Remote(remote) => {
            Box::pin(call_remote(remote, input, body, mode, has_fallback)).await
        }
    }
}

async fn call_plugin(
    instance: &std::sync::Arc<PluginInstance>,
    variant: &str,
    input: &CallInput<'_>,
    body: Bytes,
    blocking: bool,
) -> Result<Answer, DispatchError> {
    let failed = |reason: String| DispatchError::PluginFailed {
        variant: variant.to_string(),
        reason,
    };
    let result = if blocking {
        // Owned copies: the call moves to the blocking pool.
        let instance = instance.clone();
        let owned = OwnedCall::from_input(input, variant);
        actix_web::web::block(move || {
            let params: Vec<(&str, &str)> = owned
                .route_params
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            instance.call_with_params(&owned.as_request(&body), &params)
        })
        .await
        .map_err(|e| failed(format!("blocking pool: {e}")))?
    } else {
        let headers: Vec<(&[u8], &[u8])> = input
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
            .collect();
        instance.call_with_params(
            &PluginRequest {
                method: input.method.as_str(),
                path: input.path,
                query: input.query,
                headers,
                body: &body,
                user_key: input.user_key,
                variant,
                decided_by: input.decided_by,
                rule_id: input.rule_id,
            },
            input.route_params,
        )
    };
    let response = result.map_err(|e| failed(e.to_string()))?;
    Ok(Answer {
        status: StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        headers: response.headers,
        body: AnswerBody::Full(Bytes::from(response.body)),
    })
}

/// Request bodies up to this size are read whole before going upstream: they
/// get a content-length and can be replayed for a retry. Larger ones stream.
const BUFFER_SMALL_BODY: usize = 64 * 1024;

async fn call_remote(
    remote: &Arc<RemoteVariant>,
    input: &CallInput<'_>,
    body: RequestBody,
    mode: AnswerMode,
    has_fallback: bool,
) -> Result<Answer, DispatchError> {
    let variant = remote.name();
    let deadline = remote.deadline();
    let outgoing = match body {
        RequestBody::Full(b) if b.is_empty() => OutgoingBody::Empty,
        RequestBody::Full(b) => OutgoingBody::Full(b),
        RequestBody::Stream(p) => outgoing_body(p, input.max_body)
            .await
            .map_err(|e| match e {
                PayloadError::Overflow => DispatchError::RequestTooLarge {
                    variant: variant.to_string(),
                    limit: input.max_body,
                },
                e => DispatchError::RequestBody {
                    variant: variant.to_string(),
                    reason: e.to_string(),
                },
            })?,
    };
    let identity = matches!(mode, AnswerMode::Buffered(_));
    let result = remote
        .send(
            Target {
                method: input.method,
                path: input.path,
                query: input.query,
            },
            input.forward,
            outgoing,
            deadline,
            identity,
        )
        .await;
    remote.show_circuit_state();
    let remote_err = |error: RemoteError| DispatchError::Remote {
        variant: variant.to_string(),
        error,
    };
    let mut resp = result.map_err(remote_err)?;
    let status = resp.status();
    if status.is_server_error() && has_fallback {
        return Err(remote_err(RemoteError::Status(status.as_u16())));
    }
    match mode {
        AnswerMode::Buffered(limit) => {
            // The body shares the request's time budget. awc's timer for the
            // head is set again to what is left of it: no second timer per
            // request.
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let mut resp = resp.timeout(left);
            match resp.body().limit(limit).await {
                Ok(body) => Ok(Answer {
                    status,
                    headers: Vec::new(),
                    body: AnswerBody::Full(body),
                }),
                Err(PayloadError::Overflow) => Err(DispatchError::AnswerBody {
                    variant: variant.to_string(),
                    reason: format!("answer larger than {limit} bytes"),
                }),
                Err(PayloadError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                    remote.on_body_failure();
                    Err(remote_err(RemoteError::Timeout(remote.config().timeout_ms)))
                }
                Err(e) => {
                    remote.on_body_failure();
                    Err(DispatchError::AnswerBody {
                        variant: variant.to_string(),
                        reason: e.to_string(),
                    })
                }
            }
        }
        AnswerMode::Streaming => {
            let headers = crate::backends::remote::forwardable_response_headers(resp.headers());
            let mut builder = HttpResponse::build(status);
            for (n, v) in &headers {
                builder.append_header((n.clone(), v.clone()));
            }
            // Keep the upstream's content-length, so a client can tell a body
            // that broke off from a complete one.
            let has_body =
                *input.method != Method::HEAD && !matches!(status.as_u16(), 100..=199 | 204 | 304);
            let length = resp
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if let (true, Some(len)) = (has_body, length) {
                builder.no_chunking(len);
            }
            let idle = Duration::from_millis(remote.config().timeout_ms);
            let stream = guarded_body(resp.take_payload(), remote.clone(), idle);
            Ok(Answer {
                status,
                headers,
                body: AnswerBody::Streaming(builder.streaming(stream)),
            })
        }
    }
}

/// The client's body for the upstream: small bodies whole, larger ones
/// streamed as they arrive (the part already read goes first), cut off with
/// an error past `limit` bytes.
async fn outgoing_body(
    mut payload: actix_web::dev::Payload,
    limit: usize,
) -> Result<OutgoingBody, PayloadError> {
    let mut head = BytesMut::new();
    loop {
        match payload.next().await {
            None if head.is_empty() => return Ok(OutgoingBody::Empty),
            None => return Ok(OutgoingBody::Full(head.freeze())),
            Some(Err(e)) => return Err(e),
            Some(Ok(chunk)) if head.len() + chunk.len() <= BUFFER_SMALL_BODY => {
                head.extend_from_slice(&chunk)
            }
            Some(Ok(chunk)) => {
                let mut seen = head.len() + chunk.len();
                if seen > limit {
                    return Err(PayloadError::Overflow);
                }
                let read = futures_util::stream::iter([Ok(head.freeze()), Ok(chunk)]);
                let rest = payload.map(move |item| {
                    let chunk = item?;
                    seen += chunk.len();
                    if seen > limit {
                        Err(PayloadError::Overflow)
                    } else {
                        Ok(chunk)
                    }
                });
                return Ok(OutgoingBody::Stream(read.chain(rest).boxed_local()));
            }
        }
    }
}

/// An upstream body passed through chunk by chunk. It ends with an error when
/// the upstream breaks off or sends nothing for `idle` (so the client sees a
/// truncated answer, never a complete-looking one), and that counts as an
/// upstream failure for the breaker.
fn guarded_body(
    payload: actix_web::dev::Payload,
    remote: Arc<RemoteVariant>,
    idle: Duration,
) -> impl futures_util::Stream<Item = Result<Bytes, PayloadError>> + 'static {
    futures_util::stream::unfold(Some((payload, remote)), move |state| async move {
        let (mut payload, remote) = state?;
        let failure = match tokio::time::timeout(idle, payload.next()).await {
            Ok(Some(Ok(chunk))) => return Some((Ok(chunk), Some((payload, remote)))),
            Ok(None) => return None,
            Ok(Some(Err(e))) => e,
            Err(_) => PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("upstream sent nothing for {} ms", idle.as_millis()),
            )),
        };
        tracing::warn!(variant = %remote.name(), error = %failure, "upstream body broke off mid-stream");
        remote.on_body_failure();
        Some((Err(failure), None))
    })
}

/// Owned request parts for a plugin call on the blocking pool.
struct OwnedCall {
    method: String,
    path: String,
    query: String,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    user_key: String,
    variant: String,
    decided_by: String,
    rule_id: String,
    route_params: Vec<(String, String)>,
}

impl OwnedCall {
    fn from_input(input: &CallInput<'_>, variant: &str) -> OwnedCall {
        OwnedCall {
            method: input.method.as_str().to_string(),
            path: input.path.to_string(),
            query: input.query.to_string(),
            headers: input
                .headers
                .iter()
                .map(|(n, v)| (n.as_str().as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
            user_key: input.user_key.to_string(),
            variant: variant.to_string(),
            decided_by: input.decided_by.to_string(),
            rule_id: input.rule_id.to_string(),
            route_params: input
                .route_params
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn as_request<'a>(&'a self, body: &'a [u8]) -> PluginRequest<'a> {
        PluginRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: self
                .headers
                .iter()
                .map(|(n, v)| (n.as_slice(), v.as_slice()))
                .collect(),
            body,
            user_key: &self.user_key,
            variant: &self.variant,
            decided_by: &self.decided_by,
            rule_id: &self.rule_id,
        }
    }
}
