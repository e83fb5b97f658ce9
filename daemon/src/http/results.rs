//! `GET /results` and `GET /results/{name}`: the last computation the
//! background refresher made (see `crate::results`), already serialised.
//! Nothing is read or computed here.

use actix_web::http::header::{CacheControl, CacheDirective, ContentType};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::AppState;
use crate::request::shaping::json_error;
use crate::results::ResultsState;

/// Every decision's results: a JSON array of what `/results/{name}`
/// answers. Where they come from and how fresh they are go in headers
/// (`x-variantd-results-state`: computing, ready or error; `-mode`;
/// `-computed-at`, ms since the epoch); the dashboard's feed
/// (`/ui/api/overview`) has them with the note and error in words.
pub async fn all(state: web::Data<AppState>) -> HttpResponse {
    let view = state.results.current();
    let state_word = match view.state {
        ResultsState::Computing => "computing",
        ResultsState::Ready => "ready",
        ResultsState::Error => "error",
    };
    let mut resp = HttpResponse::Ok();
    resp.content_type(ContentType::json())
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .insert_header(("x-variantd-results-state", state_word))
        .insert_header(("x-variantd-results-mode", view.mode));
    if let Some(at) = view.computed_at_ms {
        resp.insert_header(("x-variantd-results-computed-at", at.to_string()));
    }
    resp.body(view.decisions_json.clone())
}

/// One decision's results, exactly as variantd-results serialises them.
pub async fn one(state: web::Data<AppState>, name: &str) -> HttpResponse {
    let view = state.results.current();
    if let Some(json) = view.decision_json.get(name) {
        return HttpResponse::Ok()
            .content_type(ContentType::json())
            .insert_header(CacheControl(vec![CacheDirective::NoCache]))
            .body(json.clone());
    }
    if view.state == ResultsState::Computing {
        let mut resp = json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "results are being computed; try again in a moment",
            json!({ "state": "computing", "decision": name }),
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
        json!({ "decision": name, "known": view.names }),
    )
}
