//! From a spec and a user key to the record a call reads and writes: the connected cache, the
//! namespace's status and the record's key, as a [`Target`].
//!
//! Every path of a call finds its record here, in the same steps: the user key, the connection,
//! the namespace, the record's key. Each reason to bypass the cache is counted once as a cache
//! error (a disabled cache is not) and reported once per cause and set, in the words of the path
//! ([`Wording`]): a caller of `#[cache_aside]` and a write-behind queue tell their readers
//! different things about what happens next.

use aerospike::Key;

use crate::client::{self, Access, Cache, Expected};
use crate::key::KeyResult;
use crate::local_registry;
use crate::namespace::NamespaceStatus;
use crate::pending;
use crate::report::{self, Cause};
use crate::spec::CacheSpec;
use crate::stats::{Event, SetCounters};
use crate::store::size;
use crate::store::write::Target;
use crate::{Error, ErrorKind, UserKey};

/// What a path of a call says when it cannot use the cache: each function gets the spec and the
/// error, and words the line logged once per cause and set.
pub(crate) struct Wording {
    /// The user key could not be built ([`Cause::Key`]).
    pub(crate) bad_key: fn(&'static CacheSpec, &Error) -> String,
    /// The cache is unreachable ([`Cause::Disconnected`]); `None` logs nothing, for callers
    /// that return the error instead.
    pub(crate) disconnected: Option<fn(&'static CacheSpec, &Error) -> String>,
    /// The user key is not a valid Aerospike key ([`Cause::Key`]).
    pub(crate) invalid_key: fn(&'static CacheSpec, &Error) -> String,
}

/// Why a call bypasses the cache (counted and reported, except when the cache is disabled).
pub(crate) enum Bypass {
    /// The cache is disabled or the key cannot be built: the call does not coalesce either.
    Alone,
    /// The cache cannot be used now; calls of this key still share one load.
    Unusable(UserKey),
}

/// Why there is no connected cache.
pub(crate) enum Unconnected {
    /// Disabled by the configuration: not an error.
    Disabled,
    /// Unreachable: counted, and reported if the caller gave words for it.
    Unavailable(Error),
}

/// Why the cache cannot hold `spec`'s records.
pub(crate) enum Unplaced {
    /// Disabled by the configuration: not an error.
    Disabled,
    /// Unreachable, or the namespace does not exist: counted (and reported).
    Unusable,
}

/// The record of one call: its user key, the connection, the namespace, the record's key.
pub(crate) async fn locate(
    spec: &'static CacheSpec,
    key: KeyResult,
    counters: &'static SetCounters,
    wording: &Wording,
) -> Result<Target, Bypass> {
    let user_key = user_key(spec, key, counters, wording).ok_or(Bypass::Alone)?;
    let (cache, namespace) = match place(spec, counters, wording).await {
        Ok(placed) => placed,
        Err(Unplaced::Disabled) => return Err(Bypass::Alone),
        Err(Unplaced::Unusable) => return Err(Bypass::Unusable(user_key)),
    };
    target(spec, cache, namespace, user_key, counters, wording).ok_or(Bypass::Alone)
}

/// The built user key, or `None` when it could not be built (counted and reported).
pub(crate) fn user_key(
    spec: &'static CacheSpec,
    key: KeyResult,
    counters: &'static SetCounters,
    wording: &Wording,
) -> Option<UserKey> {
    key.inspect_err(|error| {
        counters.count(Event::CacheError);
        report::warn_once(Cause::Key, spec.set, || (wording.bad_key)(spec, error));
    })
    .ok()
}

/// The connected cache of `spec`. An unreachable one is counted, and reported in the words of
/// `disconnected` when given.
pub(crate) async fn connect(
    spec: &'static CacheSpec,
    counters: &'static SetCounters,
    disconnected: Option<fn(&'static CacheSpec, &Error) -> String>,
) -> Result<Cache, Unconnected> {
    match client::access(spec.cache, counters).await {
        Access::Ready(cache) => Ok(cache),
        Access::Disabled => Err(Unconnected::Disabled),
        Access::Unavailable(error) => {
            counters.count_failed(&error);
            if let Some(disconnected) = disconnected {
                report::warn_once(Cause::Disconnected, spec.set, || disconnected(spec, &error));
            }
            Err(Unconnected::Unavailable(error))
        }
    }
}

/// The connected cache and the status of the namespace of `spec`'s records, or why the cache
/// cannot hold them (a missing namespace is counted here and logged once by the namespace check).
pub(crate) async fn place(
    spec: &'static CacheSpec,
    counters: &'static SetCounters,
    wording: &Wording,
) -> Result<(Cache, NamespaceStatus), Unplaced> {
    let cache = match connect(spec, counters, wording.disconnected).await {
        Ok(cache) => cache,
        Err(Unconnected::Disabled) => return Err(Unplaced::Disabled),
        Err(Unconnected::Unavailable(_)) => return Err(Unplaced::Unusable),
    };
    // A local tier of the set keeps only values read after this process listened for other
    // processes' changes (see `backplane`): the first reads wait for that, once.
    local_registry::until_started(spec, cache.config().operation_timeout()).await;
    match cache.namespace_status(namespace_name(spec, &cache)) {
        NamespaceStatus::Missing => {
            counters.count(Event::CacheError);
            Err(Unplaced::Unusable)
        }
        namespace => Ok((cache, namespace)),
    }
}

/// The target of `user_key` in a placed cache, expecting no record yet; `None` when the user key
/// is not a valid Aerospike key (counted and reported), or when an invalidation of the record
/// waits to be retried (see `pending`; counted as bypassed).
pub(crate) fn target(
    spec: &'static CacheSpec,
    cache: Cache,
    namespace: NamespaceStatus,
    user_key: UserKey,
    counters: &'static SetCounters,
    wording: &Wording,
) -> Option<Target> {
    // An invalidation of the record waits for the cluster: neither its old entry nor a
    // write-back of this call may be served before it lands.
    if pending::bypasses(spec, &user_key) {
        counters.count(Event::Bypassed);
        return None;
    }
    let stored_key_cost = size::stored_key_cost(&user_key, cache.config().send_key());
    // The user key moves into the record's key: a hit does not copy it.
    match record_key(spec, &cache, user_key) {
        Ok(key) => Some(Target {
            stored_key_cost,
            codec: cache.codec_for(spec),
            cache,
            key,
            expected: Expected::Absent,
            namespace,
            load_start: None,
        }),
        Err(error) => {
            counters.count(Event::CacheError);
            report::warn_once(Cause::Key, spec.set, || (wording.invalid_key)(spec, &error));
            None
        }
    }
}

/// The namespace of `spec`'s records: the attribute's, or the configured one.
pub(crate) fn namespace_name<'a>(spec: &CacheSpec, cache: &'a Cache) -> &'a str {
    spec.namespace.unwrap_or_else(|| cache.default_namespace())
}

/// The Aerospike key of `user_key`'s record.
pub(crate) fn record_key(spec: &CacheSpec, cache: &Cache, user_key: UserKey) -> Result<Key, Error> {
    Key::new(namespace_name(spec, cache), spec.set, user_key.into_value())
        .map_err(|e| Error::new(ErrorKind::Key, format!("invalid key: {e}")))
}
