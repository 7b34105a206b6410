//! Writing a write-behind value into the cache entry that `#[cache_aside]` readers of the same
//! namespace, set and key read: same envelope and codec, same size guard and TTL policy.
//!
//! The write replaces whatever the entry holds (a newer value is newer than any cached one, and
//! than any invalidation marker), conditionally on the generation just read, so that a
//! concurrent write-back of a load that read the old source value cannot win over it. When the
//! new value cannot be written (too large, refused by the namespace, an error answer), the entry
//! is invalidated instead, so readers load from the source rather than keep serving the old value.

use aerospike::Key;
use serde::Serialize;

use crate::backplane;
use crate::client::{Cache, Expected};
use crate::codec;
use crate::local;
use crate::namespace::NamespaceStatus;
use crate::report::{self, Cause};
use crate::spec::CacheSpec;
use crate::stats::{Event, SetCounters};
use crate::store::locate::{self, Wording};
use crate::store::write::{admit, is_stale_write, mark_invalidated, Target, WriteWording};
use crate::{Error, UserKey};

/// Attempts at replacing an entry that other writers keep changing between our read and write.
const REPLACE_ATTEMPTS: usize = 3;

/// What a write-behind logs when its values cannot be cached.
const WRITE_BEHIND_WORDING: Wording = Wording {
    bad_key: |spec, error| {
        format!(
            "set {}: a write-behind key is not cached: {error}",
            spec.set
        )
    },
    disconnected: Some(|spec, error| {
        format!(
            "set {}: write-behind values are queued for the source but not cached: {error}",
            spec.set
        )
    }),
    invalid_key: |spec, error| {
        format!("set {}: a write-behind key is not valid: {error}", spec.set)
    },
};

/// What a write-behind logs when the write rules keep its value out of the cache (the entry is
/// then invalidated).
const WRITE_RULES_WORDING: WriteWording = WriteWording {
    oversize_scope: |spec| format!("{}/write-behind", spec.set),
    too_large: |spec, len, limit| {
        format!(
            "set {}: a write-behind value is {len} bytes encoded, too large for a record of at \
             most {limit} bytes; the entry is invalidated instead",
            spec.set
        )
    },
    ttl_forbidden: |spec, namespace| {
        format!(
            "namespace {namespace}: records with a TTL are refused (nsup-period is 0), so \
             write-behind values of set {} are not cached there. Fix: set nsup-period (or \
             allow-ttl-without-nsup), use Ttl::Never, or opt in with \
             Config::builder().write_without_ttl_when_forbidden(true)",
            spec.set
        )
    },
};

/// Where a write-behind's values are cached.
pub(super) struct CacheEntries {
    pub(super) spec: &'static CacheSpec,
    pub(super) counters: &'static SetCounters,
}

impl CacheEntries {
    /// Puts `value` into the entry of `user_key`. Never fails: problems are counted in the set's
    /// [`SetStats`](crate::SetStats) and logged once, and the source write goes ahead regardless.
    ///
    /// This process's local tiers (`local(…)`) drop the key before and after the write, as for
    /// `#[cache_put]`: their next call reads the new entry, and a call that was reading or loading
    /// the key meanwhile does not keep its older value (see `local::forget`).
    pub(super) async fn put<V: Serialize>(&self, user_key: Result<UserKey, Error>, value: &V) {
        let local_key = user_key.as_ref().ok().cloned();
        local::forgetting_around(local_key, self.write_entry(user_key, value)).await;
    }

    /// [`put`](Self::put) without the local tiers.
    async fn write_entry<V: Serialize>(&self, user_key: Result<UserKey, Error>, value: &V) {
        let (spec, counters) = (self.spec, self.counters);
        let Ok(target) = locate::locate(spec, user_key, counters, &WRITE_BEHIND_WORDING).await
        else {
            return;
        };
        let bytes = match codec::encode_as(target.codec, value) {
            Ok(bytes) => bytes,
            Err(error) => {
                counters.count(Event::CacheError);
                report::warn_once(Cause::Encode, spec.set, || {
                    format!(
                        "set {}: a write-behind value is not cached: {error}",
                        spec.set
                    )
                });
                self.invalidate(&target.cache, target.key, target.namespace)
                    .await;
                return;
            }
        };
        let admitted = admit(
            spec,
            &target,
            spec.ttl,
            bytes.len(),
            counters,
            &WRITE_RULES_WORDING,
        );
        let Target {
            cache,
            key,
            namespace,
            ..
        } = target;
        let Some(expiration) = admitted else {
            self.invalidate(&cache, key, namespace).await;
            return;
        };
        for _ in 0..REPLACE_ATTEMPTS {
            let expected = match cache.read(key.clone()).await {
                Ok(Some(stored)) => stored.expected(),
                Ok(None) => Expected::Absent,
                Err(error) => return self.failed(error),
            };
            match cache
                .write(key.clone(), bytes.clone(), expiration, expected)
                .await
            {
                Ok(()) => {
                    counters.count(Event::Write);
                    // Other processes' local tiers drop their older copy.
                    if let Err(error) = backplane::announce(&cache, &key).await {
                        self.failed(error);
                    }
                    return;
                }
                // Changed between the read and the write: read the new generation and replace it.
                Err(error) if is_stale_write(&error) => continue,
                Err(error) => {
                    self.failed(error);
                    self.invalidate(&cache, key, namespace).await;
                    return;
                }
            }
        }
        // Other writers keep changing it: make sure no older value stays.
        self.invalidate(&cache, key, namespace).await;
    }

    /// Replaces the entry with an invalidation marker; a failure is counted and logged.
    async fn invalidate(&self, cache: &Cache, key: Key, namespace: NamespaceStatus) {
        let marked = match mark_invalidated(self.spec, cache, key.clone(), namespace).await {
            Ok(_) => backplane::announce(cache, &key).await,
            Err(error) => Err(error),
        };
        if let Err(error) = marked {
            self.failed(error);
        }
    }

    fn failed(&self, error: Error) {
        self.counters.count_failed(&error);
        report::warn_once(Cause::Write, self.spec.set, || {
            format!(
                "set {}: a write-behind value could not be cached: {error}; the source write is \
                 still queued",
                self.spec.set
            )
        });
    }
}
