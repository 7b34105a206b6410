//! `lease`: one load per missing entry in the whole fleet, not one per process.
//!
//! After a miss, the call that loads for its process (the single-flight leader, see `flight`)
//! first takes the entry's lease: it turns the record into an invalidation marker with bin
//! `lease`, the time until which the other processes wait, written only if the record is still
//! as the read saw it (create-only, or the same generation). Of several processes, one succeeds;
//! it loads, and its write-back, which expects the lease's generation, replaces the lease with
//! the value. The others read the record every 10 ms, backing off to 100 ms, until the value is
//! there (counted in `lease_waits`; their calls count a miss, and no load), the lease is gone
//! (its holder's load gave nothing to cache: they take it in turn), or it expired (its holder died
//! or is slower than the lease: one of them takes it over). A crashed holder costs at most the
//! lease time. A caller waits at most twice the lease plus a second, then loads for itself.
//!
//! The lease record keeps the invalidation marker's protection: it lives for the invalidation
//! window (or as long as the lease, if that is longer), so a load that read before an
//! invalidation still cannot write over it.
//!
//! Fail-open: when the cache cannot take or read a lease, the call loads at once without one,
//! and does not write into the failing cluster.
//!
//! Refresh-ahead with a lease refreshes once per fleet: the process that first marks the entry
//! (bin `lease`, same generation, value and TTL untouched) refreshes it; the others see the
//! generation changed and leave it.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aerospike::{Expiration, Key, Value};

use crate::client::{Cache, Data, Expected};
use crate::namespace::NamespaceStatus;
use crate::spec::CachePolicy;
use crate::stats::{Event, SetCounters};
use crate::store::write::{is_stale_write, Target};

/// The first pause between two reads of a record another process is loading.
const FIRST_PAUSE: Duration = Duration::from_millis(10);

/// The longest pause between two such reads.
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// What the lease of a missing entry gave a call.
pub(super) enum Leased {
    /// This call holds the lease: it loads and writes back to the target (which expects the
    /// lease's generation).
    Held(Target),
    /// Another process loaded it: the entry's bin `data` and what is left of its TTL.
    Found(Target, Value, Option<Duration>),
    /// Load without the lease: write back to the target, if any.
    Load(Option<Target>),
}

/// The lease's length of a policy, `None` when `lease` is off.
pub(super) fn length(policy: &CachePolicy) -> Option<Duration> {
    (policy.lease_ms > 0).then(|| Duration::from_millis(u64::from(policy.lease_ms)))
}

/// Takes the lease of the entry the call missed, or waits for the process that holds it.
pub(super) async fn take_or_wait(
    mut target: Target,
    lease: Duration,
    counters: &'static SetCounters,
) -> Leased {
    let give_up = Instant::now() + lease * 2 + Duration::from_secs(1);
    let expiration = lease_expiration(&target, lease);
    let mut pause = FIRST_PAUSE;
    // A record exists (a marker, a lease): look at it before taking it, or this call would take
    // a lease another process holds.
    let mut look_first = target.expected != Expected::Absent;
    loop {
        if !look_first {
            let until = millis_since_epoch(SystemTime::now() + lease);
            match target
                .cache
                .take_lease(target.key.clone(), until, expiration, target.expected)
                .await
            {
                Ok(generation) => {
                    target.expected = Expected::Generation(generation);
                    return Leased::Held(target);
                }
                // Another process took it, or wrote the value, first: look.
                Err(error) if is_stale_write(&error) => {}
                Err(error) => {
                    counters.count_failed(&error);
                    return Leased::Load(None);
                }
            }
        }
        look_first = false;
        // Waits while another process holds a live lease.
        loop {
            match target.cache.read_lease(&target.key).await {
                Ok(None) => {
                    target.expected = Expected::Absent;
                    break;
                }
                Ok(Some(view)) => {
                    target.expected = view.stored.expected();
                    match view.stored.data {
                        Data::Bin(value) => {
                            counters.count(Event::LeaseWait);
                            return Leased::Found(target, value, view.stored.time_to_live);
                        }
                        Data::Unusable => return Leased::Load(Some(target)),
                        Data::Absent => {}
                    }
                    let now = millis_since_epoch(SystemTime::now());
                    if view.lease_until.is_none_or(|until| until <= now) {
                        break;
                    }
                }
                Err(error) => {
                    counters.count_failed(&error);
                    return Leased::Load(None);
                }
            }
            if Instant::now() >= give_up {
                return Leased::Load(Some(target));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 3 / 2).min(MAX_PAUSE);
        }
        if Instant::now() >= give_up {
            return Leased::Load(Some(target));
        }
    }
}

/// A held lease: where to release it.
pub(super) struct Holding {
    cache: Cache,
    key: Key,
    generation: u32,
}

impl Holding {
    /// The lease a target holds (see [`Leased::Held`]).
    pub(super) fn of(target: &Target) -> Option<Holding> {
        match target.expected {
            Expected::Generation(generation) => Some(Holding {
                cache: target.cache.clone(),
                key: target.key.clone(),
                generation,
            }),
            _ => None,
        }
    }

    /// Lets the next caller in the fleet load at once: the holder's load gave nothing to cache.
    pub(super) async fn release(self) {
        // A failure leaves the lease to expire: the waiters then take it over.
        let _ = self.cache.release_lease(self.key, self.generation).await;
    }
}

/// Marks an entry a refresh-ahead is about to reload, so that one process in the fleet does it;
/// `None` when another process marked it first (or the mark failed: the entry then simply
/// expires, and the next miss loads it).
pub(super) async fn claim_refresh(mut target: Target, lease: Duration) -> Option<Target> {
    let Expected::Generation(generation) = target.expected else {
        return None;
    };
    let until = millis_since_epoch(SystemTime::now() + lease);
    let generation = target
        .cache
        .claim_refresh(target.key.clone(), until, generation)
        .await
        .ok()?;
    target.expected = Expected::Generation(generation);
    Some(target)
}

/// How long a lease record lives: the invalidation window, to keep a marker's protection, or
/// the lease if it is longer; never, where the namespace refuses TTLs.
fn lease_expiration(target: &Target, lease: Duration) -> Expiration {
    if let NamespaceStatus::Present(info) = target.namespace {
        if info.ttl_forbidden {
            return Expiration::Never;
        }
    }
    let window = target.cache.config().invalidation_window();
    let seconds = window.max(lease).as_secs().max(1) + 1;
    Expiration::Seconds(u32::try_from(seconds).unwrap_or(u32::MAX))
}

fn millis_since_epoch(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    })
}
