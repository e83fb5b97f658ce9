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

use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::UPGRADE;
use actix_web::http::StatusCode;
use actix_web::HttpMessage;

use super::websocket;

/// What an upgrade request needs around its handler. Done from the access
/// log's middleware rather than a middleware of its own: each `from_fn`
/// layer boxes a future and moves the request once more, which callgrind
/// counted at about 1,100 instructions on every request, upgrade or not.
pub(crate) enum Upgrade {
    WebSocket,
    Ignored,
}

/// Before the handler (only for `req.head().upgrade()`): the connection's
/// bytes set aside for a WebSocket relay, or dropped for an ignored upgrade.
pub(crate) fn prepare(req: &mut ServiceRequest) -> Upgrade {
    if websocket::asks_for_websocket(req.headers().get(UPGRADE)) {
        let kept = req.take_payload();
        req.extensions_mut().insert(websocket::UpgradePayload(kept));
        return Upgrade::WebSocket;
    }
    req.set_payload(Payload::None);
    Upgrade::Ignored
}

/// After the handler: unless it switched protocols, the connection closes.
pub(crate) fn finish<B>(upgrade: Upgrade, res: &mut ServiceResponse<B>) {
    let switched =
        matches!(upgrade, Upgrade::WebSocket) && res.status() == StatusCode::SWITCHING_PROTOCOLS;
    if !switched {
        res.response_mut()
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
}
