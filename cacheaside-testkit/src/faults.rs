//! Faults a test can switch on and off while the server runs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::counters::CommandKind;

/// Switchable faults. Every setter takes effect for the next request, on connections old and new.
///
/// Info requests (the client's cluster tending) are never faulted except by
/// [`refuse_connections`](Faults::refuse_connections): a client keeps its node and sees the fault on the
/// commands a test cares about, as it would with a sick but reachable server.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    inner: Arc<FaultState>,
}

#[derive(Debug, Default)]
struct FaultState {
    latency_all: Mutex<Duration>,
    latency_by_kind: Mutex<HashMap<CommandKind, Duration>>,
    stall: AtomicBool,
    reset: AtomicBool,
    refuse: AtomicBool,
    failures: Mutex<Option<(u64, u8)>>,
    corrupt_reads: AtomicU64,
}

/// What the connection handler must do with one data command, decided by [`Faults::plan`].
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct FaultPlan {
    pub(crate) delay: Duration,
    pub(crate) stall: bool,
    pub(crate) reset: bool,
    pub(crate) fail_with: Option<u8>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking test thread must not wedge the server: the state is plain data, still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Faults {
    /// Adds `latency` before every data command's reply (`Duration::ZERO` turns it off).
    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.inner.latency_all) = latency;
    }

    /// Adds `latency` before replies to one kind of command; adds up with [`set_latency`](Self::set_latency).
    pub fn set_latency_for(&self, kind: CommandKind, latency: Duration) {
        lock(&self.inner.latency_by_kind).insert(kind, latency);
    }

    /// Reads data commands but never answers them, so clients run into their timeouts.
    pub fn set_stall(&self, on: bool) {
        self.inner.stall.store(on, Ordering::Relaxed);
    }

    /// Resets the connection (TCP RST) when a data command arrives, instead of answering it.
    pub fn set_reset_connections(&self, on: bool) {
        self.inner.reset.store(on, Ordering::Relaxed);
    }

    /// Resets every new connection right after accepting it; existing connections keep working.
    pub fn refuse_connections(&self, on: bool) {
        self.inner.refuse.store(on, Ordering::Relaxed);
    }

    /// Answers the next `count` data commands with `result_code` (e.g. 1 server error, 14 hot key)
    /// without executing them.
    pub fn fail_next(&self, count: u64, result_code: u8) {
        *lock(&self.inner.failures) = (count > 0).then_some((count, result_code));
    }

    /// Flips the bits of every bin value in the next `count` replies that carry bin data.
    pub fn corrupt_next_reads(&self, count: u64) {
        self.inner.corrupt_reads.store(count, Ordering::Relaxed);
    }

    /// Switches every fault off.
    pub fn clear(&self) {
        self.set_latency(Duration::ZERO);
        lock(&self.inner.latency_by_kind).clear();
        self.set_stall(false);
        self.set_reset_connections(false);
        self.refuse_connections(false);
        self.fail_next(0, 0);
        self.corrupt_next_reads(0);
    }

    pub(crate) fn refusing(&self) -> bool {
        self.inner.refuse.load(Ordering::Relaxed)
    }

    /// Decides the faults for one data command; consumes one "fail next" if one is pending.
    pub(crate) fn plan(&self, kind: CommandKind) -> FaultPlan {
        let delay = *lock(&self.inner.latency_all)
            + lock(&self.inner.latency_by_kind)
                .get(&kind)
                .copied()
                .unwrap_or_default();
        let fail_with = {
            let mut failures = lock(&self.inner.failures);
            match *failures {
                Some((remaining, code)) => {
                    *failures = (remaining > 1).then(|| (remaining - 1, code));
                    Some(code)
                }
                None => None,
            }
        };
        FaultPlan {
            delay,
            stall: self.inner.stall.load(Ordering::Relaxed),
            reset: self.inner.reset.load(Ordering::Relaxed),
            fail_with,
        }
    }

    /// Takes one pending corruption, if any.
    pub(crate) fn take_corruption(&self) -> bool {
        self.inner
            .corrupt_reads
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_next_is_consumed_one_command_at_a_time() {
        let faults = Faults::default();
        faults.fail_next(2, 14);
        assert_eq!(faults.plan(CommandKind::Read).fail_with, Some(14));
        assert_eq!(faults.plan(CommandKind::Write).fail_with, Some(14));
        assert_eq!(faults.plan(CommandKind::Read).fail_with, None);
    }

    #[test]
    fn latencies_add_up_per_kind() {
        let faults = Faults::default();
        faults.set_latency(Duration::from_millis(5));
        faults.set_latency_for(CommandKind::Read, Duration::from_millis(7));
        assert_eq!(
            faults.plan(CommandKind::Read).delay,
            Duration::from_millis(12)
        );
        assert_eq!(
            faults.plan(CommandKind::Write).delay,
            Duration::from_millis(5)
        );
    }

    #[test]
    fn corruption_counts_down_to_zero() {
        let faults = Faults::default();
        faults.corrupt_next_reads(1);
        assert!(faults.take_corruption());
        assert!(!faults.take_corruption());
    }
}
