//! Every local tier (`local(…)`) of the process, so that a write path of this process
//! (`#[cache_put]`, `#[cache_evict]`, [`invalidate`](crate::invalidate)) can drop the copies it
//! made stale.
//!
//! A tier registers itself when it first stores a value. It does not know its set (one tier per
//! annotated function, built in a `const` context before any call), so a write path removes its
//! user key from every tier: a tier of another set that holds an entry under an equal key loses
//! it too, which costs that entry one Aerospike read, never a wrong value. `#[cache_evict(all =
//! true)]` empties every tier. Other processes hear of it through the backplane (see `backplane`),
//! whose per-set [`Watch`] lives here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use crate::spec::{CacheSpec, SetId};
use crate::UserKey;

/// Whether this process has heard of every change other processes made to one set's entries
/// (see `backplane`): a local tier answers only while it has.
///
/// A set's watch is made when a local tier of the set is first looked up, before that call reads
/// Aerospike, and is *started* by the first poll of the set's notices: until then, reads of the
/// set's entries wait for it (see [`until_started`]), so that no value a tier keeps was read
/// before this process listened. A poll that fails closes the gate until one succeeds.
#[derive(Debug)]
pub(crate) struct Watch {
    heard: AtomicBool,
    started: AtomicBool,
    first_poll: tokio::sync::Notify,
}

impl Watch {
    fn new() -> Watch {
        Watch {
            heard: AtomicBool::new(false),
            started: AtomicBool::new(false),
            first_poll: tokio::sync::Notify::new(),
        }
    }

    /// Whether local tiers of the set may answer.
    #[inline]
    pub(crate) fn heard(&self) -> bool {
        self.heard.load(Ordering::Acquire)
    }

    /// Opens (`true`) or closes the gate; the first call also starts the watch.
    pub(crate) fn set_heard(&self, heard: bool) {
        self.heard.store(heard, Ordering::Release);
        if !self.started.swap(true, Ordering::AcqRel) {
            STARTING.fetch_sub(1, Ordering::AcqRel);
            self.first_poll.notify_waiters();
        }
    }

    /// Whether the first poll happened (answered or failed).
    pub(crate) fn started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }
}

/// How many watches wait for their first poll: while none does, a read checks nothing more.
static STARTING: AtomicUsize = AtomicUsize::new(0);

fn watches() -> &'static Mutex<HashMap<SetId, &'static Watch>> {
    static WATCHES: OnceLock<Mutex<HashMap<SetId, &'static Watch>>> = OnceLock::new();
    WATCHES.get_or_init(Mutex::default)
}

/// The watch of `spec`'s set, made on first use; `true` when it was made now.
pub(crate) fn watch(spec: &CacheSpec) -> (&'static Watch, bool) {
    let mut watches = watches().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(watch) = watches.get(&SetId::of(spec)) {
        return (watch, false);
    }
    let watch: &'static Watch = Box::leak(Box::new(Watch::new()));
    STARTING.fetch_add(1, Ordering::AcqRel);
    watches.insert(SetId::of(spec), watch);
    (watch, true)
}

/// Waits, at most `limit`, until the watch of `spec`'s set (if its local tiers have one) had its
/// first poll: a read of the set's entries made before could keep a value changed meanwhile.
pub(crate) async fn until_started(spec: &CacheSpec, limit: Duration) {
    if STARTING.load(Ordering::Acquire) == 0 {
        return;
    }
    let Some(watch) = watches()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&SetId::of(spec))
        .copied()
    else {
        return;
    };
    let first_poll = watch.first_poll.notified();
    if watch.started() {
        return;
    }
    let _ = tokio::time::timeout(limit, first_poll).await;
}

/// What a write path needs of one tier's entries.
pub(crate) trait Forget: Send + Sync {
    /// Drops the entry of `key`, if any.
    fn forget(&self, key: &UserKey);
    /// Drops every entry.
    fn forget_all(&self);
}

impl<V: Clone + Send + Sync + 'static> Forget for moka::sync::Cache<UserKey, V> {
    fn forget(&self, key: &UserKey) {
        self.invalidate(key);
    }

    fn forget_all(&self) {
        self.invalidate_all();
    }
}

/// One entry per local tier in use: the tiers live in `static`s, so the list grows to the number
/// of annotated functions with `local(…)` and no further.
fn tiers() -> &'static RwLock<Vec<Arc<dyn Forget>>> {
    static TIERS: OnceLock<RwLock<Vec<Arc<dyn Forget>>>> = OnceLock::new();
    TIERS.get_or_init(RwLock::default)
}

/// Registers a tier's entries (a handle to them: moka caches are shared on clone) and returns
/// them. Called once per tier, when its entries are created.
pub(crate) fn registered<T: Forget + Clone + 'static>(entries: T) -> T {
    tiers()
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(Arc::new(entries.clone()));
    entries
}

/// Removes `key` from every local tier of this process.
pub(crate) fn forget(key: &UserKey) {
    let tiers = tiers()
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for tier in tiers.iter() {
        tier.forget(key);
    }
}

/// Empties every local tier of this process.
pub(crate) fn forget_all() {
    let tiers = tiers()
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for tier in tiers.iter() {
        tier.forget_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_a_key_in_every_registered_tier() {
        let build = || moka::sync::Cache::<UserKey, u32>::new(10);
        let (first, second) = (registered(build()), registered(build()));
        let (key, other) = (UserKey::Str("registry:a".into()), UserKey::Int(-991));
        for tier in [&first, &second] {
            tier.insert(key.clone(), 1);
            tier.insert(other.clone(), 2);
        }
        forget(&key);
        for tier in [&first, &second] {
            assert_eq!(tier.get(&key), None);
            assert_eq!(tier.get(&other), Some(2), "other keys stay");
        }
    }
}
