//! One cached call as it is observed, from its start to its outcome.

use std::time::{Duration, Instant};

use super::{call_finished, Outcome};
use crate::spec::CacheSpec;

/// Whether the `metrics` feature records call durations (then every call reads the clock).
const METRICS: bool = cfg!(feature = "metrics");

/// One cached call as it is observed: its tracing span (DEBUG, target `cacheaside`: set,
/// function, outcome and, when the loader ran, its time in ms; never keys or values), and what
/// it reports to [`call_finished`] when it ends.
pub(crate) struct Call {
    pub(crate) span: tracing::Span,
    /// When the call started, if anyone looks at its duration.
    started: Option<Instant>,
    pub(crate) outcome: Outcome,
    pub(crate) load: Option<Duration>,
}

impl Call {
    /// Starts observing a call of `spec`'s function. Without a subscriber for the span and
    /// without the `metrics` feature, this reads no clock.
    pub(crate) fn start(spec: &'static CacheSpec) -> Call {
        let mut call = Call::new(spec, None);
        if METRICS || !call.span.is_disabled() {
            call.started = Some(Instant::now());
        }
        call
    }

    /// A call of `spec`'s function that started at `started`.
    fn new(spec: &'static CacheSpec, started: Option<Instant>) -> Call {
        let span = tracing::debug_span!(
            target: "cacheaside",
            "cached_call",
            set = spec.set,
            function = spec.function,
            outcome = tracing::field::Empty,
            load_ms = tracing::field::Empty,
        );
        Call {
            started,
            span,
            outcome: Outcome::Bypass,
            load: None,
        }
    }

    /// The time now, if anyone looks at call durations (the `metrics` feature, or a subscriber
    /// of the call spans); for a local-tier lookup, which starts its call only on a hit.
    pub(crate) fn clock() -> Option<Instant> {
        let timed = METRICS || tracing::enabled!(target: "cacheaside", tracing::Level::DEBUG);
        timed.then(Instant::now)
    }

    /// Reports a hit of the local tier, whose lookup started at `started`.
    pub(crate) fn local_hit(spec: &'static CacheSpec, started: Option<Instant>) {
        let mut call = Call::new(spec, started);
        call.outcome = Outcome::LocalHit;
        call.finish(spec);
    }

    /// Records the outcome in the span and reports the finished call.
    pub(crate) fn finish(self, spec: &'static CacheSpec) {
        let elapsed = self
            .started
            .map_or(Duration::ZERO, |started| started.elapsed());
        if !self.span.is_disabled() {
            self.span.record("outcome", self.outcome.as_str());
            if let Some(load) = self.load {
                self.span.record("load_ms", load.as_secs_f64() * 1000.0);
            }
        }
        call_finished(spec.set, self.outcome, elapsed, self.load);
    }
}
