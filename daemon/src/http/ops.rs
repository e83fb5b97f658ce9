//! Operational endpoints: health, readiness, metrics, the endpoint list and
//! conversion events.

use std::collections::{BTreeMap, HashMap};

use actix_web::http::StatusCode;
use actix_web::web;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};
use variantd_decision::{EventValue, UserContext};

use super::AppState;
use crate::control::config::VariantTarget;
use crate::request::shaping::json_error;

/// The process is up and serving HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready when specs are loaded and every variant a route can pick has a
/// loaded plugin (or is remote). Otherwise 503 with the reasons.
/// Warnings (gates the specs do not contain, refused files) do not fail it.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let snapshot = state.snapshots.load();
    let engine = state.engine.status();
    let mut reasons = Vec::new();
    let mut warnings = Vec::new();
    if !engine.ready {
        reasons.push(format!(
            "statsig specs not loaded from {}: {}",
            engine.specs_path,
            engine
                .last_error
                .clone()
                .unwrap_or_else(|| "unknown reason".into())
        ));
    } else if let Some(e) = &engine.last_error {
        warnings.push(format!("statsig: {e}"));
    }
    for v in snapshot.variants.values() {
        if !v.is_available() {
            let used = snapshot
                .routes
                .iter()
                .any(|r| r.decision.variants().contains(&v.config.name.as_str()));
            let plugin = v.backend.plugin_name();
            let msg = format!(
                "variant `{}`: plugin not loaded: no file declares `{plugin}` (loaded plugins: {})",
                v.config.name,
                state.control.loaded_plugins()
            );
            if used && v.config.fallback.is_none() {
                reasons.push(msg);
            } else {
                warnings.push(msg);
            }
        }
    }
    for (r, spec) in crate::request::decide::unknown_to_specs(&snapshot.routes, &state.engine) {
        warnings.push(format!(
            "route `{}`: {} `{}` is not in the specs; it evaluates to its default",
            r.path,
            spec.kind().as_str(),
            spec.name()
        ));
    }
    let pending = state.control.needs_restart();
    if !pending.is_empty() {
        warnings.push(format!(
            "config changed keys that need a restart to take effect: {}",
            pending.join(", ")
        ));
    }
    for (route, value) in crate::request::decide::unmapped_seen() {
        warnings.push(format!(
            "route `{route}`: a decision named `{value}`, which the route does not map; its default answers"
        ));
    }
    for refusal in state.control.refusals() {
        warnings.push(format!(
            "plugin file {} refused: {}",
            refusal.file.display(),
            refusal.reason
        ));
    }
    for v in snapshot.variants.values() {
        warnings.extend(v.backend.warnings(&v.config.name));
    }
    for e in state.control.last_errors() {
        warnings.push(format!("last {} reload refused: {}", e.what, e.reason));
    }
    let status = if reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    HttpResponse::build(status).json(json!({
        "ready": reasons.is_empty(),
        "reasons": reasons,
        "warnings": warnings,
        "statsig": { "mode": engine.mode, "source": engine.source, "specs_age_seconds": engine.age_seconds },
        "generation": snapshot.generation,
    }))
}

/// Prometheus text format.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let engine = state.engine.status();
    let retention = state.control.retention();
    crate::telemetry::metrics::library_counts(retention.open_count(), retention.retained_count());
    crate::telemetry::metrics::specs(
        engine.source,
        engine.age_seconds.unwrap_or(0) as f64,
        &engine,
    );
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::telemetry::metrics::render(&state.metrics))
}

/// `{"<variant>_endpoint": URL, ...}` as in the original example. In-process
/// variants are reachable at their direct mount on this daemon.
pub async fn endpoints(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let snapshot = state.snapshots.load();
    let base = match &snapshot.config.public_url {
        Some(u) => u.clone(),
        None => {
            // Not `connection_info()`: it believes any client's
            // X-Forwarded-Host, and this answer is a list of links.
            let scheme = if req.app_config().secure() {
                "https"
            } else {
                "http"
            };
            let host = req
                .headers()
                .get(actix_web::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| is_valid_host(h))
                .map(str::to_string)
                .unwrap_or_else(|| req.app_config().local_addr().to_string());
            format!("{scheme}://{host}")
        }
    };
    let out: BTreeMap<String, String> = snapshot
        .variants
        .values()
        .map(|v| {
            let url = match &v.config.target {
                VariantTarget::Remote(r) => r.url.clone(),
                VariantTarget::Plugin { .. } => format!("{base}/variants/{}", v.config.name),
            };
            (format!("{}_endpoint", v.config.name), url)
        })
        .collect();
    HttpResponse::Ok().json(out)
}

/// A Host header's syntax (RFC 3986 authority without userinfo): a DNS name
/// or IPv4 address, or a bracketed IPv6 address, and an optional port.
/// Anything else (quotes, slashes, `@`, markup) is not echoed into links.
fn is_valid_host(host: &str) -> bool {
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, after)) => {
                if v6.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                match after {
                    "" => return true,
                    p => match p.strip_prefix(':') {
                        Some(port) => ("x", Some(port)),
                        None => return false,
                    },
                }
            }
            None => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok());
    name_ok && port_ok
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EventBody {
    user_key: Option<Value>,
    event_name: Option<Value>,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    metadata: Option<Value>,
}

/// `POST /events`: record a conversion or any custom event for a user.
pub async fn events(payload: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let (limit, timeout) = {
        let snapshot = state.snapshots.load();
        (snapshot.config.max_body_bytes, snapshot.config.body_timeout)
    };
    let body = match crate::request::body::read_whole(payload, limit, timeout).await {
        Ok(body) => body,
        Err(resp) => return resp,
    };
    let bad = |field: &str, why: &str| {
        json_error(
            StatusCode::BAD_REQUEST,
            &format!("`{field}` {why}"),
            json!({ "field": field }),
        )
    };
    let parsed: EventBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            let field = e
                .to_string()
                .split('`')
                .nth(1)
                .unwrap_or("body")
                .to_string();
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("invalid JSON body: {e}"),
                json!({ "field": field }),
            );
        }
    };
    let user_key = match parsed.user_key {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(_) => return bad("user_key", "must be a non-empty string"),
        None => return bad("user_key", "is required"),
    };
    let event_name = match parsed.event_name {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 128 => s,
        Some(_) => return bad("event_name", "must be a string of 1 to 128 characters"),
        None => return bad("event_name", "is required"),
    };
    let value = match parsed.value {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.is_finite() => Some(EventValue::Number(f)),
            _ => return bad("value", "must be a finite number or a string"),
        },
        Some(Value::String(s)) => Some(EventValue::Text(s)),
        Some(_) => return bad("value", "must be a number or a string"),
    };
    let metadata: HashMap<String, String> = match parsed.metadata {
        None | Some(Value::Null) => HashMap::new(),
        Some(Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect(),
        Some(_) => return bad("metadata", "must be an object"),
    };
    let user = UserContext::new(user_key.clone());
    state.engine.log_event(&user, &event_name, value, metadata);
    HttpResponse::Accepted()
        .json(json!({ "accepted": true, "user_key": user_key, "event_name": event_name }))
}

#[cfg(test)]
mod tests {
    use super::is_valid_host;

    #[test]
    fn only_well_formed_hosts_are_echoed() {
        for ok in [
            "127.0.0.1:8080",
            "localhost",
            "variantd.internal:80",
            "[::1]:8080",
            "[::1]",
            "a-b.example",
        ] {
            assert!(is_valid_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example/\"><script>",
            "user@host",
            "host:port",
            "host:99999",
            "[::1",
            "[zz]:80",
            "a..b",
            "host:",
            "exa mple",
        ] {
            assert!(!is_valid_host(bad), "{bad}");
        }
    }
}
