//! Invalidations that have not reached the cluster yet: what `engine::recover` retries until they
//! land, and what calls of this process check so that they never serve or write an entry that is
//! waiting to be invalidated.
//!
//! An invalidation is kept per record (cluster, namespace, set, user key) or, for a truncate, per
//! set. Keeping a key that is already kept renews it: one pending invalidation stands for all of
//! them, since the one that lands last removes whatever the earlier ones were about.
//!
//! Bounded: at most [`MAX_KEYS`] keys wait. One more key of a set turns the keys of that set into
//! one pending truncate of the set, which removes every entry of the set written before it lands.
//! That costs the set's entries (they load again), never a stale value, and the memory stays at
//! [`MAX_KEYS`] keys plus one truncate per set.
//!
//! A call checks [`bypasses`] on every cache access: one atomic load while nothing waits, which
//! is nearly always.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use crate::spec::{CacheSpec, SetId};
use crate::stats;
use crate::UserKey;

/// The most keys that wait at once, over all sets (each holds its user key, about 100 bytes
/// plus the key's length).
pub(crate) const MAX_KEYS: usize = 10_000;

/// The most invalidations handed out by one [`due`] call.
pub(crate) const DUE_AT_ONCE: usize = 256;

/// How many invalidations wait (keys and truncates): the fast check of every call.
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// Orders every keep and every attempt: an invalidation that lands removes only what was kept
/// before it started.
static SEQUENCE: AtomicU64 = AtomicU64::new(1);

/// What an invalidation removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Invalidation {
    /// The entry of one user key.
    Key(UserKey),
    /// Every entry of the set (a truncate).
    Set,
}

/// One waiting invalidation, as [`due`] hands it out.
#[derive(Debug, Clone)]
pub(crate) struct Due {
    /// The spec it was kept for: where its records live.
    pub(crate) spec: &'static CacheSpec,
    /// What it removes.
    pub(crate) what: Invalidation,
    /// When it was kept (see [`landed`]).
    pub(crate) kept: u64,
}

#[derive(Debug, Default)]
struct Waiting {
    /// Every waiting invalidation by the order it was kept in: the oldest is tried first.
    by_age: BTreeMap<u64, Due>,
    /// Where the key invalidations are in `by_age`.
    keys: HashMap<(SetId, UserKey), u64>,
    /// Where the truncates are in `by_age`.
    truncates: HashMap<SetId, u64>,
}

fn waiting() -> MutexGuard<'static, Waiting> {
    static WAITING_STATE: OnceLock<Mutex<Waiting>> = OnceLock::new();
    WAITING_STATE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// A number that orders this moment after every keep so far: an invalidation that starts now
/// and lands removes what was kept before it (see [`landed`]).
pub(crate) fn now() -> u64 {
    SEQUENCE.fetch_add(1, Ordering::SeqCst)
}

/// What [`keep`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept {
    /// The key waits (newly, or renewed).
    Key,
    /// The set's truncate waits (newly, or renewed); for a key, because [`MAX_KEYS`] keys
    /// already wait.
    Truncate,
}

/// Keeps an invalidation in `spec`'s set until [`landed`] says it reached the cluster.
pub(crate) fn keep(spec: &'static CacheSpec, what: Invalidation) -> Kept {
    let set = SetId::of(spec);
    let mut waiting = waiting();
    let kept = now();
    if let Invalidation::Key(key) = what {
        // A truncate that waits already removes this key's entry.
        if let Some(&old) = waiting.truncates.get(&set) {
            waiting.renew(old, kept);
            waiting.truncates.insert(set, kept);
            return Kept::Truncate;
        }
        match waiting.keys.get(&(set, key.clone())) {
            Some(&old) => waiting.renew(old, kept),
            None if waiting.keys.len() >= MAX_KEYS => {
                waiting.keep_truncate(spec, set, kept);
                return Kept::Truncate;
            }
            None => {
                waiting.add(spec, Invalidation::Key(key.clone()), kept);
            }
        }
        waiting.keys.insert((set, key), kept);
        Kept::Key
    } else {
        waiting.keep_truncate(spec, set, kept);
        Kept::Truncate
    }
}

impl Waiting {
    fn add(&mut self, spec: &'static CacheSpec, what: Invalidation, kept: u64) {
        self.by_age.insert(kept, Due { spec, what, kept });
        WAITING.fetch_add(1, Ordering::SeqCst);
        stats::counters(spec.set).pending_changed(1);
    }

    /// Moves the invalidation kept at `old` to `kept`.
    fn renew(&mut self, old: u64, kept: u64) {
        if let Some(mut due) = self.by_age.remove(&old) {
            due.kept = kept;
            self.by_age.insert(kept, due);
        }
    }

    fn remove(&mut self, kept: u64) {
        if let Some(due) = self.by_age.remove(&kept) {
            WAITING.fetch_sub(1, Ordering::SeqCst);
            stats::counters(due.spec.set).pending_changed(-1);
        }
    }

    /// Removes `what` from the index of `set` (not from `by_age`).
    fn forget(&mut self, set: SetId, what: Invalidation) {
        match what {
            Invalidation::Key(key) => self.keys.remove(&(set, key)),
            Invalidation::Set => self.truncates.remove(&set),
        };
    }

    /// A truncate of `set` replaces the set's waiting keys.
    fn keep_truncate(&mut self, spec: &'static CacheSpec, set: SetId, kept: u64) {
        let covered: Vec<u64> = self
            .keys
            .iter()
            .filter(|((key_set, _), _)| *key_set == set)
            .map(|(_, &at)| at)
            .collect();
        self.keys.retain(|(key_set, _), _| *key_set != set);
        for at in covered {
            self.remove(at);
        }
        match self.truncates.insert(set, kept) {
            Some(old) => self.renew(old, kept),
            None => self.add(spec, Invalidation::Set, kept),
        }
    }
}

/// Whether a call of `spec` for `key` must leave the cache alone: an invalidation of the record,
/// or a truncate of its set, waits. Such a call loads and writes nothing back.
#[inline]
pub(crate) fn bypasses(spec: &CacheSpec, key: &UserKey) -> bool {
    if WAITING.load(Ordering::SeqCst) == 0 {
        return false;
    }
    let set = SetId::of(spec);
    let waiting = waiting();
    waiting.truncates.contains_key(&set) || waiting.keys.contains_key(&(set, key.clone()))
}

/// An invalidation in `spec`'s set that started at `started` (from [`now`]) reached the cluster:
/// what was kept before it is done. A truncate also does the set's keys.
pub(crate) fn landed(spec: &CacheSpec, what: &Invalidation, started: u64) {
    if WAITING.load(Ordering::SeqCst) == 0 {
        return;
    }
    let set = SetId::of(spec);
    let mut waiting = waiting();
    let done: Vec<u64> = match what {
        Invalidation::Key(key) => waiting
            .keys
            .get(&(set, key.clone()))
            .copied()
            .filter(|&kept| kept < started)
            .into_iter()
            .collect(),
        Invalidation::Set => {
            let keys = waiting
                .keys
                .iter()
                .filter(|((key_set, _), &kept)| *key_set == set && kept < started)
                .map(|(_, &kept)| kept);
            let truncate = waiting
                .truncates
                .get(&set)
                .copied()
                .filter(|&kept| kept < started);
            keys.chain(truncate).collect()
        }
    };
    for kept in done {
        if let Some(due) = waiting.by_age.get(&kept) {
            let (set, what) = (SetId::of(due.spec), due.what.clone());
            waiting.forget(set, what);
        }
        waiting.remove(kept);
    }
}

/// Gives up an invalidation that cannot land (the cluster refuses it for good): counted as
/// landed nowhere, removed so that calls use the cache again.
pub(crate) fn give_up(due: &Due) {
    let set = SetId::of(due.spec);
    let mut waiting = waiting();
    let current = match &due.what {
        Invalidation::Key(key) => waiting.keys.get(&(set, key.clone())).copied(),
        Invalidation::Set => waiting.truncates.get(&set).copied(),
    };
    if current == Some(due.kept) {
        waiting.forget(set, due.what.clone());
        waiting.remove(due.kept);
    }
}

/// The oldest waiting invalidations, at most [`DUE_AT_ONCE`].
pub(crate) fn due() -> Vec<Due> {
    if WAITING.load(Ordering::SeqCst) == 0 {
        return Vec::new();
    }
    waiting()
        .by_age
        .values()
        .take(DUE_AT_ONCE)
        .cloned()
        .collect()
}

/// How many invalidations wait, over all sets.
pub(crate) fn count() -> usize {
    WAITING.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;
    use crate::Ttl;

    const fn spec(set: &'static str) -> CacheSpec {
        CacheSpec {
            cache: None,
            namespace: None,
            set,
            ttl: Ttl::Seconds(60),
            function: "pending_unit",
            codec: Codec::MessagePack,
        }
    }

    static USERS: CacheSpec = spec("pending_unit_users");
    static ORDERS: CacheSpec = spec("pending_unit_orders");
    static FULL: CacheSpec = spec("pending_unit_full");

    fn key(id: i64) -> UserKey {
        UserKey::Int(id)
    }

    fn waiting_keys(spec: &CacheSpec) -> usize {
        let set = SetId::of(spec);
        waiting().keys.keys().filter(|(s, _)| *s == set).count()
    }

    /// The tests share the process-wide state: one at a time.
    fn serial() -> MutexGuard<'static, ()> {
        static SERIAL: Mutex<()> = Mutex::new(());
        SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[test]
    fn a_kept_key_bypasses_until_an_invalidation_started_later_lands() {
        let _serial = serial();
        let started_before = now();
        assert_eq!(keep(&USERS, Invalidation::Key(key(1))), Kept::Key);
        assert!(bypasses(&USERS, &key(1)));
        assert!(!bypasses(&USERS, &key(2)), "only that key");
        assert!(!bypasses(&ORDERS, &key(1)), "only that set");
        assert_eq!(stats::stats().set(USERS.set).pending_invalidations, 1);

        // An invalidation that started before the keep does not count for it.
        landed(&USERS, &Invalidation::Key(key(1)), started_before);
        assert!(bypasses(&USERS, &key(1)));
        let started = now();
        landed(&USERS, &Invalidation::Key(key(1)), started);
        assert!(!bypasses(&USERS, &key(1)));
        assert_eq!(stats::stats().set(USERS.set).pending_invalidations, 0);
    }

    #[test]
    fn keeping_a_key_again_renews_it_once() {
        let _serial = serial();
        let before = count();
        keep(&USERS, Invalidation::Key(key(7)));
        let started = now();
        keep(&USERS, Invalidation::Key(key(7)));
        assert_eq!(count(), before + 1, "one invalidation per key");
        landed(&USERS, &Invalidation::Key(key(7)), started);
        assert!(
            bypasses(&USERS, &key(7)),
            "renewed after the attempt started"
        );
        landed(&USERS, &Invalidation::Key(key(7)), now());
        assert_eq!(count(), before);
    }

    #[test]
    fn a_truncate_covers_the_sets_keys_and_lands_for_them() {
        let _serial = serial();
        let before = count();
        keep(&ORDERS, Invalidation::Key(key(1)));
        keep(&ORDERS, Invalidation::Key(key(2)));
        assert_eq!(keep(&ORDERS, Invalidation::Set), Kept::Truncate);
        assert_eq!(waiting_keys(&ORDERS), 0, "the truncate replaced them");
        assert_eq!(count(), before + 1);
        assert!(bypasses(&ORDERS, &key(3)), "every key of the set");
        assert_eq!(keep(&ORDERS, Invalidation::Key(key(4))), Kept::Truncate);
        assert_eq!(count(), before + 1);
        landed(&ORDERS, &Invalidation::Set, now());
        assert!(!bypasses(&ORDERS, &key(3)));
        assert_eq!(count(), before);
    }

    #[test]
    fn past_the_bound_a_set_waits_for_a_truncate() {
        let _serial = serial();
        let before = count();
        let room = MAX_KEYS - waiting().keys.len();
        for id in 0..room {
            assert_eq!(keep(&FULL, Invalidation::Key(key(id as i64))), Kept::Key);
        }
        assert_eq!(keep(&FULL, Invalidation::Key(key(-1))), Kept::Truncate);
        assert_eq!(waiting_keys(&FULL), 0);
        assert_eq!(count(), before + 1, "one truncate instead of the keys");
        assert!(bypasses(&FULL, &key(-1)));
        let due = due();
        assert!(due.len() <= DUE_AT_ONCE);
        let truncate = due
            .iter()
            .find(|due| core::ptr::eq(due.spec, &FULL))
            .expect("the truncate is due");
        assert_eq!(truncate.what, Invalidation::Set);
        give_up(truncate);
        assert!(!bypasses(&FULL, &key(-1)));
        assert_eq!(count(), before);
    }

    #[test]
    fn the_oldest_are_due_first() {
        let _serial = serial();
        keep(&USERS, Invalidation::Key(key(100)));
        keep(&USERS, Invalidation::Key(key(101)));
        let due = due();
        let ages: Vec<u64> = due.iter().map(|due| due.kept).collect();
        let mut sorted = ages.clone();
        sorted.sort_unstable();
        assert_eq!(ages, sorted);
        landed(&USERS, &Invalidation::Key(key(100)), now());
        landed(&USERS, &Invalidation::Key(key(101)), now());
    }
}
