//! Response shaping: the original example's envelope, or the variant's answer
//! as given plus `x-variantd-*` headers; and the JSON error bodies.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use serde_json::{json, Value};
use variantd_decision::{Decision, DecisionKind};

use crate::backends::AnswerBody;
use crate::control::config::DecisionHeaders;
use crate::request::decide::Decided;
use crate::request::dispatch::Served;
use crate::snapshot::Variant;

// Parsed at compile time: `from_static` at run time searches the standard
// header names first.
const VARIANT_HEADER: HeaderName = HeaderName::from_static("x-variantd-variant");
const FALLBACK_FROM_HEADER: HeaderName = HeaderName::from_static("x-variantd-fallback-from");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A JSON error: `{"error": message, ...extra}`.
pub fn json_error(status: StatusCode, message: &str, extra: Value) -> HttpResponse {
    let mut body = json!({ "error": message });
    if let (Some(obj), Value::Object(more)) = (body.as_object_mut(), extra) {
        obj.extend(more);
    }
    HttpResponse::build(status).json(body)
}

/// Adds the headers that say which variant answered and why, as many as
/// `shown` allows. Straight inserts: every value is a shared buffer, so
/// each is a reference count.
fn add_decision_headers(
    headers: &mut HeaderMap,
    variant: &Variant,
    fallback_from: Option<&Variant>,
    decided: Option<&Decided>,
    shown: DecisionHeaders,
) {
    if shown.show_variant() {
        headers.insert(VARIANT_HEADER, variant.name_header.clone());
        if let Some(from) = fallback_from {
            headers.insert(FALLBACK_FROM_HEADER, from.name_header.clone());
        }
    }
    if let Some(decided) = decided.filter(|_| shown.show_reasons()) {
        for (name, value) in &decided.headers {
            headers.insert(name.clone(), value.clone());
        }
    }
}

/// The variant's answer unchanged, with decision headers.
pub fn transparent(
    served: Served,
    decided: Option<&Decided>,
    shown: DecisionHeaders,
) -> HttpResponse {
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
    add_decision_headers(
        resp.headers_mut(),
        served.variant,
        served.fallback_from,
        decided,
        shown,
    );
    resp
}

/// The original example's envelope:
/// `{"ab_test_result":{"user_key":…,"selected_variant":…,"gate_name":…},"response":…}`.
/// A non-2xx or non-JSON answer is reported as an error, never wrapped as success.
pub fn envelope(
    mut served: Served,
    decided: Option<&Decided>,
    user_key: &str,
    shown: DecisionHeaders,
) -> HttpResponse {
    let status = served.answer.status;
    let body = match std::mem::replace(&mut served.answer.body, AnswerBody::Full(Bytes::new())) {
        AnswerBody::Full(b) => b,
        AnswerBody::Streaming(_) => Bytes::new(),
    };
    let variant_error = |message: &str| {
        let preview: Value = serde_json::from_slice(&body).unwrap_or_else(|_| {
            Value::String(String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned())
        });
        let mut resp = json_error(
            StatusCode::BAD_GATEWAY,
            message,
            json!({ "variant": &*served.variant.name, "variant_status": status.as_u16(), "variant_response": preview }),
        );
        if shown.show_variant() {
            resp.headers_mut()
                .insert(VARIANT_HEADER, served.variant.name_header.clone());
        }
        resp
    };
    if !status.is_success() {
        return variant_error("variant answered with an error");
    }
    // Validate only; the variant's bytes are embedded as they are.
    if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
        return variant_error("variant answered with a body that is not JSON");
    }
    let mut out = Vec::with_capacity(body.len() + 160);
    write_envelope(
        &mut out,
        &served,
        decided.map(|d| &d.decision),
        user_key,
        &body,
    );
    let mut resp = HttpResponse::with_body(StatusCode::OK, out).map_into_boxed_body();
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, JSON);
    add_decision_headers(
        headers,
        served.variant,
        served.fallback_from,
        decided,
        shown,
    );
    resp
}

/// Writes the envelope around `response` (already known to be JSON). Field
/// order is the original's.
fn write_envelope(
    out: &mut Vec<u8>,
    served: &Served,
    decision: Option<&Decision>,
    user_key: &str,
    response: &[u8],
) {
    let string = |out: &mut Vec<u8>, s: &str| {
        serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail")
    };
    out.extend_from_slice(b"{\"ab_test_result\":{\"user_key\":");
    string(out, user_key);
    out.extend_from_slice(b",\"selected_variant\":");
    string(out, &served.variant.config.label);
    if let Some(d) = decision {
        let key: &[u8] = match d.kind {
            DecisionKind::Gate => b",\"gate_name\":",
            DecisionKind::Experiment => b",\"experiment_name\":",
            DecisionKind::DynamicConfig => b",\"config_name\":",
        };
        out.extend_from_slice(key);
        string(out, &d.decided_by);
    }
    if let Some(from) = served.fallback_from {
        out.extend_from_slice(b",\"fallback\":true,\"fallback_from\":");
        string(out, &from.name);
    }
    out.extend_from_slice(b"},\"response\":");
    out.extend_from_slice(response);
    out.push(b'}');
}
