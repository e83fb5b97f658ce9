//! awc clients, one per worker thread and remote variant: awc's connection
//! pool is per client and not `Send`, so each actix worker keeps its own,
//! created on first use and reused for every later request.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use crate::config::RemoteConfig;

thread_local! {
    static CLIENTS: RefCell<HashMap<(String, u64), awc::Client>> = RefCell::new(HashMap::new());
}

pub(super) fn for_variant(name: &str, config: &RemoteConfig) -> awc::Client {
    let key = (name.to_string(), config.connect_timeout_ms);
    CLIENTS.with(|clients| {
        clients
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| {
                let connector = awc::Connector::new()
                    .timeout(Duration::from_millis(config.connect_timeout_ms))
                    .limit(256);
                awc::Client::builder()
                    .connector(connector)
                    .disable_redirects()
                    // Per-request timeouts are set on each request.
                    .timeout(Duration::from_millis(config.timeout_ms))
                    .finish()
            })
            .clone()
    })
}
