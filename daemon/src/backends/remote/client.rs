//! awc clients, one per worker thread and remote variant: awc's connection
//! pool is per client and not `Send`, so each actix worker keeps its own,
//! created on first use and reused for every later request.

use std::cell::RefCell;
use std::time::Duration;

use crate::control::config::RemoteConfig;
use crate::tls::client::Built;

thread_local! {
    /// Variant name → (what it was built with, client). Foldhash: looked up
    /// on every proxied request, by names that come from config.
    static CLIENTS: RefCell<foldhash::HashMap<String, (BuiltWith, awc::Client)>> =
        RefCell::new(foldhash::HashMap::default());
}

/// What a pooled client depends on: a change makes a new pool.
#[derive(Clone, Copy, PartialEq, Eq)]
struct BuiltWith {
    connect_timeout_ms: u64,
    /// The TLS configuration's generation (0 for plain http).
    tls_generation: u64,
}

pub(super) fn for_variant(name: &str, config: &RemoteConfig, tls: Option<&Built>) -> awc::Client {
    let with = BuiltWith {
        connect_timeout_ms: config.connect_timeout_ms,
        tls_generation: tls.map_or(0, |t| t.generation),
    };
    CLIENTS.with(|clients| {
        let mut clients = clients.borrow_mut();
        // Looked up by &str: no allocation on the hot path.
        if let Some((built_with, client)) = clients.get(name) {
            if *built_with == with {
                return client.clone();
            }
        }
        // First use on this worker, or the variant's connect timeout or its
        // TLS files changed: a new pool (the old one closes when its last
        // request ends).
        let client = build(config, tls.map(|t| t.http.clone()));
        clients.insert(name.to_string(), (with, client.clone()));
        client
    })
}

/// A client for one WebSocket upgrade: not pooled (the connection becomes
/// the tunnel), HTTP/1.1 only, bounded by the connect timeout and `timeout`
/// for the handshake.
pub(super) fn for_websocket(
    config: &RemoteConfig,
    tls: Option<&Built>,
    timeout: Duration,
) -> awc::Client {
    let mut connector = awc::Connector::new()
        .timeout(Duration::from_millis(config.connect_timeout_ms))
        .handshake_timeout(Duration::from_millis(config.connect_timeout_ms))
        .max_http_version(actix_web::http::Version::HTTP_11);
    if let Some(t) = tls {
        connector = connector.rustls_0_23(t.websocket.clone());
    }
    awc::Client::builder()
        .connector(connector)
        .disable_redirects()
        .timeout(timeout)
        .finish()
}

fn build(config: &RemoteConfig, tls: Option<std::sync::Arc<rustls::ClientConfig>>) -> awc::Client {
    let mut connector = awc::Connector::new()
        .timeout(Duration::from_millis(config.connect_timeout_ms))
        // The TLS handshake is part of connecting, and bounded alike.
        .handshake_timeout(Duration::from_millis(config.connect_timeout_ms))
        // Idle pooled connections are dropped before a typical upstream
        // closes them (actix-web: 5 s), so a request is rarely written into a
        // connection the upstream is closing (non-idempotent requests are not
        // retried).
        .conn_keep_alive(Duration::from_secs(4))
        .limit(256);
    if let Some(tls) = tls {
        // After `max_http_version` would be too late: that one replaces the
        // TLS configuration with awc's own.
        connector = connector.rustls_0_23(tls);
    }
    awc::Client::builder()
        .connector(connector)
        .disable_redirects()
        // Each request sets its own timeout: what is left of its budget.
        .timeout(Duration::from_millis(config.timeout_ms))
        .finish()
}
