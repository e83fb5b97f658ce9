//! The dashboard: `GET /ui` and its assets, embedded in the binary (nothing
//! is fetched from elsewhere at run time), and the JSON it polls.
//!
//! - `GET /ui/api/overview` (anyone who can reach `/ui`): traffic per route
//!   and variant, latency and error rate per variant (from the sampler), the
//!   results of every decision, the current routes and the engine's mode.
//! - `GET /ui/api/admin` (the admin rule, `admin::refusal`): plugin versions,
//!   files, refusals, retained libraries and the swap/refusal history. The
//!   page shows those parts only when this answers.

use actix_web::http::header::{self, ContentType, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::AppState;
use crate::control::config::{RouteConfig, RouteDecision};
use variantd_decision::DecisionSpec;

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/ui/app.js"),
    },
    Asset {
        path: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/ui/app.css"),
    },
    Asset {
        path: "vendor/uPlot.iife.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/ui/vendor/uPlot.iife.min.js"),
    },
    Asset {
        path: "vendor/uPlot.min.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/ui/vendor/uPlot.min.css"),
    },
    Asset {
        path: "vendor/uPlot.LICENSE",
        content_type: "text/plain; charset=utf-8",
        body: include_bytes!("../../assets/ui/vendor/uPlot.LICENSE"),
    },
];

const INDEX: &[u8] = include_bytes!("../../assets/ui/index.html");

/// Scripts and styles from this origin only, no inline script, no framing:
/// a decision name that slipped past the page's escaping still could not run.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn static_response(content_type: &'static str, body: &'static [u8]) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

pub async fn index() -> HttpResponse {
    static_response("text/html; charset=utf-8", INDEX)
}

pub async fn asset(path: &str) -> HttpResponse {
    match ASSETS.iter().find(|a| a.path == path) {
        Some(a) => static_response(a.content_type, a.body),
        None => HttpResponse::NotFound().json(json!({
            "error": "no such dashboard asset",
            "path": path,
        })),
    }
}

/// Everything the page shows to anyone who may see `/ui`.
pub async fn overview(state: web::Data<AppState>) -> HttpResponse {
    let snapshot = state.snapshots.load();
    let engine = state.engine.status();
    let rest = json!({
        "routes": snapshot.config.routes.iter().map(route_view).collect::<Vec<_>>(),
        "engine": {
            "mode": engine.mode,
            "source": engine.source,
            "ready": engine.ready,
            "specs_age_seconds": engine.age_seconds,
        },
        "generation": snapshot.generation,
    });
    // The traffic and the results are kept serialised; splice them in.
    let traffic = state.sampler.traffic_json();
    let results = state.results.current().envelope_json.clone();
    let rest = serde_json::to_vec(&rest).unwrap_or_else(|_| b"{}".to_vec());
    let mut body = Vec::with_capacity(traffic.len() + results.len() + rest.len() + 32);
    body.extend_from_slice(b"{\"traffic\":");
    body.extend_from_slice(&traffic);
    body.extend_from_slice(b",\"results\":");
    body.extend_from_slice(&results);
    body.extend_from_slice(b",");
    // `rest` is an object: its members continue this one.
    body.extend_from_slice(rest.get(1..).unwrap_or(b"}"));
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(body)
}

/// The admin-only parts: plugins (versions, files, digests), refusals,
/// retained libraries, the swap and refusal history.
pub async fn admin(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(refused) = super::admin::refusal(&req, &state) {
        return refused;
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(json!({
            "control": state.control.status(),
            "history": state.sampler.history(),
        }))
}

fn route_view(route: &RouteConfig) -> Value {
    let methods: Vec<&str> = route.methods.iter().map(|m| m.as_str()).collect();
    let decision = match &route.decision {
        RouteDecision::Fixed(variant) => json!({ "kind": "variant", "variant": variant }),
        RouteDecision::Decide(DecisionSpec::Gate { name, pass, fail }) => {
            json!({ "kind": "gate", "name": name, "pass": pass, "fail": fail })
        }
        RouteDecision::Decide(DecisionSpec::Experiment {
            name,
            parameter,
            variants,
            default,
        }) => json!({
            "kind": "experiment", "name": name, "parameter": parameter,
            "map": variants, "default": default,
        }),
        RouteDecision::Decide(DecisionSpec::DynamicConfig {
            name,
            parameter,
            variants,
            default,
        }) => json!({
            "kind": "dynamic_config", "name": name, "parameter": parameter,
            "map": variants, "default": default,
        }),
    };
    json!({
        "path": route.path,
        "methods": methods,
        "response": route.shape,
        "decision": decision,
    })
}
