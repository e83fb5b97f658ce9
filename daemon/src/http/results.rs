//! `GET /results` and `GET /results/{name}`: the last computation the
//! background refresher made (see `crate::results`), already serialised.
//! Nothing is read or computed here.

use actix_web::http::header::{CacheControl, CacheDirective, ContentType};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::AppState;
use crate::results::ResultsState;
use crate::shaping::json_error;

/// Every decision's results, with where they come from and how fresh they
/// are (`state`, `mode`, `note`, `computed_at_ms`, `decisions`).
pub async fn all(state: web::Data<AppState>) -> HttpResponse {
    let view = state.results.current();
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .body(view.envelope_json.clone())
}

/// One decision's results, exactly as variantd-results serialises them.
pub async fn one(state: web::Data<AppState>, name: web::Path<String>) -> HttpResponse {
    let view = state.results.current();
    if let Some(json) = view.decision_json.get(name.as_str()) {
        return HttpResponse::Ok()
            .content_type(ContentType::json())
            .insert_header(CacheControl(vec![CacheDirective::NoCache]))
            .body(json.clone());
    }
    if view.state == ResultsState::Computing {
        let mut resp = json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "results are being computed; try again in a moment",
            json!({ "state": "computing", "decision": name.as_str() }),
        );
        resp.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from_static("1"),
        );
        return resp;
    }
    json_error(
        StatusCode::NOT_FOUND,
        "no results for this decision",
        json!({ "decision": name.as_str(), "known": view.names }),
    )
}
