//! The in-process tier of `local(ttl = "5s", capacity = 10_000)`: a bounded moka cache per
//! annotated function, in front of Aerospike.
//!
//! It holds the values themselves, not their bytes: a hit clones the value, with no decoding and
//! no network. Entries are type-erased (`Arc<dyn Any>`) so that one tier serves a generic function
//! whatever its type arguments; a value of another type under the same key is a miss.
//!
//! Consistency: `<fn>_invalidate` and `<fn>_refresh` clear the entry in this process. Other
//! processes do not see them, so another process may serve a value up to the tier's TTL after it
//! was invalidated or replaced: the staleness across processes is bounded by that TTL.

use std::any::Any;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use moka::sync::Cache;

use crate::stats::{self, SetCounters};
use crate::UserKey;

type Entries = Cache<UserKey, Arc<dyn Any + Send + Sync>>;

/// The local tier of one annotated function; generated code keeps it in a `static`.
pub struct LocalTier {
    ttl: Duration,
    capacity: u64,
    entries: OnceLock<Entries>,
    /// The function's set counters, looked up once: a local hit is cheap enough that finding them
    /// by name on every hit would be a good part of its cost.
    counters: OnceLock<&'static SetCounters>,
}

impl core::fmt::Debug for LocalTier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LocalTier")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl LocalTier {
    /// A tier whose entries live `ttl_secs` seconds, holding at most `capacity` entries (the least
    /// valuable are evicted first). Nothing is allocated before first use.
    pub const fn new(ttl_secs: u64, capacity: u64) -> LocalTier {
        LocalTier {
            ttl: Duration::from_secs(ttl_secs),
            capacity,
            entries: OnceLock::new(),
            counters: OnceLock::new(),
        }
    }

    /// The counters of `set`, the set of the one function this tier belongs to.
    pub(crate) fn counters(&self, set: &'static str) -> &'static SetCounters {
        self.counters.get_or_init(|| stats::counters(set))
    }

    fn entries(&self) -> &Entries {
        self.entries.get_or_init(|| {
            let entries = Cache::builder()
                .max_capacity(self.capacity)
                .time_to_live(self.ttl)
                .build();
            crate::local_registry::registered(entries)
        })
    }

    /// A clone of the value stored under `key`, if it is a `T`.
    pub(crate) fn get<T: Clone + 'static>(&self, key: &UserKey) -> Option<T> {
        let entry = self.entries.get()?.get(key)?;
        entry.downcast_ref::<T>().cloned()
    }

    pub(crate) fn insert<T: Send + Sync + 'static>(&self, key: UserKey, value: T) {
        self.entries().insert(key, Arc::new(value));
    }

    pub(crate) fn remove(&self, key: &UserKey) {
        if let Some(entries) = self.entries.get() {
            entries.invalidate(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_clones_and_removes_values() {
        static TIER: LocalTier = LocalTier::new(60, 100);
        let key = UserKey::Int(1);
        assert_eq!(TIER.get::<String>(&key), None, "empty before first use");
        TIER.insert(key.clone(), "one".to_owned());
        assert_eq!(TIER.get::<String>(&key), Some("one".to_owned()));
        assert_eq!(
            TIER.get::<u64>(&key),
            None,
            "another type under the key is a miss"
        );
        TIER.remove(&key);
        assert_eq!(TIER.get::<String>(&key), None);
    }

    #[test]
    fn keeps_at_most_its_capacity() {
        static TIER: LocalTier = LocalTier::new(60, 10);
        for id in 0..1_000 {
            TIER.insert(UserKey::Int(id), id);
        }
        let entries = TIER.entries();
        entries.run_pending_tasks();
        assert!(entries.entry_count() <= 10, "{}", entries.entry_count());
    }
}
