//! WebSocket upgrades through the daemon: decided like any request (a gated
//! route, and the direct path), relayed both ways to a real WebSocket echo
//! upstream (actix-web + actix-ws in this process), bounded by the message
//! size limit and the idle timeout; a plugin variant answers 501 at once.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use awc::ws::{CloseCode, Frame, Message};
use futures_util::{SinkExt, StreamExt};
use support::*;

/// An echo upstream: `/{side}/...` answers each text message with
/// `{side}:{text}`, binary as is, pings with pongs.
fn echo_upstream() -> SocketAddr {
    async fn echo(
        req: HttpRequest,
        body: web::Payload,
        side: web::Path<(String, String)>,
    ) -> actix_web::Result<HttpResponse> {
        let (resp, mut session, mut messages) = actix_ws::handle(&req, body)?;
        let side = side.into_inner().0;
        actix_web::rt::spawn(async move {
            while let Some(Ok(m)) = messages.recv().await {
                let sent = match m {
                    actix_ws::Message::Text(t) => session.text(format!("{side}:{t}")).await,
                    actix_ws::Message::Binary(b) => session.binary(b).await,
                    actix_ws::Message::Ping(p) => session.pong(&p).await,
                    actix_ws::Message::Close(r) => {
                        let _ = session.close(r).await;
                        return;
                    }
                    _ => Ok(()),
                };
                if sent.is_err() {
                    return;
                }
            }
        });
        Ok(resp)
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server =
                HttpServer::new(|| App::new().route("/{side}/{tail:.*}", web::get().to(echo)))
                    .workers(1)
                    .disable_signals()
                    .bind("127.0.0.1:0")
                    .unwrap();
            tx.send(server.addrs()[0]).unwrap();
            server.run().await
        })
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

fn daemon(echo: SocketAddr) -> Daemon {
    let work = Workdir::new().with_example_plugins();
    work.write_config(&example_config(&format!(
        r#"
[variants.ws_a]
url = "http://{echo}/a"
websocket_max_message_bytes = 1024
websocket_idle_timeout_ms = 800
[variants.ws_b]
url = "http://{echo}/b"

[[routes]]
path = "/chat"
gate = "variant_b"
pass = "ws_b"
fail = "ws_a"
"#
    )));
    work.start()
}

/// Run `f` on an actix runtime of its own (awc is not `Send`).
fn on_actix<T>(f: impl std::future::Future<Output = T>) -> T {
    actix_web::rt::System::new().block_on(f)
}

/// The next frame that is not a ping or pong, within 5 s.
async fn next_frame(
    conn: &mut (impl futures_util::Stream<Item = Result<Frame, awc::error::WsProtocolError>> + Unpin),
) -> Frame {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), conn.next())
            .await
            .expect("a frame within 5 s")
            .expect("the connection is open")
            .expect("a valid frame");
        if !matches!(frame, Frame::Ping(_) | Frame::Pong(_)) {
            return frame;
        }
    }
}

fn text(frame: Frame) -> String {
    match frame {
        Frame::Text(b) => String::from_utf8(b.to_vec()).unwrap(),
        other => panic!("expected text, got {other:?}"),
    }
}

#[test]
fn websockets_are_decided_like_any_request_and_relayed_both_ways() {
    let echo = echo_upstream();
    let d = daemon(echo);
    let url = |path: &str| format!("ws://{}{}", d.addr, path);
    on_actix(async {
        // qa-alice passes the gate: App B's side; user0 stays on A.
        for (user, side) in [("qa-alice", "b"), ("user0", "a")] {
            let (resp, mut conn) = awc::Client::new()
                .ws(url(&format!("/chat?user_key={user}")))
                .connect()
                .await
                .unwrap();
            assert_eq!(resp.status(), 101);
            for i in 0..3 {
                conn.send(Message::Text(format!("hello {i}").into()))
                    .await
                    .unwrap();
                assert_eq!(
                    text(next_frame(&mut conn).await),
                    format!("{side}:hello {i}")
                );
            }
            conn.send(Message::Binary(vec![1u8, 2, 3].into()))
                .await
                .unwrap();
            match next_frame(&mut conn).await {
                Frame::Binary(b) => assert_eq!(&b[..], &[1, 2, 3]),
                other => panic!("{other:?}"),
            }
            conn.send(Message::Close(Some(CloseCode::Normal.into())))
                .await
                .unwrap();
            match next_frame(&mut conn).await {
                Frame::Close(reason) => {
                    assert_eq!(reason.map(|r| r.code), Some(CloseCode::Normal))
                }
                other => panic!("{other:?}"),
            }
        }

        // The direct path, no decision.
        let (_, mut conn) = awc::Client::new()
            .ws(url("/variants/ws_b/anything"))
            .connect()
            .await
            .unwrap();
        conn.send(Message::Text("direct".into())).await.unwrap();
        assert_eq!(text(next_frame(&mut conn).await), "b:direct");

        // A message over ws_a's limit (1024 bytes) closes with 1009.
        let (_, mut conn) = awc::Client::new()
            .ws(url("/chat?user_key=user0"))
            .connect()
            .await
            .unwrap();
        conn.send(Message::Text("x".repeat(2000).into()))
            .await
            .unwrap();
        match next_frame(&mut conn).await {
            Frame::Close(Some(reason)) => assert_eq!(reason.code, CloseCode::Size),
            other => panic!("{other:?}"),
        }

        // Quiet past ws_a's idle timeout (800 ms): closed by the relay.
        let (_, mut conn) = awc::Client::new()
            .ws(url("/chat?user_key=user0"))
            .connect()
            .await
            .unwrap();
        let started = Instant::now();
        match next_frame(&mut conn).await {
            Frame::Close(Some(reason)) => assert_eq!(reason.code, CloseCode::Away),
            other => panic!("{other:?}"),
        }
        assert!(
            started.elapsed() >= Duration::from_millis(700),
            "{:?}",
            started.elapsed()
        );
    });

    let metrics = d.metrics();
    let relayed = metrics.lines().find(|l| {
        l.starts_with("variantd_websocket_connections_total")
            && l.contains("variant=\"ws_b\"")
            && l.contains("outcome=\"relayed\"")
    });
    assert!(relayed.is_some_and(|l| l.ends_with(" 2")), "{metrics}");
}

#[test]
fn upgrades_to_plugin_variants_and_dead_upstreams_are_answered_at_once() {
    // An upstream that is not listening: the relay has nothing to connect to.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let work = Workdir::new().with_example_plugins();
    work.write_config(&example_config(&format!(
        "[variants.gone]\nurl = \"http://{dead}\"\nretries = 0\n[[routes]]\npath = \"/gone\"\nvariant = \"gone\"\n"
    )));
    let d = work.start();
    on_actix(async {
        for (path, status) in [
            ("/process/x?user_key=u1", 501),
            ("/variants/app_c/x", 501),
            ("/gone", 502),
        ] {
            let started = Instant::now();
            let err = tokio::time::timeout(
                Duration::from_secs(5),
                awc::Client::new()
                    .ws(format!("ws://{}{path}", d.addr))
                    .connect(),
            )
            .await
            .expect("answered within 5 s")
            .err()
            .expect("no upgrade");
            match err {
                awc::error::WsClientError::InvalidResponseStatus(s) => {
                    assert_eq!(s.as_u16(), status, "{path}")
                }
                other => panic!("{path}: {other:?}"),
            }
            assert!(started.elapsed() < Duration::from_secs(3), "{path}");
        }
    });
    // The 501 says why, as JSON.
    let r = client()
        .get(d.url("/process/x?user_key=u1"))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .unwrap();
    assert_eq!(r.status(), 501);
    let body: serde_json::Value = r.json().unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("WebSocket"),
        "{body}"
    );
    assert_eq!(body["variant"], "app_a", "{body}");
}
