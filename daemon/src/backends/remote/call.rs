//! A remote app as a backend: the request's body (whole, or streamed when
//! large), its forwarding headers, one deadline for head and body, and the
//! answer buffered or streamed through with an idle guard that tells the
//! breaker when an upstream breaks off.

use std::sync::Arc;
use std::time::Duration;

use actix_web::error::PayloadError;
use actix_web::http::header::{
    HeaderName, HeaderValue, CONTENT_LENGTH, HOST, X_FORWARDED_HOST, X_FORWARDED_PROTO,
};
use actix_web::http::Method;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use super::{ForwardContext, OutgoingBody, RemoteError, RemoteVariant, Target};
use crate::backends::{Answer, AnswerBody, AnswerMode, BackendError, Call, RequestBody};
use crate::telemetry::access_log::RequestId;

/// Request bodies up to this size are read whole before going upstream: they
/// get a content-length and can be replayed for a retry. Larger ones stream.
const BUFFER_SMALL_BODY: usize = 64 * 1024;

pub(crate) async fn call(
    remote: &Arc<RemoteVariant>,
    call: &Call<'_>,
    body: RequestBody,
    mode: AnswerMode,
    has_fallback: bool,
) -> Result<Answer, BackendError> {
    let variant = remote.name();
    let deadline = remote.deadline();
    let outgoing = match body {
        RequestBody::Full(b) if b.is_empty() => OutgoingBody::Empty,
        RequestBody::Full(b) => OutgoingBody::Full(b),
        RequestBody::Stream(p) => outgoing_body(p, call.max_body).await.map_err(|e| match e {
            PayloadError::Overflow => BackendError::RequestTooLarge {
                variant: variant.to_string(),
                limit: call.max_body,
            },
            e => BackendError::RequestBody {
                variant: variant.to_string(),
                reason: e.to_string(),
            },
        })?,
    };
    let identity = matches!(mode, AnswerMode::Buffered(_));
    let forward = forward_context(call.req, call.trust_forwarded);
    let result = remote
        .send(target(call), &forward, outgoing, deadline, identity)
        .await;
    remote.show_circuit_state();
    let remote_err = |error: RemoteError| BackendError::Remote {
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
                Err(PayloadError::Overflow) => Err(BackendError::AnswerBody {
                    variant: variant.to_string(),
                    reason: format!("answer larger than {limit} bytes"),
                }),
                Err(PayloadError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                    remote.on_body_failure();
                    Err(remote_err(RemoteError::Timeout(remote.config().timeout_ms)))
                }
                Err(e) => {
                    remote.on_body_failure();
                    Err(BackendError::AnswerBody {
                        variant: variant.to_string(),
                        reason: e.to_string(),
                    })
                }
            }
        }
        AnswerMode::Streaming => {
            let headers = super::forwardable_response_headers(resp.headers());
            let mut builder = HttpResponse::build(status);
            for (n, v) in &headers {
                builder.append_header((n.clone(), v.clone()));
            }
            // Keep the upstream's content-length, so a client can tell a body
            // that broke off from a complete one.
            let has_body = *call.req.method() != Method::HEAD
                && !matches!(status.as_u16(), 100..=199 | 204 | 304);
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

/// What the upstream is asked for: below the variant's base path.
pub(super) fn target<'a>(call: &Call<'a>) -> Target<'a> {
    Target {
        method: call.req.method(),
        path: call.path,
        query: call.req.query_string(),
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

/// What a remote hop adds to the request: the request id and
/// X-Forwarded-For/-Proto/-Host. `trust_forwarded` is the user config's
/// `trust_forwarded_for`: behind a proxy of its own, variantd passes on the
/// scheme and host that proxy reported; otherwise the client's claims are
/// not believed, as it could name any host (an upstream building links or
/// redirects from X-Forwarded-Host would follow it).
pub(super) fn forward_context(req: &HttpRequest, trust_forwarded: bool) -> ForwardContext {
    let request_id = RequestId::of(req, trust_forwarded);
    let headers = req.headers();
    let reported = |name: &HeaderName| {
        trust_forwarded
            .then(|| crate::request::user::first_forwarded(headers, name))
            .flatten()
            .and_then(|v| HeaderValue::from_str(v).ok())
    };
    let scheme = reported(&X_FORWARDED_PROTO).unwrap_or(HeaderValue::from_static(
        if req.app_config().secure() {
            "https"
        } else {
            "http"
        },
    ));
    let host = reported(&X_FORWARDED_HOST)
        .or_else(|| headers.get(HOST).cloned())
        .or_else(|| {
            let authority = req.uri().authority()?;
            HeaderValue::from_str(authority.as_str()).ok()
        })
        .or_else(|| HeaderValue::from_str(req.app_config().host()).ok());
    super::forwardable_request_headers(
        headers,
        req.peer_addr().map(|a| a.ip()),
        trust_forwarded,
        scheme,
        host,
        request_id.0,
    )
}
