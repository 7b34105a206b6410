//! The `metrics` feature end to end: counters of `stats` and call durations of `observe` reach
//! an installed recorder, with their descriptions.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::metrics::{Counter, CounterFn, Gauge, Histogram, HistogramFn, Recorder};

use ::metrics::{Key, KeyName, Metadata, SharedString, Unit};

use crate::events::{Event, Outcome};
use crate::metrics::{describe, CALL_DURATION, COUNTERS, LOAD_DURATION};
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
        Event::COUNT,
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
        soft_timeouts: 1,
        local_hits: 1,
        touches: 1,
        bypassed: 1,
        invalidations_kept: 1,
        invalidations_recovered: 1,
        pending_invalidations: 0,
        remote_changes: 1,
        lease_waits: 1,
    }
}

#[test]
fn calls_record_their_duration_by_outcome_and_loads_theirs() {
    let capture = Capture::default();
    let set = "observe_test_durations";
    ::metrics::with_local_recorder(&capture, || {
        super::call_finished(
            set,
            Outcome::Miss,
            Duration::from_millis(30),
            Some(Duration::from_millis(20)),
        );
        super::call_finished(set, Outcome::Hit, Duration::from_millis(2), None);
        super::call_finished(set, Outcome::Hit, Duration::from_millis(3), None);
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
            super::call_finished(set, Outcome::Hit, Duration::from_millis(1), None);
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
    assert_eq!(
        described.len(),
        Event::COUNT + 2,
        "every counter and both histograms"
    );
    for (name, _) in COUNTERS {
        assert_eq!(described[name].0, Some(Unit::Count), "{name}");
    }
    for name in [CALL_DURATION, LOAD_DURATION] {
        assert_eq!(described[name].0, Some(Unit::Seconds), "{name}");
        assert!(!described[name].1.is_empty());
    }
}
