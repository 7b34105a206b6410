//! Per-set counters: relaxed atomics on the hot path, a snapshot on demand.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{OnceLock, RwLock};

/// The counters of one set since the process started (they survive [`init`](crate::init)).
///
/// Every call of an annotated function counts exactly one hit or one miss; `<fn>_refresh` counts
/// neither (it counts a load). A call that waited for a concurrent call of the same key and got
/// its value counts a hit (its body did not run) and a [`coalesced`](Self::coalesced).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetStats {
    /// Calls answered from the cache: the entry was present and decoded; the body did not run.
    pub hits: u64,
    /// Calls that ran the body instead: the entry was absent, expired or undecodable, the read
    /// failed or timed out, the cache was unreachable or disabled, or the key could not be built.
    pub misses: u64,
    /// Runs of the body (the loader): one per miss, plus one per `<fn>_refresh`.
    pub loads: u64,
    /// Loads whose result was not cacheable and so was not written: an `Err` of a `Result` or a
    /// `None` of an `Option`. Plain return values are always cacheable.
    pub load_errors: u64,
    /// Failed cache operations: reads, writes and deletes that were sent and returned an error or
    /// timed out, namespaces missing on the cluster, keys that could not be built and values that
    /// could not be encoded. None of them reached the caller. Operations not sent because the
    /// cache was known to be failing are counted in [`bypassed`](Self::bypassed) instead.
    pub cache_errors: u64,
    /// Entries found but not decodable as the expected type (another codec, an older shape,
    /// corrupt bytes); each is also a miss, and the load overwrites it.
    pub undecodable: u64,
    /// Values written to the cache.
    pub writes: u64,
    /// Calls that waited for a concurrent call of the same key (single-flight) and were answered
    /// with its value instead of loading.
    pub coalesced: u64,
    /// Write-backs refused because the entry changed after the read that missed (an
    /// invalidation, a refresh or a write by another process): the loaded value may be stale.
    pub stale_writes_prevented: u64,
    /// Times the cluster's circuit breaker opened (several operations in a row failed, on more
    /// than one node or on a one-node cluster), counted on the set whose call saw the last of
    /// them; calls then bypass the cache until a probe is answered. A single failing partition
    /// pauses only itself and is not counted here.
    pub breaker_opens: u64,
    /// Values not written because their namespace refuses records with a TTL (`nsup-period` 0)
    /// and [`write_without_ttl_when_forbidden`](crate::ConfigBuilder::write_without_ttl_when_forbidden)
    /// is off.
    pub ttl_forbidden_skips: u64,
    /// Values not written because their record would exceed the record size limit
    /// ([`max_record_size`](crate::ConfigBuilder::max_record_size), or the namespace's smaller
    /// `max-record-size`); the call still returns them.
    pub oversize: u64,
    /// Background refreshes started by `refresh_ahead` (a hit whose remaining TTL was below the
    /// fraction; at most one per entry version per process).
    pub refreshes_ahead: u64,
    /// Calls answered with a value past its TTL (`stale_if_error`): the body failed (each such
    /// call is also a load error), or had not answered within `soft_timeout` (also counted in
    /// [`soft_timeouts`](Self::soft_timeouts)). Each is also a miss.
    pub stale_served: u64,
    /// Calls in the stale window of `stale_if_error` answered with the old value because the body
    /// had not answered within `soft_timeout` (it finishes in the background and writes back), or
    /// because another call's background load of the same entry was still running. Each is also
    /// counted in [`stale_served`](Self::stale_served).
    pub soft_timeouts: u64,
    /// Hits answered by the in-process tier of `local(…)`, without a cache read (each is also
    /// counted in [`hits`](Self::hits)).
    pub local_hits: u64,
    /// TTL resets by `touch_on_read` (sliding expiry), made in the background after a hit.
    pub touches: u64,
    /// Cache operations not sent because the cluster, or the partition that holds the key, was
    /// failing (the circuit breaker was open, or the client had no connection): the call loaded
    /// instead, at no cost in timeouts. They are not counted in
    /// [`cache_errors`](Self::cache_errors), which counts operations that were tried and failed:
    /// alert on both.
    pub bypassed: u64,
    /// Invalidations (`invalidate`, `<fn>_invalidate`, `#[cache_evict]`, including `all = true`),
    /// puts (`#[cache_put]`, `<fn>_refresh`) that could not reach the cluster: the call reported
    /// or logged the failure, and the invalidation of the entry is kept and retried in the
    /// background until it lands (see [`pending_invalidations`](Self::pending_invalidations)).
    pub invalidations_kept: u64,
    /// Kept invalidations that landed on a retry.
    pub invalidations_recovered: u64,
    /// Invalidations waiting for the cluster now (not a count since the start): keys, and
    /// truncates of the whole set. Calls of this process for those keys bypass the cache until
    /// they land. Alert when it stays above zero.
    pub pending_invalidations: u64,
    /// Changes of this set's entries announced by other processes (puts, evicts, invalidations,
    /// refreshes, write-behind writes) that this process applied to its local tiers, dropping
    /// the key (or, for a truncate or when it fell behind, everything). Counted only in processes
    /// whose functions of this set have a local tier (see the guide's chapter on local tiers).
    pub remote_changes: u64,
    /// Calls of a function with `lease` that missed, found another process loading the entry,
    /// waited, and got its value: each is also a miss, without a load.
    pub lease_waits: u64,
}

impl SetStats {
    /// `hits / (hits + misses)`, or `0.0` before the first call.
    pub fn hit_ratio(&self) -> f64 {
        let calls = self.hits + self.misses;
        if calls == 0 {
            0.0
        } else {
            self.hits as f64 / calls as f64
        }
    }

    fn add(&mut self, other: &SetStats) {
        self.hits += other.hits;
        self.misses += other.misses;
        self.loads += other.loads;
        self.load_errors += other.load_errors;
        self.cache_errors += other.cache_errors;
        self.undecodable += other.undecodable;
        self.writes += other.writes;
        self.coalesced += other.coalesced;
        self.stale_writes_prevented += other.stale_writes_prevented;
        self.breaker_opens += other.breaker_opens;
        self.ttl_forbidden_skips += other.ttl_forbidden_skips;
        self.oversize += other.oversize;
        self.refreshes_ahead += other.refreshes_ahead;
        self.stale_served += other.stale_served;
        self.soft_timeouts += other.soft_timeouts;
        self.local_hits += other.local_hits;
        self.touches += other.touches;
        self.bypassed += other.bypassed;
        self.invalidations_kept += other.invalidations_kept;
        self.invalidations_recovered += other.invalidations_recovered;
        self.pending_invalidations += other.pending_invalidations;
        self.remote_changes += other.remote_changes;
        self.lease_waits += other.lease_waits;
    }
}

/// A snapshot of every set's counters, from [`stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    sets: BTreeMap<String, SetStats>,
}

impl Stats {
    /// The counters of one set (all zero for a set never used).
    pub fn set(&self, set: &str) -> SetStats {
        self.sets.get(set).copied().unwrap_or_default()
    }

    /// Every set that has been used, by name.
    pub fn sets(&self) -> impl Iterator<Item = (&str, &SetStats)> {
        self.sets.iter().map(|(name, stats)| (name.as_str(), stats))
    }

    /// The sum over all sets.
    pub fn total(&self) -> SetStats {
        let mut total = SetStats::default();
        for stats in self.sets.values() {
            total.add(stats);
        }
        total
    }
}

/// A snapshot of the per-set counters.
///
/// ```
/// let stats = cacheaside_runtime::stats();
/// let users = stats.set("users");
/// println!("users: {} hits, {} misses", users.hits, users.misses);
/// ```
pub fn stats() -> Stats {
    let registry = registry()
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Stats {
        sets: registry
            .iter()
            .map(|(name, counters)| ((*name).to_owned(), counters.snapshot()))
            .collect(),
    }
}

/// The live counters of one set.
#[derive(Debug)]
pub(crate) struct SetCounters {
    /// The metric keys of this set, labelled with its name, built once (`metrics` feature).
    #[cfg(feature = "metrics")]
    exported: crate::metrics::SetMetrics,
    hits: AtomicU64,
    misses: AtomicU64,
    loads: AtomicU64,
    load_errors: AtomicU64,
    cache_errors: AtomicU64,
    undecodable: AtomicU64,
    writes: AtomicU64,
    coalesced: AtomicU64,
    stale_writes_prevented: AtomicU64,
    breaker_opens: AtomicU64,
    ttl_forbidden_skips: AtomicU64,
    oversize: AtomicU64,
    refreshes_ahead: AtomicU64,
    stale_served: AtomicU64,
    soft_timeouts: AtomicU64,
    local_hits: AtomicU64,
    touches: AtomicU64,
    bypassed: AtomicU64,
    invalidations_kept: AtomicU64,
    invalidations_recovered: AtomicU64,
    remote_changes: AtomicU64,
    lease_waits: AtomicU64,
    /// Invalidations of this set that wait (see `pending`): a gauge, moved by
    /// [`pending_changed`](Self::pending_changed).
    pending_invalidations: AtomicI64,
    /// Hits of the local tier counted by [`count_local_hit`](Self::count_local_hit): each is a
    /// hit and a local hit, counted by one increment.
    local_tier_hits: AtomicU64,
}

pub(crate) use crate::events::Event;

impl SetCounters {
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    fn new(set: &'static str) -> SetCounters {
        SetCounters {
            #[cfg(feature = "metrics")]
            exported: crate::metrics::SetMetrics::new(set),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            loads: AtomicU64::new(0),
            load_errors: AtomicU64::new(0),
            cache_errors: AtomicU64::new(0),
            undecodable: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            stale_writes_prevented: AtomicU64::new(0),
            breaker_opens: AtomicU64::new(0),
            ttl_forbidden_skips: AtomicU64::new(0),
            oversize: AtomicU64::new(0),
            refreshes_ahead: AtomicU64::new(0),
            stale_served: AtomicU64::new(0),
            soft_timeouts: AtomicU64::new(0),
            local_hits: AtomicU64::new(0),
            touches: AtomicU64::new(0),
            bypassed: AtomicU64::new(0),
            invalidations_kept: AtomicU64::new(0),
            invalidations_recovered: AtomicU64::new(0),
            remote_changes: AtomicU64::new(0),
            lease_waits: AtomicU64::new(0),
            pending_invalidations: AtomicI64::new(0),
            local_tier_hits: AtomicU64::new(0),
        }
    }

    /// The metric keys of this set, for the latency histograms.
    #[cfg(feature = "metrics")]
    pub(crate) fn exported(&self) -> &crate::metrics::SetMetrics {
        &self.exported
    }

    pub(crate) fn count(&self, event: Event) {
        let counter = match event {
            Event::Hit => &self.hits,
            Event::Miss => &self.misses,
            Event::Load => &self.loads,
            Event::LoadError => &self.load_errors,
            Event::CacheError => &self.cache_errors,
            Event::Undecodable => &self.undecodable,
            Event::Write => &self.writes,
            Event::Coalesced => &self.coalesced,
            Event::StaleWritePrevented => &self.stale_writes_prevented,
            Event::BreakerOpened => &self.breaker_opens,
            Event::TtlForbiddenSkip => &self.ttl_forbidden_skips,
            Event::Oversize => &self.oversize,
            Event::RefreshAhead => &self.refreshes_ahead,
            Event::StaleServed => &self.stale_served,
            Event::SoftTimeout => &self.soft_timeouts,
            Event::LocalHit => &self.local_hits,
            Event::Touch => &self.touches,
            Event::Bypassed => &self.bypassed,
            Event::InvalidationKept => &self.invalidations_kept,
            Event::InvalidationRecovered => &self.invalidations_recovered,
            Event::RemoteChange => &self.remote_changes,
            Event::LeaseWait => &self.lease_waits,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.exported.count(event);
    }

    /// A cache operation that did not succeed: [`Bypassed`](Event::Bypassed) when it was never
    /// sent (a breaker knew it would fail), else a [`CacheError`](Event::CacheError).
    pub(crate) fn count_failed(&self, error: &crate::Error) {
        self.count(if error.is_bypass() {
            Event::Bypassed
        } else {
            Event::CacheError
        });
    }

    /// A hit of the local tier: counts a [`Hit`](Event::Hit) and a [`LocalHit`](Event::LocalHit)
    /// (in [`stats`] and in exported metrics) with one atomic increment.
    #[inline]
    pub(crate) fn count_local_hit(&self) {
        self.local_tier_hits.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        {
            self.exported.count(Event::Hit);
            self.exported.count(Event::LocalHit);
        }
    }

    /// One more (`1`) or one less (`-1`) invalidation of this set waits.
    pub(crate) fn pending_changed(&self, by: i64) {
        self.pending_invalidations.fetch_add(by, Ordering::Relaxed);
    }

    /// How many invalidations of this set wait.
    pub(crate) fn pending(&self) -> i64 {
        self.pending_invalidations.load(Ordering::Relaxed)
    }

    fn snapshot(&self) -> SetStats {
        let local_tier_hits = self.local_tier_hits.load(Ordering::Relaxed);
        SetStats {
            hits: self.hits.load(Ordering::Relaxed) + local_tier_hits,
            misses: self.misses.load(Ordering::Relaxed),
            loads: self.loads.load(Ordering::Relaxed),
            load_errors: self.load_errors.load(Ordering::Relaxed),
            cache_errors: self.cache_errors.load(Ordering::Relaxed),
            undecodable: self.undecodable.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            coalesced: self.coalesced.load(Ordering::Relaxed),
            stale_writes_prevented: self.stale_writes_prevented.load(Ordering::Relaxed),
            breaker_opens: self.breaker_opens.load(Ordering::Relaxed),
            ttl_forbidden_skips: self.ttl_forbidden_skips.load(Ordering::Relaxed),
            oversize: self.oversize.load(Ordering::Relaxed),
            refreshes_ahead: self.refreshes_ahead.load(Ordering::Relaxed),
            stale_served: self.stale_served.load(Ordering::Relaxed),
            soft_timeouts: self.soft_timeouts.load(Ordering::Relaxed),
            local_hits: self.local_hits.load(Ordering::Relaxed) + local_tier_hits,
            touches: self.touches.load(Ordering::Relaxed),
            bypassed: self.bypassed.load(Ordering::Relaxed),
            invalidations_kept: self.invalidations_kept.load(Ordering::Relaxed),
            invalidations_recovered: self.invalidations_recovered.load(Ordering::Relaxed),
            pending_invalidations: u64::try_from(
                self.pending_invalidations.load(Ordering::Relaxed),
            )
            .unwrap_or(0),
            remote_changes: self.remote_changes.load(Ordering::Relaxed),
            lease_waits: self.lease_waits.load(Ordering::Relaxed),
        }
    }
}

/// Set names come from `'static` attribute strings, so the registry only ever grows to the number
/// of annotated sets; its counters are leaked to hand out `'static` references without locking.
type Registry = RwLock<HashMap<&'static str, &'static SetCounters>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

/// The counters of `set`, created on first use: the one way every part of the crate finds them.
///
/// Remembered per thread in a few slots keyed by the name's address: a thread serving a few
/// functions' calls skips the registry's lock and hash on each of them, which is a good part of
/// the cost of a hit. (Two literals of one name at different addresses only miss this memo; they
/// share one entry of the registry.)
#[inline]
pub(crate) fn counters(set: &'static str) -> &'static SetCounters {
    type Recent = [Cell<Option<(&'static str, &'static SetCounters)>>; 8];
    thread_local! {
        static RECENT: Recent = const { [const { Cell::new(None) }; 8] };
    }
    // Set names are `'static` strings: an address and length name one string for the life of
    // the process. The multiply spreads neighbouring literals over the slots.
    let address = set.as_ptr() as usize as u64;
    let slot = (address.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 61) as usize;
    RECENT.with(|recent| match recent[slot].get() {
        Some((name, counters)) if core::ptr::eq(name, set) => counters,
        _ => {
            let counters = registered(set);
            recent[slot].set(Some((set, counters)));
            counters
        }
    })
}

/// The counters of `set` in the registry, created on first use.
fn registered(set: &'static str) -> &'static SetCounters {
    if let Some(counters) = registry()
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(set)
    {
        return counters;
    }
    let mut registry = registry()
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    registry
        .entry(set)
        .or_insert_with(|| Box::leak(Box::new(SetCounters::new(set))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_set_and_in_total() {
        let users = counters("stats_test_users");
        let orders = counters("stats_test_orders");
        assert!(core::ptr::eq(users, counters("stats_test_users")));
        assert!(core::ptr::eq(users, registered("stats_test_users")));
        users.count(Event::Hit);
        users.count(Event::Hit);
        users.count(Event::Miss);
        orders.count(Event::Miss);
        orders.count(Event::LoadError);
        let snapshot = stats();
        let users = snapshot.set("stats_test_users");
        assert_eq!((users.hits, users.misses), (2, 1));
        assert!((users.hit_ratio() - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(snapshot.set("stats_test_orders").load_errors, 1);
        assert_eq!(snapshot.set("stats_test_never_used"), SetStats::default());
        assert!(snapshot.total().misses >= 2);
    }

    #[test]
    fn a_local_tier_hit_is_a_hit_and_a_local_hit() {
        let set = "stats_test_local_tier_hit";
        counters(set).count_local_hit();
        counters(set).count_local_hit();
        counters(set).count(Event::Hit);
        counters(set).count(Event::Miss);
        let stats = stats().set(set);
        assert_eq!((stats.hits, stats.local_hits, stats.misses), (3, 2, 1));
        let mut expected = [0; Event::COUNT];
        (expected[0], expected[1], expected[15]) = (3, 1, 2);
        assert_eq!(fields(&stats), expected, "no other counter moves");
    }

    const EVERY_EVENT: [Event; Event::COUNT] = Event::ALL;

    /// Every field of a snapshot, in declaration order.
    fn fields(stats: &SetStats) -> [u64; Event::COUNT] {
        [
            stats.hits,
            stats.misses,
            stats.loads,
            stats.load_errors,
            stats.cache_errors,
            stats.undecodable,
            stats.writes,
            stats.coalesced,
            stats.stale_writes_prevented,
            stats.breaker_opens,
            stats.ttl_forbidden_skips,
            stats.oversize,
            stats.refreshes_ahead,
            stats.stale_served,
            stats.soft_timeouts,
            stats.local_hits,
            stats.touches,
            stats.bypassed,
            stats.invalidations_kept,
            stats.invalidations_recovered,
            stats.remote_changes,
            stats.lease_waits,
        ]
    }

    #[test]
    fn every_event_has_its_own_counter_and_is_summed_in_the_total() {
        for (index, event) in EVERY_EVENT.into_iter().enumerate() {
            let set: &'static str = Box::leak(format!("stats_test_event_{index}").into_boxed_str());
            counters(set).count(event);
            let mut expected = [0; Event::COUNT];
            expected[index] = 1;
            assert_eq!(fields(&stats().set(set)), expected, "{event:?}");
        }
        let mut total = SetStats::default();
        let one_each = {
            let set = "stats_test_every_event";
            for event in EVERY_EVENT {
                counters(set).count(event);
            }
            stats().set(set)
        };
        total.add(&one_each);
        total.add(&one_each);
        assert_eq!(fields(&total), [2; Event::COUNT], "add() sums every field");
    }

    #[test]
    fn every_event_is_listed_once_at_its_index_and_names_its_field() {
        for (index, event) in Event::ALL.into_iter().enumerate() {
            assert_eq!(event as usize, index, "{event:?}");
        }
        let names = [
            "hits",
            "misses",
            "loads",
            "load_errors",
            "cache_errors",
            "undecodable",
            "writes",
            "coalesced",
            "stale_writes_prevented",
            "breaker_opens",
            "ttl_forbidden_skips",
            "oversize",
            "refreshes_ahead",
            "stale_served",
            "soft_timeouts",
            "local_hits",
            "touches",
            "bypassed",
            "invalidations_kept",
            "invalidations_recovered",
            "remote_changes",
            "lease_waits",
        ];
        let debug = format!("{:?}", SetStats::default());
        for (event, name) in Event::ALL.into_iter().zip(names) {
            assert_eq!(event.field(), name);
            assert!(debug.contains(&format!("{name}: 0")), "{name} is a field");
        }
    }
}
