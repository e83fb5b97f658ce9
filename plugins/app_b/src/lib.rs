//! Variant B: the "enhanced" processing path, as a variantd plugin (cdylib
//! `libapp_b.so`, plugin name `app_b`).
//!
//! - `GET /process/{message}` -> `{"variant":"B","message":"App B processed: <message>","algorithm":"enhanced-processing"}`
//! - `POST /analyze` with `{"text": "..."}` -> word count, unique words,
//!   average word length, sentence count, top words (stop words excluded)
//!   and a negation-aware lexicon sentiment normalised to [-1, 1]
//! - wrong method on those paths -> 405 JSON, anything else -> 404 JSON
//!
//! Config (optional): `{"label": "..."}`, echoed in `/analyze` answers;
//! `{"top_words": N}` (default 5). Other keys are ignored.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{json, Value};
use variantd_plugin_api::{
    export_plugin, percent_decode, InitContext, Plugin, PluginError, Request, Response,
};

const VARIANT: &str = "B";
const ALGORITHM: &str = "enhanced-processing";

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
    "enjoy",
    "pleased",
    "reliable",
    "smooth",
];
const NEGATIVE: &[&str] = &[
    "bad",
    "terrible",
    "awful",
    "hate",
    "sad",
    "slow",
    "poor",
    "worst",
    "horrible",
    "broken",
    "angry",
    "ugly",
    "buggy",
    "crash",
    "annoying",
    "disappointed",
    "confusing",
];
const NEGATIONS: &[&str] = &[
    "not", "no", "never", "don't", "isn't", "wasn't", "didn't", "can't", "won't",
];
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "i", "in", "is", "it",
    "its", "of", "on", "or", "so", "that", "the", "this", "to", "was", "we", "with", "you",
];

struct AppB {
    label: Option<String>,
    top_words: usize,
}

impl Plugin for AppB {
    fn init(ctx: InitContext<'_>) -> Result<Self, PluginError> {
        let label = ctx.config_str("label").map(str::to_owned);
        let top_words = match ctx.config().get("top_words") {
            None => 5,
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| {
                    PluginError::invalid_config("top_words must be an integer in 1..=100")
                })? as usize,
        };
        ctx.host().info(&format!(
            "app_b ready (label: {}, top_words: {top_words})",
            label.as_deref().unwrap_or("-")
        ));
        Ok(AppB { label, top_words })
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
                    message: format!("App B processed: {message}"),
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

impl AppB {
    fn analyze(&self, req: &Request<'_>) -> Response {
        let text = match input_text(req) {
            Ok(text) => text,
            Err(message) => {
                return Response::json(400, &json!({ "error": message, "variant": VARIANT }))
            }
        };
        let words = words(&text);

        let mut counts: HashMap<&str, u64> = HashMap::new();
        for w in &words {
            *counts.entry(w.as_str()).or_default() += 1;
        }
        let unique_words = counts.len();
        let mut top: Vec<(&str, u64)> = counts
            .iter()
            .filter(|(w, _)| !STOP_WORDS.contains(w))
            .map(|(w, c)| (*w, *c))
            .collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        top.truncate(self.top_words);

        // Lexicon sentiment; a negation within the two previous words flips a hit.
        let (mut positive, mut negative) = (0u64, 0u64);
        for (i, w) in words.iter().enumerate() {
            let polarity = if POSITIVE.contains(&w.as_str()) {
                1
            } else if NEGATIVE.contains(&w.as_str()) {
                -1
            } else {
                continue;
            };
            let negated = words[i.saturating_sub(2)..i]
                .iter()
                .any(|p| NEGATIONS.contains(&p.as_str()));
            match (polarity, negated) {
                (1, false) | (-1, true) => positive += 1,
                _ => negative += 1,
            }
        }
        let hits = positive + negative;
        let score = if hits == 0 {
            0.0
        } else {
            (positive as f64 - negative as f64) / hits as f64
        };
        let label = if score > 0.2 {
            "positive"
        } else if score < -0.2 {
            "negative"
        } else {
            "neutral"
        };
        let letters: usize = words.iter().map(|w| w.chars().count()).sum();
        let average_word_length = if words.is_empty() {
            0.0
        } else {
            round2(letters as f64 / words.len() as f64)
        };
        let sentence_count = text
            .split(['.', '!', '?'])
            .filter(|s| s.chars().any(char::is_alphanumeric))
            .count();

        let mut out = json!({
            "variant": VARIANT,
            "algorithm": ALGORITHM,
            "word_count": words.len(),
            "unique_words": unique_words,
            "average_word_length": average_word_length,
            "sentence_count": sentence_count,
            "top_words": top.iter().map(|(w, c)| json!({ "word": w, "count": c })).collect::<Vec<_>>(),
            "sentiment": {
                "score": round2(score),
                "label": label,
                "positive_hits": positive,
                "negative_hits": negative,
            },
        });
        if let Some(l) = &self.label {
            out["label"] = Value::from(l.as_str());
        }
        Response::json(200, &out)
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
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

export_plugin!(AppB, name = "app_b");

/// The `/process/{message}` answer, field for field as the original app.
#[derive(Serialize)]
struct Processed {
    variant: &'static str,
    message: String,
    algorithm: &'static str,
}
