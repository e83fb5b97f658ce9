//! Requests that ask to switch protocols (`Connection: upgrade`). actix
//! treats everything after such a request's head as its body, so a handler
//! that reads the body would wait until the client closed the connection;
//! and it answers with `connection: upgrade` unless told otherwise. So:
//! - a WebSocket upgrade goes on to be decided like any request, with the
//!   connection's bytes kept aside for the handlers that relay WebSockets
//!   (routed and direct paths, see `websocket`); every other handler sees an
//!   empty body and answers at once, and unless the answer is 101 the
//!   connection closes after it;
//! - any other upgrade (`h2c`, ...) is ignored, as RFC 9110 §7.8 allows: the
//!   request is served with an empty body, and the connection closed after
//!   the answer, since what follows on it is not HTTP/1.1 requests.

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::UPGRADE;
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};

use super::websocket;

pub async fn refuse_or_ignore(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if !req.head().upgrade() {
        return next.call(req).await;
    }
    if websocket::asks_for_websocket(req.headers().get(UPGRADE)) {
        let kept = req.take_payload();
        req.extensions_mut().insert(websocket::UpgradePayload(kept));
        let mut res = next.call(req).await?;
        if res.status() != StatusCode::SWITCHING_PROTOCOLS {
            res.response_mut()
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
        }
        return Ok(res);
    }
    req.set_payload(Payload::None);
    let mut res = next.call(req).await?;
    res.response_mut()
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    Ok(res)
}
