//! The HTTP layer, kept thin: each handler turns a request into the inputs of
//! the request path (route → user → decision → dispatch → shaping) and the
//! result back into a response.

mod admin;
mod dashboard;
pub(crate) mod lifecycle;
mod ops;
mod results;
pub(crate) mod upgrade;
pub(crate) mod websocket;

use std::sync::Arc;

use actix_web::{guard, web};
use arc_swap::ArcSwap;
use metrics_exporter_prometheus::PrometheusHandle;
use variantd_decision::DecisionEngine;

use crate::control::Control;
use crate::request::decide::Decider;
use crate::snapshot::Snapshot;

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

/// Register every route on an actix `App`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("")
            .guard(guard::fn_guard(|ctx| may_be_fixed(ctx.head().uri.path())))
            .service(web::resource("/healthz").to(ops::healthz))
            .service(web::resource("/readyz").to(ops::readyz))
            .service(web::resource("/metrics").to(ops::metrics))
            .service(web::resource("/endpoints").route(web::get().to(ops::endpoints)))
            .service(web::resource("/events").route(web::post().to(ops::events)))
            .service(web::resource("/results").route(web::get().to(results::all)))
            .service(web::resource("/results/{name}").route(web::get().to(results::one)))
            .service(
                web::scope("/ui")
                    .service(web::resource(["", "/"]).route(web::get().to(dashboard::index)))
                    .service(
                        web::resource("/api/overview").route(web::get().to(dashboard::overview)),
                    )
                    .service(web::resource("/api/admin").route(web::get().to(dashboard::admin)))
                    .service(web::resource("/{asset:.+}").route(web::get().to(dashboard::asset))),
            )
            .service(
                web::scope("/admin")
                    .service(web::resource("/plugins").route(web::get().to(admin::plugins)))
                    .service(web::resource("/reload").route(web::post().to(admin::reload)))
                    .service(web::resource("/config").route(web::get().to(admin::config)))
                    .service(web::resource("/flush").route(web::post().to(admin::flush)))
                    .service(web::resource("/status").route(web::get().to(admin::status)))
                    .service(web::resource("/explain").route(web::get().to(admin::explain)))
                    .default_service(web::to(admin::not_found)),
            )
            // A scope: its static prefix turns every other path away with
            // one comparison, where the two patterns alone are a regex match.
            // Anything else under /variants goes to the configured routes.
            .service(
                web::scope("/variants")
                    .service(
                        web::resource(["/{name}", "/{name}/{tail:.*}"])
                            .to(crate::request::direct::variant),
                    )
                    .default_service(web::to(crate::request::routed::routed)),
            )
            .default_service(web::to(crate::request::routed::routed)),
    )
    .default_service(web::to(crate::request::routed::routed));
}

/// The first path segments of the fixed endpoints above.
const FIXED_FIRST_SEGMENTS: [&str; 9] = [
    "healthz",
    "readyz",
    "metrics",
    "endpoints",
    "events",
    "admin",
    "variants",
    "results",
    "ui",
];

/// Whether `path` may name a fixed endpoint, so that the configured routes
/// skip the fixed ones. actix-router builds and drops a 16-slot capture
/// array for every resource it tries; with the fixed endpoints at the top,
/// each routed request tried all seven (about 700 instructions, 3% of
/// plugin mode's). Behind this guard it tries one.
///
/// A yes too many costs only those tries, since the scope's default service
/// is the configured routes again: so only the first segment is compared,
/// and a `%` anywhere says yes, because actix matches resources against the
/// path with its escapes decoded. A no too many would hide an endpoint.
fn may_be_fixed(path: &str) -> bool {
    // Bytes, not `str` patterns: their searcher set-up outweighs a short path.
    let path = path.as_bytes();
    if path.contains(&b'%') {
        return true;
    }
    let rest = &path[path.iter().take_while(|&&b| b == b'/').count()..];
    let first = rest.split(|&b| b == b'/').next().unwrap_or_default();
    FIXED_FIRST_SEGMENTS.iter().any(|s| s.as_bytes() == first)
}

#[cfg(test)]
mod tests {
    use super::may_be_fixed;

    #[test]
    fn fixed_endpoints_pass_the_guard_and_routed_paths_do_not() {
        for path in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/endpoints",
            "/events",
            "/admin",
            "/admin/",
            "/admin/plugins",
            "/variants/app_a",
            "/variants/app_a/x/y",
            "/results",
            "/results/variant_b",
            "/ui",
            "/ui/api/overview",
            "//healthz",
            "/%68ealthz",
        ] {
            assert!(may_be_fixed(path), "{path} must reach the fixed endpoints");
        }
        for path in [
            "/",
            "",
            "/process/hello",
            "/healthzz",
            "/api/admin",
            "/processes",
        ] {
            assert!(
                !may_be_fixed(path),
                "{path} should go straight to the configured routes"
            );
        }
    }
}
