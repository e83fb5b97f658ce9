//! `/variants/<name>/…`: any registered variant, addressed directly with any
//! method and no decision. This is what `/endpoints` advertises.

use actix_web::http::StatusCode;
use actix_web::web;
use std::sync::{Arc, LazyLock};

use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::path as request_path;
use super::routed::{forward_context, read_body};
use crate::http::AppState;
use crate::request::dispatch::{dispatch, AnswerMode, CallInput, RequestBody};
use crate::request::shaping::{json_error, transparent};
use crate::snapshot::Backend;
use crate::telemetry::access_log::RouteOutcome;

/// The metrics label of every direct request.
static DIRECT_ROUTE: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("/variants/{name}"));

pub async fn variant(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let snapshot = state.snapshots.load_full();
    let name = req.match_info().get("name").unwrap_or_default().to_string();
    if !snapshot.variants.contains_key(&name) {
        let known: Vec<&String> = snapshot.variants.keys().collect();
        return json_error(
            StatusCode::NOT_FOUND,
            "unknown variant",
            json!({ "variant": name, "known": known }),
        );
    }
    // The tail as the client sent it, still encoded: actix's `tail` match
    // is decoded, which turned `%2e%2e` into a climb and `%20` into a space
    // no upstream request line can carry.
    let tail = match request_path::normalize(request_path::after_segments(req.path(), 2)) {
        Ok(tail) => tail,
        Err(e) => return request_path::refusal(e, req.path()),
    };
    if let Some(upgrade) = crate::http::websocket::take_upgrade(&req) {
        let variant = &snapshot.variants[&name];
        let forward = match variant.backend {
            Backend::Remote(_) => forward_context(&req, snapshot.config.user.trust_forwarded_for),
            Backend::Plugin { .. } => Default::default(),
        };
        let mut response =
            crate::http::websocket::answer(&req, upgrade, variant, &tail, &forward).await;
        response.extensions_mut().insert(RouteOutcome {
            route: DIRECT_ROUTE.clone(),
            variant: variant.name.clone(),
            decided: None,
        });
        return response;
    }
    let body = match read_body(
        payload,
        snapshot.config.max_body_bytes,
        snapshot.config.body_timeout,
    )
    .await
    {
        Ok(b) => RequestBody::Full(b),
        Err(resp) => return resp,
    };
    let forward = if snapshot.may_go_remote(&name) {
        forward_context(&req, snapshot.config.user.trust_forwarded_for)
    } else {
        Default::default()
    };
    let user_key = crate::request::user::user_key(&req, &snapshot.config.user)
        .ok()
        .flatten()
        .unwrap_or_default();
    let input = CallInput {
        method: req.method(),
        path: &tail,
        query: req.query_string(),
        headers: req.headers(),
        user_key: &user_key,
        decided_by: "",
        rule_id: "",
        // Addressed directly: no route pattern matched, so no `{params}`.
        route_params: &[],
        max_body: snapshot.config.max_body_bytes,
        forward: &forward,
    };
    let mut response = match dispatch(&snapshot, &name, &input, body, AnswerMode::Streaming).await {
        Ok(served) => transparent(served, None, snapshot.config.decision_headers),
        Err(e) => json_error(
            e.status(),
            &e.to_string(),
            json!({ "variant": e.variant() }),
        ),
    };
    let variant = snapshot
        .variants
        .get(&name)
        .map(|v| v.name.clone())
        .unwrap_or_else(|| name.as_str().into());
    response.extensions_mut().insert(RouteOutcome {
        route: DIRECT_ROUTE.clone(),
        variant,
        decided: None,
    });
    response
}
