//! Logging with tracing: text or JSON lines, level from RUST_LOG (default
//! `info`). Plugin lines carry `plugin=` and `variant=` fields. Lines go to
//! stderr; the access log's in batches (see [`batched_stderr`]).

pub mod access_log;
mod batched_stderr;
pub mod metrics;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::control::config::LogFormat;

pub use batched_stderr::{flush, ACCESS_TARGET};

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let writer = match batched_stderr::BatchedStderr::start() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("variantd: cannot start the log writer thread ({e}); access lines wait until 64 KiB");
            batched_stderr::BatchedStderr
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a person at a terminal, not in collected logs.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
