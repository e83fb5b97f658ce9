//! The upstream half of a relayed WebSocket: the handshake with a remote
//! variant, under the same breaker, TLS and failure accounting as requests.

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use awc::error::WsClientError;

use super::{client, ForwardContext, RemoteError, RemoteVariant, Target};

/// The upstream end of a relayed WebSocket (client-mode frames).
pub type UpstreamSocket = actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>;

/// An upstream that switched protocols.
pub struct WebSocketHandshake {
    pub socket: UpstreamSocket,
    /// The subprotocol the upstream chose, to answer the client with.
    pub protocol: Option<HeaderValue>,
}

impl RemoteVariant {
    /// Open a WebSocket to the upstream for `target`, with the client's
    /// forwardable headers (its `Sec-WebSocket-Protocol` offer included; its
    /// key, version and extensions are the client hop's own, not passed on:
    /// awc makes the upstream hop's, and no extension is negotiated through
    /// the relay). The handshake has `timeout_ms`; frames above
    /// `websocket_max_message_bytes` are refused by the codec.
    pub async fn connect_websocket(
        &self,
        target: Target<'_>,
        ctx: &ForwardContext,
    ) -> Result<WebSocketHandshake, RemoteError> {
        let Some(permit) = self.breaker.admit() else {
            crate::telemetry::metrics::upstream_error(&self.name, "circuit_open");
            return Err(RemoteError::CircuitOpen);
        };
        let uri = match self.upstream_uri(target) {
            Ok(uri) => uri,
            Err(e) => return Err(e),
        };
        let tls = match self.tls_now() {
            Ok(tls) => tls,
            Err(e) => return Err(self.failed_before_sending(e, permit)),
        };
        let addr = match self.connect_addr().await {
            Ok(addr) => addr,
            Err(e) => return Err(self.failed_before_sending(e, permit)),
        };
        let timeout = Duration::from_millis(self.config.timeout_ms);
        let client = client::for_websocket(&self.config, tls.as_deref(), timeout);
        let mut req = client
            .ws(uri)
            .max_frame_size(self.config.websocket_max_message_bytes)
            .set_header(header::HOST, self.host_header.clone());
        for (name, value) in &ctx.headers {
            let n = name.as_str();
            if n.starts_with("sec-websocket-") && name != header::SEC_WEBSOCKET_PROTOCOL {
                continue;
            }
            req = req.header(name.clone(), value.clone());
        }
        if let Some(addr) = addr {
            req = req.address(addr);
        }
        let result = req.connect().await;
        let error = match result {
            Ok((resp, socket)) => {
                self.breaker.on_success();
                drop(permit);
                self.show_circuit_state();
                return Ok(WebSocketHandshake {
                    socket,
                    protocol: resp.headers().get(header::SEC_WEBSOCKET_PROTOCOL).cloned(),
                });
            }
            Err(WsClientError::SendRequest(e)) => self.classify(e),
            // An answer, not a failure of the upstream, unless a 5xx: the
            // path does not take WebSockets.
            Err(WsClientError::InvalidResponseStatus(status)) if !status.is_server_error() => {
                drop(permit);
                return Err(RemoteError::WebSocket(format!("it answered {status}")));
            }
            Err(other) => RemoteError::WebSocket(other.to_string()),
        };
        crate::telemetry::metrics::upstream_error(&self.name, error.metric_kind());
        self.breaker.on_failure();
        tracing::warn!(variant = %self.name, error = %error, "remote variant WebSocket handshake failed");
        drop(permit);
        self.show_circuit_state();
        Err(error)
    }
}
