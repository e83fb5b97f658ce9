//! WebSocket upgrades, the HTTP side: spotting an upgrade request and
//! keeping its connection aside for the handler that answers it. The
//! answer itself (relay or refusal) is the chosen backend's
//! ([`crate::backends::Backend::open_websocket`]).

use actix_web::dev::Payload;
use actix_web::http::header::HeaderValue;
use actix_web::{HttpMessage, HttpRequest};

/// The connection's bytes after a WebSocket upgrade request's head, kept
/// aside by the upgrade guard so that only the handlers that relay see them
/// (any other handler sees an empty body and answers at once).
pub(super) struct UpgradePayload(pub(super) Payload);

/// Whether an `Upgrade` header asks for a WebSocket.
pub(crate) fn asks_for_websocket(upgrade: Option<&HeaderValue>) -> bool {
    upgrade.and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',')
            .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
    })
}

/// The kept connection of a WebSocket upgrade request, if this is one.
pub(crate) fn take_upgrade(req: &HttpRequest) -> Option<Payload> {
    req.extensions_mut().remove::<UpgradePayload>().map(|u| u.0)
}
