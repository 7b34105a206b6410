//! Warnings through `tracing`, once per cause rather than once per call.
//!
//! A cache outage would otherwise log on every request. Messages name the set and namespace and
//! the kind of failure, never keys, values or credentials.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

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
}

/// Causes already reported, with the set they were reported for.
fn reported() -> &'static Mutex<HashSet<(Cause, String)>> {
    static REPORTED: OnceLock<Mutex<HashSet<(Cause, String)>>> = OnceLock::new();
    REPORTED.get_or_init(Mutex::default)
}

/// Whether `(cause, scope)` is reported for the first time; records it.
fn first_time(cause: Cause, scope: &str) -> bool {
    let mut reported = reported()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    reported.insert((cause, scope.to_owned()))
}

/// Logs `message` at warn level the first time `cause` happens for `scope` (a set name, or the
/// hosts for connection problems).
pub(crate) fn warn_once(cause: Cause, scope: &str, message: impl FnOnce() -> String) {
    if first_time(cause, scope) {
        tracing::warn!(target: "cacheaside", cause = ?cause, scope, "{}", message());
    }
}

/// Logs the recovery of the connection and lets the next outage be reported again.
pub(crate) fn connected(hosts: &str) {
    let mut reported = reported()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let was_reported = reported.remove(&(Cause::Connect, hosts.to_owned()));
    reported.retain(|(cause, _)| *cause != Cause::Disconnected);
    drop(reported);
    if was_reported {
        tracing::info!(target: "cacheaside", "connected to Aerospike at {hosts}; caching resumes");
    }
}

/// Logs `message` at error level the first time `cause` happens for `scope`: for
/// misconfigurations that need a fix, not for outages.
pub(crate) fn error_once(cause: Cause, scope: &str, message: impl FnOnce() -> String) {
    if first_time(cause, scope) {
        tracing::error!(target: "cacheaside", cause = ?cause, scope, "{}", message());
    }
}

/// Logs that the problem `cause` reported for `scope` is over, and lets it be reported again.
pub(crate) fn resumed(cause: Cause, scope: &str) {
    let was_reported = reported()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .remove(&(cause, scope.to_owned()));
    if was_reported {
        tracing::info!(target: "cacheaside", cause = ?cause, scope, "{scope}: the cache answers again; caching resumes");
    }
}

/// A new configuration starts with a clean slate.
pub(crate) fn reset() {
    reported()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_and_scope_is_reported_once() {
        assert!(first_time(Cause::Read, "report_test_a"));
        assert!(!first_time(Cause::Read, "report_test_a"));
        assert!(first_time(Cause::Write, "report_test_a"));
        assert!(first_time(Cause::Read, "report_test_b"));
    }
}
