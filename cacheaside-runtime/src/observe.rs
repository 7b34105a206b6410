//! What a finished cached call reports beyond the counters of `stats`: its outcome and how long it
//! took, for latency histograms (the `metrics` feature) and the per-call tracing span.
//!
//! The engine calls [`call_finished`] once per cached call, after the value is decided.

use std::time::Duration;

pub(crate) use crate::events::Outcome;

/// Reports one finished call of a function caching into `set`: its outcome, its whole duration,
/// and the loader's duration when the loader ran.
pub(crate) fn call_finished(
    set: &'static str,
    outcome: Outcome,
    elapsed: Duration,
    load: Option<Duration>,
) {
    #[cfg(feature = "metrics")]
    counters_of(set)
        .exported()
        .call_finished(outcome, elapsed, load);
    #[cfg(not(feature = "metrics"))]
    let _ = (set, outcome, elapsed, load);
}

/// The counters of `set`, remembered per thread for the last set seen: a thread serving one
/// function's calls skips the registry's lock and hash on each of them. (Two literals of one name
/// at different addresses only miss this memo; they share one entry of the registry.)
#[cfg(feature = "metrics")]
fn counters_of(set: &'static str) -> &'static crate::stats::SetCounters {
    use std::cell::Cell;
    type Last = Option<(&'static str, &'static crate::stats::SetCounters)>;
    thread_local! {
        static LAST: Cell<Last> = const { Cell::new(None) };
    }
    LAST.with(|last| match last.get() {
        Some((name, counters)) if core::ptr::eq(name, set) => counters,
        _ => {
            let counters = crate::stats::counters(set);
            last.set(Some((set, counters)));
            counters
        }
    })
}

#[cfg(all(test, feature = "metrics"))]
mod metrics_tests;
