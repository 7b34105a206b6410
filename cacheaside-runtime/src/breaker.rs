//! The circuit breaker: while the cluster fails, calls stop paying for cache operations.
//!
//! Closed, it lets every operation through and counts failures in a row: timeouts, lost or
//! refused connections, and server answers that say the server is unwell (see
//! [`is_failure`]). [`FAILURES_TO_OPEN`] in a row open it: for a pause (the reconnect interval)
//! calls bypass the cache without touching the network, so their added latency is a few atomic
//! loads. After the pause it is half-open: one call at a time is let through as a probe; an
//! answer closes the breaker (caching resumes), a failure opens it for another pause.
//!
//! Per-record answers (not found, generation mismatch, record too big, forbidden TTL, ...) are
//! answers: they close the breaker rather than count as failures.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aerospike::ResultCode;

use crate::{Error, ErrorKind};

/// Failures in a row that open the breaker.
pub(crate) const FAILURES_TO_OPEN: u32 = 5;

/// A change of state that the caller reports and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Closed → open: calls bypass the cache.
    Opened,
    /// Half-open → closed: a probe was answered, caching resumes.
    Closed,
}

/// Whether an operation's error counts against the cluster's health.
pub(crate) fn is_failure(error: &Error) -> bool {
    match error.kind() {
        ErrorKind::Timeout | ErrorKind::Unavailable => true,
        ErrorKind::Server => matches!(
            error.server_code(),
            Some(
                ResultCode::ServerError
                    | ResultCode::ClusterKeyMismatch
                    | ResultCode::ServerMemError
                    | ResultCode::Timeout
                    | ResultCode::PartitionUnavailable
                    | ResultCode::DeviceOverload
            )
        ),
        ErrorKind::Config | ErrorKind::Key | ErrorKind::Encode => false,
    }
}

/// Lock-free state: relaxed atomics are enough, since a stale view only lets one more call
/// through or keeps one more call out.
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    failures_in_a_row: AtomicU32,
    /// Milliseconds since [`epoch`] until which calls bypass; 0 = closed.
    open_until: AtomicU64,
    /// When the current half-open probe was let through; 0 = none.
    probe_since: AtomicU64,
}

impl Breaker {
    /// Whether a call may use the cache now. Half-open, only one call at a time is admitted, as
    /// a probe; a probe that never reports (its call ended before any operation) is replaced
    /// after `probe_expiry` (in milliseconds). `now` comes from [`now_millis`].
    pub(crate) fn admits_at(&self, now: u64, probe_expiry: u64) -> bool {
        let open_until = self.open_until.load(Ordering::Relaxed);
        if open_until == 0 {
            return true;
        }
        if now < open_until {
            return false;
        }
        let probe_since = self.probe_since.load(Ordering::Relaxed);
        if probe_since != 0 && now.saturating_sub(probe_since) < probe_expiry {
            return false;
        }
        self.probe_since
            .compare_exchange(probe_since, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Records an operation's outcome (`failed`: see [`is_failure`]); a failure that completes a
    /// run, or a failed probe, opens the breaker for `pause`.
    pub(crate) fn record(&self, failed: bool, pause: Duration) -> Option<Transition> {
        if failed {
            self.record_at(now_millis(), true, millis(pause))
        } else {
            // An answer needs no clock, and a healthy breaker no write.
            self.record_answer()
        }
    }

    /// An answer: ends a run of failures and closes an open breaker.
    fn record_answer(&self) -> Option<Transition> {
        if self.failures_in_a_row.load(Ordering::Relaxed) != 0 {
            self.failures_in_a_row.store(0, Ordering::Relaxed);
        }
        if self.open_until.load(Ordering::Relaxed) != 0
            && self.open_until.swap(0, Ordering::Relaxed) != 0
        {
            self.probe_since.store(0, Ordering::Relaxed);
            return Some(Transition::Closed);
        }
        None
    }

    fn record_at(&self, now: u64, failed: bool, pause: u64) -> Option<Transition> {
        if !failed {
            return self.record_answer();
        }
        let run = self
            .failures_in_a_row
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        let was_open = self.open_until.load(Ordering::Relaxed) != 0;
        if !was_open && run < FAILURES_TO_OPEN {
            return None;
        }
        // Opens, or (a failed probe, a late failure) stays open for another pause.
        self.open_until
            .store(now.saturating_add(pause).max(1), Ordering::Relaxed);
        self.probe_since.store(0, Ordering::Relaxed);
        (!was_open).then_some(Transition::Opened)
    }
}

/// `duration` in whole milliseconds, saturating.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Monotonic milliseconds since the first use, at least 1 so that 0 can mean "none".
pub(crate) fn now_millis() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    millis(EPOCH.get_or_init(Instant::now).elapsed()).saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAUSE: u64 = 1_000;
    const EXPIRY: u64 = 100;

    fn opened(breaker: &Breaker, now: u64) {
        for _ in 1..FAILURES_TO_OPEN {
            assert_eq!(breaker.record_at(now, true, PAUSE), None);
            assert!(breaker.admits_at(now, EXPIRY));
        }
        assert_eq!(
            breaker.record_at(now, true, PAUSE),
            Some(Transition::Opened)
        );
    }

    #[test]
    fn opens_after_a_run_of_failures_and_keeps_calls_out_for_the_pause() {
        let breaker = Breaker::default();
        opened(&breaker, 10);
        assert!(!breaker.admits_at(10, EXPIRY));
        assert!(!breaker.admits_at(10 + PAUSE - 1, EXPIRY));
    }

    #[test]
    fn an_answer_resets_the_run() {
        let breaker = Breaker::default();
        for _ in 1..FAILURES_TO_OPEN {
            breaker.record_at(10, true, PAUSE);
        }
        assert_eq!(breaker.record_at(10, false, PAUSE), None);
        assert_eq!(breaker.record_at(10, true, PAUSE), None);
        assert!(breaker.admits_at(10, EXPIRY));
    }

    #[test]
    fn half_open_admits_one_probe_and_an_answer_closes_it() {
        let breaker = Breaker::default();
        opened(&breaker, 10);
        let later = 10 + PAUSE;
        assert!(breaker.admits_at(later, EXPIRY), "the probe");
        assert!(!breaker.admits_at(later, EXPIRY), "one probe at a time");
        assert_eq!(
            breaker.record_at(later, false, PAUSE),
            Some(Transition::Closed)
        );
        assert!(breaker.admits_at(later, EXPIRY));
        assert!(breaker.admits_at(later, EXPIRY));
    }

    #[test]
    fn a_failed_probe_opens_it_for_another_pause() {
        let breaker = Breaker::default();
        opened(&breaker, 10);
        let later = 10 + PAUSE;
        assert!(breaker.admits_at(later, EXPIRY));
        assert_eq!(
            breaker.record_at(later, true, PAUSE),
            None,
            "not a new opening"
        );
        assert!(!breaker.admits_at(later + 1, EXPIRY));
        assert!(breaker.admits_at(later + PAUSE, EXPIRY), "the next probe");
    }

    #[test]
    fn a_lost_probe_is_replaced_after_its_expiry() {
        let breaker = Breaker::default();
        opened(&breaker, 10);
        let later = 10 + PAUSE;
        assert!(breaker.admits_at(later, EXPIRY));
        assert!(!breaker.admits_at(later + EXPIRY - 1, EXPIRY));
        assert!(breaker.admits_at(later + EXPIRY, EXPIRY));
    }

    #[test]
    fn only_health_errors_count_as_failures() {
        let server = |code| {
            let mut error = Error::new(ErrorKind::Server, "x");
            error.set_server_code(code);
            error
        };
        assert!(is_failure(&Error::new(ErrorKind::Timeout, "x")));
        assert!(is_failure(&Error::new(ErrorKind::Unavailable, "x")));
        assert!(is_failure(&server(ResultCode::ServerError)));
        assert!(is_failure(&server(ResultCode::DeviceOverload)));
        assert!(!is_failure(&server(ResultCode::GenerationError)));
        assert!(!is_failure(&server(ResultCode::RecordTooBig)));
        assert!(!is_failure(&server(ResultCode::FailForbidden)));
        assert!(!is_failure(&Error::new(ErrorKind::Encode, "x")));
    }
}
