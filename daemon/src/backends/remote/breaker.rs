//! A per-variant circuit breaker: opens after N consecutive failures, lets one
//! probe through after a cool-down (half-open), closes on its success.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// Gauge value for metrics: 0 closed, 1 open, 2 half-open.
    pub fn as_gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::Open => 1.0,
            BreakerState::HalfOpen => 2.0,
        }
    }
}

pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    consecutive_failures: AtomicU32,
    open_until: Mutex<Option<Instant>>,
    probing: AtomicBool,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            consecutive_failures: AtomicU32::new(0),
            open_until: Mutex::new(None),
            probing: AtomicBool::new(false),
        }
    }

    pub fn state(&self) -> BreakerState {
        let open_until = *self.open_until.lock().unwrap_or_else(|p| p.into_inner());
        match open_until {
            None => BreakerState::Closed,
            Some(t) if Instant::now() < t => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// Leave for a request to go upstream now, if it may: in half-open state
    /// only one probe may. The permit gives a half-open probe
    /// back if the request is abandoned (the caller went away, the future was
    /// dropped) before `on_success`/`on_failure`: without it the breaker would
    /// stay half-open with its one probe slot taken, failing every request
    /// forever.
    pub fn admit(&self) -> Option<Permit<'_>> {
        match self.state() {
            BreakerState::Closed => Some(Permit {
                breaker: self,
                probe: false,
            }),
            BreakerState::Open => None,
            BreakerState::HalfOpen => {
                (!self.probing.swap(true, Ordering::AcqRel)).then_some(Permit {
                    breaker: self,
                    probe: true,
                })
            }
        }
    }

    /// Retries are pointless once the breaker has opened.
    pub fn allow_retry(&self) -> bool {
        self.state() == BreakerState::Closed
    }

    pub fn on_success(&self) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
        let mut open = self.open_until.lock().unwrap_or_else(|p| p.into_inner());
        if open.take().is_some() {
            tracing::info!("circuit closed: upstream answered again");
        }
        self.probing.store(false, Ordering::Release);
    }

    pub fn on_failure(&self) {
        let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        let was_probe = self.probing.swap(false, Ordering::AcqRel);
        if was_probe || failures >= self.threshold {
            let mut open = self.open_until.lock().unwrap_or_else(|p| p.into_inner());
            *open = Some(Instant::now() + self.cooldown);
        }
    }
}

/// Leave to send one request upstream; see [`Breaker::admit`].
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        // Resolved probes already cleared the flag; clearing it again is harmless.
        if self.probe {
            self.breaker.probing.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Admit a request whose outcome the test reports itself: the permit is
    /// forgotten, so a half-open probe keeps its slot until then.
    fn allow(b: &Breaker) -> bool {
        b.admit().map(std::mem::forget).is_some()
    }

    #[test]
    fn opens_after_threshold_then_probes_once_then_closes() {
        let b = Breaker::new(3, Duration::from_millis(30));
        for _ in 0..2 {
            assert!(allow(&b));
            b.on_failure();
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.on_failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!allow(&b));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(allow(&b), "one probe");
        assert!(!allow(&b), "only one probe at a time");
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(allow(&b));
    }

    #[test]
    fn abandoned_probe_frees_the_slot() {
        let b = Breaker::new(1, Duration::from_millis(20));
        b.on_failure();
        std::thread::sleep(Duration::from_millis(30));
        let probe = b.admit().expect("half-open lets one probe through");
        assert!(b.admit().is_none(), "only one probe at a time");
        drop(probe);
        assert!(
            b.admit().is_some(),
            "a dropped, unresolved probe gives its slot back"
        );
    }

    #[test]
    fn failed_probe_reopens() {
        let b = Breaker::new(1, Duration::from_millis(20));
        b.on_failure();
        assert!(!allow(&b));
        std::thread::sleep(Duration::from_millis(30));
        assert!(allow(&b));
        b.on_failure();
        assert_eq!(b.state(), BreakerState::Open);
    }
}
