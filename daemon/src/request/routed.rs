//! Configured routes: the matched route → user → decision → the variant,
//! then the shared serve path.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::web;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use crate::control::config::{RouteConfig, RouteDecision};
use crate::request::decide::{Decided, Decider};
use crate::request::serve::{serve, Chosen};
use crate::request::shaping::json_error;
use crate::snapshot::{RouteParams, Snapshot, Variant};

/// Serve a request for configured route `index`, which `path` matched.
pub(crate) async fn routed<'a>(
    req: &HttpRequest,
    payload: web::Payload,
    decider: &Decider,
    snapshot: &'a Snapshot,
    path: &'a str,
    (index, route, params): (usize, &'a RouteConfig, RouteParams<'a, 'a>),
) -> HttpResponse {
    let resolved = match decide(
        req,
        decider,
        snapshot,
        path,
        (index, route, params),
        Evaluation::Serve,
    ) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let variant_path = match &route.strip_prefix {
        Some(prefix) => match path.strip_prefix(prefix.as_str()) {
            Some(rest) if rest.starts_with('/') => rest,
            Some("") => "/",
            _ => path,
        },
        None => path,
    };
    let chosen = Chosen {
        variant: resolved.variant,
        path: variant_path,
        route: snapshot.routes.label(index),
        shape: route.shape,
        decision: resolved.decision,
        user_key: resolved.user_key,
        route_params: &resolved.route_params,
    };
    serve(req, payload, snapshot, chosen).await
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
    pub decision: Option<Arc<Decided>>,
    pub user_key: String,
    pub variant: &'a Variant,
    /// The decision named a variant that is neither mapped nor configured
    /// (a layer default, a holdout's value, a shipped group): this name,
    /// and `variant` is the route's default instead.
    pub unmapped: Option<String>,
    /// The matched route's `{params}`, for the variant.
    pub route_params: RouteParams<'a, 'a>,
}

/// Match `path` to a route, build the user and decide: the request path up
/// to the variant, shared by serving and explaining. The error is the
/// answer to send, made once per refused request: boxing it would only add
/// an allocation.
#[allow(clippy::result_large_err)]
pub(crate) fn resolve<'a>(
    req: &HttpRequest,
    decider: &Decider,
    snapshot: &'a Snapshot,
    path: &'a str,
    evaluation: Evaluation,
) -> Result<Resolved<'a>, HttpResponse> {
    let Some((index, route, params)) = snapshot.routes.find_with_params(path) else {
        return Err(no_route(path));
    };
    decide(
        req,
        decider,
        snapshot,
        path,
        (index, route, params),
        evaluation,
    )
}

/// The 404 for a path that matches no route.
pub(crate) fn no_route(path: &str) -> HttpResponse {
    json_error(
        StatusCode::NOT_FOUND,
        "no route for this path",
        json!({ "path": path }),
    )
}

/// Build the user and decide for matched route `route_index`.
#[allow(clippy::result_large_err)]
fn decide<'a>(
    req: &HttpRequest,
    decider: &Decider,
    snapshot: &'a Snapshot,
    path: &str,
    (route_index, route, route_params): (usize, &'a RouteConfig, RouteParams<'a, 'a>),
    evaluation: Evaluation,
) -> Result<Resolved<'a>, HttpResponse> {
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
    let (decision, user_key) =
        decide_for_user(req, decider, snapshot, route_index, route, evaluation)?;
    let (variant, unmapped) = variant_for(
        snapshot,
        route_index,
        route,
        decision.as_deref(),
        evaluation,
    )?;
    Ok(Resolved {
        route_index,
        decision,
        user_key,
        variant,
        unmapped,
        route_params,
    })
}

/// Build the request's user and, on a decided route, decide for it.
#[allow(clippy::result_large_err)]
fn decide_for_user(
    req: &HttpRequest,
    decider: &Decider,
    snapshot: &Snapshot,
    route_index: usize,
    route: &RouteConfig,
    evaluation: Evaluation,
) -> Result<(Option<Arc<Decided>>, String), HttpResponse> {
    let user_config = &snapshot.config.user;
    Ok(match &route.decision {
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
    })
}

/// The variant the decision (or the fixed route) names; for a value the
/// route does not map, the route's default and that value.
#[allow(clippy::result_large_err)]
fn variant_for<'a>(
    snapshot: &'a Snapshot,
    route_index: usize,
    route: &RouteConfig,
    decision: Option<&Decided>,
    evaluation: Evaluation,
) -> Result<(&'a Variant, Option<String>), HttpResponse> {
    let named = match (&route.decision, decision) {
        (_, Some(decided)) => decided.decision.variant.as_str(),
        (RouteDecision::Fixed(v), None) => v.as_str(),
        (RouteDecision::Decide(_), None) => unreachable!("a decided route always has a decision"),
    };
    Ok(match (snapshot.variants.get(named), &route.decision) {
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
