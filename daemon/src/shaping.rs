//! Response shaping: the original example's envelope, or the variant's answer
//! as given plus `x-variantd-*` headers; and the JSON error bodies.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use variantd_decision::{Decision, DecisionKind};

use crate::dispatch::{AnswerBody, Served};

/// A JSON error: `{"error": message, ...extra}`.
pub fn json_error(status: StatusCode, message: &str, extra: Value) -> HttpResponse {
    let mut body = json!({ "error": message });
    if let (Some(obj), Value::Object(more)) = (body.as_object_mut(), extra) {
        obj.extend(more);
    }
    HttpResponse::build(status).json(body)
}

/// The headers that say which variant answered and why.
pub fn decision_headers(served: &Served, decision: Option<&Decision>) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::with_capacity(5);
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            out.push((HeaderName::from_static(name), v));
        }
    };
    set("x-variantd-variant", &served.variant);
    if let Some(from) = &served.fallback_from {
        set("x-variantd-fallback-from", from);
    }
    if let Some(d) = decision {
        set("x-variantd-decided-by", &format!("{}={}", d.kind.as_str(), d.decided_by));
        set("x-variantd-rule-id", &d.rule_id);
        set("x-variantd-reason", &d.reason);
    }
    out
}

/// The variant's answer unchanged, with decision headers.
pub fn transparent(served: Served, decision: Option<&Decision>) -> HttpResponse {
    let extra = decision_headers(&served, decision);
    let mut resp = match served.answer.body {
        AnswerBody::Streaming(resp) => resp,
        AnswerBody::Full(body) => {
            let mut builder = HttpResponse::build(served.answer.status);
            for (n, v) in served.answer.headers {
                builder.append_header((n, v));
            }
            builder.body(body)
        }
    };
    for (n, v) in extra {
        resp.headers_mut().insert(n, v);
    }
    resp
}

/// The original example's envelope:
/// `{"ab_test_result":{"user_key":…,"selected_variant":…,"gate_name":…},"response":…}`.
/// A non-2xx or non-JSON answer is reported as an error, never wrapped as success.
pub fn envelope(served: Served, decision: Option<&Decision>, user_key: &str) -> HttpResponse {
    let status = served.answer.status;
    let body = match &served.answer.body {
        AnswerBody::Full(b) => b.clone(),
        AnswerBody::Streaming(_) => Bytes::new(),
    };
    let variant_error = |message: &str, status_code: StatusCode| {
        let preview: Value = serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned()));
        let mut resp = json_error(
            status_code,
            message,
            json!({ "variant": served.variant, "variant_status": status.as_u16(), "variant_response": preview }),
        );
        if let Ok(v) = HeaderValue::from_str(&served.variant) {
            resp.headers_mut().insert(HeaderName::from_static("x-variantd-variant"), v);
        }
        resp
    };
    if !status.is_success() {
        return variant_error("variant answered with an error", StatusCode::BAD_GATEWAY);
    }
    let Ok(raw) = serde_json::from_slice::<&RawValue>(&body) else {
        return variant_error("variant answered with a body that is not JSON", StatusCode::BAD_GATEWAY);
    };
    let mut result = serde_json::Map::new();
    result.insert("user_key".into(), Value::String(user_key.to_string()));
    result.insert("selected_variant".into(), Value::String(served.label.clone()));
    if let Some(d) = decision {
        let key = match d.kind {
            DecisionKind::Gate => "gate_name",
            DecisionKind::Experiment => "experiment_name",
            DecisionKind::DynamicConfig => "config_name",
        };
        result.insert(key.into(), Value::String(d.decided_by.clone()));
    }
    if let Some(from) = &served.fallback_from {
        result.insert("fallback".into(), Value::Bool(true));
        result.insert("fallback_from".into(), Value::String(from.clone()));
    }
    #[derive(serde::Serialize)]
    struct Envelope<'a> {
        ab_test_result: serde_json::Map<String, Value>,
        response: &'a RawValue,
    }
    let mut builder = HttpResponse::Ok();
    for header in decision_headers(&served, decision) {
        builder.insert_header(header);
    }
    builder.json(Envelope { ab_test_result: result, response: raw })
}
