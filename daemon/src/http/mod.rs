//! The HTTP layer: one entry for every request, which matches its path
//! against the built-in [`endpoints`] and the configured routes in one
//! table, and the built-in endpoints themselves (health, metrics, admin,
//! results, the dashboard). It does not know which kind of backend answers.

mod admin;
mod dashboard;
pub mod endpoints;
pub(crate) mod lifecycle;
mod ops;
mod results;
pub(crate) mod upgrade;
pub(crate) mod websocket;

use std::sync::Arc;

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use arc_swap::ArcSwap;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use variantd_decision::DecisionEngine;

use crate::control::Control;
use crate::request::decide::Decider;
use crate::request::shaping::json_error;
use crate::snapshot::{Found, Snapshot};
use endpoints::Endpoint;

pub use crate::telemetry::access_log::access_log;
pub use lifecycle::{begin_shutdown, in_flight, ConnectionLimit};

/// Shared by every worker.
pub struct AppState {
    pub snapshots: Arc<ArcSwap<Snapshot>>,
    pub control: Arc<Control>,
    pub engine: Arc<DecisionEngine>,
    pub decider: Decider,
    pub metrics: PrometheusHandle,
    /// From VARIANTD_ADMIN_TOKEN; when unset, admin answers loopback clients only.
    pub admin_token: Option<String>,
    /// The address `server.admin_listen` bound to, once bound: admin then
    /// answers there and nowhere else.
    pub admin_listener: std::sync::OnceLock<std::net::SocketAddr>,
    /// The last experiment results the background refresher computed.
    pub results: Arc<crate::results::ResultsCache>,
    /// The dashboard's traffic samples and plugin history.
    pub sampler: Arc<crate::results::sampler::Sampler>,
}

/// Register the one entry every request takes on an actix `App`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.default_service(web::to(entry));
}

/// Every request: match its path in the snapshot's route table, which
/// holds the built-in endpoints beside the configured routes, and hand it
/// to what matched.
async fn entry(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    // One snapshot for the whole request: it finishes on the versions it started with.
    let snapshot = state.snapshots.load_full();
    let raw = req.path();
    // Built-ins are matched on the path as sent; configured routes on the
    // path with its dot segments resolved, which is the same path for
    // nearly every request (no dot, no escape: nothing to resolve).
    let path = match crate::request::path::normalize(raw) {
        Ok(path) => path,
        Err(e) => return crate::request::path::refusal(e, raw),
    };
    let found = snapshot.routes.lookup(raw);
    if let Some(Found::BuiltIn(built_in, params)) = &found {
        if !built_in.methods.allows(req.method()) {
            return json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this endpoint",
                json!({ "path": raw, "allowed": [built_in.methods.as_str()] }),
            );
        }
        let param = params.iter().next().map(|(_, v)| v).unwrap_or_default();
        return built_in_endpoint(built_in.endpoint, param, &req, payload, &state, &snapshot).await;
    }
    let route = match path {
        Cow::Borrowed(_) => found,
        Cow::Owned(ref resolved) => snapshot.routes.lookup(resolved),
    };
    match route {
        Some(Found::Route(index, route, params)) => {
            crate::request::routed::routed(
                &req,
                payload,
                &state.decider,
                &snapshot,
                &path,
                (index, route, params),
            )
            .await
        }
        _ => crate::request::routed::no_route(&path),
    }
}

/// Answer one of variantd's own endpoints. `param` is the value of the
/// pattern's one parameter, as sent (empty for a pattern without one).
async fn built_in_endpoint(
    endpoint: Endpoint,
    param: &str,
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
    snapshot: &Snapshot,
) -> HttpResponse {
    let state = state.clone();
    let req = req.clone();
    match endpoint {
        Endpoint::Healthz => ops::healthz().await,
        Endpoint::Readyz => ops::readyz(state).await,
        Endpoint::Metrics => ops::metrics(state).await,
        Endpoint::Endpoints => ops::endpoints(req, state).await,
        Endpoint::Events => ops::events(payload, state).await,
        Endpoint::Results => results::all(state).await,
        Endpoint::ResultsOne => results::one(state, &decoded(param)).await,
        Endpoint::DashboardIndex => dashboard::index().await,
        Endpoint::DashboardOverview => dashboard::overview(state).await,
        Endpoint::DashboardAdmin => dashboard::admin(req, state).await,
        Endpoint::DashboardAsset => dashboard::asset(&decoded(param)).await,
        Endpoint::AdminPlugins => admin::plugins(req, state).await,
        Endpoint::AdminReload => admin::reload(req, state).await,
        Endpoint::AdminConfig => admin::config(req, state).await,
        Endpoint::AdminFlush => admin::flush(req, state).await,
        Endpoint::AdminStatus => admin::status(req, state).await,
        Endpoint::AdminExplain => admin::explain(req, state).await,
        Endpoint::AdminUnknown => admin::not_found(req).await,
        Endpoint::Variant => {
            crate::request::direct::direct(&req, payload, snapshot, &decoded(param)).await
        }
    }
}

/// A path parameter with its escapes decoded, as names in config are written.
fn decoded(param: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(param).decode_utf8_lossy()
}
