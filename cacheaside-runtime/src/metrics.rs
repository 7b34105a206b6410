//! Metrics exported through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`).
//!
//! With the feature on, every counter of [`stats`](crate::stats) is also a `metrics` counter, and
//! every call of an annotated function records its duration in a histogram. They go to the
//! recorder the application installs (for Prometheus, `metrics-exporter-prometheus`); with no
//! recorder installed they go nowhere. A recorder installed at any time receives every event
//! from then on; the counters of [`stats`](crate::stats) count from the start either way.
//!
//! | metric | type | labels | what |
//! | --- | --- | --- | --- |
//! | `cacheaside_hits_total` | counter | `set` | [`SetStats::hits`](crate::SetStats::hits) |
//! | `cacheaside_misses_total` | counter | `set` | [`SetStats::misses`](crate::SetStats::misses) |
//! | `cacheaside_loads_total` | counter | `set` | [`SetStats::loads`](crate::SetStats::loads) |
//! | `cacheaside_load_errors_total` | counter | `set` | [`SetStats::load_errors`](crate::SetStats::load_errors) |
//! | `cacheaside_cache_errors_total` | counter | `set` | [`SetStats::cache_errors`](crate::SetStats::cache_errors) |
//! | `cacheaside_undecodable_total` | counter | `set` | [`SetStats::undecodable`](crate::SetStats::undecodable) |
//! | `cacheaside_writes_total` | counter | `set` | [`SetStats::writes`](crate::SetStats::writes) |
//! | `cacheaside_coalesced_total` | counter | `set` | [`SetStats::coalesced`](crate::SetStats::coalesced) |
//! | `cacheaside_stale_writes_prevented_total` | counter | `set` | [`SetStats::stale_writes_prevented`](crate::SetStats::stale_writes_prevented) |
//! | `cacheaside_breaker_opens_total` | counter | `set` | [`SetStats::breaker_opens`](crate::SetStats::breaker_opens) |
//! | `cacheaside_ttl_forbidden_skips_total` | counter | `set` | [`SetStats::ttl_forbidden_skips`](crate::SetStats::ttl_forbidden_skips) |
//! | `cacheaside_oversize_total` | counter | `set` | [`SetStats::oversize`](crate::SetStats::oversize) |
//! | `cacheaside_refreshes_ahead_total` | counter | `set` | [`SetStats::refreshes_ahead`](crate::SetStats::refreshes_ahead) |
//! | `cacheaside_stale_served_total` | counter | `set` | [`SetStats::stale_served`](crate::SetStats::stale_served) |
//! | `cacheaside_soft_timeouts_total` | counter | `set` | [`SetStats::soft_timeouts`](crate::SetStats::soft_timeouts) |
//! | `cacheaside_local_hits_total` | counter | `set` | [`SetStats::local_hits`](crate::SetStats::local_hits) |
//! | `cacheaside_touches_total` | counter | `set` | [`SetStats::touches`](crate::SetStats::touches) |
//! | `cacheaside_bypassed_total` | counter | `set` | [`SetStats::bypassed`](crate::SetStats::bypassed) |
//! | `cacheaside_call_duration_seconds` | histogram | `set`, `outcome` | how long a call of an annotated function took, by how it was answered: `hit`, `local_hit`, `miss`, `stale`, `bypass` or `error` |
//! | `cacheaside_load_duration_seconds` | histogram | `set` | how long the function's body (the loader) took, when it ran |
//!
//! Labels hold only set names and outcomes, never keys, arguments or values: the number of
//! series is fixed by the number of annotated sets, and nothing private leaves the process.
//!
//! Descriptions and units (Prometheus `# HELP` lines) are given to the recorder when a set is
//! first used; call [`describe`] after installing a recorder later than that.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // At start-up, before the first cached call:
//! let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
//! // ... and in the handler of `GET /metrics`:
//! let body: String = prometheus.render();
//! # let _ = body;
//! # Ok(()) }
//! ```

use std::time::Duration;

use ::metrics::{Key, KeyName, Label, Level, Metadata, SharedString, Unit};

use crate::events::{Event, Outcome};

/// Name and description of the counter of each [`Event`], at its index.
pub(crate) const COUNTERS: [(&str, &str); Event::COUNT] = [
    ("cacheaside_hits_total", "Calls answered from the cache."),
    (
        "cacheaside_misses_total",
        "Calls that ran the function's body.",
    ),
    (
        "cacheaside_loads_total",
        "Runs of the function's body (the loader).",
    ),
    (
        "cacheaside_load_errors_total",
        "Loads whose result was not cacheable (an Err or a None).",
    ),
    (
        "cacheaside_cache_errors_total",
        "Failed or timed-out cache operations; none reached the caller.",
    ),
    (
        "cacheaside_undecodable_total",
        "Entries found but not decodable as the expected type.",
    ),
    ("cacheaside_writes_total", "Values written to the cache."),
    (
        "cacheaside_coalesced_total",
        "Calls answered by a concurrent call of the same key (single-flight).",
    ),
    (
        "cacheaside_stale_writes_prevented_total",
        "Write-backs refused because the entry changed after the read that missed.",
    ),
    (
        "cacheaside_breaker_opens_total",
        "Times the circuit breaker opened.",
    ),
    (
        "cacheaside_ttl_forbidden_skips_total",
        "Values not written because their namespace refuses records with a TTL.",
    ),
    (
        "cacheaside_oversize_total",
        "Values not written because their record would exceed the size limit.",
    ),
    (
        "cacheaside_refreshes_ahead_total",
        "Background refreshes started by refresh_ahead.",
    ),
    (
        "cacheaside_stale_served_total",
        "Calls answered with a value past its TTL because the body failed or was slow (stale_if_error).",
    ),
    (
        "cacheaside_soft_timeouts_total",
        "Calls answered with a value past its TTL because the body had not answered within soft_timeout.",
    ),
    (
        "cacheaside_local_hits_total",
        "Hits answered by the in-process tier of local(...).",
    ),
    ("cacheaside_touches_total", "TTL resets by touch_on_read."),
    (
        "cacheaside_bypassed_total",
        "Cache operations skipped because the cluster, or the part holding the key, was failing.",
    ),
    (
        "cacheaside_invalidations_kept_total",
        "Invalidations, evicts and puts that could not reach the cluster, kept to be retried.",
    ),
    (
        "cacheaside_invalidations_recovered_total",
        "Kept invalidations that landed on a retry.",
    ),
    (
        "cacheaside_remote_changes_total",
        "Changes announced by other processes that dropped keys from the local tiers (backplane).",
    ),
    (
        "cacheaside_lease_waits_total",
        "Calls that waited for another process's load (lease) and got its value.",
    ),
];

pub(crate) const CALL_DURATION: &str = "cacheaside_call_duration_seconds";
pub(crate) const LOAD_DURATION: &str = "cacheaside_load_duration_seconds";

/// What every metric of this crate is registered with.
static METADATA: Metadata<'static> = Metadata::new("cacheaside", Level::INFO, Some(module_path!()));

/// Gives the installed recorder the description and unit of every metric of this crate.
///
/// This happens by itself when a set is first used; call it after installing a recorder
/// once cached calls have already been made, to get the descriptions (Prometheus `# HELP`)
/// of the sets used before. Calling it again does no harm.
pub fn describe() {
    ::metrics::with_recorder(|recorder| {
        for (name, help) in COUNTERS {
            recorder.describe_counter(
                KeyName::from_const_str(name),
                Some(Unit::Count),
                SharedString::const_str(help),
            );
        }
        recorder.describe_histogram(
            KeyName::from_const_str(CALL_DURATION),
            Some(Unit::Seconds),
            SharedString::const_str(
                "Duration of calls of cached functions, by outcome \
                 (hit, local_hit, miss, stale, bypass, error).",
            ),
        );
        recorder.describe_histogram(
            KeyName::from_const_str(LOAD_DURATION),
            Some(Unit::Seconds),
            SharedString::const_str("Duration of the function's body (the loader)."),
        );
    });
}

/// The metric keys of one set, built once when the set is first used, so that an event
/// costs a lookup in the recorder and no allocation.
#[derive(Debug)]
pub(crate) struct SetMetrics {
    counters: [Key; Event::COUNT],
    calls: [Key; 6],
    load: Key,
}

/// Labels live as long as the set's counters, which are never freed: leaking them lets the
/// keys borrow them, so recorders copy nothing when they look a key up.
fn leak(labels: Vec<Label>) -> &'static [Label] {
    Box::leak(labels.into_boxed_slice())
}

impl SetMetrics {
    pub(crate) fn new(set: &'static str) -> SetMetrics {
        let by_set = leak(vec![Label::from_static_parts("set", set)]);
        let metrics = SetMetrics {
            counters: COUNTERS.map(|(name, _)| Key::from_static_parts(name, by_set)),
            calls: Outcome::ALL.map(|outcome| {
                let labels = leak(vec![
                    Label::from_static_parts("set", set),
                    Label::from_static_parts("outcome", outcome.as_str()),
                ]);
                Key::from_static_parts(CALL_DURATION, labels)
            }),
            load: Key::from_static_parts(LOAD_DURATION, by_set),
        };
        describe();
        metrics
    }

    pub(crate) fn count(&self, event: Event) {
        let key = &self.counters[event as usize];
        ::metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA).increment(1));
    }

    pub(crate) fn call_finished(
        &self,
        outcome: Outcome,
        elapsed: Duration,
        load: Option<Duration>,
    ) {
        let call = &self.calls[outcome as usize];
        ::metrics::with_recorder(|recorder| {
            recorder
                .register_histogram(call, &METADATA)
                .record(elapsed.as_secs_f64());
            if let Some(load) = load {
                recorder
                    .register_histogram(&self.load, &METADATA)
                    .record(load.as_secs_f64());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_hold_set_names_and_outcomes_only() {
        let metrics = SetMetrics::new("observe_test_labels");
        let keys = metrics.counters.iter().chain(&metrics.calls);
        for key in keys.chain([&metrics.load]) {
            for label in key.labels() {
                match label.key() {
                    "set" => assert_eq!(label.value(), "observe_test_labels"),
                    "outcome" => assert!(Outcome::ALL
                        .iter()
                        .any(|outcome| outcome.as_str() == label.value())),
                    other => panic!("unexpected label {other}"),
                }
            }
        }
    }
}
