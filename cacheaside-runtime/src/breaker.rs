//! A circuit breaker for a slow cluster: after a run of timeouts, calls stop paying the
//! operation timeout and bypass the cache for a pause, then try again.
//!
//! A refused connection fails in microseconds and needs no breaker (the client notices the node
//! is gone and calls bypass the cache); a stalled one costs the full operation timeout per
//! operation, which is what this bounds.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Timeouts in a row that open the breaker.
pub(crate) const TIMEOUTS_TO_OPEN: u32 = 5;

/// Counts timeouts in a row; open while `open_until` is in the future.
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    timeouts_in_a_row: AtomicU32,
    /// Milliseconds since [`epoch`]; 0 = closed.
    open_until: AtomicU64,
}

impl Breaker {
    /// Whether calls should bypass the cache now.
    pub(crate) fn is_open(&self) -> bool {
        now_millis() < self.open_until.load(Ordering::Relaxed)
    }

    /// Records an operation's outcome; a timeout that completes a run opens the breaker for
    /// `pause`. The run is only reset by an answer, so after the pause a single further timeout
    /// opens it again.
    pub(crate) fn record(&self, timed_out: bool, pause: Duration) {
        if !timed_out {
            self.timeouts_in_a_row.store(0, Ordering::Relaxed);
            return;
        }
        let run = self
            .timeouts_in_a_row
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if run >= TIMEOUTS_TO_OPEN {
            let pause = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX);
            self.open_until
                .store(now_millis().saturating_add(pause), Ordering::Relaxed);
        }
    }
}

/// Monotonic milliseconds since the first use, at least 1 so that 0 can mean "closed".
fn now_millis() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let elapsed = EPOCH.get_or_init(Instant::now).elapsed();
    u64::try_from(elapsed.as_millis())
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(3600);

    #[test]
    fn opens_after_a_run_of_timeouts() {
        let breaker = Breaker::default();
        for _ in 1..TIMEOUTS_TO_OPEN {
            breaker.record(true, LONG);
            assert!(!breaker.is_open());
        }
        breaker.record(true, LONG);
        assert!(breaker.is_open());
    }

    #[test]
    fn an_answer_resets_the_run() {
        let breaker = Breaker::default();
        for _ in 1..TIMEOUTS_TO_OPEN {
            breaker.record(true, LONG);
        }
        breaker.record(false, LONG);
        breaker.record(true, LONG);
        assert!(!breaker.is_open());
    }

    #[test]
    fn closes_after_the_pause_and_reopens_on_the_next_timeout() {
        let breaker = Breaker::default();
        for _ in 0..TIMEOUTS_TO_OPEN {
            breaker.record(true, Duration::ZERO);
        }
        assert!(!breaker.is_open(), "a zero pause has already passed");
        breaker.record(true, LONG);
        assert!(
            breaker.is_open(),
            "one more timeout after the pause opens it again"
        );
    }
}
