//! What answers a request once a variant is chosen: a [`plugin`] loaded
//! through the stable ABI, or a [`remote`] app reached over HTTP(S).
//!
//! [`Backend`] is the one interface the request path sees. Each backend owns
//! what is particular to it: a plugin its blocking-pool copy and its 503
//! while unloaded; a remote its body streaming, deadline, circuit breaker,
//! in-flight gauge, forwarding headers and WebSocket relay. Above it,
//! `request::dispatch` keeps only the policy (fallback); below it nothing
//! knows about routes.

pub mod plugin;
pub mod remote;

use std::sync::Arc;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};

use plugin::PluginInstance;
use remote::{RemoteError, RemoteVariant};

/// The backend behind one variant, as the control path built it for one
/// snapshot.
pub enum Backend {
    /// `None` while its plugin is not loaded (missing, refused or removed):
    /// requests get 503 or the fallback.
    Plugin {
        instance: Option<Arc<PluginInstance>>,
        plugin: String,
        blocking: bool,
    },
    Remote(Arc<RemoteVariant>),
}

/// One borrowed view of the request a backend answers: borrowed from the
/// HTTP request and the snapshot, valid for one call.
pub struct Call<'a> {
    /// The client's request: method, headers, query, peer and connection.
    pub req: &'a HttpRequest,
    /// The path as the variant sees it (below its mount point, or the routed
    /// path), still percent-encoded.
    pub path: &'a str,
    /// The user the decision was made for; on a direct request, whatever
    /// user key the request carries (empty for none).
    pub user_key: &'a str,
    /// The decision's gate, experiment or config name, and its rule (empty
    /// when no decision was made).
    pub decided_by: &'a str,
    pub rule_id: &'a str,
    /// The matched route's `{params}` (empty when the variant is addressed
    /// directly: no route pattern matched).
    pub route_params: &'a [(&'a str, &'a str)],
    /// Largest request body a variant may receive.
    pub max_body: usize,
    /// `[user] trust_forwarded_for`: whether the client's forwarding headers
    /// are believed when a remote hop adds its own.
    pub trust_forwarded: bool,
}

/// The request body as a backend receives it.
pub enum RequestBody {
    Full(Bytes),
    /// Only ever given to a backend whose [`Backend::takes_streamed_body`]
    /// is true and that has no fallback to replay the body to.
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

/// A backend's answer.
pub struct Answer {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: AnswerBody,
}

/// Why a backend gave no answer. The messages are what clients see in the
/// JSON error body.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("variant `{variant}` is not available: plugin `{plugin}` is not loaded")]
    Unavailable { variant: String, plugin: String },
    #[error("variant `{variant}` failed: {reason}")]
    PluginFailed { variant: String, reason: String },
    #[error("variant `{variant}` is unreachable: {error}")]
    Remote { variant: String, error: RemoteError },
    #[error("variant `{variant}`: reading its answer failed: {reason}")]
    AnswerBody { variant: String, reason: String },
    #[error("variant `{variant}`: reading the request body failed: {reason}")]
    RequestBody { variant: String, reason: String },
    #[error("request body larger than {limit} bytes")]
    RequestTooLarge { variant: String, limit: usize },
}

impl BackendError {
    pub fn status(&self) -> StatusCode {
        match self {
            BackendError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            BackendError::PluginFailed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            BackendError::Remote { error, .. } => error.status(),
            BackendError::AnswerBody { .. } => StatusCode::BAD_GATEWAY,
            BackendError::RequestBody { .. } => StatusCode::BAD_REQUEST,
            BackendError::RequestTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    pub fn variant(&self) -> &str {
        match self {
            BackendError::Unavailable { variant, .. }
            | BackendError::PluginFailed { variant, .. }
            | BackendError::Remote { variant, .. }
            | BackendError::AnswerBody { variant, .. }
            | BackendError::RequestBody { variant, .. }
            | BackendError::RequestTooLarge { variant, .. } => variant,
        }
    }
}

impl Backend {
    /// Whether a request body may reach this backend as it arrives rather
    /// than read whole first. Only a remote can pass a stream on; the
    /// caller still reads the body whole when a fallback may need it again.
    pub fn takes_streamed_body(&self) -> bool {
        matches!(self, Backend::Remote(_))
    }

    /// Answer one request for `variant`. With `has_fallback`, a remote's 5xx
    /// counts as no answer (the caller then asks the fallback); without it,
    /// the 5xx is the answer.
    pub async fn call(
        &self,
        variant: &str,
        call: &Call<'_>,
        body: RequestBody,
        mode: AnswerMode,
        has_fallback: bool,
    ) -> Result<Answer, BackendError> {
        match self {
            Backend::Plugin {
                instance: None,
                plugin,
                ..
            } => Err(BackendError::Unavailable {
                variant: variant.to_string(),
                plugin: plugin.clone(),
            }),
            Backend::Plugin {
                instance: Some(instance),
                blocking,
                ..
            } => plugin::call(instance, variant, call, body, *blocking).await,
            // Boxed: the remote call's state (about 750 bytes of awc futures)
            // would otherwise be part of every request's future, and be
            // copied whenever that future moves, plugin calls included.
            Backend::Remote(remote) => {
                Box::pin(remote::call(remote, call, body, mode, has_fallback)).await
            }
        }
    }

    /// Answer a WebSocket upgrade request: a remote relays the connection
    /// both ways; a plugin cannot hold one and refuses it with 501.
    pub async fn open_websocket(
        &self,
        variant: &str,
        call: &Call<'_>,
        upgrade: actix_web::dev::Payload,
    ) -> HttpResponse {
        match self {
            Backend::Remote(remote) => remote::relay::answer(remote, call, upgrade).await,
            Backend::Plugin { .. } => remote::relay::refuse_for_plugin(variant, call.req),
        }
    }

    /// Whether it can be called now (a plugin backend is not while its
    /// plugin is not loaded).
    pub fn is_available(&self) -> bool {
        match self {
            Backend::Plugin { instance, .. } => instance.is_some(),
            Backend::Remote(_) => true,
        }
    }

    /// The plugin name a plugin backend is waiting for (empty for a remote).
    pub fn plugin_name(&self) -> &str {
        match self {
            Backend::Plugin { plugin, .. } => plugin,
            Backend::Remote(_) => "",
        }
    }

    /// What `/readyz` should warn about while this backend still serves.
    pub fn warnings(&self, variant: &str) -> Vec<String> {
        let Backend::Remote(remote) = self else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if remote.insecure() {
            out.push(format!(
                "variant `{variant}`: insecure_skip_verify = true: its TLS certificate is not verified"
            ));
        }
        if remote.breaker.state() == remote::BreakerState::Open {
            out.push(format!(
                "variant `{variant}`: circuit open after repeated upstream failures; answering with its fallback or 502"
            ));
        }
        out
    }
}
