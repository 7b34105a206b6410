//! Every local tier (`local(…)`) of the process, so that a write path of this process
//! (`#[cache_put]`, `#[cache_evict]`, [`invalidate`](crate::invalidate)) can drop the copies it
//! made stale.
//!
//! A tier registers itself when it first stores a value. It does not know its set (one tier per
//! annotated function, built in a `const` context before any call), so a write path removes its
//! user key from every tier: a tier of another set that holds an entry under an equal key loses
//! it too, which costs that entry one Aerospike read, never a wrong value. `#[cache_evict(all =
//! true)]` empties every tier. Other processes do not hear of it: there a local copy lives at most
//! its local TTL.

use std::sync::{Arc, OnceLock, RwLock};

use crate::UserKey;

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
