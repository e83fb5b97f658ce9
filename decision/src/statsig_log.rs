//! statsig-rust's own log output, routed to `tracing` (target `statsig`).
//!
//! Without an `output_logger_provider`, `Statsig::new` installs a global `log`
//! logger (simple_logger) or lowers an existing one; with this provider it does
//! neither. statsig's level is set to Warn; the daemon's tracing filter decides
//! the rest. statsig masks only part of a secret key in its messages, so every
//! message is scrubbed again here (registered keys and anything `secret-...`).

use crate::settings::{scrub_secret_keys, SecretKey};
use statsig_rust::output_logger::{LogLevel, OutputLogProvider};
use std::sync::RwLock;

/// Keys of live engines in this process; statsig's logger is process-wide.
static KEYS: RwLock<Vec<SecretKey>> = RwLock::new(Vec::new());

pub(crate) fn register_secret(key: &SecretKey) {
    let mut keys = KEYS.write().unwrap_or_else(|p| p.into_inner());
    if !keys.contains(key) {
        keys.push(key.clone());
    }
}

fn scrub(msg: String) -> String {
    let keys = KEYS.read().unwrap_or_else(|p| p.into_inner());
    let mut msg = msg;
    for key in keys.iter().filter(|k| !k.expose().is_empty()) {
        msg = msg.replace(key.expose(), "[redacted]");
    }
    scrub_secret_keys(&msg)
}

pub(crate) const STATSIG_LOG_LEVEL: LogLevel = LogLevel::Warn;

pub(crate) struct TracingOutputLogger;

impl OutputLogProvider for TracingOutputLogger {
    fn initialize(&self) {}

    fn debug(&self, tag: &str, msg: String) {
        tracing::debug!(target: "statsig", tag, "{}", scrub(msg));
    }

    fn info(&self, tag: &str, msg: String) {
        tracing::info!(target: "statsig", tag, "{}", scrub(msg));
    }

    fn warn(&self, tag: &str, msg: String) {
        tracing::warn!(target: "statsig", tag, "{}", scrub(msg));
    }

    fn error(&self, tag: &str, msg: String) {
        tracing::error!(target: "statsig", tag, "{}", scrub(msg));
    }

    fn shutdown(&self) {}
}
