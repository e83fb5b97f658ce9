//! WebSocket upgrades on routed and direct paths, the backend side. The
//! upgrade is decided like any request (route, user, decision); then a remote variant gets the
//! connection relayed both ways, message by message, until either side
//! closes, it idles past `websocket_idle_timeout_ms`, a message exceeds
//! `websocket_max_message_bytes`, or the daemon stops. A plugin variant
//! cannot hold a connection: it is answered 501 at once.

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header::SEC_WEBSOCKET_PROTOCOL;
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use actix_ws::{CloseCode, CloseReason, Item, Message, ProtocolError, Session};
use awc::ws::Frame;
use bytestring::ByteString;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;

use super::{RemoteVariant, UpstreamSocket};
use crate::backends::Call;
use crate::request::shaping::json_error;

fn connections(variant: &str, outcome: &'static str) {
    metrics::counter!("variantd_websocket_connections_total", "variant" => variant.to_string(), "outcome" => outcome)
        .increment(1);
}

fn closing(mut resp: HttpResponse) -> HttpResponse {
    resp.head_mut().set_connection_type(ConnectionType::Close);
    resp
}

/// The answer to a WebSocket upgrade whose variant is a plugin.
pub(crate) fn refuse_for_plugin(variant: &str, req: &HttpRequest) -> HttpResponse {
    connections(variant, "refused_plugin");
    closing(json_error(
        StatusCode::NOT_IMPLEMENTED,
        "WebSocket upgrades are relayed to remote variants only; this request's variant is a plugin",
        json!({ "path": req.path(), "variant": variant }),
    ))
}

/// Answer a WebSocket upgrade that `remote` was chosen for: relay it.
pub(crate) async fn answer(
    remote: &Arc<RemoteVariant>,
    call: &Call<'_>,
    mut payload: Payload,
) -> HttpResponse {
    let req = call.req;
    let name = remote.name();
    let remote = remote.clone();
    // The client's handshake is checked (and the answer to it made) before
    // the upstream is called: a malformed upgrade costs the upstream nothing.
    // Cannot fail: taking the payload is all it does.
    let body = match actix_web::web::Payload::from_request(req, &mut payload).await {
        Ok(body) => body,
        Err(e) => return e.error_response(),
    };
    let (mut response, session, messages) = match actix_ws::handle(req, body) {
        Ok(parts) => parts,
        Err(e) => {
            connections(name, "bad_handshake");
            return closing(json_error(
                StatusCode::BAD_REQUEST,
                "not a valid WebSocket upgrade request",
                json!({ "reason": e.to_string() }),
            ));
        }
    };
    let forward = super::call::forward_context(req, call.trust_forwarded);
    let upstream = match remote
        .connect_websocket(super::call::target(call), &forward)
        .await
    {
        Ok(hs) => hs,
        Err(e) => {
            connections(name, "upstream_failed");
            return closing(json_error(
                e.status(),
                &format!("variant `{name}` is unreachable: {e}"),
                json!({ "variant": name }),
            ));
        }
    };
    if let Some(protocol) = upstream.protocol {
        response
            .headers_mut()
            .insert(SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    connections(name, "relayed");
    actix_web::rt::spawn(relay(session, messages, upstream.socket, remote));
    response
}

/// Bytes of the fragmented message under way in one direction.
#[derive(Default)]
struct Fragments(usize);

impl Fragments {
    /// Count a continuation frame; `false` once the message is too large.
    fn add(&mut self, item: &Item, limit: usize) -> bool {
        let len = match item {
            Item::FirstText(b) | Item::FirstBinary(b) => {
                self.0 = 0;
                b.len()
            }
            Item::Continue(b) | Item::Last(b) => b.len(),
        };
        self.0 += len;
        let ok = self.0 <= limit;
        if matches!(item, Item::Last(_)) {
            self.0 = 0;
        }
        ok
    }
}

fn too_large(limit: usize) -> CloseReason {
    CloseReason {
        code: CloseCode::Size,
        description: Some(format!("message larger than {limit} bytes")),
    }
}

fn protocol_error(e: &ProtocolError, limit: usize) -> CloseReason {
    match e {
        ProtocolError::Overflow => too_large(limit),
        e => CloseReason {
            code: CloseCode::Protocol,
            description: Some(e.to_string()),
        },
    }
}

/// How a relay ended, for the close frames and the log.
enum End {
    /// One side sent a close frame: passed on to the other as it was.
    Closed(Option<CloseReason>),
    /// Ended by the relay: both sides get this.
    Cut(CloseReason),
    /// One side's connection went away without a close frame.
    Gone(&'static str),
}

/// Pass messages both ways until the connection ends (see the module doc).
async fn relay(
    mut session: Session,
    messages: actix_ws::MessageStream,
    upstream: UpstreamSocket,
    remote: Arc<RemoteVariant>,
) {
    let name = remote.name().to_string();
    let limit = remote.config().websocket_max_message_bytes;
    let idle = Duration::from_millis(remote.config().websocket_idle_timeout_ms);
    let open = metrics::gauge!("variantd_websockets_open", "variant" => name.clone());
    let to_upstream = metrics::counter!("variantd_websocket_messages_total", "variant" => name.clone(), "direction" => "to_upstream");
    let to_client = metrics::counter!("variantd_websocket_messages_total", "variant" => name.clone(), "direction" => "to_client");
    open.increment(1.0);
    let mut messages = messages.max_frame_size(limit);
    let (mut up_tx, mut up_rx) = upstream.split();
    let (mut from_client, mut from_upstream) = (Fragments::default(), Fragments::default());
    let stopping = crate::http::lifecycle::shutdown_begun();
    tokio::pin!(stopping);
    let end = loop {
        let quiet = tokio::time::sleep(idle);
        tokio::select! {
            msg = messages.recv() => {
                let msg = match msg {
                    None => break End::Gone("client"),
                    Some(Err(e)) => break End::Cut(protocol_error(&e, limit)),
                    Some(Ok(Message::Close(reason))) => {
                        let _ = up_tx.send(Message::Close(reason.clone())).await;
                        break End::Closed(reason);
                    }
                    Some(Ok(Message::Nop)) => continue,
                    Some(Ok(Message::Continuation(item))) => {
                        if !from_client.add(&item, limit) {
                            break End::Cut(too_large(limit));
                        }
                        Message::Continuation(item)
                    }
                    Some(Ok(m)) => m,
                };
                to_upstream.increment(1);
                if up_tx.send(msg).await.is_err() {
                    break End::Gone("upstream");
                }
            }
            frame = up_rx.next() => {
                let sent = match frame {
                    None => break End::Gone("upstream"),
                    Some(Err(e)) => break End::Cut(protocol_error(&e, limit)),
                    Some(Ok(Frame::Close(reason))) => {
                        // Answer the upstream's close, as the protocol asks.
                        let _ = up_tx.send(Message::Close(reason.clone())).await;
                        let _ = session.close(reason.clone()).await;
                        end_log(&name, &End::Closed(reason));
                        open.decrement(1.0);
                        return;
                    }
                    Some(Ok(Frame::Text(bytes))) => match ByteString::try_from(bytes) {
                        Ok(text) => session.text(text).await,
                        Err(_) => break End::Cut(CloseReason {
                            code: CloseCode::Invalid,
                            description: Some("upstream sent a text message that is not UTF-8".into()),
                        }),
                    },
                    Some(Ok(Frame::Binary(bytes))) => session.binary(bytes).await,
                    Some(Ok(Frame::Continuation(item))) => {
                        if !from_upstream.add(&item, limit) {
                            break End::Cut(too_large(limit));
                        }
                        session.continuation(item).await
                    }
                    Some(Ok(Frame::Ping(bytes))) => session.ping(&bytes).await,
                    Some(Ok(Frame::Pong(bytes))) => session.pong(&bytes).await,
                };
                to_client.increment(1);
                if sent.is_err() {
                    break End::Gone("client");
                }
            }
            () = quiet => break End::Cut(CloseReason {
                code: CloseCode::Away,
                description: Some(format!("idle for {} ms", idle.as_millis())),
            }),
            () = &mut stopping => break End::Cut(CloseReason {
                code: CloseCode::Restart,
                description: Some("variantd is stopping".into()),
            }),
        }
    };
    end_log(&name, &end);
    match end {
        End::Closed(reason) => {
            let _ = session.close(reason).await;
        }
        End::Cut(reason) => {
            let _ = up_tx.send(Message::Close(Some(reason.clone()))).await;
            let _ = session.close(Some(reason)).await;
        }
        End::Gone(_) => {
            let _ = up_tx
                .send(Message::Close(Some(CloseReason {
                    code: CloseCode::Away,
                    description: None,
                })))
                .await;
            let _ = session.close(Some(CloseCode::Away.into())).await;
        }
    }
    let _ = up_tx.close().await;
    open.decrement(1.0);
}

fn end_log(variant: &str, end: &End) {
    match end {
        End::Closed(reason) => {
            tracing::debug!(variant, code = ?reason.as_ref().map(|r| r.code), "WebSocket closed")
        }
        End::Cut(reason) => {
            tracing::info!(variant, code = ?reason.code, reason = ?reason.description, "WebSocket relay ended")
        }
        End::Gone(side) => tracing::debug!(variant, side, "WebSocket: one side went away"),
    }
}
