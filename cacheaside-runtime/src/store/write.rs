//! Writing to the cache: conditional write-backs, invalidation markers, and the policies that
//! decide whether a value is written at all (namespace TTL policy, size guard).
//!
//! A write-back is conditional on what the read before the load saw ([`Expected`]): create-only
//! after a miss, replace-only at the read generation otherwise. Invalidations and refreshes
//! replace the entry with a marker, which changes the generation (or creates the record), so a
//! load that read before them cannot write its value over them. Aerospike checks the condition
//! in the same operation: no extra round trip.
//!
//! A truncate (`#[cache_evict(all = true)]`) removes records without leaving markers, so a load
//! that found no entry before it would still create its older entry afterwards. Truncates of this
//! process are therefore counted per cluster, namespace and set ([`LoadStart`]): a load notes the
//! count when it starts (a hit never does), and its write-back is skipped when the count moved.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use aerospike::{Expiration, Key, ResultCode};

use crate::client::{Cache, Expected};
use crate::codec::{self, Codec};
use crate::kind::ReturnKind;
use crate::namespace::NamespaceStatus;
use crate::report::{self, Cause};
use crate::spec::CacheSpec;
use crate::stats::{Event, SetCounters};
use crate::store::size;
use crate::{Config, Error, Ttl};

/// The bytes to write; copied when the flight or its followers still hold them (a memory copy
/// per miss, small next to the write itself).
pub(crate) fn unshare(shared: Arc<Vec<u8>>) -> Vec<u8> {
    Arc::try_unwrap(shared).unwrap_or_else(|shared| shared.as_ref().clone())
}

/// Where a call's entry lives in the connected cache.
pub(crate) struct Target {
    pub(crate) cache: Cache,
    pub(crate) key: Key,
    /// What the record must still be for a write-back to replace it.
    pub(crate) expected: Expected,
    /// What the cluster said about the record's namespace.
    pub(crate) namespace: NamespaceStatus,
    /// Bytes the stored user key adds to the record (0 without `send_key`).
    pub(crate) stored_key_cost: usize,
    /// The set's truncates when the load whose value goes here started (`None` until it starts).
    pub(crate) load_start: Option<LoadStart>,
    /// How the entry is encoded: the set's codec, else the function's (see
    /// [`Cache::codec_for`]). Resolved once per call, with the record.
    pub(crate) codec: Codec,
}

impl Target {
    /// The target of a load that starts now: its write-back is skipped if this process truncates
    /// the set before the write (see [`LoadStart`]). Called once the read missed, so a hit never
    /// pays for it.
    pub(crate) fn loading(mut self, spec: &'static CacheSpec) -> Target {
        self.load_start = Some(LoadStart::now(spec, self.key.namespace()));
        self
    }
}

/// Who truncates: one counter per cluster (`None` is the default one), namespace and set.
type Sets = HashMap<(Option<&'static str>, &'static str, &'static str), &'static AtomicU64>;

/// The truncate counter of a set, created on first use. There are as many as sets named in the
/// program (the namespace is leaked once per combination, as the specs of `invalidate` are).
fn truncates(
    cluster: Option<&'static str>,
    namespace: &str,
    set: &'static str,
) -> &'static AtomicU64 {
    static SETS: OnceLock<RwLock<Sets>> = OnceLock::new();
    let sets = SETS.get_or_init(RwLock::default);
    {
        let read = sets.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        // The map is covariant in its key: looked up with a borrowed namespace, no allocation.
        let map: &HashMap<(Option<&str>, &str, &str), &'static AtomicU64> = &read;
        if let Some(counter) = map.get(&(cluster, namespace, set)) {
            return counter;
        }
    }
    let mut write = sets
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(counter) = write.get(&(cluster, namespace, set)).copied() {
        return counter;
    }
    let namespace: &'static str = Box::leak(namespace.to_owned().into_boxed_str());
    let counter: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
    write.insert((cluster, namespace, set), counter);
    counter
}

/// Notes that this process truncates `spec`'s set in `namespace`: loads of it that started before
/// do not write their values back. Called before the truncate is sent, so that a write-back
/// racing with it is either refused or undone (see [`store_with_ttl`]).
pub(crate) fn note_truncate(spec: &'static CacheSpec, namespace: &str) {
    truncates(spec.cache, namespace, spec.set).fetch_add(1, Ordering::SeqCst);
}

/// How many times this process had truncated a set when a load of it started: the load's value
/// may predate a truncate that came after, which left no marker to refuse its write (a create-only
/// write after a miss succeeds on a truncated set), so the write-back checks the count instead.
///
/// Only truncates of this process are seen; one sent by another process leaves that gap open
/// until the written entry's TTL ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoadStart {
    truncates: &'static AtomicU64,
    seen: u64,
}

impl LoadStart {
    /// The count for `spec`'s set in `namespace`, now.
    pub(crate) fn now(spec: &'static CacheSpec, namespace: &str) -> LoadStart {
        let truncates = truncates(spec.cache, namespace, spec.set);
        LoadStart {
            truncates,
            seen: truncates.load(Ordering::SeqCst),
        }
    }

    /// Whether the set was truncated by this process since the load started.
    fn truncated_since(self) -> bool {
        self.truncates.load(Ordering::SeqCst) != self.seen
    }
}

/// Replaces the entry with an invalidation marker that lives for the invalidation window, so that
/// loads that read before it cannot write (their create-only or expect-generation write fails).
/// Returns what a write-back must find to replace the marker.
///
/// In a namespace that refuses TTLs the marker cannot expire: it is written without a TTL when
/// this function's entries are written there (they never expire either, and the next load
/// replaces the marker); otherwise nothing of this function is ever written there, and the entry
/// is simply deleted.
pub(crate) async fn mark_invalidated(
    spec: &'static CacheSpec,
    cache: &Cache,
    key: Key,
    namespace: NamespaceStatus,
) -> Result<Expected, Error> {
    // Validated to fit in u32 seconds.
    let window = u32::try_from(cache.config().invalidation_window().as_secs()).unwrap_or(u32::MAX);
    let marker_expiration = match namespace {
        NamespaceStatus::Present(info) if info.ttl_forbidden => {
            match expiration(spec.ttl, cache.config(), namespace) {
                Some(_) => Expiration::Never,
                None => return cache.delete(key).await.map(|()| Expected::Absent),
            }
        }
        _ => Expiration::Seconds(window),
    };
    match cache.mark_invalidated(key.clone(), marker_expiration).await {
        Ok(generation) => Ok(Expected::Generation(generation)),
        Err(error) if error.server_code() == Some(ResultCode::FailForbidden) => {
            cache.delete(key).await.map(|()| Expected::Absent)
        }
        Err(error) => Err(error),
    }
}

/// The expiration of entries with `ttl` in a namespace, or `None` when they must not be written
/// there: the namespace refuses TTLs, the entries have one, and writing without it was not asked
/// for.
fn expiration(ttl: Ttl, config: &Config, namespace: NamespaceStatus) -> Option<Expiration> {
    let has_ttl = matches!(ttl, Ttl::Seconds(seconds) if seconds > 0);
    match namespace {
        NamespaceStatus::Present(info) if info.ttl_forbidden && has_ttl => config
            .write_without_ttl_when_forbidden()
            .then_some(Expiration::Never),
        _ => Some(ttl.expiration()),
    }
}

/// How a path of a call words the values the write rules keep out of the cache.
pub(crate) struct WriteWording {
    /// What an oversize value is reported once per: the function, or the write-behind of a set.
    pub(crate) oversize_scope: fn(&'static CacheSpec) -> String,
    /// A value of `len` encoded bytes is too large for a record of at most `limit` bytes.
    pub(crate) too_large: fn(spec: &'static CacheSpec, len: usize, limit: usize) -> String,
    /// The namespace refuses records with a TTL (reported once per namespace).
    pub(crate) ttl_forbidden: fn(spec: &'static CacheSpec, namespace: &str) -> String,
}

/// The rules every value passes before it is written to `target`: its record must fit the size
/// limit (the smaller of the configured and the namespace's), and its namespace must take its
/// TTL (`ttl`, capped for the set). Returns the expiration to write it with, or `None` when it
/// must not be written: counted as [`Oversize`](Event::Oversize) or
/// [`TtlForbiddenSkip`](Event::TtlForbiddenSkip) and reported once, in the path's words.
pub(crate) fn admit(
    spec: &'static CacheSpec,
    target: &Target,
    ttl: Ttl,
    len: usize,
    counters: &SetCounters,
    wording: &WriteWording,
) -> Option<Expiration> {
    let config = target.cache.config();
    let limit = size::limit(config, target.namespace);
    if !size::fits(len, target.key.set_name(), target.stored_key_cost, limit) {
        counters.count(Event::Oversize);
        report::warn_once(Cause::Oversize, &(wording.oversize_scope)(spec), || {
            (wording.too_large)(spec, len, limit)
        });
        return None;
    }
    let ttl = config.cap_ttl(spec.set, ttl);
    let expiration = expiration(ttl, config, target.namespace);
    if expiration.is_none() {
        counters.count(Event::TtlForbiddenSkip);
        let namespace = target.key.namespace();
        report::warn_once(Cause::Forbidden, namespace, || {
            (wording.ttl_forbidden)(spec, namespace)
        });
    }
    expiration
}

/// What a cached call logs when its value is not written.
const CALL_WORDING: WriteWording = WriteWording {
    oversize_scope: |spec| format!("{}/{}", spec.set, spec.function),
    too_large: |spec, len, limit| {
        format!(
            "set {}: a value of {} is {len} bytes encoded, too large for a record of at most \
             {limit} bytes (the namespace's max-record-size or Config::max_record_size); it is \
             returned but not cached",
            spec.set, spec.function,
        )
    },
    ttl_forbidden: |spec, namespace| {
        format!(
            "namespace {namespace}: records with a TTL are refused (nsup-period is 0), so values \
             of functions with a ttl are not cached there (first: {} in set {}). Fix: set \
             nsup-period (or allow-ttl-without-nsup) on the namespace, use ttl = never, or opt in \
             to entries without TTL with Config::builder().write_without_ttl_when_forbidden(true)",
            spec.function, spec.set
        )
    },
};

/// Counts and notes a write-back skipped because the set was truncated since its load started.
fn refused_after_truncate(spec: &'static CacheSpec, counters: &SetCounters) {
    stale_write_prevented(spec, counters, "the set was truncated");
}

/// Counts and notes a write-back skipped because `what` happened while its value loaded: the
/// value may be stale.
fn stale_write_prevented(spec: &'static CacheSpec, counters: &SetCounters, what: &str) {
    counters.count(Event::StaleWritePrevented);
    tracing::debug!(
        target: "cacheaside",
        set = spec.set,
        "{what} while {} loaded; its value is returned but not written",
        spec.function
    );
}

/// A write-back whose set was truncated while it was being written: the truncate may have
/// reached the server first, which would keep the older value. It is replaced by a marker (which
/// at worst costs a newer entry one load).
async fn undo_write(
    spec: &'static CacheSpec,
    cache: &Cache,
    key: Key,
    namespace: NamespaceStatus,
    counters: &SetCounters,
) {
    refused_after_truncate(spec, counters);
    if let Err(error) = mark_invalidated(spec, cache, key, namespace).await {
        counters.count_failed(&error);
        report::warn_once(Cause::Delete, spec.set, || {
            format!(
                "set {}: a value of {} written while the set was truncated could not be removed: \
                 {error}; it may be served until its ttl ends",
                spec.set, spec.function
            )
        });
    }
}

/// Whether a conditional write was refused because the record changed since the read: created
/// meanwhile (5), another generation (3), deleted (2, for replace-only), or no longer unusable
/// (27, for the replacement of a record whose bin `data` was not bytes).
pub(crate) fn is_stale_write(error: &Error) -> bool {
    matches!(
        error.server_code(),
        Some(
            ResultCode::KeyExistsError
                | ResultCode::GenerationError
                | ResultCode::KeyNotFoundError
                | ResultCode::FilteredOut
        )
    )
}

/// The cacheable part of `returned` encoded in `codec`, when it is to be written (`wanted`). An
/// encoding failure is counted and reported.
pub(crate) fn bytes_to_store<R, K: ReturnKind<R>>(
    spec: &'static CacheSpec,
    codec: Codec,
    wanted: bool,
    returned: &R,
    counters: &SetCounters,
) -> Option<Vec<u8>> {
    let value = K::cacheable(returned).filter(|_| wanted)?;
    codec::encode_as(codec, value)
        .map_err(|error| encode_failed(spec, counters, &error))
        .ok()
}

/// Counts and reports a loaded value that could not be encoded: it is returned, not cached.
pub(crate) fn encode_failed(spec: &'static CacheSpec, counters: &SetCounters, error: &Error) {
    counters.count(Event::CacheError);
    report::warn_once(Cause::Encode, spec.set, || {
        format!(
            "set {}: a value of {} is not cached: {error}",
            spec.set, spec.function
        )
    });
}

/// Writes encoded bytes with the entry's TTL (the function's, or `none_ttl` for a cached `None`);
/// failures are counted and reported, never returned.
pub(crate) async fn store_with_ttl(
    spec: &'static CacheSpec,
    target: Target,
    bytes: Vec<u8>,
    ttl: Ttl,
    counters: &'static SetCounters,
) {
    if target.load_start.is_some_and(LoadStart::truncated_since) {
        refused_after_truncate(spec, counters);
        return;
    }
    let Some(expiration) = admit(spec, &target, ttl, bytes.len(), counters, &CALL_WORDING) else {
        return;
    };
    let Target {
        cache,
        key,
        expected,
        namespace,
        load_start,
        ..
    } = target;
    // The write borrows the key: it is still at hand to undo the write, should a truncate
    // overtake it, without a copy on every miss.
    match cache.write(&key, bytes, expiration, expected).await {
        Ok(()) => {
            counters.count(Event::Write);
            if load_start.is_some_and(LoadStart::truncated_since) {
                undo_write(spec, &cache, key, namespace, counters).await;
            }
        }
        Err(error) if is_stale_write(&error) => {
            stale_write_prevented(spec, counters, "the entry changed");
        }
        Err(error) => {
            counters.count_failed(&error);
            let (cause, advice) = match error.server_code() {
                Some(ResultCode::FailForbidden) => (
                    Cause::Forbidden,
                    "the namespace refuses records with a TTL (nsup-period is 0): set nsup-period, \
                     or allow-ttl-without-nsup, or use ttl = never",
                ),
                Some(ResultCode::RecordTooBig) => (
                    Cause::RecordTooBig,
                    "the value is larger than the namespace's max-record-size; it is not cached",
                ),
                _ => (Cause::Write, "the loaded value is returned uncached"),
            };
            report::warn_once(cause, spec.set, || {
                format!("set {}: cache write failed: {error}; {advice}", spec.set)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static USERS: CacheSpec = CacheSpec {
        cache: None,
        namespace: None,
        set: "write_back_unit_users",
        ttl: Ttl::Seconds(60),
        function: "f",
        codec: crate::codec::Codec::MessagePack,
    };

    static ORDERS: CacheSpec = CacheSpec {
        set: "write_back_unit_orders",
        ..USERS
    };

    static ELSEWHERE: CacheSpec = CacheSpec {
        cache: Some("elsewhere"),
        ..USERS
    };

    #[test]
    fn a_truncate_stales_the_loads_of_its_set_only() {
        let users = LoadStart::now(&USERS, "test");
        let (orders, other_namespace) = (
            LoadStart::now(&ORDERS, "test"),
            LoadStart::now(&USERS, "cache"),
        );
        let other_cluster = LoadStart::now(&ELSEWHERE, "test");
        assert!(!users.truncated_since());
        note_truncate(&USERS, "test");
        assert!(users.truncated_since());
        assert!(
            !LoadStart::now(&USERS, "test").truncated_since(),
            "a later load"
        );
        for unaffected in [orders, other_namespace, other_cluster] {
            assert!(!unaffected.truncated_since());
        }
        // The spec's own namespace does not matter, only the one its records are in.
        let named = CacheSpec {
            namespace: Some("test"),
            ..USERS
        };
        let named: &'static CacheSpec = Box::leak(Box::new(named));
        let users = LoadStart::now(&USERS, "test");
        note_truncate(named, "test");
        assert!(users.truncated_since());
    }
}
