//! Offline sink for statsig's events: one JSON object per line, appended to a file.
//!
//! statsig-rust hands over batches (`LogEventRequest.payload.events`, a JSON
//! array) from its background tasks and on flush. Each batch is written with a
//! single `write_all` of one buffer, under a mutex so concurrent flushes never
//! interleave lines. Exposures (`statsig::*_exposure`) and custom events are
//! kept; statsig's internal telemetry (`statsig::diagnostics`, ...) is dropped.

use async_trait::async_trait;
use serde_json::Value;
use statsig_rust::log_event_payload::LogEventRequest;
use statsig_rust::{EventLoggingAdapter, StatsigErr, StatsigRuntime};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) struct JsonlEventSink {
    path: PathBuf,
    write_lock: Mutex<()>,
    counts: Arc<EventCounts>,
}

/// Events the offline sink wrote, and dropped because the file could not be written.
#[derive(Debug, Default)]
pub struct EventCounts {
    pub written: AtomicU64,
    pub dropped: AtomicU64,
}

impl JsonlEventSink {
    pub(crate) fn new(path: PathBuf, counts: Arc<EventCounts>) -> Self {
        Self {
            path,
            write_lock: Mutex::new(()),
            counts,
        }
    }

    /// Serialises the events worth keeping, one per line.
    fn render(events: &Value) -> (Vec<u8>, usize) {
        let mut buf = Vec::new();
        let mut kept = 0;
        for event in events.as_array().map(Vec::as_slice).unwrap_or_default() {
            let name = event
                .get("eventName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !Self::keep(name) {
                continue;
            }
            if serde_json::to_writer(&mut buf, event).is_ok() {
                buf.push(b'\n');
                kept += 1;
            }
        }
        (buf, kept)
    }

    fn keep(event_name: &str) -> bool {
        !event_name.starts_with("statsig::") || event_name.ends_with("_exposure")
    }

    fn append(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        file.write_all(bytes)
    }
}

#[async_trait]
impl EventLoggingAdapter for JsonlEventSink {
    async fn start(&self, _rt: &Arc<StatsigRuntime>) -> Result<(), StatsigErr> {
        Ok(())
    }

    async fn log_events(&self, request: LogEventRequest) -> Result<bool, StatsigErr> {
        let (bytes, kept) = Self::render(&request.payload.events);
        if kept == 0 {
            return Ok(true);
        }
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        match Self::append(&self.path, &bytes) {
            Ok(()) => {
                self.counts
                    .written
                    .fetch_add(kept as u64, Ordering::Relaxed);
                Ok(true)
            }
            Err(e) => {
                self.counts
                    .dropped
                    .fetch_add(kept as u64, Ordering::Relaxed);
                tracing::warn!(path = %self.path.display(), error = %e, events = kept,
                    "cannot append exposures to the JSONL file; batch dropped");
                // Returning Ok: a retry would fail the same way and only pile up.
                Ok(true)
            }
        }
    }

    async fn shutdown(&self) -> Result<(), StatsigErr> {
        Ok(())
    }

    fn should_schedule_background_flush(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_exposures_and_custom_events_only() {
        let events = json!([
            {"eventName": "statsig::gate_exposure", "user": {"userID": "u"}},
            {"eventName": "statsig::diagnostics"},
            {"eventName": "checkout", "value": 3},
            {"eventName": "statsig::config_exposure"}
        ]);
        let (bytes, kept) = JsonlEventSink::render(&events);
        assert_eq!(kept, 3);
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(!text.contains("diagnostics"));
    }
}
