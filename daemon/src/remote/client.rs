//! awc clients, one per worker thread and remote variant: awc's connection
//! pool is per client and not `Send`, so each actix worker keeps its own,
//! created on first use and reused for every later request.

use std::cell::RefCell;
use std::time::Duration;

use crate::config::RemoteConfig;

thread_local! {
    /// Variant name → (connect timeout it was built with, client). Foldhash:
    /// looked up on every proxied request, by names that come from config.
    static CLIENTS: RefCell<foldhash::HashMap<String, (u64, awc::Client)>> =
        RefCell::new(foldhash::HashMap::default());
}

pub(super) fn for_variant(name: &str, config: &RemoteConfig) -> awc::Client {
    CLIENTS.with(|clients| {
        let mut clients = clients.borrow_mut();
        // Looked up by &str: no allocation on the hot path.
        if let Some((connect_timeout_ms, client)) = clients.get(name) {
            if *connect_timeout_ms == config.connect_timeout_ms {
                return client.clone();
            }
        }
        // First use on this worker, or the variant's connect timeout changed
        // on a reload: a new pool (the old one closes when its last request ends).
        let client = build(config);
        clients.insert(
            name.to_string(),
            (config.connect_timeout_ms, client.clone()),
        );
        client
    })
}

fn build(config: &RemoteConfig) -> awc::Client {
    let connector = awc::Connector::new()
        .timeout(Duration::from_millis(config.connect_timeout_ms))
        // Idle pooled connections are dropped before a typical upstream
        // closes them (actix-web: 5 s), so a request is rarely written into a
        // connection the upstream is closing (non-idempotent requests are not
        // retried).
        .conn_keep_alive(Duration::from_secs(4))
        .limit(256);
    awc::Client::builder()
        .connector(connector)
        .disable_redirects()
        // Each request sets its own timeout: what is left of its budget.
        .timeout(Duration::from_millis(config.timeout_ms))
        .finish()
}
