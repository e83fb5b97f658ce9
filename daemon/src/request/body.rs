//! Reading the client's body: whole (bounded in size and time), or left to
//! stream when the backend takes it as it arrives.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::json;

use crate::request::shaping::json_error;

/// Read a whole request body, refusing more than `limit` bytes with 413, and
/// a body that has not arrived within `timeout` with 408 (the connection is
/// closed: a client that stalls holds no connection for longer than that).
pub async fn read_whole(
    mut payload: web::Payload,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, HttpResponse> {
    let read = async move {
        let mut buf = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                json_error(
                    StatusCode::BAD_REQUEST,
                    "could not read the request body",
                    json!({ "reason": e.to_string() }),
                )
            })?;
            if buf.len() + chunk.len() > limit {
                return Err(too_large(limit));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    };
    fn close(mut resp: HttpResponse) -> HttpResponse {
        resp.head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        resp
    }
    tokio::select! {
        read = tokio::time::timeout(timeout, read) => match read {
            Ok(result) => result,
            Err(_) => Err(close(json_error(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
                json!({ "timeout_secs": timeout.as_secs() }),
            ))),
        },
        () = crate::http::lifecycle::shutdown_begun() => Err(close(json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down; the request body had not arrived",
            json!({}),
        ))),
    }
}

/// The 413 for a body that will be streamed but declares more than `limit`
/// bytes: refused before any of it is read. (A stream that runs past the
/// limit without declaring it is cut off by the backend.)
pub fn declared_too_large(req: &HttpRequest, limit: usize) -> Option<HttpResponse> {
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    declared
        .is_some_and(|len| len > limit as u64)
        .then(|| too_large(limit))
}

fn too_large(limit: usize) -> HttpResponse {
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request body too large",
        json!({ "limit_bytes": limit }),
    )
}
