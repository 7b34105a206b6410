//! What a finished cached call reports beyond the counters of `stats`: its outcome and how long it
//! took, for latency histograms (the `metrics` feature) and the per-call tracing span.
//!
//! The engine calls [`call_finished`] once per cached call, after the value is decided.

use std::time::Duration;

/// How a cached call was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Every outcome, in declaration order (`outcome as usize` is its index here).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) const ALL: [Outcome; 6] = [
        Outcome::Hit,
        Outcome::LocalHit,
        Outcome::Miss,
        Outcome::Stale,
        Outcome::Bypass,
        Outcome::Error,
    ];

    /// The outcome's name in spans and metric labels.
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

#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics {
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
    //! | `cacheaside_local_hits_total` | counter | `set` | [`SetStats::local_hits`](crate::SetStats::local_hits) |
    //! | `cacheaside_touches_total` | counter | `set` | [`SetStats::touches`](crate::SetStats::touches) |
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

    use super::Outcome;
    use crate::stats::Event;

    /// Name and description of the counter of each [`Event`], at its index.
    const COUNTERS: [(&str, &str); 16] = [
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
            "Calls answered with a value past its TTL because the body failed (stale_if_error).",
        ),
        (
            "cacheaside_local_hits_total",
            "Hits answered by the in-process tier of local(...).",
        ),
        ("cacheaside_touches_total", "TTL resets by touch_on_read."),
    ];

    const CALL_DURATION: &str = "cacheaside_call_duration_seconds";
    const LOAD_DURATION: &str = "cacheaside_load_duration_seconds";

    /// What every metric of this crate is registered with.
    static METADATA: Metadata<'static> =
        Metadata::new("cacheaside", Level::INFO, Some(module_path!()));

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
        counters: [Key; 16],
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
            ::metrics::with_recorder(|recorder| {
                recorder.register_counter(key, &METADATA).increment(1)
            });
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
        use std::collections::BTreeMap;
        use std::sync::{Arc, Mutex};

        use ::metrics::{Counter, CounterFn, Gauge, Histogram, HistogramFn, Recorder};

        use super::*;
        use crate::stats::{self, SetStats};

        /// Records what it is given as `name{label=value,…}` lines.
        #[derive(Default)]
        struct Capture {
            counters: Mutex<BTreeMap<String, Arc<Total>>>,
            histograms: Mutex<BTreeMap<String, Arc<Samples>>>,
            described: Mutex<BTreeMap<String, (Option<Unit>, String)>>,
        }

        #[derive(Default)]
        struct Total(Mutex<u64>);

        impl CounterFn for Total {
            fn increment(&self, value: u64) {
                *self.0.lock().unwrap() += value;
            }
            fn absolute(&self, value: u64) {
                *self.0.lock().unwrap() = value;
            }
        }

        #[derive(Default)]
        struct Samples(Mutex<Vec<f64>>);

        impl HistogramFn for Samples {
            fn record(&self, value: f64) {
                self.0.lock().unwrap().push(value);
            }
        }

        fn series(key: &Key) -> String {
            let labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            format!("{}{{{}}}", key.name(), labels.join(","))
        }

        impl Recorder for Capture {
            fn describe_counter(&self, key: KeyName, unit: Option<Unit>, help: SharedString) {
                let described = (unit, help.into_owned());
                self.described
                    .lock()
                    .unwrap()
                    .insert(key.as_str().to_owned(), described);
            }
            fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
            fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, help: SharedString) {
                self.describe_counter(key, unit, help);
            }
            fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
                let mut counters = self.counters.lock().unwrap();
                Counter::from_arc(counters.entry(series(key)).or_default().clone())
            }
            fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
                Gauge::noop()
            }
            fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
                let mut histograms = self.histograms.lock().unwrap();
                Histogram::from_arc(histograms.entry(series(key)).or_default().clone())
            }
        }

        impl Capture {
            fn counter(&self, series: &str) -> u64 {
                self.counters
                    .lock()
                    .unwrap()
                    .get(series)
                    .map_or(0, |total| *total.0.lock().unwrap())
            }

            fn samples(&self, series: &str) -> Vec<f64> {
                self.histograms
                    .lock()
                    .unwrap()
                    .get(series)
                    .map_or_else(Vec::new, |samples| samples.0.lock().unwrap().clone())
            }
        }

        #[test]
        fn every_counter_is_exported_with_its_set_label() {
            let capture = Capture::default();
            let set = "observe_test_every_counter";
            ::metrics::with_local_recorder(&capture, || {
                for event in Event::ALL {
                    stats::counters(set).count(event);
                }
                stats::counters(set).count(Event::Hit);
            });
            for (event, (name, _)) in Event::ALL.into_iter().zip(COUNTERS) {
                assert_eq!(
                    name,
                    format!("cacheaside_{}_total", event.field()),
                    "{event:?} is exported under the name of its stats field"
                );
                let expected = if event == Event::Hit { 2 } else { 1 };
                assert_eq!(capture.counter(&format!("{name}{{set={set}}}")), expected);
            }
            assert_eq!(
                capture.counters.lock().unwrap().len(),
                16,
                "one series each"
            );
            let stats = crate::stats().set(set);
            assert_eq!(
                stats,
                SetStats {
                    hits: 2,
                    ..one_each()
                },
                "the stats counters count the same events"
            );
        }

        fn one_each() -> SetStats {
            SetStats {
                hits: 1,
                misses: 1,
                loads: 1,
                load_errors: 1,
                cache_errors: 1,
                undecodable: 1,
                writes: 1,
                coalesced: 1,
                stale_writes_prevented: 1,
                breaker_opens: 1,
                ttl_forbidden_skips: 1,
                oversize: 1,
                refreshes_ahead: 1,
                stale_served: 1,
                local_hits: 1,
                touches: 1,
            }
        }

        #[test]
        fn calls_record_their_duration_by_outcome_and_loads_theirs() {
            let capture = Capture::default();
            let set = "observe_test_durations";
            ::metrics::with_local_recorder(&capture, || {
                super::super::call_finished(
                    set,
                    Outcome::Miss,
                    Duration::from_millis(30),
                    Some(Duration::from_millis(20)),
                );
                super::super::call_finished(set, Outcome::Hit, Duration::from_millis(2), None);
                super::super::call_finished(set, Outcome::Hit, Duration::from_millis(3), None);
            });
            let calls = |outcome: &str| {
                capture.samples(&format!(
                    "cacheaside_call_duration_seconds{{set={set},outcome={outcome}}}"
                ))
            };
            assert_eq!(calls("miss"), [0.030]);
            assert_eq!(calls("hit"), [0.002, 0.003]);
            assert_eq!(calls("local_hit"), [0.0; 0]);
            assert_eq!(
                capture.samples(&format!("cacheaside_load_duration_seconds{{set={set}}}")),
                [0.020],
                "only the call that loaded records a load"
            );
        }

        #[test]
        fn calls_of_alternating_sets_are_recorded_under_their_own_set() {
            let capture = Capture::default();
            let (first, second) = ("observe_test_alternate_a", "observe_test_alternate_b");
            ::metrics::with_local_recorder(&capture, || {
                for set in [first, second, first, first, second] {
                    super::super::call_finished(set, Outcome::Hit, Duration::from_millis(1), None);
                }
            });
            let calls = |set: &str| {
                capture
                    .samples(&format!(
                        "cacheaside_call_duration_seconds{{set={set},outcome=hit}}"
                    ))
                    .len()
            };
            assert_eq!((calls(first), calls(second)), (3, 2));
        }

        #[test]
        fn every_metric_is_described_with_its_unit() {
            let capture = Capture::default();
            ::metrics::with_local_recorder(&capture, describe);
            let described = capture.described.lock().unwrap();
            assert_eq!(described.len(), 18);
            for (name, _) in COUNTERS {
                assert_eq!(described[name].0, Some(Unit::Count), "{name}");
            }
            for name in [CALL_DURATION, LOAD_DURATION] {
                assert_eq!(described[name].0, Some(Unit::Seconds), "{name}");
                assert!(!described[name].1.is_empty());
            }
        }

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
}
