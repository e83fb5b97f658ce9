//! The admin API: plugin status, reloads, the effective config. Guarded by a
//! bearer token from VARIANTD_ADMIN_TOKEN; without one, loopback clients only.

use actix_web::http::StatusCode;
use actix_web::web;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::AppState;
use crate::control::ReloadScope;
use crate::request::shaping::json_error;

/// The answer for a caller that may not use the admin API; `None` when it may.
pub(super) fn refusal(req: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
    // With its own listener, admin is not there at all on the others.
    if let Some(admin) = state.admin_listener.get() {
        if req.app_config().local_addr() != *admin {
            return Some(json_error(
                StatusCode::NOT_FOUND,
                "the admin API is served on its own listener (server.admin_listen)",
                json!({ "path": req.path() }),
            ));
        }
    }
    let unauthorized = |why: &str| {
        Some(
            HttpResponse::build(StatusCode::UNAUTHORIZED)
                .insert_header(("www-authenticate", "Bearer realm=\"variantd-admin\""))
                .json(json!({ "error": why })),
        )
    };
    match &state.admin_token {
        Some(expected) => {
            let given = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            // Constant time, so the token cannot be guessed byte by byte from
            // how long a refusal takes.
            if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
                None
            } else {
                unauthorized("missing or wrong bearer token")
            }
        }
        // A proxy on this host (another variantd serving this one as a
        // remote variant, say) connects from loopback for any client it
        // serves; what it forwards carries forwarding headers, and is not
        // a local caller.
        None if is_proxied(req) => unauthorized(
            "a proxied request (it carries X-Forwarded-For, Forwarded or X-Real-IP) is not a local caller; set VARIANTD_ADMIN_TOKEN to use admin through a proxy",
        ),
        None => match req.peer_addr() {
            Some(addr) if addr.ip().is_loopback() => None,
            _ => unauthorized(
                "admin answers only loopback clients unless VARIANTD_ADMIN_TOKEN is set",
            ),
        },
    }
}

fn is_proxied(req: &HttpRequest) -> bool {
    const FORWARDING: [&str; 3] = ["x-forwarded-for", "forwarded", "x-real-ip"];
    FORWARDING.iter().any(|h| req.headers().contains_key(*h))
}

pub async fn plugins(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(resp) = refusal(&req, &state) {
        return resp;
    }
    HttpResponse::Ok().json(state.control.status())
}

pub async fn status(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(resp) = refusal(&req, &state) {
        return resp;
    }
    HttpResponse::Ok().json(json!({
        "control": state.control.status(),
        "statsig": state.engine.status(),
    }))
}

/// Flush queued exposures and events now (offline: into the JSONL file).
pub async fn flush(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(resp) = refusal(&req, &state) {
        return resp;
    }
    state.engine.flush().await;
    let s = state.engine.status();
    HttpResponse::Ok().json(json!({ "flushed": true, "events_written": s.events_written, "events_dropped": s.events_dropped }))
}

pub async fn reload(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(resp) = refusal(&req, &state) {
        return resp;
    }
    let control = state.control.clone();
    let result = web::block(move || control.reload(ReloadScope::All)).await;
    match result {
        Ok(Ok(())) => HttpResponse::Ok()
            .json(json!({ "reloaded": true, "generation": state.snapshots.load().generation })),
        Ok(Err(reason)) => json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reload refused; the previous state keeps serving",
            json!({ "reason": reason.to_string() }),
        ),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "reload did not run",
            json!({ "reason": e.to_string() }),
        ),
    }
}

/// The effective config as parsed (secrets never live in the file: the
/// Statsig key and the admin token come from the environment and are shown
/// only as set or not).
pub async fn config(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(resp) = refusal(&req, &state) {
        return resp;
    }
    let snapshot = state.snapshots.load();
    let c = &snapshot.config;
    HttpResponse::Ok().json(json!({
        "file": c.source,
        "effective": {
            "listen": c.listen,
            "plugin_dir": c.plugins.dir,
            "specs_file": c.statsig.specs_file,
            "exposures_file": c.statsig.exposures_file,
        },
        "config": redact(serde_json::to_value(&c.raw).unwrap_or_default()),
        // In the file but not in force until a restart.
        "needs_restart": state.control.needs_restart(),
        "secrets": {
            "STATSIG_API_KEY": if std::env::var_os("STATSIG_API_KEY").is_some() { "[redacted]" } else { "unset" },
            "VARIANTD_ADMIN_TOKEN": if state.admin_token.is_some() { "[redacted]" } else { "unset" },
        },
    }))
}

/// Replace values whose key names a secret, and passwords in URLs.
fn redact(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    const SECRET_WORDS: &[&str] = &[
        "secret",
        "token",
        "password",
        "passwd",
        "api_key",
        "apikey",
        "credential",
        "authorization",
        "private_key",
    ];
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    if SECRET_WORDS.iter().any(|w| lower.contains(w)) {
                        (k, Value::String("[redacted]".into()))
                    } else {
                        (k, redact(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        Value::String(s) if s.contains("://") => Value::String(redact_url(&s)),
        Value::String(s) => Value::String(s),
        other => other,
    }
}

/// `GET /admin/explain?path=/process/x&user_key=U` (plus any headers a real
/// request would carry): which route, decision, variant, rule and reason
/// the request would get — without calling the variant and without logging
/// an exposure. Errors are those the request itself would get (404 for no
/// route, 400 for a missing user key).
pub async fn explain(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(resp) = refusal(&req, &state) {
        return resp;
    }
    let Some(raw_path) = form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "path")
        .map(|(_, v)| v.into_owned())
    else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "`path` is required, e.g. /admin/explain?path=/process/x&user_key=u1",
            json!({ "parameter": "path" }),
        );
    };
    let path = match crate::request::path::normalize(&raw_path) {
        Ok(p) => p.into_owned(),
        Err(e) => return crate::request::path::refusal(e, &raw_path),
    };
    let snapshot = state.snapshots.load_full();
    let answer = match crate::request::routed::resolve(
        &req,
        &state.decider,
        &snapshot,
        &path,
        crate::request::routed::Evaluation::Explain,
    ) {
        Ok(resolved) => HttpResponse::Ok().json(resolved.explanation(&snapshot)),
        Err(resp) => resp,
    };
    answer
}

/// A URL with its userinfo and every query value replaced: `?apikey=…`,
/// `?token=…` and friends carry secrets under any name.
fn redact_url(url: &str) -> String {
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (url, None),
    };
    let (base, query) = match before_fragment.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (before_fragment, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://[redacted]@{}", &base[..scheme_end], &base[at + 1..])
        }
        _ => base.to_string(),
    };
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) => format!("{k}=[redacted]"),
                None => pair.to_string(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    if fragment.is_some() {
        out.push_str("#[redacted]");
    }
    out
}

pub async fn not_found(req: HttpRequest) -> HttpResponse {
    json_error(
        StatusCode::NOT_FOUND,
        "no such admin endpoint",
        json!({ "path": req.path() }),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn redacts_secret_keys_and_url_passwords() {
        let v = super::redact(json!({
            "variants": { "x": { "url": "http://user:pw@127.0.0.1:9", "config": { "api_token": "s3cr3t", "label": "A" } } }
        }));
        let text = v.to_string();
        assert!(!text.contains("s3cr3t") && !text.contains("pw@"), "{text}");
        assert!(text.contains("\"label\":\"A\""));
    }

    #[test]
    fn redacts_every_query_value_in_urls() {
        let v = super::redact(json!({
            "a": "http://127.0.0.1:9/x?apikey=k1&token=t2&plain=p3&flag",
            "b": "https://u:pw@proxy.internal/?sig=zz#frag",
            "c": "no url here ?q=1",
        }));
        let text = v.to_string();
        for secret in ["k1", "t2", "p3", "pw", "zz", "frag"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(
            text.contains(
                "http://127.0.0.1:9/x?apikey=[redacted]&token=[redacted]&plain=[redacted]&flag"
            ),
            "{text}"
        );
        assert!(text.contains("no url here ?q=1"), "{text}");
    }
}
