//! One access-log line per request (request id, route, variant, rule id,
//! status, duration), the per-variant request metrics and the protocol-upgrade
//! handling (see `upgrade`), in one middleware.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{Error, HttpMessage, HttpRequest};

use crate::backends::remote::X_REQUEST_ID;
use crate::http::AppState;
use crate::request::decide::Decided;

/// The request id: the caller's `x-request-id` when the caller is a trusted
/// proxy (`trust_forwarded_for`) and the id is safe to log and pass on,
/// else a new one (as Envoy treats ids from outside). Kept as the header
/// value it goes out as, so passing it along copies nothing.
#[derive(Clone)]
pub struct RequestId(pub HeaderValue);

impl RequestId {
    /// The request's id, made once: a handler that passes it on (to a remote
    /// variant) makes it and leaves it in the request's extensions for the
    /// log line and the response header; otherwise it is made when the
    /// response goes out, and a request that never needs one until then pays
    /// for no extension slot.
    pub fn of(req: &HttpRequest, trusted: bool) -> RequestId {
        if let Some(id) = RequestId::made(req) {
            return id;
        }
        let id = RequestId::for_request(req.headers(), trusted);
        req.extensions_mut().insert(id.clone());
        id
    }

    /// The id a handler already made for this request, if it made one.
    fn made(req: &HttpRequest) -> Option<RequestId> {
        req.extensions().get::<RequestId>().cloned()
    }

    fn for_request(headers: &HeaderMap, trusted: bool) -> RequestId {
        let given = headers
            .get(&X_REQUEST_ID)
            .filter(|v| trusted && is_safe_request_id(v.as_bytes()));
        if let Some(v) = given {
            return RequestId(v.clone());
        }
        let mut id = [0u8; 32];
        uuid::Uuid::new_v4().simple().encode_lower(&mut id);
        RequestId(
            HeaderValue::from_maybe_shared(Bytes::from_owner(id))
                .expect("hex digits are a valid header value"),
        )
    }

    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

/// `[A-Za-z0-9._:-]{1,128}`: an id that can go into a log line, a header
/// and a file name unquoted, whatever the log format.
pub fn is_safe_request_id(id: &[u8]) -> bool {
    (1..=128).contains(&id.len())
        && id
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Set by routed handlers on their response: what answered. Cheap to make:
/// every field is shared with the snapshot or the decision cache.
pub struct RouteOutcome {
    pub route: Arc<str>,
    pub variant: Arc<str>,
    pub decided: Option<Arc<Decided>>,
}

pub async fn access_log(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let _in_flight = crate::http::lifecycle::InFlight::start();
    let (enabled, trusted) = req
        .app_data::<web::Data<AppState>>()
        .map(|s| {
            let snapshot = s.snapshots.load();
            (
                snapshot.config.access_log,
                snapshot.config.user.trust_forwarded_for,
            )
        })
        .unwrap_or((false, false));
    // Only the log line needs these, and the request moves on below.
    let logged = enabled.then(|| (req.method().clone(), req.path().to_string()));

    let upgrade = req
        .head()
        .upgrade()
        .then(|| crate::http::upgrade::prepare(&mut req));
    let mut res = next.call(req).await?;
    if let Some(upgrade) = upgrade {
        crate::http::upgrade::finish(upgrade, &mut res);
    }
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    let request_id = RequestId::made(res.request())
        .unwrap_or_else(|| RequestId::for_request(res.request().headers(), trusted));
    let outcome = res.response_mut().extensions_mut().remove::<RouteOutcome>();
    if let Some(o) = &outcome {
        crate::telemetry::metrics::request(&o.variant, &o.route, status, elapsed);
    }
    if let Some((method, path)) = logged {
        let (route, variant) = outcome
            .as_ref()
            .map(|o| (&*o.route, &*o.variant))
            .unwrap_or(("", ""));
        let rule_id = outcome
            .as_ref()
            .and_then(|o| o.decided.as_ref())
            .map(|d| d.decision.rule_id.as_str())
            .unwrap_or("");
        // Values, not `%` displays: the text format quotes and escapes
        // strings, so a client's path cannot forge fields or lines.
        tracing::info!(
            target: crate::telemetry::ACCESS_TARGET,
            request_id = request_id.as_str(),
            method = method.as_str(),
            path = path.as_str(),
            route,
            variant,
            rule_id,
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
        );
    }
    res.headers_mut().insert(X_REQUEST_ID, request_id.0);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::is_safe_request_id;

    #[test]
    fn only_plain_request_ids_are_kept() {
        for ok in ["rid-123", "trace-me-42", "a.b_c:d-E", &"x".repeat(128)] {
            assert!(is_safe_request_id(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "has space",
            "quo\"te",
            "new\nline",
            "semi;colon",
            "ümlaut",
            &"x".repeat(129),
        ] {
            assert!(!is_safe_request_id(bad.as_bytes()), "{bad:?}");
        }
    }
}
