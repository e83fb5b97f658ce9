//! Connections and requests over the daemon's life: how many connections are
//! open (against `server.max_connections`), how many requests are in
//! flight, and the moment a graceful stop begins, which requests still
//! waiting on a client give up at.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::Extensions;
use tokio::sync::watch;

/// Counts open connections; past the limit it says so (a metric for each,
/// a log line at most every 10 s), while actix makes new ones wait.
#[derive(Clone)]
pub struct ConnectionLimit {
    inner: Arc<Counts>,
}

struct Counts {
    open: AtomicUsize,
    limit: usize,
    last_warned_secs: AtomicU64,
}

/// Lives in a connection's extensions; dropped when the connection closes.
struct OpenConnection(Arc<Counts>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let open = self.0.open.fetch_sub(1, Ordering::Relaxed) - 1;
        metrics::gauge!("variantd_connections_open").set(open as f64);
    }
}

impl ConnectionLimit {
    pub fn new(limit: usize) -> ConnectionLimit {
        ConnectionLimit {
            inner: Arc::new(Counts {
                open: AtomicUsize::new(0),
                limit,
                last_warned_secs: AtomicU64::new(0),
            }),
        }
    }

    /// actix's `on_connect`: count the connection until it closes.
    pub fn opened(&self, extensions: &mut Extensions) {
        let counts = &self.inner;
        let open = counts.open.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!("variantd_connections_open").set(open as f64);
        extensions.insert(OpenConnection(counts.clone()));
        if open >= counts.limit {
            metrics::counter!("variantd_connection_limit_reached_total").increment(1);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_secs();
            let last = counts.last_warned_secs.load(Ordering::Relaxed);
            if now >= last + 10
                && counts
                    .last_warned_secs
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                tracing::warn!(
                    open,
                    limit = counts.limit,
                    "server.max_connections reached; new connections wait until others close"
                );
            }
        }
    }
}

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Marks one request in flight until dropped.
pub struct InFlight(());

impl InFlight {
    pub fn start() -> InFlight {
        IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Requests started and not finished (a graceful stop that timed out left
/// these unanswered).
pub fn in_flight() -> usize {
    IN_FLIGHT.load(Ordering::Relaxed)
}

static STOPPING: LazyLock<watch::Sender<bool>> = LazyLock::new(|| watch::channel(false).0);

/// A graceful stop has begun.
pub fn begin_shutdown() {
    STOPPING.send_replace(true);
}

/// Resolves once a graceful stop has begun (at once if it has).
pub async fn shutdown_begun() {
    let mut stopping = STOPPING.subscribe();
    let _ = stopping.wait_for(|s| *s).await;
}
