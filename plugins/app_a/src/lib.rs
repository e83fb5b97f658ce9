//! Variant A: the "fast" processing path, as a variantd plugin (cdylib
//! `libapp_a.so`, plugin name `app_a`).
//!
//! - `GET /process/{message}` -> `{"variant":"A","message":"App A processed: <message>","algorithm":"fast-processing"}`
//! - `POST /analyze` with `{"text": "..."}` -> word count and a simple
//!   lexicon sentiment score
//! - wrong method on those paths -> 405 JSON, anything else -> 404 JSON
//!
//! Config (optional): `{"label": "..."}`, echoed in `/analyze` answers.
//! Any other config shape is accepted and ignored.

use serde::Serialize;
use serde_json::{json, Value};
use variantd_plugin_api::{
    export_plugin, percent_decode, InitContext, Plugin, PluginError, Request, Response,
};

const VARIANT: &str = "A";
const ALGORITHM: &str = "fast-processing";

const POSITIVE: &[&str] = &[
    "good",
    "great",
    "excellent",
    "love",
    "happy",
    "awesome",
    "fantastic",
    "nice",
    "fast",
    "amazing",
    "like",
    "best",
    "wonderful",
    "perfect",
];
const NEGATIVE: &[&str] = &[
    "bad", "terrible", "awful", "hate", "sad", "slow", "poor", "worst", "horrible", "broken",
    "angry", "ugly", "buggy",
];

struct AppA {
    label: Option<String>,
}

impl Plugin for AppA {
    fn init(ctx: InitContext<'_>) -> Result<Self, PluginError> {
        let label = ctx.config_str("label").map(str::to_owned);
        ctx.host().info(&format!(
            "app_a ready (label: {})",
            label.as_deref().unwrap_or("-")
        ));
        Ok(AppA { label })
    }

    fn handle(&self, req: &Request<'_>) -> Result<Response, PluginError> {
        let path = req.path();
        if let Some(segment) = process_segment(path) {
            if req.method() != "GET" {
                return Ok(method_not_allowed(req, "GET"));
            }
            let message = percent_decode(segment);
            // A struct, so the fields keep the original app's order.
            return Ok(Response::json_from(
                200,
                &Processed {
                    variant: VARIANT,
                    message: format!("App A processed: {message}"),
                    algorithm: ALGORITHM,
                },
            ));
        }
        if path == "/analyze" {
            if req.method() != "POST" {
                return Ok(method_not_allowed(req, "POST"));
            }
            return Ok(self.analyze(req));
        }
        Ok(Response::json(
            404,
            &json!({ "error": "not found", "variant": VARIANT, "path": path }),
        ))
    }
}

impl AppA {
    fn analyze(&self, req: &Request<'_>) -> Response {
        let text = match input_text(req) {
            Ok(text) => text,
            Err(message) => {
                return Response::json(400, &json!({ "error": message, "variant": VARIANT }))
            }
        };
        let words = words(&text);
        let score = words.iter().fold(0i64, |acc, w| {
            acc + i64::from(POSITIVE.contains(&w.as_str()))
                - i64::from(NEGATIVE.contains(&w.as_str()))
        });
        let label = match score {
            s if s > 0 => "positive",
            s if s < 0 => "negative",
            _ => "neutral",
        };
        let mut out = json!({
            "variant": VARIANT,
            "algorithm": ALGORITHM,
            "word_count": words.len(),
            "sentiment": { "score": score, "label": label },
        });
        if let Some(l) = &self.label {
            out["label"] = Value::from(l.as_str());
        }
        Response::json(200, &out)
    }
}

/// The `{message}` of `/process/{message}`: one non-empty raw segment.
fn process_segment(path: &str) -> Option<&str> {
    path.strip_prefix("/process/")
        .filter(|s| !s.is_empty() && !s.contains('/'))
}

fn method_not_allowed(req: &Request<'_>, allowed: &str) -> Response {
    Response::json(
        405,
        &json!({ "error": "method not allowed", "variant": VARIANT, "method": req.method(), "path": req.path() }),
    )
    .with_header("allow", allowed)
}

/// The `"text"` of a JSON body `{"text": "..."}`.
fn input_text(req: &Request<'_>) -> Result<String, String> {
    let body: Value = req
        .body_json()
        .map_err(|e| format!("invalid JSON body: {e}"))?;
    body.get("text")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| "expected a JSON object with a \"text\" string".to_owned())
}

/// Lower-cased words: runs of alphanumerics (and inner apostrophes).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

export_plugin!(AppA, name = "app_a");

/// The `/process/{message}` answer, field for field as the original app.
#[derive(Serialize)]
struct Processed {
    variant: &'static str,
    message: String,
    algorithm: &'static str,
}
