//! Configured routes: match → user → decision → dispatch → shape.

use actix_web::http::header::{HeaderName, HeaderValue, HOST, X_FORWARDED_HOST, X_FORWARDED_PROTO};
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::json;

use super::path as request_path;
use crate::http::AppState;
use crate::telemetry::access_log::{RequestId, RouteOutcome};
use std::sync::Arc;

use crate::control::config::{ResponseShape, RouteConfig, RouteDecision};
use crate::request::decide::Decided;
use crate::request::dispatch::{dispatch, AnswerMode, CallInput, RequestBody};
use crate::request::shaping::{envelope, json_error, transparent};
use crate::snapshot::{Backend, Snapshot, Variant};

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
    let resolved = match resolve(&req, &state.decider, &snapshot, path, Evaluation::Serve) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let Resolved {
        route_index,
        route,
        decision,
        user_key,
        variant,
        route_params,
        ..
    } = resolved;
    let variant_name = variant.config.name.as_str();

    let variant_path = match &route.strip_prefix {
        Some(prefix) => match path.strip_prefix(prefix.as_str()) {
            Some(rest) if rest.starts_with('/') => rest,
            Some("") => "/",
            _ => path,
        },
        None => path,
    };

    if let Some(upgrade) = crate::http::websocket::take_upgrade(&req) {
        // Decided like any request; the connection is then relayed (or refused).
        let forward = match variant.backend {
            Backend::Remote(_) => forward_context(&req, snapshot.config.user.trust_forwarded_for),
            Backend::Plugin { .. } => Default::default(),
        };
        let mut response =
            crate::http::websocket::answer(&req, upgrade, variant, variant_path, &forward).await;
        response.extensions_mut().insert(RouteOutcome {
            route: snapshot.routes.label(route_index).clone(),
            variant: variant.name.clone(),
            decided: decision,
        });
        return response;
    }
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
        route_params: &route_params,
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

/// Whether a decision is made to serve the request (cached, exposure
/// logged) or only to explain it (`/admin/explain`: no exposure).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Evaluation {
    Serve,
    Explain,
}

/// What a request resolves to before any variant is called.
pub(crate) struct Resolved<'a> {
    pub route_index: usize,
    pub route: &'a RouteConfig,
    pub decision: Option<Arc<Decided>>,
    pub user_key: String,
    pub variant: &'a Variant,
    /// The decision named a variant that is neither mapped nor configured
    /// (a layer default, a holdout's value, a shipped group): this name,
    /// and `variant` is the route's default instead.
    pub unmapped: Option<String>,
    /// The matched route's `{params}`, for the variant.
    pub route_params: crate::snapshot::RouteParams<'a, 'a>,
}

/// Match `path` to a route, build the user and decide: the request path up
/// to the variant, shared by serving and explaining. The error is the
/// answer to send, made once per refused request: boxing it would only add
/// an allocation.
#[allow(clippy::result_large_err)]
pub(crate) fn resolve<'a>(
    req: &HttpRequest,
    decider: &crate::request::decide::Decider,
    snapshot: &'a Snapshot,
    path: &'a str,
    evaluation: Evaluation,
) -> Result<Resolved<'a>, HttpResponse> {
    let Some((route_index, route, route_params)) = snapshot.routes.find_with_params(path) else {
        return Err(json_error(
            StatusCode::NOT_FOUND,
            "no route for this path",
            json!({ "path": path }),
        ));
    };
    if evaluation == Evaluation::Serve
        && !route.methods.is_empty()
        && !route.methods.contains(req.method())
    {
        let allowed: Vec<&str> = route.methods.iter().map(|m| m.as_str()).collect();
        return Err(json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed on this route",
            json!({ "path": path, "allowed": allowed }),
        ));
    }
    let user_config = &snapshot.config.user;
    let (decision, user_key) = match &route.decision {
        RouteDecision::Fixed(_) => (
            None,
            crate::request::user::user_key(req, user_config)
                .ok()
                .flatten()
                .unwrap_or_default(),
        ),
        RouteDecision::Decide(spec) => {
            let bad_request = |e: crate::request::user::UserKeyError| {
                json_error(StatusCode::BAD_REQUEST, &e.to_string(), e.detail())
            };
            let user = crate::request::user::request_user(req, user_config).map_err(bad_request)?;
            // With custom unit ids configured, a request may lack the unit
            // its decision is made on: find out which unit that is without
            // logging an exposure for a unit that is not there.
            let complete =
                !user.user_key.is_empty() && user.custom_ids.len() == user_config.ids.len();
            if evaluation == Evaluation::Serve && !complete {
                let unit = decider.explain(spec, &user).decision.unit_type.clone();
                if !unit.is_empty() && !user.has_unit(&unit) {
                    return Err(bad_request(crate::request::user::missing_key(
                        user_config,
                        Some(&unit),
                    )));
                }
            }
            let decided = match evaluation {
                Evaluation::Serve => decider.decide(snapshot.generation, route_index, spec, &user),
                Evaluation::Explain => decider.explain(spec, &user),
            };
            let d = &decided.decision;
            tracing::debug!(
                user_key = %user.user_key, decided_by = %d.decided_by, kind = d.kind.as_str(),
                variant = %d.variant, rule_id = %d.rule_id, reason = %d.reason, "decision"
            );
            (Some(decided), user.user_key)
        }
    };
    let named = match (&route.decision, &decision) {
        (_, Some(decided)) => decided.decision.variant.as_str(),
        (RouteDecision::Fixed(v), None) => v.as_str(),
        (RouteDecision::Decide(_), None) => unreachable!("a decided route always has a decision"),
    };
    let (variant, unmapped) = match (snapshot.variants.get(named), &route.decision) {
        (Some(v), _) => (v, None),
        // A Statsig console change must never turn a route into 5xx: what
        // the map does not name goes to the route's default.
        (None, RouteDecision::Decide(spec)) => {
            let label = snapshot.routes.label(route_index);
            if evaluation == Evaluation::Serve {
                crate::request::decide::unmapped(label, named);
            }
            match snapshot.variants.get(spec.default_variant()) {
                Some(v) => (v, Some(named.to_string())),
                None => {
                    return Err(json_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the route's default variant is not configured",
                        json!({ "variant": spec.default_variant() }),
                    ))
                }
            }
        }
        (None, RouteDecision::Fixed(_)) => {
            return Err(json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the route's variant is not configured",
                json!({ "variant": named }),
            ))
        }
    };
    Ok(Resolved {
        route_index,
        route,
        decision,
        user_key,
        variant,
        unmapped,
        route_params,
    })
}

impl Resolved<'_> {
    /// The explanation `/admin/explain` and `variantd explain` give.
    pub(crate) fn explanation(&self, snapshot: &Snapshot) -> serde_json::Value {
        let decision = self.decision.as_ref().map(|d| &d.decision);
        json!({
            "route": snapshot.routes.label(self.route_index).as_ref(),
            "decision": decision.map(|d| d.decided_by.as_str()),
            "kind": decision.map(|d| d.kind.as_str()),
            "variant": self.variant.config.name,
            "label": self.variant.config.label,
            "rule_id": decision.map(|d| d.rule_id.as_str()),
            "gate_value": decision.and_then(|d| d.gate_value),
            "reason": decision.map(|d| d.reason.as_str()),
            "group": decision.and_then(|d| d.group_name.as_deref()),
            "value": decision.and_then(|d| d.value.as_deref()),
            "unit_type": decision.map(|d| d.unit_type.as_str()),
            "user_key": self.user_key,
            "unmapped_value": self.unmapped,
            "variant_called": false,
            "exposure_logged": false,
        })
    }
}

/// Read a whole request body, refusing more than `limit` bytes with 413, and
/// a body that has not arrived within `timeout` with 408 (the connection is
/// closed: a client that stalls holds no connection for longer than that).
pub(crate) async fn read_body(
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
    fn close(mut resp: HttpResponse) -> HttpResponse {
        resp.head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        resp
    }
    tokio::select! {
        read = tokio::time::timeout(timeout, read) => match read {
            Ok(result) => result,
            Err(_) => Err(close(json_error(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
                json!({ "timeout_secs": timeout.as_secs() }),
            ))),
        },
        () = crate::http::lifecycle::shutdown_begun() => Err(close(json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down; the request body had not arrived",
            json!({}),
        ))),
    }
}

/// What a remote hop adds to the request: the request id and
/// X-Forwarded-For/-Proto/-Host. `trust_forwarded` is the user config's
/// `trust_forwarded_for`: behind a proxy of its own, variantd passes on the
/// scheme and host that proxy reported; otherwise the client's claims are
/// not believed, as it could name any host (an upstream building links or
/// redirects from X-Forwarded-Host would follow it).
pub(crate) fn forward_context(
    req: &HttpRequest,
    trust_forwarded: bool,
) -> crate::backends::remote::ForwardContext {
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
    crate::backends::remote::forwardable_request_headers(
        headers,
        req.peer_addr().map(|a| a.ip()),
        trust_forwarded,
        scheme,
        host,
        request_id.0,
    )
}
