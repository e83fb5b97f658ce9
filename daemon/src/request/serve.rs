//! The one serve path, shared by routed and direct requests: read the body,
//! build the backend's view of the request, dispatch, shape, and record
//! what happened for the access log and metrics.

use std::sync::Arc;

use actix_web::web;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use crate::backends::{AnswerMode, Call, RequestBody};
use crate::control::config::ResponseShape;
use crate::request::decide::Decided;
use crate::request::shaping::{envelope, json_error, transparent};
use crate::request::{body, dispatch};
use crate::snapshot::{Snapshot, Variant};
use crate::telemetry::access_log::RouteOutcome;

/// What a handler settled before any variant is called.
pub struct Chosen<'a> {
    pub variant: &'a Variant,
    /// The path as the variant sees it.
    pub path: &'a str,
    /// The route's label for metrics and the access log.
    pub route: &'a Arc<str>,
    pub shape: ResponseShape,
    pub decision: Option<Arc<Decided>>,
    pub user_key: String,
    pub route_params: &'a [(&'a str, &'a str)],
}

pub async fn serve(
    req: &HttpRequest,
    payload: web::Payload,
    snapshot: &Snapshot,
    chosen: Chosen<'_>,
) -> HttpResponse {
    let config = &snapshot.config;
    let decision = chosen.decision.as_ref().map(|d| &d.decision);
    let call = Call {
        req,
        path: chosen.path,
        user_key: &chosen.user_key,
        decided_by: decision.map_or("", |d| d.decided_by.as_str()),
        rule_id: decision.map_or("", |d| d.rule_id.as_str()),
        route_params: chosen.route_params,
        max_body: config.max_body_bytes,
        trust_forwarded: config.user.trust_forwarded_for,
    };
    let variant = chosen.variant;
    if let Some(upgrade) = crate::http::websocket::take_upgrade(req) {
        // Decided like any request; the connection is then the backend's.
        let mut response = variant
            .backend
            .open_websocket(&variant.name, &call, upgrade)
            .await;
        record(&mut response, chosen.route, variant, chosen.decision);
        return response;
    }
    let body = if dispatch::needs_whole_body(variant) {
        match body::read_whole(payload, config.max_body_bytes, config.body_timeout).await {
            Ok(b) => RequestBody::Full(b),
            Err(resp) => return resp,
        }
    } else {
        if let Some(refused) = body::declared_too_large(req, config.max_body_bytes) {
            return refused;
        }
        RequestBody::Stream(payload.into_inner())
    };
    let mode = match chosen.shape {
        ResponseShape::Envelope => AnswerMode::Buffered(config.max_body_bytes),
        ResponseShape::Transparent => AnswerMode::Streaming,
    };
    let (mut response, answered_by) = match dispatch::dispatch(snapshot, variant, &call, body, mode)
        .await
    {
        Ok(served) => {
            let answered_by = served.variant;
            let decided = chosen.decision.as_deref();
            let resp = match chosen.shape {
                ResponseShape::Envelope => {
                    envelope(served, decided, &chosen.user_key, config.decision_headers)
                }
                ResponseShape::Transparent => transparent(served, decided, config.decision_headers),
            };
            (resp, answered_by)
        }
        Err(e) => {
            tracing::warn!(route = %chosen.route, variant = %e.variant(), error = %e, "variant gave no answer");
            let resp = json_error(
                e.status(),
                &e.to_string(),
                json!({ "variant": e.variant() }),
            );
            (resp, variant)
        }
    };
    record(&mut response, chosen.route, answered_by, chosen.decision);
    response
}

/// What the access log and the request metrics report of this request.
fn record(
    response: &mut HttpResponse,
    route: &Arc<str>,
    answered_by: &Variant,
    decided: Option<Arc<Decided>>,
) {
    response.extensions_mut().insert(RouteOutcome {
        route: route.clone(),
        variant: answered_by.name.clone(),
        decided,
    });
}
