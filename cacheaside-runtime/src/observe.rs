//! What a finished cached call reports beyond the counters of `stats`: its outcome and how long it
//! took, for latency histograms (the `metrics` feature) and the per-call tracing span.
//!
//! The engine starts a [`Call`] for each cached call and finishes it once the value is decided;
//! a hit of a local tier reports itself with [`Call::local_hit`].

use std::time::Duration;

pub(crate) use crate::events::Outcome;
pub(crate) use call::Call;

mod call;

/// Reports one finished call of a function caching into `set`: its outcome, its whole duration,
/// and the loader's duration when the loader ran.
pub(crate) fn call_finished(
    set: &'static str,
    outcome: Outcome,
    elapsed: Duration,
    load: Option<Duration>,
) {
    #[cfg(feature = "metrics")]
    crate::stats::counters(set)
        .exported()
        .call_finished(outcome, elapsed, load);
    #[cfg(not(feature = "metrics"))]
    let _ = (set, outcome, elapsed, load);
}

#[cfg(all(test, feature = "metrics"))]
mod metrics_tests;
