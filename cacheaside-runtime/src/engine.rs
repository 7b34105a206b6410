//! The get-or-load engine: read, on a miss load and write back. It fails open: no cache problem
//! ever reaches the caller of an annotated function, which gets its loader's result instead.

use core::future::Future;

use aerospike::{Key, ResultCode, Value};

use crate::__private::{CacheSpec, KeyResult, ReturnKind};
use crate::client::{self, Access, Cache};
use crate::codec::{self, Undecodable};
use crate::report::{self, Cause};
use crate::stats::{self, Event, SetCounters};
use crate::{Error, ErrorKind, UserKey};

/// `get_or_load`: a hit returns the cached value; anything else runs `load`.
pub(crate) async fn get_or_load<R, K: ReturnKind<R>, F: Future<Output = R>>(
    spec: &'static CacheSpec,
    key: KeyResult,
    _kind: K,
    load: F,
) -> R {
    let counters = stats::counters(spec.set);
    let Some((cache, key)) = usable_cache(spec, key, counters).await else {
        counters.count(Event::Miss);
        return run_loader::<R, K, F>(load, counters).await;
    };
    // A cluster that did not answer the read would most likely not answer the write either:
    // skipping it keeps a stalled cluster to one timeout per call.
    let mut write_back_allowed = true;
    match cache.read(key.clone()).await {
        Ok(Some(stored)) => match decode::<K::Value>(stored) {
            Ok(value) => {
                counters.count(Event::Hit);
                return K::from_cached(value);
            }
            Err(why) => {
                counters.count(Event::Undecodable);
                report::warn_once(Cause::Undecodable, spec.set, || {
                    format!(
                        "set {}: a cached entry of {} does not decode ({}); it is treated as a miss \
                         and overwritten",
                        spec.set,
                        spec.function,
                        describe(&why)
                    )
                });
            }
        },
        Ok(None) => {}
        Err(error) => {
            counters.count(Event::CacheError);
            write_back_allowed = error.kind() != ErrorKind::Timeout;
            report::warn_once(Cause::Read, spec.set, || {
                format!(
                    "set {}: cache read failed, loading instead: {error}",
                    spec.set
                )
            });
        }
    }
    counters.count(Event::Miss);
    let returned = run_loader::<R, K, F>(load, counters).await;
    if let (true, Some(value)) = (write_back_allowed, K::cacheable(&returned)) {
        write_back(spec, &cache, key, value, counters).await;
    }
    returned
}

/// `refresh`: always runs `load`, writes its cacheable part, returns it.
pub(crate) async fn refresh<R, K: ReturnKind<R>, F: Future<Output = R>>(
    spec: &'static CacheSpec,
    key: KeyResult,
    _kind: K,
    load: F,
) -> R {
    let counters = stats::counters(spec.set);
    let target = usable_cache(spec, key, counters).await;
    let returned = run_loader::<R, K, F>(load, counters).await;
    if let (Some((cache, key)), Some(value)) = (target, K::cacheable(&returned)) {
        write_back(spec, &cache, key, value, counters).await;
    }
    returned
}

/// `invalidate`: deletes the entry. Absent is fine; an unreachable cache is an error, because the
/// caller needs to know the entry may still be served.
pub(crate) async fn invalidate(spec: &'static CacheSpec, key: KeyResult) -> Result<(), Error> {
    let counters = stats::counters(spec.set);
    let user_key = key.inspect_err(|_| counters.count(Event::CacheError))?;
    let cache = match client::access().await {
        Access::Disabled => return Ok(()),
        Access::Unavailable(error) => {
            counters.count(Event::CacheError);
            return Err(error);
        }
        Access::Ready(cache) => cache,
    };
    let key = aerospike_key(spec, &cache, &user_key)
        .inspect_err(|_| counters.count(Event::CacheError))?;
    cache.delete(key).await.inspect_err(|error| {
        counters.count(Event::CacheError);
        report::warn_once(Cause::Delete, spec.set, || {
            format!("set {}: cache delete failed: {error}", spec.set)
        });
    })
}

/// The connected cache and the record's key, or `None` when this call must bypass the cache
/// (counted and reported, except when the cache is disabled).
async fn usable_cache(
    spec: &'static CacheSpec,
    key: KeyResult,
    counters: &SetCounters,
) -> Option<(Cache, Key)> {
    let user_key = match key {
        Ok(user_key) => user_key,
        Err(error) => {
            counters.count(Event::CacheError);
            report::warn_once(Cause::Key, spec.set, || {
                format!(
                    "set {}: the key of {} cannot be built, calls bypass the cache: {error}",
                    spec.set, spec.function
                )
            });
            return None;
        }
    };
    let cache = match client::access().await {
        Access::Ready(cache) => cache,
        Access::Disabled => return None,
        Access::Unavailable(error) => {
            counters.count(Event::CacheError);
            report::warn_once(Cause::Disconnected, spec.set, || {
                format!("set {}: calls run without the cache: {error}", spec.set)
            });
            return None;
        }
    };
    match aerospike_key(spec, &cache, &user_key) {
        Ok(key) => Some((cache, key)),
        Err(error) => {
            counters.count(Event::CacheError);
            report::warn_once(Cause::Key, spec.set, || {
                format!(
                    "set {}: the key of {} is not a valid Aerospike key: {error}",
                    spec.set, spec.function
                )
            });
            None
        }
    }
}

fn aerospike_key(spec: &CacheSpec, cache: &Cache, user_key: &UserKey) -> Result<Key, Error> {
    let namespace = spec.namespace.unwrap_or_else(|| cache.default_namespace());
    Key::new(namespace, spec.set, user_key.to_value())
        .map_err(|e| Error::new(ErrorKind::Key, format!("invalid key: {e}")))
}

async fn run_loader<R, K: ReturnKind<R>, F: Future<Output = R>>(
    load: F,
    counters: &SetCounters,
) -> R {
    counters.count(Event::Load);
    let returned = load.await;
    if K::cacheable(&returned).is_none() {
        counters.count(Event::LoadError);
    }
    returned
}

fn decode<T: serde::de::DeserializeOwned>(stored: Value) -> Result<T, Undecodable> {
    match stored {
        Value::Blob(bytes) => codec::decode(&bytes),
        _ => Err(Undecodable::Malformed("bin data is not a blob")),
    }
}

fn describe(why: &Undecodable) -> String {
    match why {
        Undecodable::Envelope(mismatch) => format!("envelope mismatch: {mismatch:?}"),
        Undecodable::Malformed(reason) => format!("malformed payload: {reason}"),
        Undecodable::Shape(reason) => format!("another shape: {reason}"),
    }
}

/// Encodes and writes `value`; failures are counted and reported, never returned.
async fn write_back<V: serde::Serialize>(
    spec: &'static CacheSpec,
    cache: &Cache,
    key: Key,
    value: &V,
    counters: &SetCounters,
) {
    let bytes = match codec::encode(value) {
        Ok(bytes) => bytes,
        Err(error) => {
            counters.count(Event::CacheError);
            report::warn_once(Cause::Encode, spec.set, || {
                format!(
                    "set {}: a value of {} is not cached: {error}",
                    spec.set, spec.function
                )
            });
            return;
        }
    };
    match cache.write(key, bytes, spec.ttl.expiration()).await {
        Ok(()) => counters.count(Event::Write),
        Err(error) => {
            counters.count(Event::CacheError);
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
