//! What the engine reports about itself (for /status, readiness probes, logs).

use serde::Serialize;

/// A snapshot of the engine's state. Never contains the API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineStatus {
    /// "offline" (no API key) or "live".
    pub mode: &'static str,
    /// Where the specs in use came from: "file", "live" (Statsig's network) or "none".
    pub source: &'static str,
    /// Whether real specs are loaded. When false every decision is the spec's default.
    pub ready: bool,
    /// The loaded document's `time` (ms since the epoch); `None` when nothing is loaded.
    pub specs_time: Option<u64>,
    /// When the engine last saw new specs applied (ms since the epoch).
    pub loaded_at: Option<u64>,
    /// Age of the loaded configuration: seconds since `specs_time`.
    pub age_seconds: Option<u64>,
    /// Counter bumped on every successful (re)load.
    pub specs_version: u64,
    /// The local specs file.
    pub specs_path: String,
    /// The latest problem: unreadable/invalid specs file, refused reload, or (live)
    /// Statsig unreachable while serving from the file. `None` when all is well.
    pub last_error: Option<String>,
    pub gates: Vec<String>,
    pub experiments: Vec<String>,
    pub dynamic_configs: Vec<String>,
    /// Offline: exposures and events appended to the JSONL file so far.
    pub events_written: u64,
    /// Offline: exposures and events lost because the file could not be
    /// written for so long that over 64 MiB of them waited.
    pub events_dropped: u64,
    /// Offline: writes to the JSONL file that failed (their events are kept
    /// and written again with the next flush).
    pub events_write_failures: u64,
}
