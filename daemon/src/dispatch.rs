//! Variant dispatch: hand one request to a variant — a plugin through the ABI
//! or a remote app through awc — and fall back to its configured fallback
//! variant when it cannot answer.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpResponse};
use futures_util::StreamExt;

use crate::plugin_host::{PluginInstance, PluginRequest};
use crate::remote::{ForwardContext, OutgoingBody, RemoteError, RemoteVariant};
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
    /// Headers for a remote hop (filtered, X-Forwarded-* added).
    pub forward: &'a ForwardContext,
}

pub enum RequestBody {
    Full(Bytes),
    /// Only ever given to a remote variant without fallback.
    Stream(actix_web::dev::Payload),
}

/// How much of the answer the caller needs in memory.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AnswerMode {
    /// The whole body, up to this many bytes (envelope routes).
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
pub struct Served {
    pub variant: String,
    pub label: String,
    /// Set when a fallback answered instead of the chosen variant.
    pub fallback_from: Option<String>,
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
}

impl DispatchError {
    pub fn status(&self) -> StatusCode {
        match self {
            DispatchError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            DispatchError::PluginFailed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            DispatchError::Remote { error, .. } => error.status(),
            DispatchError::UnknownVariant { .. } => StatusCode::NOT_FOUND,
            DispatchError::AnswerBody { .. } => StatusCode::BAD_GATEWAY,
        }
    }

    pub fn variant(&self) -> &str {
        match self {
            DispatchError::Unavailable { variant, .. }
            | DispatchError::PluginFailed { variant, .. }
            | DispatchError::Remote { variant, .. }
            | DispatchError::UnknownVariant { variant }
            | DispatchError::AnswerBody { variant, .. } => variant,
        }
    }
}

/// Send the request to `variant_name`, or its fallback if it cannot answer.
/// A fallback is tried once (no chains), and only with a buffered body.
pub async fn dispatch(
    snapshot: &Snapshot,
    variant_name: &str,
    input: &CallInput<'_>,
    body: RequestBody,
    mode: AnswerMode,
) -> Result<Served, DispatchError> {
    let variant = snapshot
        .variants
        .get(variant_name)
        .ok_or_else(|| DispatchError::UnknownVariant { variant: variant_name.to_string() })?;
    let fallback = variant.config.fallback.as_deref().and_then(|f| snapshot.variants.get(f));
    let retry_body = match (&body, fallback) {
        (RequestBody::Full(b), Some(_)) => Some(b.clone()),
        _ => None,
    };
    match call_variant(variant, input, body, mode).await {
        Ok(answer) => Ok(Served { variant: variant_name.to_string(), label: variant.config.label.clone(), fallback_from: None, answer }),
        Err(primary) => {
            let (Some(fb), Some(body)) = (fallback, retry_body) else { return Err(primary) };
            tracing::warn!(variant = %variant_name, fallback = %fb.config.name, error = %primary, "answering with the fallback variant");
            crate::metrics::fallback(variant_name, &fb.config.name);
            let answer = call_variant(fb, input, RequestBody::Full(body), mode).await?;
            Ok(Served {
                variant: fb.config.name.clone(),
                label: fb.config.label.clone(),
                fallback_from: Some(variant_name.to_string()),
                answer,
            })
        }
    }
}

async fn call_variant(variant: &Variant, input: &CallInput<'_>, body: RequestBody, mode: AnswerMode) -> Result<Answer, DispatchError> {
    let name = &variant.config.name;
    match &variant.backend {
        Backend::Plugin { instance: None, plugin, .. } => {
            Err(DispatchError::Unavailable { variant: name.clone(), plugin: plugin.clone() })
        }
        Backend::Plugin { instance: Some(instance), blocking, .. } => {
            let body = match body {
                RequestBody::Full(b) => b,
                RequestBody::Stream(_) => unreachable!("plugins always get a buffered body"),
            };
            call_plugin(instance, name, input, body, *blocking).await
        }
        Backend::Remote(remote) => call_remote(remote, name, input, body, mode).await,
    }
}

async fn call_plugin(
    instance: &std::sync::Arc<PluginInstance>,
    variant: &str,
    input: &CallInput<'_>,
    body: Bytes,
    blocking: bool,
) -> Result<Answer, DispatchError> {
    let failed = |reason: String| DispatchError::PluginFailed { variant: variant.to_string(), reason };
    let result = if blocking {
        // Owned copies: the call moves to the blocking pool.
        let instance = instance.clone();
        let owned = OwnedCall::from_input(input, variant);
        actix_web::web::block(move || instance.call(&owned.as_request(&body)))
            .await
            .map_err(|e| failed(format!("blocking pool: {e}")))?
    } else {
        let headers: Vec<(&[u8], &[u8])> = input.headers.iter().map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes())).collect();
        instance.call(&PluginRequest {
            method: input.method.as_str(),
            path: input.path,
            query: input.query,
            headers,
            body: &body,
            user_key: input.user_key,
            variant,
            decided_by: input.decided_by,
            rule_id: input.rule_id,
        })
    };
    let response = result.map_err(|e| failed(e.to_string()))?;
    Ok(Answer {
        status: StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        headers: response.headers,
        body: AnswerBody::Full(Bytes::from(response.body)),
    })
}

async fn call_remote(
    remote: &RemoteVariant,
    variant: &str,
    input: &CallInput<'_>,
    body: RequestBody,
    mode: AnswerMode,
) -> Result<Answer, DispatchError> {
    let path_and_query = if input.query.is_empty() { input.path.to_string() } else { format!("{}?{}", input.path, input.query) };
    let outgoing = match body {
        RequestBody::Full(b) if b.is_empty() => OutgoingBody::Empty,
        RequestBody::Full(b) => OutgoingBody::Full(b),
        RequestBody::Stream(p) => OutgoingBody::Stream(p),
    };
    let result = remote.send(input.method, &path_and_query, input.forward, outgoing).await;
    crate::metrics::circuit_state(variant, remote.breaker.state().as_gauge());
    let mut resp = result.map_err(|error| DispatchError::Remote { variant: variant.to_string(), error })?;
    let status = resp.status();
    let headers = crate::remote::forwardable_response_headers(resp.headers());
    match mode {
        AnswerMode::Buffered(limit) => {
            let body = resp
                .body()
                .limit(limit)
                .await
                .map_err(|e| DispatchError::AnswerBody { variant: variant.to_string(), reason: e.to_string() })?;
            Ok(Answer { status, headers, body: AnswerBody::Full(body) })
        }
        AnswerMode::Streaming => {
            let mut builder = HttpResponse::build(status);
            for (n, v) in &headers {
                builder.append_header((n.clone(), v.clone()));
            }
            let variant_name = variant.to_string();
            let stream = resp.take_payload().map(move |chunk| {
                chunk.map_err(|e| {
                    tracing::warn!(variant = %variant_name, error = %e, "upstream body broke off mid-stream");
                    e
                })
            });
            Ok(Answer { status, headers, body: AnswerBody::Streaming(builder.streaming(stream)) })
        }
    }
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
}

impl OwnedCall {
    fn from_input(input: &CallInput<'_>, variant: &str) -> OwnedCall {
        OwnedCall {
            method: input.method.as_str().to_string(),
            path: input.path.to_string(),
            query: input.query.to_string(),
            headers: input.headers.iter().map(|(n, v)| (n.as_str().as_bytes().to_vec(), v.as_bytes().to_vec())).collect(),
            user_key: input.user_key.to_string(),
            variant: variant.to_string(),
            decided_by: input.decided_by.to_string(),
            rule_id: input.rule_id.to_string(),
        }
    }

    fn as_request<'a>(&'a self, body: &'a [u8]) -> PluginRequest<'a> {
        PluginRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: self.headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())).collect(),
            body,
            user_key: &self.user_key,
            variant: &self.variant,
            decided_by: &self.decided_by,
            rule_id: &self.rule_id,
        }
    }
}
