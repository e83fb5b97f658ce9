//! The policy above backends: send a request to its variant's backend, and
//! to the variant's fallback when that backend cannot answer. Later policies
//! (guardrails, shadow traffic) belong here too; what is particular to one
//! kind of backend does not (see [`crate::backends`]).

use crate::backends::{Answer, AnswerMode, BackendError, Call, RequestBody};
use crate::snapshot::{Snapshot, Variant};

/// Who answered, for headers, envelope and access log.
pub struct Served<'s> {
    pub variant: &'s Variant,
    /// Set when a fallback answered instead of the chosen variant.
    pub fallback_from: Option<&'s Variant>,
    pub answer: Answer,
}

/// Whether `variant`'s request body must be read whole before dispatch:
/// always, unless its backend can take a stream and no fallback may need
/// the body again.
pub fn needs_whole_body(variant: &Variant) -> bool {
    !variant.backend.takes_streamed_body() || variant.config.fallback.is_some()
}

/// Send the request to `variant`, or its fallback if it cannot answer.
/// A fallback is tried once (no chains), and only with a buffered body.
/// A remote variant with a fallback "cannot answer" when it gives no answer
/// (connect failure, timeout, open circuit, broken body) or answers 5xx;
/// without a fallback its 5xx is returned as given.
/// When the fallback fails too, the error is the chosen variant's.
pub async fn dispatch<'s>(
    snapshot: &'s Snapshot,
    variant: &'s Variant,
    call: &Call<'_>,
    body: RequestBody,
    mode: AnswerMode,
) -> Result<Served<'s>, BackendError> {
    let fallback = variant
        .config
        .fallback
        .as_deref()
        .and_then(|f| snapshot.variants.get(f));
    let retry_body = match (&body, fallback) {
        (RequestBody::Full(b), Some(_)) => Some(b.clone()),
        _ => None,
    };
    let name = &*variant.name;
    let primary = match variant
        .backend
        .call(name, call, body, mode, retry_body.is_some())
        .await
    {
        Ok(answer) => {
            return Ok(Served {
                variant,
                fallback_from: None,
                answer,
            })
        }
        Err(e) => e,
    };
    let (Some(fb), Some(body)) = (fallback, retry_body) else {
        return Err(primary);
    };
    tracing::warn!(variant = %name, fallback = %fb.name, error = %primary, "answering with the fallback variant");
    crate::telemetry::metrics::fallback(name, &fb.name);
    match fb
        .backend
        .call(&fb.name, call, RequestBody::Full(body), mode, false)
        .await
    {
        Ok(answer) => Ok(Served {
            variant: fb,
            fallback_from: Some(variant),
            answer,
        }),
        Err(e) => {
            tracing::warn!(variant = %name, fallback = %fb.name, error = %e, "the fallback variant failed too");
            Err(primary)
        }
    }
}
