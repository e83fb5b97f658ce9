//! The HTTP layer, kept thin: each handler turns a request into the inputs of
//! the request path (route → user → decision → dispatch → shaping) and the
//! result back into a response.

mod access_log;
mod admin;
mod direct;
mod ops;
mod routed;

use std::sync::Arc;

use actix_web::web;
use arc_swap::ArcSwap;
use metrics_exporter_prometheus::PrometheusHandle;
use variantd_decision::DecisionEngine;

use crate::control::Control;
use crate::decide::Decider;
use crate::snapshot::Snapshot;

pub use access_log::access_log;

/// Shared by every worker.
pub struct AppState {
    pub snapshots: Arc<ArcSwap<Snapshot>>,
    pub control: Arc<Control>,
    pub engine: Arc<DecisionEngine>,
    pub decider: Decider,
    pub metrics: PrometheusHandle,
    /// From VARIANTD_ADMIN_TOKEN; when unset, admin answers loopback clients only.
    pub admin_token: Option<String>,
}

/// Register every route on an actix `App`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").to(ops::healthz))
        .service(web::resource("/readyz").to(ops::readyz))
        .service(web::resource("/metrics").to(ops::metrics))
        .service(web::resource("/endpoints").route(web::get().to(ops::endpoints)))
        .service(web::resource("/events").route(web::post().to(ops::events)))
        .service(
            web::scope("/admin")
                .service(web::resource("/plugins").route(web::get().to(admin::plugins)))
                .service(web::resource("/reload").route(web::post().to(admin::reload)))
                .service(web::resource("/config").route(web::get().to(admin::config)))
                .service(web::resource("/flush").route(web::post().to(admin::flush)))
                .service(web::resource("/status").route(web::get().to(admin::status)))
                .default_service(web::to(admin::not_found)),
        )
        // A scope first: its static prefix turns every other path away with
        // one comparison, where the two patterns alone are a regex match
        // that every routed request paid. Anything else under /variants goes
        // to the configured routes, as it did without the scope.
        .service(
            web::scope("/variants")
                .service(web::resource(["/{name}", "/{name}/{tail:.*}"]).to(direct::variant))
                .default_service(web::to(routed::routed)),
        )
        .default_service(web::to(routed::routed));
}
