//! Configured routes: match → user → decision → dispatch → shape.

use actix_web::http::header::{HeaderName, HeaderValue, HOST, X_FORWARDED_HOST, X_FORWARDED_PROTO};
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::json;

use super::access_log::{RequestId, RouteOutcome};
use super::{request_path, AppState};
use crate::config::{ResponseShape, RouteDecision};
use crate::dispatch::{dispatch, AnswerMode, CallInput, RequestBody};
use crate::shaping::{envelope, json_error, transparent};
use crate::snapshot::Backend;

pub async fn routed(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    // One snapshot for the whole request: it finishes on the versions it started with.
    let snapshot = state.snapshots.load_full();
    let path = match request_path::normalize(req.path()) {
        Ok(path) => path,
        Err(e) => return request_path::refusal(e, req.path()),
    };
    let path = &*path;
    let Some((route_index, route)) = snapshot.routes.find(path) else {
        return json_error(
            StatusCode::NOT_FOUND,
            "no route for this path",
            json!({ "path": path }),
        );
    };
    if !route.methods.is_empty() && !route.methods.contains(req.method()) {
        let allowed: Vec<&str> = route.methods.iter().map(|m| m.as_str()).collect();
        return json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed on this route",
            json!({ "path": path, "allowed": allowed }),
        );
    }

    let (decision, user_key) = match &route.decision {
        RouteDecision::Fixed(_) => (
            None,
            crate::user::user_key(&req, &snapshot.config.user)
                .ok()
                .flatten()
                .unwrap_or_default(),
        ),
        RouteDecision::Decide(spec) => {
            let user = match crate::user::request_user(&req, &snapshot.config.user) {
                Ok(u) => u,
                Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string(), e.detail()),
            };
            let decided = state
                .decider
                .decide(snapshot.generation, route_index, spec, &user);
            let d = &decided.decision;
            tracing::debug!(
                user_key = %user.user_key, decided_by = %d.decided_by, kind = d.kind.as_str(),
                variant = %d.variant, rule_id = %d.rule_id, reason = %d.reason, "decision"
            );
            (Some(decided), user.user_key)
        }
    };
    let variant_name = match (&route.decision, &decision) {
        (_, Some(decided)) => decided.decision.variant.as_str(),
        (RouteDecision::Fixed(v), None) => v.as_str(),
        (RouteDecision::Decide(_), None) => unreachable!("a decided route always has a decision"),
    };

    let variant_path = match &route.strip_prefix {
        Some(prefix) => match path.strip_prefix(prefix.as_str()) {
            Some(rest) if rest.starts_with('/') => rest,
            Some("") => "/",
            _ => path,
        },
        None => path,
    };

    let Some(variant) = snapshot.variants.get(variant_name) else {
        return json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "decision named a variant that is not configured",
            json!({ "variant": variant_name }),
        );
    };
    let max_body = snapshot.config.max_body_bytes;
    let stream_body =
        matches!(variant.backend, Backend::Remote(_)) && variant.config.fallback.is_none();
    let body = if stream_body {
        let declared = req
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > max_body as u64) {
            return json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large",
                json!({ "limit_bytes": max_body }),
            );
        }
        RequestBody::Stream(payload.into_inner())
    } else {
        match read_body(payload, max_body, snapshot.config.body_timeout).await {
            Ok(b) => RequestBody::Full(b),
            Err(resp) => return resp,
        }
    };
    let mode = match route.shape {
        ResponseShape::Envelope => AnswerMode::Buffered(max_body),
        ResponseShape::Transparent => AnswerMode::Streaming,
    };
    let forward = if snapshot.may_go_remote(variant_name) {
        forward_context(&req, snapshot.config.user.trust_forwarded_for)
    } else {
        Default::default()
    };
    let decided_by = decision
        .as_ref()
        .map(|d| d.decision.decided_by.as_str())
        .unwrap_or("");
    let rule_id = decision
        .as_ref()
        .map(|d| d.decision.rule_id.as_str())
        .unwrap_or("");
    let input = CallInput {
        method: req.method(),
        path: variant_path,
        query: req.query_string(),
        headers: req.headers(),
        user_key: &user_key,
        decided_by,
        rule_id,
        max_body: snapshot.config.max_body_bytes,
        forward: &forward,
    };
    let outcome = dispatch(&snapshot, variant_name, &input, body, mode).await;
    let (mut response, answered_by) = match outcome {
        Ok(served) => {
            let answered_by = served.variant.name.clone();
            let resp = match route.shape {
                ResponseShape::Envelope => envelope(
                    served,
                    decision.as_deref(),
                    &user_key,
                    snapshot.config.decision_headers,
                ),
                ResponseShape::Transparent => transparent(
                    served,
                    decision.as_deref(),
                    snapshot.config.decision_headers,
                ),
            };
            (resp, answered_by)
        }
        Err(e) => {
            tracing::warn!(route = %route.path, variant = %e.variant(), error = %e, "variant gave no answer");
            (
                json_error(
                    e.status(),
                    &e.to_string(),
                    json!({ "variant": e.variant() }),
                ),
                variant.name.clone(),
            )
        }
    };
    let route = snapshot.routes.label(route_index).clone();
    response.extensions_mut().insert(RouteOutcome {
        route,
        variant: answered_by,
        decided: decision,
    });
    response
}

/// Read a whole request body, refusing more than `limit` bytes with 413, and
/// a body that has not arrived within `timeout` with 408 (the connection is
/// closed: a client that stalls holds no connection for longer than that).
pub(super) async fn read_body(
    mut payload: web::Payload,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, HttpResponse> {
    let read = async move {
        let mut buf = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                json_error(
                    StatusCode::BAD_REQUEST,
                    "could not read the request body",
                    json!({ "reason": e.to_string() }),
                )
            })?;
            if buf.len() + chunk.len() > limit {
                return Err(json_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request body too large",
                    json!({ "limit_bytes": limit }),
                ));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    };
    let close = |mut resp: HttpResponse| {
        resp.head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        Err(resp)
    };
    tokio::select! {
        read = tokio::time::timeout(timeout, read) => match read {
            Ok(result) => result,
            Err(_) => close(json_error(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
                json!({ "timeout_secs": timeout.as_secs() }),
            )),
        },
        () = super::lifecycle::shutdown_begun() => close(json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down; the request body had not arrived",
            json!({}),
        )),
    }
}

/// What a remote hop adds to the request: the request id and
/// X-Forwarded-For/-Proto/-Host. `trust_forwarded` is the user config's
/// `trust_forwarded_for`: behind a proxy of its own, variantd passes on the
/// scheme and host that proxy reported; otherwise the client's claims are
/// not believed, as it could name any host (an upstream building links or
/// redirects from X-Forwarded-Host would follow it).
pub(super) fn forward_context(
    req: &HttpRequest,
    trust_forwarded: bool,
) -> crate::remote::ForwardContext {
    let request_id = RequestId::of(req, trust_forwarded);
    let headers = req.headers();
    let reported = |name: &HeaderName| {
        trust_forwarded
            .then(|| crate::user::first_forwarded(headers, name))
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
    crate::remote::forwardable_request_headers(
        headers,
        req.peer_addr().map(|a| a.ip()),
        trust_forwarded,
        scheme,
        host,
        request_id.0,
    )
}
