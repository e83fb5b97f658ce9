//! Requests that ask to switch protocols (`Connection: upgrade`). actix
//! treats everything after such a request's head as its body, so a handler
//! that reads the body would wait until the client closed the connection;
//! and it answers with `connection: upgrade` unless told otherwise. No
//! variant is relayed over an upgraded connection yet, so:
//! - a WebSocket upgrade is answered 501 at once;
//! - any other upgrade (`h2c`, ...) is ignored, as RFC 9110 §7.8 allows: the
//!   request is served with an empty body, and the connection closed after
//!   the answer, since what follows on it is not HTTP/1.1 requests.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::UPGRADE;
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::Error;
use serde_json::json;

use crate::shaping::json_error;

pub async fn refuse_or_ignore(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if !req.head().upgrade() {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let websocket = req
        .headers()
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
        });
    if websocket {
        let mut resp = json_error(
            StatusCode::NOT_IMPLEMENTED,
            "WebSocket upgrades are not supported by this daemon's variants",
            json!({ "path": req.path() }),
        );
        resp.head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        return Ok(req.into_response(resp).map_into_right_body());
    }
    req.set_payload(Payload::None);
    let mut res = next.call(req).await?;
    res.response_mut()
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    Ok(res.map_into_left_body())
}
