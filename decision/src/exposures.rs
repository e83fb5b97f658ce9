//! Offline sink for statsig's events: one JSON object per line, appended to a file.
//!
//! statsig-rust hands over batches (`LogEventRequest.payload.events`, a JSON
//! array) from its background tasks and on flush (the engine flushes at
//! least once a second, so a crash loses at most that much). Each batch is
//! written with a single `write_all` of one buffer, under a mutex so
//! concurrent flushes never interleave lines. Exposures (`statsig::*_exposure`)
//! and custom events are kept; statsig's internal telemetry
//! (`statsig::diagnostics`, ...) is dropped.
//!
//! The file only ever grows by whole lines: a write that fails part-way is
//! cut back to where it started, and its events are kept in memory and
//! written again with the next batch (bounded: past [`MAX_PENDING_BYTES`]
//! the oldest are dropped and counted). Before the file would grow past its
//! size limit it is rotated: `file` becomes `file.1`, `file.1` becomes
//! `file.2`, and so on, keeping `keep` of them.

use async_trait::async_trait;
use serde_json::Value;
use statsig_rust::log_event_payload::LogEventRequest;
use statsig_rust::{EventLoggingAdapter, StatsigErr, StatsigRuntime};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Events kept in memory for a retry after failed writes, at most.
pub const MAX_PENDING_BYTES: usize = 64 * 1024 * 1024;

/// When the exposures file is rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before the file would grow past this; 0 = never.
    pub max_bytes: u64,
    /// Rotated files kept besides the current one.
    pub keep: usize,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_bytes: 256 * 1024 * 1024,
            keep: 5,
        }
    }
}

pub(crate) struct JsonlEventSink {
    path: PathBuf,
    rotation: Rotation,
    /// Lines not yet on disk (a failed write's), and how many events they hold.
    pending: Mutex<(Vec<u8>, u64)>,
    counts: Arc<EventCounts>,
}

/// Events the offline sink wrote, dropped (past the retry bound), and
/// writes that failed (and were retried).
#[derive(Debug, Default)]
pub struct EventCounts {
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub write_failures: AtomicU64,
}

impl JsonlEventSink {
    pub(crate) fn new(path: PathBuf, rotation: Rotation, counts: Arc<EventCounts>) -> Self {
        Self {
            path,
            rotation,
            pending: Mutex::new((Vec::new(), 0)),
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

    /// Appends `bytes` (whole lines) to the file, rotating it first if they
    /// would take it past the limit. On error the file is as it was.
    fn append(&self, bytes: &[u8]) -> std::io::Result<()> {
        let path = &self.path;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if self.rotation.max_bytes > 0
            && len > 0
            && len + bytes.len() as u64 > self.rotation.max_bytes
        {
            rotate(path, self.rotation.keep)?;
        }
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        let before = file.metadata()?.len();
        if let Err(e) = file.write_all(bytes) {
            // A partial line would corrupt the line after it too.
            let _ = file.set_len(before);
            return Err(e);
        }
        Ok(())
    }
}

/// `path` → `path.1` → `path.2` … → `path.keep` (the oldest is replaced).
fn rotate(path: &Path, keep: usize) -> std::io::Result<()> {
    let numbered = |n: usize| {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    };
    if keep == 0 {
        return std::fs::remove_file(path);
    }
    for n in (1..keep).rev() {
        let from = numbered(n);
        if from.exists() {
            std::fs::rename(&from, numbered(n + 1))?;
        }
    }
    std::fs::rename(path, numbered(1))
}

#[async_trait]
impl EventLoggingAdapter for JsonlEventSink {
    async fn start(&self, _rt: &Arc<StatsigRuntime>) -> Result<(), StatsigErr> {
        Ok(())
    }

    async fn log_events(&self, request: LogEventRequest) -> Result<bool, StatsigErr> {
        let (bytes, kept) = Self::render(&request.payload.events);
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if kept == 0 && pending.1 == 0 {
            return Ok(true);
        }
        pending.0.extend_from_slice(&bytes);
        pending.1 += kept as u64;
        match self.append(&pending.0) {
            Ok(()) => {
                self.counts.written.fetch_add(pending.1, Ordering::Relaxed);
                pending.0.clear();
                pending.1 = 0;
            }
            Err(e) => {
                self.counts.write_failures.fetch_add(1, Ordering::Relaxed);
                let events = pending.1;
                if pending.0.len() > MAX_PENDING_BYTES {
                    self.counts.dropped.fetch_add(events, Ordering::Relaxed);
                    pending.0.clear();
                    pending.1 = 0;
                    tracing::error!(path = %self.path.display(), error = %e, events,
                        "cannot append exposures to the JSONL file; over 64 MiB waiting, dropped");
                } else {
                    tracing::warn!(path = %self.path.display(), error = %e, events,
                        "cannot append exposures to the JSONL file; kept in memory, retried with the next flush");
                }
            }
        }
        // Ok either way: statsig's own retry would re-send the batch, which
        // is already kept here.
        Ok(true)
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

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn rotates_before_the_limit_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exposures.jsonl");
        let sink = JsonlEventSink::new(
            path.clone(),
            Rotation {
                max_bytes: 100,
                keep: 2,
            },
            Arc::new(EventCounts::default()),
        );
        let line = |i: usize| format!("{{\"eventName\":\"e\",\"i\":{i:040}}}\n");
        for i in 0..5 {
            sink.append(line(i).as_bytes()).unwrap();
        }
        // 57-byte lines, at most 100 bytes a file: one line each.
        assert_eq!(lines(&path).len(), 1);
        assert!(lines(&path)[0].contains(&format!("{:040}", 4)));
        assert!(lines(&dir.path().join("exposures.jsonl.1"))[0].contains(&format!("{:040}", 3)));
        assert!(lines(&dir.path().join("exposures.jsonl.2"))[0].contains(&format!("{:040}", 2)));
        assert!(!dir.path().join("exposures.jsonl.3").exists());
    }

    #[tokio::test]
    async fn a_failed_write_is_kept_and_written_with_the_next_batch() {
        let dir = tempfile::tempdir().unwrap();
        // The file's place is a directory for now: every write fails.
        let path = dir.path().join("blocked");
        std::fs::create_dir(&path).unwrap();
        let counts = Arc::new(EventCounts::default());
        let sink = JsonlEventSink::new(path.clone(), Rotation::default(), counts.clone());
        let batch = |name: &str| LogEventRequest {
            payload: statsig_rust::log_event_payload::LogEventPayload {
                events: json!([{ "eventName": name }]),
                statsig_metadata: json!({}),
            },
            event_count: 1,
            retries: 0,
        };
        sink.log_events(batch("first")).await.unwrap();
        assert_eq!(counts.write_failures.load(Ordering::Relaxed), 1);
        assert_eq!(counts.written.load(Ordering::Relaxed), 0);
        std::fs::remove_dir(&path).unwrap();
        sink.log_events(batch("second")).await.unwrap();
        assert_eq!(counts.written.load(Ordering::Relaxed), 2);
        assert_eq!(counts.dropped.load(Ordering::Relaxed), 0);
        let written = lines(&path);
        assert_eq!(written.len(), 2, "{written:?}");
        assert!(written[0].contains("first") && written[1].contains("second"));
    }
}
