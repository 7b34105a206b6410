//! What the read of a call's record means for the call: the generation a write-back must find,
//! an invalidation marker or a record without our bin as a miss, a bin that is not bytes as an
//! undecodable entry, and the read failures after which no write-back is tried. The single read
//! of the engine and the batch read of batch loaders interpret their answers here.

use core::fmt::Display;
use std::time::Duration;

use aerospike::Value;

use crate::breaker;
use crate::client::{Data, Stored};
use crate::report::{self, Cause};
use crate::spec::CacheSpec;
use crate::stats::{Event, SetCounters};
use crate::store::write::Target;
use crate::Error;

/// What a read of a target's record found for the call.
pub(crate) enum Found {
    /// Bin `data`, still to decode, and what is left of the record's TTL.
    Entry(Target, Value, Option<Duration>),
    /// No entry: load, and write back to the target.
    Missing(Target),
}

/// What `stored`, the answer of a read of `target`'s record (`None`: there is no record), is for
/// the call; the target now expects what the read saw.
pub(crate) fn found(mut target: Target, stored: Option<Stored>) -> Found {
    // Created only if still absent: an invalidation meanwhile leaves a marker that blocks it.
    let Some(stored) = stored else {
        return Found::Missing(target);
    };
    // The write-back replaces this record only if nothing (an invalidation, a refresh, another
    // writer) changed it in the meantime.
    target.expected = stored.expected();
    match stored.data {
        Data::Bin(value) => Found::Entry(target, value, stored.time_to_live),
        // An invalidation marker, or a record without our bin.
        Data::Absent => Found::Missing(target),
        // Not bytes: a nil value does not decode either, so the call counts the entry as
        // undecodable and replaces it.
        Data::Unusable => Found::Entry(target, Value::Nil, None),
    }
}

/// The target a load may still write back to after the read of it failed with `error`.
///
/// A cluster that failed the read (timed out, lost the connection, is unwell) would most likely
/// fail the write too: skipping it keeps an outage to one operation per call. After another
/// error the record's state is unknown, and a create-only write cannot overwrite anything.
pub(crate) fn after_failed_read(error: &Error, target: Target) -> Option<Target> {
    (!breaker::is_failure(error)).then_some(target)
}

/// Counts an entry of `spec`'s set that does not decode (`why`) and reports it once per set: the
/// call treats it as a miss and its load overwrites it.
pub(crate) fn undecodable(spec: &'static CacheSpec, counters: &SetCounters, why: &dyn Display) {
    counters.count(Event::Undecodable);
    report::warn_once(Cause::Undecodable, spec.set, || {
        format!(
            "set {}: a cached entry of {} does not decode ({why}); it is treated as a miss and \
             overwritten",
            spec.set, spec.function,
        )
    });
}
