//! Warnings through `tracing`, once per cause rather than once per call, and at most once per
//! [`REPEAT_INTERVAL`] for a cause that comes and goes.
//!
//! A cache outage would otherwise log on every request, and a flapping one on every flap.
//! Messages name the set and namespace and the kind of failure, never keys, values or
//! credentials.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tracing::Level;

/// Why the cache was not used or not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Cause {
    Connect,
    Disconnected,
    Read,
    Write,
    Delete,
    Forbidden,
    RecordTooBig,
    Undecodable,
    Key,
    Encode,
    Breaker,
    Namespace,
    Oversize,
    /// Invalidations kept for a retry (see `engine::recover`).
    Recovery,
    /// The backplane cannot poll (see `backplane`).
    Backplane,
}

/// Least time between two lines of one cause and scope. A problem that comes and goes (a
/// breaker that opens and closes, a connection that drops and recovers) is re-armed each time
/// it ends; this keeps it from logging more than a line (and its recovery) per interval.
pub(crate) const REPEAT_INTERVAL: Duration = Duration::from_secs(10);

/// What was logged for one cause and scope.
#[derive(Debug, Default)]
struct Reported {
    /// Reported and not over yet: nothing more is logged until [`resumed`] (or [`connected`]).
    ongoing: bool,
    /// When the last line was logged.
    last_line: Option<Instant>,
    /// Occurrences since then that were not logged because of [`REPEAT_INTERVAL`].
    suppressed: u64,
}

/// What has been reported, by cause and scope.
fn reported() -> MutexGuard<'static, HashMap<(Cause, String), Reported>> {
    static REPORTED: OnceLock<Mutex<HashMap<(Cause, String), Reported>>> = OnceLock::new();
    REPORTED
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What an occurrence stands for, which decides how often it is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Occurrence {
    /// A lasting problem: logged when it starts, then not again until it ends (see [`resumed`]).
    Problem,
    /// A one-off event: each one is worth a line.
    Event,
}

/// Whether an occurrence of `cause` for `scope` at `now` is logged, and if so how many earlier
/// ones were not (rate-limited to one line per [`REPEAT_INTERVAL`]); records it.
fn admit(cause: Cause, scope: &str, now: Instant, occurrence: Occurrence) -> Option<u64> {
    let mut reported = reported();
    let entry = reported.entry((cause, scope.to_owned())).or_default();
    if occurrence == Occurrence::Problem && entry.ongoing {
        return None;
    }
    if entry
        .last_line
        .is_some_and(|last| now.saturating_duration_since(last) < REPEAT_INTERVAL)
    {
        entry.suppressed += 1;
        return None;
    }
    entry.ongoing |= occurrence == Occurrence::Problem;
    entry.last_line = Some(now);
    Some(std::mem::take(&mut entry.suppressed))
}

/// Logs `message` at `level` if [`admit`] lets this occurrence through.
fn log(
    level: Level,
    occurrence: Occurrence,
    cause: Cause,
    scope: &str,
    message: impl FnOnce() -> String,
) {
    if let Some(suppressed) = admit(cause, scope, Instant::now(), occurrence) {
        emit(level, cause, scope, with_suppressed(message(), suppressed));
    }
}

/// Ends the problem `cause` for `scope`: the next occurrence may be logged again. Whether it was
/// ongoing (reported).
fn end(reported: &mut HashMap<(Cause, String), Reported>, cause: Cause, scope: &str) -> bool {
    match reported.get_mut(&(cause, scope.to_owned())) {
        Some(entry) if entry.ongoing => {
            entry.ongoing = false;
            true
        }
        _ => false,
    }
}

/// Logs one line of `cause` for `scope` at `level` (warn or error).
fn emit(level: Level, cause: Cause, scope: &str, message: String) {
    if level == Level::ERROR {
        tracing::error!(target: "cacheaside", cause = ?cause, scope, "{message}");
    } else {
        tracing::warn!(target: "cacheaside", cause = ?cause, scope, "{message}");
    }
}

/// `message`, with how many like it were not logged.
fn with_suppressed(message: String, suppressed: u64) -> String {
    if suppressed == 0 {
        message
    } else {
        format!("{message} ({suppressed} more like this since the last report were not logged)")
    }
}

/// Logs `message` at warn level the first time `cause` happens for `scope` (a set name, or the
/// hosts for connection problems), then not again until the problem is over (see [`resumed`]),
/// and at most once per [`REPEAT_INTERVAL`].
pub(crate) fn warn_once(cause: Cause, scope: &str, message: impl FnOnce() -> String) {
    log(Level::WARN, Occurrence::Problem, cause, scope, message);
}

/// Logs `message` at warn level for an event that is not a lasting problem (each one is worth
/// a line), at most once per [`REPEAT_INTERVAL`] for `cause` and `scope`.
pub(crate) fn warn_limited(cause: Cause, scope: &str, message: impl FnOnce() -> String) {
    log(Level::WARN, Occurrence::Event, cause, scope, message);
}

/// Logs `message` at error level like [`warn_limited`].
pub(crate) fn error_limited(cause: Cause, scope: &str, message: impl FnOnce() -> String) {
    log(Level::ERROR, Occurrence::Event, cause, scope, message);
}

/// Logs the recovery of the connection and lets the next outage be reported again.
pub(crate) fn connected(hosts: &str) {
    let mut reported = reported();
    let was_reported = end(&mut reported, Cause::Connect, hosts);
    for ((cause, _), entry) in reported.iter_mut() {
        if *cause == Cause::Disconnected {
            entry.ongoing = false;
        }
    }
    drop(reported);
    if was_reported {
        tracing::info!(target: "cacheaside", "connected to Aerospike at {hosts}; caching resumes");
    }
}

/// Logs `message` at error level like [`warn_once`]: for misconfigurations that need a fix, not
/// for outages.
pub(crate) fn error_once(cause: Cause, scope: &str, message: impl FnOnce() -> String) {
    log(Level::ERROR, Occurrence::Problem, cause, scope, message);
}

/// Logs that the problem `cause` reported for `scope` is over, and lets it be reported again.
/// Nothing is logged for a problem whose report was rate-limited away.
pub(crate) fn resumed(cause: Cause, scope: &str) {
    let was_reported = end(&mut reported(), cause, scope);
    if was_reported {
        tracing::info!(target: "cacheaside", cause = ?cause, scope, "{scope}: the cache answers again; caching resumes");
    }
}

/// A new configuration starts with a clean slate.
pub(crate) fn reset() {
    reported().clear();
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[test]
    fn each_cause_and_scope_is_reported_once() {
        let now = Instant::now();
        assert_eq!(
            admit(Cause::Read, "report_test_a", now, Occurrence::Problem),
            Some(0)
        );
        assert_eq!(
            admit(Cause::Read, "report_test_a", now, Occurrence::Problem),
            None
        );
        assert_eq!(
            admit(Cause::Write, "report_test_a", now, Occurrence::Problem),
            Some(0)
        );
        assert_eq!(
            admit(Cause::Read, "report_test_b", now, Occurrence::Problem),
            Some(0)
        );
        // Still once much later: the problem is not over.
        let later = now + REPEAT_INTERVAL * 10;
        assert_eq!(
            admit(Cause::Read, "report_test_a", later, Occurrence::Problem),
            None
        );
    }

    #[test]
    fn a_problem_that_comes_and_goes_is_reported_once_per_interval() {
        let scope = "report_test_flapping";
        let start = Instant::now();
        assert_eq!(
            admit(Cause::Breaker, scope, start, Occurrence::Problem),
            Some(0)
        );
        for cycle in 0..100 {
            // Only the first ending follows a logged line.
            assert_eq!(end(&mut reported(), Cause::Breaker, scope), cycle == 0);
            assert_eq!(
                admit(Cause::Breaker, scope, start, Occurrence::Problem),
                None
            );
        }
        // After the interval, the next occurrence is logged with the count of the others.
        let later = start + REPEAT_INTERVAL;
        assert_eq!(
            admit(Cause::Breaker, scope, later, Occurrence::Problem),
            Some(100)
        );
        assert_eq!(
            admit(Cause::Breaker, scope, later, Occurrence::Problem),
            None
        );
    }

    #[test]
    fn repeating_events_are_logged_once_per_interval() {
        let scope = "report_test_repeating";
        let start = Instant::now();
        assert_eq!(
            admit(Cause::Write, scope, start, Occurrence::Event),
            Some(0)
        );
        for _ in 0..5 {
            assert_eq!(admit(Cause::Write, scope, start, Occurrence::Event), None);
        }
        let later = start + REPEAT_INTERVAL;
        assert_eq!(
            admit(Cause::Write, scope, later, Occurrence::Event),
            Some(5)
        );
        assert_eq!(admit(Cause::Write, scope, later, Occurrence::Event), None);
    }

    /// Counts the events of target `cacheaside` by level, on the thread that installs it.
    #[derive(Default)]
    struct Lines {
        warn: AtomicUsize,
        info: AtomicUsize,
    }

    struct Counter(Arc<Lines>);

    impl tracing::Subscriber for Counter {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let level = *event.metadata().level();
            if event.metadata().target() == "cacheaside" {
                if level == tracing::Level::WARN {
                    self.0.warn.fetch_add(1, Ordering::Relaxed);
                } else if level == tracing::Level::INFO {
                    self.0.info.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    /// The breaker's flood: each opening warns, each closing re-arms the warning.
    #[test]
    fn a_hundred_openings_and_closings_log_one_warning_and_one_recovery() {
        let lines = Arc::new(Lines::default());
        tracing::subscriber::with_default(Counter(lines.clone()), || {
            for _ in 0..100 {
                warn_once(Cause::Breaker, "report_test_breaker", || {
                    "opened".to_owned()
                });
                resumed(Cause::Breaker, "report_test_breaker");
            }
        });
        assert_eq!(lines.warn.load(Ordering::Relaxed), 1);
        assert_eq!(lines.info.load(Ordering::Relaxed), 1);
    }
}
