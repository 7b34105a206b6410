//! The circuit breakers: while the cluster, or a part of it, fails, calls stop paying for cache
//! operations that would fail.
//!
//! Two failure domains, each a [`Pause`] (closed, open, half-open):
//! - **Partitions** ([`PartitionGates`]): an operation that fails pauses its key's partition (one
//!   of Aerospike's 4,096), for reads or for writes alone. The partitions that failed on one
//!   node probe one at a time; a node that fails again after its pause has the rest of its
//!   partitions paused too (`owners`), and its keys read from their replicas meanwhile (the
//!   client's `fallback`). A node that dies thus costs the keys it holds, and nothing else: the
//!   rest of the cluster keeps serving.
//! - **The cluster** ([`Breaker`]): [`FAILURES_TO_OPEN`] failures in a row, from more than one
//!   node (or from a cluster of one node, or with no node at all), open it for every call: the
//!   whole cluster is failing, and each call would pay a timeout.
//!
//! Open, a domain keeps its calls out for a pause (the cluster: the reconnect interval; a
//! partition: a quarter of it, at most the tend interval); their added latency
//! is a few atomic loads. Then it is half-open: one operation at a time is let through as a
//! probe, and the probe alone decides: its answer closes the domain, its failure opens it for
//! another pause. Answers and failures of operations sent before the domain opened change
//! nothing, so it does not flap.
//!
//! Per-record answers (not found, generation mismatch, record too big, forbidden TTL, ...) are
//! answers: they close the breaker rather than count as failures.
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aerospike::ResultCode;

use crate::error::Origin;
use crate::{Error, ErrorKind};

mod owners;
pub(crate) mod partitions;

pub(crate) use owners::{mastered_elsewhere, other_nodes};

pub(crate) use partitions::PartitionGates;

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

/// How an operation was let through a [`Pause`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// The domain is closed: the operation's outcome only counts towards opening it.
    Closed,
    /// The domain is half-open and this operation is its probe: its outcome decides.
    Probe,
}

/// One failure domain's pause. Lock-free: relaxed atomics are enough, since a stale view only
/// lets one more operation through or keeps one more out.
#[derive(Debug, Default)]
pub(crate) struct Pause {
    /// Milliseconds since [`epoch`] until which operations are kept out; 0 = closed.
    open_until: AtomicU64,
    /// When the current half-open probe was let through; 0 = none.
    probe_since: AtomicU64,
}

impl Pause {
    /// [`admits_at`](Self::admits_at), reading the clock only when the domain is not closed:
    /// `clock` gives `now` and `probe_expiry`.
    #[inline]
    pub(crate) fn admits(&self, clock: impl FnOnce() -> (u64, u64)) -> Option<Admission> {
        if self.open_until.load(Ordering::Relaxed) == 0 {
            return Some(Admission::Closed);
        }
        let (now, probe_expiry) = clock();
        self.admits_at(now, probe_expiry)
    }

    /// Whether an operation may go now, and how (`None`: keep it out). Half-open, only one
    /// operation at a time is admitted, as a probe; a probe that never reports (its call ended
    /// before it did) is replaced after `probe_expiry` (in milliseconds). `now` comes from
    /// [`now_millis`].
    #[inline]
    pub(crate) fn admits_at(&self, now: u64, probe_expiry: u64) -> Option<Admission> {
        let open_until = self.open_until.load(Ordering::Relaxed);
        if open_until == 0 {
            return Some(Admission::Closed);
        }
        if now < open_until {
            return None;
        }
        let probe_since = self.probe_since.load(Ordering::Relaxed);
        if probe_since != 0 && now.saturating_sub(probe_since) < probe_expiry {
            return None;
        }
        self.probe_since
            .compare_exchange(probe_since, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
            .then_some(Admission::Probe)
    }

    /// Gives back a probe admitted by [`admits_at`](Self::admits_at) that will not be sent.
    fn release_probe(&self) {
        self.probe_since.store(0, Ordering::Relaxed);
    }

    fn is_open(&self) -> bool {
        self.open_until.load(Ordering::Relaxed) != 0
    }

    /// Keeps operations out until `now + pause` (milliseconds); `true` if it was closed.
    fn open(&self, now: u64, pause: u64) -> bool {
        let was = self
            .open_until
            .swap(now.saturating_add(pause).max(1), Ordering::Relaxed);
        self.probe_since.store(0, Ordering::Relaxed);
        was == 0
    }

    /// Keeps operations out until `now + pause` if it is closed; `true` if it was.
    fn open_if_closed(&self, now: u64, pause: u64) -> bool {
        let until = now.saturating_add(pause).max(1);
        self.open_until
            .compare_exchange(0, until, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Lets operations through again; `true` if it was open.
    fn close(&self) -> bool {
        if self.is_open() && self.open_until.swap(0, Ordering::Relaxed) != 0 {
            self.probe_since.store(0, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// The outcome of an operation this pause let through; `true` if it opened (from closed).
    /// Closed, a failure opens it when `opens` says so (the caller counts its run); open, only
    /// the probe's outcome counts.
    fn record(
        &self,
        admission: Admission,
        failed: bool,
        opens: bool,
        now: u64,
        pause: u64,
    ) -> bool {
        match (admission, failed) {
            (Admission::Probe, false) => {
                self.close();
                false
            }
            (Admission::Probe, true) => {
                // A probe of a domain closed meanwhile (by another probe) is a plain failure.
                if self.is_open() {
                    self.open(now, pause);
                    false
                } else {
                    opens && self.open(now, pause)
                }
            }
            (Admission::Closed, true) => opens && !self.is_open() && self.open(now, pause),
            (Admission::Closed, false) => false,
        }
    }
}

/// The cluster's breaker (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    failures_in_a_row: AtomicU32,
    /// The nodes the current run of failures came from: one bit per node (a hash of its name),
    /// and [`NO_NODE`] for failures that named none.
    run_nodes: AtomicU64,
    pause: Pause,
}

/// The bit of [`Breaker::run_nodes`] for failures with no node.
const NO_NODE: u64 = 1 << 63;

/// The outcome of an operation, as the breakers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The cluster answered (an error about the record is an answer too).
    Answered,
    /// The operation failed (see [`is_failure`]); the node it failed on, when known, as a hash
    /// of its name.
    Failed(Option<u64>),
}

impl Outcome {
    pub(crate) fn of<T>(result: &Result<T, Error>) -> Outcome {
        match result {
            Err(error) if is_failure(error) => Outcome::Failed(match error.origin() {
                Origin::Node(node) => Some(node),
                Origin::Unknown | Origin::Bypassed => None,
            }),
            _ => Outcome::Answered,
        }
    }
}

impl Breaker {
    /// Whether a call may use the cache now (see [`Pause::admits`]).
    #[inline]
    pub(crate) fn admits(&self, clock: impl FnOnce() -> (u64, u64)) -> Option<Admission> {
        self.pause.admits(clock)
    }

    #[cfg(test)]
    fn admits_at(&self, now: u64, probe_expiry: u64) -> Option<Admission> {
        self.pause.admits_at(now, probe_expiry)
    }

    /// Records an operation's outcome; opens the breaker for `pause` when a run of failures
    /// spans the cluster: more than one node, a failure with no node, or `single_node()` (asked
    /// only then) says the cluster has one node.
    pub(crate) fn record(
        &self,
        outcome: Outcome,
        admission: Admission,
        pause: Duration,
        single_node: impl FnOnce() -> bool,
    ) -> Option<Transition> {
        match outcome {
            // An answer needs no clock, and a healthy breaker no write.
            Outcome::Answered => self.record_answer(admission),
            Outcome::Failed(node) => {
                self.record_failure(now_millis(), node, admission, millis(pause), single_node)
            }
        }
    }

    /// An answer ends a run of failures; the probe's answer closes an open breaker.
    fn record_answer(&self, admission: Admission) -> Option<Transition> {
        if self.failures_in_a_row.load(Ordering::Relaxed) != 0 {
            self.failures_in_a_row.store(0, Ordering::Relaxed);
            self.run_nodes.store(0, Ordering::Relaxed);
        }
        (admission == Admission::Probe && self.pause.close()).then_some(Transition::Closed)
    }

    fn record_failure(
        &self,
        now: u64,
        node: Option<u64>,
        admission: Admission,
        pause: u64,
        single_node: impl FnOnce() -> bool,
    ) -> Option<Transition> {
        if self.pause.is_open() {
            self.pause.record(admission, true, false, now, pause);
            return None;
        }
        let run = self
            .failures_in_a_row
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        let bit = node.map_or(NO_NODE, |node| 1 << (node % 63));
        let nodes = self.run_nodes.fetch_or(bit, Ordering::Relaxed) | bit;
        let spans_cluster = || nodes.count_ones() > 1 || nodes & NO_NODE != 0 || single_node();
        let opens = run >= FAILURES_TO_OPEN && spans_cluster();
        self.pause
            .record(admission, true, opens, now, pause)
            .then_some(Transition::Opened)
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
    const NODE_A: Option<u64> = Some(1);
    const NODE_B: Option<u64> = Some(2);

    fn fail(
        breaker: &Breaker,
        now: u64,
        node: Option<u64>,
        admission: Admission,
    ) -> Option<Transition> {
        breaker.record_failure(now, node, admission, PAUSE, || false)
    }

    /// Opens `breaker` with failures from two nodes.
    fn opened(breaker: &Breaker, now: u64) {
        for n in 1..FAILURES_TO_OPEN {
            let node = if n % 2 == 0 { NODE_A } else { NODE_B };
            assert_eq!(fail(breaker, now, node, Admission::Closed), None);
            assert_eq!(breaker.admits_at(now, EXPIRY), Some(Admission::Closed));
        }
        assert_eq!(
            fail(breaker, now, NODE_A, Admission::Closed),
            Some(Transition::Opened)
        );
    }

    #[test]
    fn opens_after_a_run_of_failures_and_keeps_calls_out_for_the_pause() {
        let breaker = Breaker::default();
        opened(&breaker, 10);
        assert_eq!(breaker.admits_at(10, EXPIRY), None);
        assert_eq!(breaker.admits_at(10 + PAUSE - 1, EXPIRY), None);
    }

    #[test]
    fn failures_of_one_node_of_several_do_not_open_it() {
        let breaker = Breaker::default();
        for _ in 0..10 * FAILURES_TO_OPEN {
            assert_eq!(fail(&breaker, 10, NODE_A, Admission::Closed), None);
        }
        assert_eq!(breaker.admits_at(10, EXPIRY), Some(Admission::Closed));
        // ... unless the cluster has that one node, or the failures name no node.
        assert_eq!(
            breaker.record_failure(10, NODE_A, Admission::Closed, PAUSE, || true),
            Some(Transition::Opened)
        );
        let no_node = Breaker::default();
        for _ in 1..FAILURES_TO_OPEN {
            fail(&no_node, 10, None, Admission::Closed);
        }
        assert_eq!(
            fail(&no_node, 10, None, Admission::Closed),
            Some(Transition::Opened)
        );
    }

    #[test]
    fn an_answer_resets_the_run() {
        let breaker = Breaker::default();
        for _ in 1..FAILURES_TO_OPEN {
            fail(&breaker, 10, None, Admission::Closed);
        }
        assert_eq!(breaker.record_answer(Admission::Closed), None);
        assert_eq!(fail(&breaker, 10, None, Admission::Closed), None);
        assert_eq!(breaker.admits_at(10, EXPIRY), Some(Admission::Closed));
    }

    #[test]
    fn half_open_admits_one_probe_and_its_answer_closes_it() {
        let breaker = Breaker::default();
        opened(&breaker, 10);
        let later = 10 + PAUSE;
        assert_eq!(breaker.admits_at(later, EXPIRY), Some(Admission::Probe));
        assert_eq!(
            breaker.admits_at(later, EXPIRY),
            None,
            "one probe at a time"
        );
        assert_eq!(
            breaker.record_answer(Admission::Probe),
            Some(Transition::Closed)
        );
        assert_eq!(breaker.admits_at(later, EXPIRY), Some(Admission::Closed));
    }

    #[test]
    fn late_outcomes_do_not_close_or_extend_it() {
        let breaker = Breaker::default();
        opened(&breaker, 10);
        assert_eq!(
            breaker.record_answer(Admission::Closed),
            None,
            "an answer to an operation sent before it opened"
        );
        assert_eq!(breaker.admits_at(11, EXPIRY), None, "still open");
        assert_eq!(fail(&breaker, 500, NODE_A, Admission::Closed), None);
        assert_eq!(
            breaker.admits_at(10 + PAUSE, EXPIRY),
            Some(Admission::Probe),
            "a late failure did not extend the pause"
        );
    }

    #[test]
    fn a_failed_probe_opens_it_for_another_pause() {
        let breaker = Breaker::default();
        opened(&breaker, 10);
        let later = 10 + PAUSE;
        assert_eq!(breaker.admits_at(later, EXPIRY), Some(Admission::Probe));
        assert_eq!(
            fail(&breaker, later, NODE_A, Admission::Probe),
            None,
            "not a new opening"
        );
        assert_eq!(breaker.admits_at(later + 1, EXPIRY), None);
        assert_eq!(
            breaker.admits_at(later + PAUSE, EXPIRY),
            Some(Admission::Probe),
            "the next probe"
        );
    }

    #[test]
    fn a_lost_probe_is_replaced_after_its_expiry() {
        let breaker = Breaker::default();
        opened(&breaker, 10);
        let later = 10 + PAUSE;
        assert_eq!(breaker.admits_at(later, EXPIRY), Some(Admission::Probe));
        assert_eq!(breaker.admits_at(later + EXPIRY - 1, EXPIRY), None);
        assert_eq!(
            breaker.admits_at(later + EXPIRY, EXPIRY),
            Some(Admission::Probe)
        );
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
