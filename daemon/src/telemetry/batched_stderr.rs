//! Stderr for log lines, with the access log written in batches: one `write`
//! per 64 KiB or per 100 ms, not one per request.
//!
//! Why: with the shipped config (access log on) and stderr read through a
//! pipe, as a container runtime or journald reads it, a `write` per request
//! cost plugin mode about half its throughput: 79,299 req/s (median of five
//! rounds) against 139,806 batched and 162,029 with the access log off
//! (BENCHMARKS.md, "2026-11-25, third session — the access log in batches",
//! first table); most of it was the switch to the reader each write woke.
//! Every other line (control path, plugins, warnings, an error access line)
//! goes out at once, after the access lines already waiting, so the order is
//! kept.
//!
//! The reference is writing each line straight to stderr as it comes; the
//! tests check that [`Batch`] hands its sink the very same bytes, in whole
//! lines and in order.

use std::io::{self, Write};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// The access log's tracing target.
pub const ACCESS_TARGET: &str = "access";
/// Waiting access lines are written once they reach this size…
const BATCH_BYTES: usize = 64 * 1024;
/// …or are this old, whichever comes first.
const BATCH_AGE: Duration = Duration::from_millis(100);

/// Lines not written yet; never more than `BATCH_BYTES` plus one line.
static PENDING: Mutex<Batch<Stderr>> = Mutex::new(Batch::new(Stderr));

/// Lines waiting for one `write` to their sink (stderr, or a test's buffer).
struct Batch<S: Write> {
    pending: Vec<u8>,
    sink: S,
}

impl<S: Write> Batch<S> {
    const fn new(sink: S) -> Batch<S> {
        Batch {
            pending: Vec::new(),
            sink,
        }
    }

    /// One line: it waits if `batched`, until the batch reaches
    /// [`BATCH_BYTES`]; otherwise it goes out at once, after what waits.
    #[inline]
    fn line(&mut self, line: &[u8], batched: bool) -> io::Result<()> {
        self.pending.extend_from_slice(line);
        if !batched || self.pending.len() >= BATCH_BYTES {
            self.write_out()?;
        }
        Ok(())
    }

    /// Everything waiting, now.
    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let _ = self.write_out();
        }
    }

    /// One `write` for everything waiting. The lines are dropped even if it
    /// fails (a closed stderr), so the buffer stays bounded.
    fn write_out(&mut self) -> io::Result<()> {
        let result = self.sink.write_all(&self.pending);
        self.pending.clear();
        result
    }
}

/// The process's stderr, locked for each write.
struct Stderr;

impl Write for Stderr {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        io::stderr().lock().write(bytes)
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        io::stderr().lock().write_all(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().lock().flush()
    }
}

/// The `MakeWriter` for the fmt layer: access lines at info and below wait,
/// everything else is written at once.
#[derive(Clone, Copy, Default)]
pub struct BatchedStderr;

impl BatchedStderr {
    /// Start the thread that writes waiting lines every [`BATCH_AGE`].
    pub fn start() -> std::io::Result<BatchedStderr> {
        std::thread::Builder::new()
            .name("variantd-log".into())
            .spawn(|| loop {
                std::thread::sleep(BATCH_AGE);
                flush();
            })?;
        Ok(BatchedStderr)
    }
}

/// One event's writer (the fmt layer writes each line with one `write_all`).
pub struct LineWriter {
    batched: bool,
}

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter { batched: false }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> LineWriter {
        LineWriter {
            // Levels order by verbosity: INFO and more verbose wait.
            batched: meta.target() == ACCESS_TARGET && *meta.level() >= Level::INFO,
        }
    }
}

impl Write for LineWriter {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        pending().line(line, self.batched)?;
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Write every waiting line now (the flusher thread, and before exit).
pub fn flush() {
    pending().flush();
}

fn pending() -> MutexGuard<'static, Batch<Stderr>> {
    PENDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that keeps each `write` apart.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl Write for Writes {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.push(bytes.to_vec());
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Access lines of varying length, every 997th an error line that goes
    /// out at once, a flush now and then: enough to fill many batches.
    fn lines() -> Vec<(Vec<u8>, bool)> {
        (0..20_000)
            .map(|i| {
                let batched = i % 997 != 0;
                let line = format!("line {i} {}\n", "x".repeat(i % 300));
                (line.into_bytes(), batched)
            })
            .collect()
    }

    #[test]
    fn batches_carry_the_bytes_one_write_per_line_would_in_whole_lines_in_order() {
        let mut reference = Vec::new();
        let mut batch = Batch::new(Writes::default());
        for (i, (line, batched)) in lines().into_iter().enumerate() {
            // The reference: each line straight to the sink.
            reference.write_all(&line).unwrap();
            batch.line(&line, batched).unwrap();
            assert!(batch.pending.len() < BATCH_BYTES, "bounded");
            if !batched {
                assert!(
                    batch.pending.is_empty(),
                    "a line that may not wait went out"
                );
            }
            if i % 5_000 == 4_999 {
                batch.flush();
            }
        }
        batch.flush();
        let writes = batch.sink.0;
        assert!(writes.iter().all(|w| w.ends_with(b"\n")), "whole lines");
        assert!(
            writes.len() < 200,
            "{} writes for 20,000 lines",
            writes.len()
        );
        assert_eq!(writes.concat(), reference, "the same bytes, in order");
        assert!(
            writes.iter().any(|w| w.len() >= BATCH_BYTES),
            "a full batch"
        );
    }

    #[test]
    fn a_failed_write_drops_its_lines_and_the_next_ones_still_go_out() {
        struct Closed(usize);
        impl Write for Closed {
            fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
                self.0 += 1;
                if self.0 == 1 {
                    Err(io::ErrorKind::BrokenPipe.into())
                } else {
                    Ok(bytes.len())
                }
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut batch = Batch::new(Closed(0));
        batch.line(b"access\n", true).unwrap();
        assert!(batch.line(b"error\n", false).is_err());
        assert!(batch.pending.is_empty());
        batch.line(b"later\n", false).unwrap();
        assert_eq!(batch.sink.0, 2);
    }
}
