//! `/variants/<name>/…`: any registered variant, addressed directly with any
//! method and no decision. This is what `/endpoints` advertises.

use std::sync::{Arc, LazyLock};

use actix_web::http::StatusCode;
use actix_web::web;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use crate::control::config::ResponseShape;
use crate::request::path as request_path;
use crate::request::serve::{serve, Chosen};
use crate::request::shaping::json_error;
use crate::snapshot::Snapshot;

/// The metrics label of every direct request.
static DIRECT_ROUTE: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("/variants/{name}"));

/// Serve a request for the variant `name` (the path's second segment, its
/// escapes decoded).
pub(crate) async fn direct(
    req: &HttpRequest,
    payload: web::Payload,
    snapshot: &Snapshot,
    name: &str,
) -> HttpResponse {
    let Some(variant) = snapshot.variants.get(name) else {
        let known: Vec<&String> = snapshot.variants.keys().collect();
        return json_error(
            StatusCode::NOT_FOUND,
            "unknown variant",
            json!({ "variant": name, "known": known }),
        );
    };
    // The tail as the client sent it, still encoded: a decoded tail turned
    // `%2e%2e` into a climb and `%20` into a space no upstream request line
    // can carry.
    let tail = match request_path::normalize(request_path::after_segments(req.path(), 2)) {
        Ok(tail) => tail,
        Err(e) => return request_path::refusal(e, req.path()),
    };
    let user_key = crate::request::user::user_key(req, &snapshot.config.user)
        .ok()
        .flatten()
        .unwrap_or_default();
    let chosen = Chosen {
        variant,
        path: &tail,
        route: &DIRECT_ROUTE,
        shape: ResponseShape::Transparent,
        decision: None,
        user_key,
        // Addressed directly: no route pattern matched, so no `{params}`.
        route_params: &[],
    };
    serve(req, payload, snapshot, chosen).await
}
