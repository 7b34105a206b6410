//! What a finished cached call reports beyond the counters of `stats`: its outcome and how long it
//! took, for latency histograms (the `metrics` feature) and the per-call tracing span.
//!
//! The engine calls [`call_finished`] once per cached call, after the value is decided.

use std::time::Duration;

/// How a cached call was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // Variants are reported as the engine learns to tell them apart.
pub(crate) enum Outcome {
    /// Served from Aerospike.
    Hit,
    /// Served from the in-process tier.
    LocalHit,
    /// Not cached: the loader ran.
    Miss,
    /// A stale entry was served because the loader failed (`stale_if_error`).
    Stale,
    /// The cache was skipped (disabled, breaker open, key could not be built).
    Bypass,
    /// The cache failed during the call and the loader answered.
    Error,
}

impl Outcome {
    /// The outcome's name in spans and metric labels.
    #[allow(dead_code)]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::LocalHit => "local_hit",
            Outcome::Miss => "miss",
            Outcome::Stale => "stale",
            Outcome::Bypass => "bypass",
            Outcome::Error => "error",
        }
    }
}

/// Reports one finished call of a function caching into `set`: its outcome, its whole duration,
/// and the loader's duration when the loader ran.
#[allow(dead_code)]
pub(crate) fn call_finished(
    _set: &'static str,
    _outcome: Outcome,
    _elapsed: Duration,
    _load: Option<Duration>,
) {
}
