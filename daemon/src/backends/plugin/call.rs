//! A plugin as a backend: an HTTP request's view handed through the ABI,
//! on the request's worker or, for a `blocking` variant, on the blocking
//! pool with owned copies.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::web::Bytes;

use super::{PluginInstance, PluginRequest};
use crate::backends::{Answer, AnswerBody, BackendError, Call, RequestBody};

pub(crate) async fn call(
    instance: &Arc<PluginInstance>,
    variant: &str,
    call: &Call<'_>,
    body: RequestBody,
    blocking: bool,
) -> Result<Answer, BackendError> {
    let failed = |reason: String| BackendError::PluginFailed {
        variant: variant.to_string(),
        reason,
    };
    let body = match body {
        RequestBody::Full(b) => b,
        // `takes_streamed_body` is false for plugins: the caller reads the
        // body whole.
        RequestBody::Stream(_) => unreachable!("plugins always get a buffered body"),
    };
    let result = if blocking {
        // Owned copies: the call moves to the blocking pool.
        let instance = instance.clone();
        let owned = OwnedCall::from_call(call, variant);
        actix_web::web::block(move || {
            let params: Vec<(&str, &str)> = owned
                .route_params
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            instance.call_with_params(&owned.as_request(&body), &params)
        })
        .await
        .map_err(|e| failed(format!("blocking pool: {e}")))?
    } else {
        let headers: Vec<(&[u8], &[u8])> = call
            .req
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
            .collect();
        instance.call_with_params(
            &PluginRequest {
                method: call.req.method().as_str(),
                path: call.path,
                query: call.req.query_string(),
                headers,
                body: &body,
                user_key: call.user_key,
                variant,
                decided_by: call.decided_by,
                rule_id: call.rule_id,
            },
            call.route_params,
        )
    };
    let response = result.map_err(|e| failed(e.to_string()))?;
    Ok(Answer {
        status: StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        headers: response.headers,
        body: AnswerBody::Full(Bytes::from(response.body)),
    })
}

/// Owned request parts for a plugin call on the blocking pool, which
/// outlives the request's borrows.
struct OwnedCall {
    method: String,
    path: String,
    query: String,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    user_key: String,
    variant: String,
    decided_by: String,
    rule_id: String,
    route_params: Vec<(String, String)>,
}

impl OwnedCall {
    fn from_call(call: &Call<'_>, variant: &str) -> OwnedCall {
        OwnedCall {
            method: call.req.method().as_str().to_string(),
            path: call.path.to_string(),
            query: call.req.query_string().to_string(),
            headers: call
                .req
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str().as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
            user_key: call.user_key.to_string(),
            variant: variant.to_string(),
            decided_by: call.decided_by.to_string(),
            rule_id: call.rule_id.to_string(),
            route_params: call
                .route_params
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn as_request<'a>(&'a self, body: &'a [u8]) -> PluginRequest<'a> {
        PluginRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: self
                .headers
                .iter()
                .map(|(n, v)| (n.as_slice(), v.as_slice()))
                .collect(),
            body,
            user_key: &self.user_key,
            variant: &self.variant,
            decided_by: &self.decided_by,
            rule_id: &self.rule_id,
        }
    }
}
