//! One access-log line per request (request id, route, variant, rule id,
//! status, duration) and the per-variant request metrics, in one middleware.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage};

use super::AppState;

/// The request id: the caller's `x-request-id`, or a new one.
#[derive(Clone)]
pub struct RequestId(pub String);

/// Set by routed handlers on their response: what answered.
#[derive(Clone)]
pub struct RouteOutcome {
    pub route: String,
    pub variant: String,
    pub rule_id: String,
}

pub async fn access_log(req: ServiceRequest, next: Next<impl MessageBody>) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let enabled = req.app_data::<web::Data<AppState>>().map(|s| s.snapshots.load().config.access_log).unwrap_or(false);
    let method = req.method().clone();
    let path = req.path().to_string();

    let mut res = next.call(req).await?;
    let elapsed = started.elapsed();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(HeaderName::from_static("x-request-id"), v);
    }
    let status = res.status().as_u16();
    let outcome = res.response().extensions().get::<RouteOutcome>().cloned();
    if let Some(o) = &outcome {
        crate::metrics::request(&o.variant, &o.route, status, elapsed);
    }
    if enabled {
        let (route, variant, rule_id) = outcome.as_ref().map(|o| (o.route.as_str(), o.variant.as_str(), o.rule_id.as_str())).unwrap_or(("", "", ""));
        tracing::info!(
            target: "access",
            request_id = %request_id,
            method = %method,
            path = %path,
            route,
            variant,
            rule_id,
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
        );
    }
    Ok(res)
}
