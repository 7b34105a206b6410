//! The write paths: `#[cache_put]` writes an update's result to the cache, `#[cache_evict]` removes
//! an entry (or, with `all = true`, the whole set), and [`invalidate`] lets any event consumer
//! remove an entry by set and key.
//!
//! They address records exactly as `#[cache_aside(set = …, key = <expr>)]` does (same namespace
//! rule, same user key from [`IntoUserKey`], same envelope and codec), so a reader and a writer
//! with equal keys share one record. Both keep the reader's stale-set protection: a put first
//! replaces the entry with an invalidation marker (a new generation), then writes its value only
//! if the marker is still there; an evict writes the marker and leaves it. A load that read the
//! entry before either one cannot write its older value afterwards (its write is create-only or
//! expects the old generation); a load of this process that started before a truncate (`all =
//! true`) does not write either. Two writers of one key that race may leave the cache holding the
//! value of the one whose cache write came last, which need not be the last source write: where
//! writers race, evict rather than put.
//!
//! The attributes fail open like every annotated call: the source write already happened, so a
//! cache that is down or slow is counted and logged once per cause, and the call returns its
//! result. [`invalidate`] reports errors instead, because its caller must know when an entry may
//! still be served. Either way, an invalidation that could not reach the cluster is kept and
//! retried until it lands (see `engine::recover`).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::client;
use crate::codec::{self, Codec};
use crate::engine;
use crate::key::{IntoUserKey, KeyResult};
use crate::kind::{OptionKind, PlainKind, ResultKind, ReturnKind};
use crate::names::{name_problem, NameKind};
use crate::pending::Invalidation;
use crate::report::{self, Cause};
use crate::spec::CacheSpec;
use crate::stats::{self, Event, SetCounters};
use crate::store::write::store_with_ttl;
use crate::{bridge, local, local_registry, Error, ErrorKind, Ttl};

/// Whether a returned value means the call succeeded: `Ok` of a `Result`, `Some` of an `Option`,
/// any other value. Only then do `#[cache_put(value = …)]` and `#[cache_evict]` touch the cache.
#[diagnostic::on_unimplemented(
    message = "`{R}` is not the kind of return value the attribute expects (from `returns = …` or the return type)",
    label = "the declared return type",
    note = "write `returns = result` for a `Result`, `returns = option` for an `Option`, or `returns = value` when every returned value is a success"
)]
pub trait Outcome<R> {
    /// Whether `returned` is a success.
    fn succeeded(returned: &R) -> bool;
}

impl<T, E> Outcome<Result<T, E>> for ResultKind {
    fn succeeded(returned: &Result<T, E>) -> bool {
        returned.is_ok()
    }
}

impl<T> Outcome<Option<T>> for OptionKind {
    fn succeeded(returned: &Option<T>) -> bool {
        returned.is_some()
    }
}

impl<T> Outcome<T> for PlainKind {
    fn succeeded(_returned: &T) -> bool {
        true
    }
}

/// What a `#[cache_put]` call writes once its body returned: nothing after a failure, else the
/// encoded value (or why it could not be encoded).
#[derive(Debug)]
pub struct PutEntry(Option<Encoded>);

/// The encoded value of `value = <expr>`, taken before the body runs (the body may consume the
/// arguments the expression reads).
#[derive(Debug)]
pub struct PutValue(Encoded);

/// A value encoded for a `#[cache_put]`, in the codec the readers of its set decode: the set's
/// codec in the installed configuration, else the attribute's. Encoded before the cache is
/// reached, so the codec is noted: should a new configuration change it before the write, the
/// entry is left invalidated rather than written in a codec its readers no longer expect (see
/// `write_replacing`).
#[derive(Debug)]
struct Encoded {
    codec: Codec,
    bytes: Result<Vec<u8>, Error>,
}

impl Encoded {
    fn new<T: serde::Serialize + ?Sized>(spec: &'static CacheSpec, value: &T) -> Encoded {
        let codec = client::codec_for(spec);
        Encoded {
            codec,
            bytes: codec::encode_as(codec, value),
        }
    }
}

/// `#[cache_put]` without `value`: the cacheable part of the returned value (`Ok`, `Some`, a
/// plain value), encoded as a cache-aside write-back of `spec`'s function would encode it (in its
/// set's codec, else its own).
pub fn put_returned<R, K: ReturnKind<R>>(
    spec: &'static CacheSpec,
    _kind: K,
    returned: &R,
) -> PutEntry {
    PutEntry(K::cacheable(returned).map(|value| Encoded::new(spec, value)))
}

/// A value `value = <expr>` can write: the reader decodes it as its own cached type.
#[diagnostic::on_unimplemented(
    message = "the value `{Self}` of `value = …` must implement `serde::Serialize`",
    label = "this value is written to the cache",
    note = "derive `serde::Serialize` for it (the reader of the entry decodes it as its own cached type)"
)]
pub trait WritableValue: serde::Serialize {}
impl<T: serde::Serialize + ?Sized> WritableValue for T {}

/// `value = <expr>`: encodes the value now, in the codec of `spec`'s set, else `spec`'s own.
pub fn put_value<T: WritableValue + ?Sized>(spec: &'static CacheSpec, value: &T) -> PutValue {
    PutValue(Encoded::new(spec, value))
}

/// `value = <expr>`: the value taken before the call, to be written if the call succeeded.
pub fn put_value_if<R, K: Outcome<R>>(_kind: K, value: PutValue, returned: &R) -> PutEntry {
    PutEntry(K::succeeded(returned).then_some(value.0))
}

/// Whether the returned value is a success, for `#[cache_evict]`.
pub fn succeeded<R, K: Outcome<R>>(_kind: K, returned: &R) -> bool {
    K::succeeded(returned)
}

/// `#[cache_put]`: replaces the entry of `key` with the value, with the spec's TTL. Never fails:
/// problems are counted and logged once. A value that cannot be encoded removes the entry
/// instead, since the source has changed.
pub async fn cache_put(spec: &'static CacheSpec, key: KeyResult, entry: PutEntry) {
    let Some(Encoded { codec, bytes }) = entry.0 else {
        return;
    };
    let counters = stats::counters(spec.set);
    let user_key = key.as_ref().ok().cloned();
    local::forgetting_around(user_key, async move {
        match bytes {
            Ok(bytes) => write_replacing(spec, key, (codec, bytes), counters).await,
            Err(error) => {
                counters.count(Event::CacheError);
                report::warn_once(Cause::Encode, spec.set, || {
                    format!(
                        "set {}: the value of {} cannot be encoded ({error}); its entry is \
                         removed instead",
                        spec.set, spec.function
                    )
                });
                remove(spec, key).await;
            }
        }
    })
    .await;
}

/// [`cache_put`] for a sync function: the cache operations run on the cache's background runtime
/// while this thread waits (at most two operation timeouts).
pub fn cache_put_blocking(spec: &'static CacheSpec, key: KeyResult, entry: PutEntry) {
    if bridge::run(cache_put(spec, key, entry)).is_none() {
        unavailable(spec);
    }
}

/// `#[cache_evict]`: replaces the entry of `key` with an invalidation marker, as
/// `<fn>_invalidate` does. Never fails: problems are counted and logged once.
pub async fn cache_evict(spec: &'static CacheSpec, key: KeyResult) {
    local::forgetting_around(key.as_ref().ok().cloned(), remove(spec, key)).await;
}

/// [`cache_evict`] for a sync function.
pub fn cache_evict_blocking(spec: &'static CacheSpec, key: KeyResult) {
    if bridge::run(cache_evict(spec, key)).is_none() {
        unavailable(spec);
    }
}

/// `#[cache_evict(all = true)]`: truncates the spec's set in its namespace and empties this
/// process's local tiers. Never fails: problems are counted and logged once.
///
/// A truncate leaves no marker, so loads of this process that started before it are told apart
/// by a count of truncates (see `store::write::LoadStart`): they do not write back; nor do they, or
/// calls that read an entry before the truncate, keep their values locally. Loads of other
/// processes are not told.
pub async fn cache_evict_all(spec: &'static CacheSpec) {
    local::note_emptied();
    local_registry::forget_all();
    if let Err(error) = engine::truncate_set(spec).await {
        if !engine::keep_failed(spec, Invalidation::Set, &error) {
            report::warn_once(Cause::Delete, spec.set, || {
                format!(
                    "set {}: {} could not truncate the set: {error}; its entries may be served \
                     until their ttl ends",
                    spec.set, spec.function
                )
            });
        }
    }
    // Noted again after the truncate: a call that missed its local tier between the first note
    // and the truncate may have read an entry the truncate removed.
    local::note_emptied();
    local_registry::forget_all();
}

/// [`cache_evict_all`] for a sync function.
pub fn cache_evict_all_blocking(spec: &'static CacheSpec) {
    if bridge::run(cache_evict_all(spec)).is_none() {
        unavailable(spec);
    }
}

/// Removes the entry of `key` from the cache: replaces it with an invalidation marker, as
/// `<fn>_invalidate` does, so that a load that read it before cannot write its value over it.
///
/// `set` is the attribute's `set`; the namespace is the configured one
/// ([`Config::namespace`](crate::Config::namespace)). `key` is what the reader's `key = <expr>`
/// gives: a string, an integer or bytes. For an event consumer, such as a change feed of the
/// source. Local tiers (`local(…)`) of this process drop their copy, and a call of this process
/// that was loading the key (or reading it from Aerospike) meanwhile does not keep its older value
/// there; other processes drop their copy within about the backplane's interval.
///
/// ```no_run
/// # use cacheaside_runtime as cacheaside;
/// // A consumer of the source's change events: the next `get_user(id)` loads the new row.
/// async fn on_user_changed(id: u64, email: &str) -> Result<(), cacheaside::Error> {
///     cacheaside::invalidate("users", id).await?; // `#[cache_aside(set = "users", key = id)]`
///     cacheaside::invalidate("users_by_email", email).await?; // `key = email`
///     cacheaside::invalidate_in("ephemeral", "sessions", format!("user:{id}")).await
/// }
/// ```
///
/// # Errors
/// When the entry may still be served: the cache is unreachable or failed the write
/// ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], [`ErrorKind::Server`]; such an
/// invalidation is also kept and retried in the background until it lands, and calls of this
/// process for the key bypass the cache meanwhile, see
/// [`SetStats::pending_invalidations`](crate::SetStats::pending_invalidations)), or the set name or
/// key is invalid ([`ErrorKind::Key`]): a set name has 1 to 63 bytes and no NUL, `:` or `;`, and a
/// string key does not start with `::`, which marks default keys (see [`UserKey`](crate::UserKey)).
/// A disabled cache is not an error.
pub async fn invalidate<K: IntoUserKey>(set: &'static str, key: K) -> Result<(), Error> {
    invalidate_key(spec_for(None, None, set)?, key.into_user_key()).await
}

/// [`invalidate`] in another namespace than the configured one (an attribute's `namespace`).
///
/// # Errors
/// As [`invalidate`]; also an invalid namespace name.
pub async fn invalidate_in<K: IntoUserKey>(
    namespace: &'static str,
    set: &'static str,
    key: K,
) -> Result<(), Error> {
    invalidate_key(spec_for(None, Some(namespace), set)?, key.into_user_key()).await
}

/// [`invalidate`] for sync code: blocks this thread while the cache's background runtime does
/// the write (at most the operation timeout). Works with or without a tokio runtime.
///
/// ```no_run
/// # use cacheaside_runtime as cacheaside;
/// fn on_user_changed(id: u64) -> Result<(), cacheaside::Error> {
///     cacheaside::invalidate_blocking("users", id)
/// }
/// ```
///
/// # Errors
/// As [`invalidate`].
pub fn invalidate_blocking<K: IntoUserKey>(set: &'static str, key: K) -> Result<(), Error> {
    let spec = spec_for(None, None, set)?;
    invalidate_key_blocking(spec, key.into_user_key())
}

/// [`invalidate_in`] for sync code.
///
/// # Errors
/// As [`invalidate_in`].
pub fn invalidate_in_blocking<K: IntoUserKey>(
    namespace: &'static str,
    set: &'static str,
    key: K,
) -> Result<(), Error> {
    let spec = spec_for(None, Some(namespace), set)?;
    invalidate_key_blocking(spec, key.into_user_key())
}

/// A cluster installed by [`init_named`](crate::init_named), to remove entries from: what
/// [`invalidate`] and its variants do for the default cluster, for functions with
/// `cache = "<name>"`. From [`named`]; cheap to copy.
///
/// ```no_run
/// # use cacheaside_runtime as cacheaside;
/// // Readers: #[cache_aside(set = "reports", cache = "analytics", key = id)]
/// async fn on_report_changed(id: u64) -> Result<(), cacheaside::Error> {
///     let analytics = cacheaside::named("analytics");
///     analytics.invalidate("reports", id).await?;
///     analytics.invalidate_in("archive", "reports", id).await
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedCache {
    name: &'static str,
}

/// The cluster installed by [`init_named`](crate::init_named) under `name`. It need not be
/// installed yet: operations check the name, and find the cluster, when they run.
pub fn named(name: &'static str) -> NamedCache {
    NamedCache { name }
}

impl NamedCache {
    /// The cluster's name, as given to [`init_named`](crate::init_named).
    pub fn name(self) -> &'static str {
        self.name
    }

    /// [`invalidate`] in this cluster.
    ///
    /// # Errors
    /// As [`invalidate`]; [`ErrorKind::Config`] for an invalid cluster name, and
    /// [`ErrorKind::Unavailable`] while no cluster is installed under this name.
    pub async fn invalidate<K: IntoUserKey>(self, set: &'static str, key: K) -> Result<(), Error> {
        let spec = self.spec(None, set)?;
        invalidate_key(spec, key.into_user_key()).await
    }

    /// [`invalidate_in`] in this cluster.
    ///
    /// # Errors
    /// As [`NamedCache::invalidate`]; also an invalid namespace name.
    pub async fn invalidate_in<K: IntoUserKey>(
        self,
        namespace: &'static str,
        set: &'static str,
        key: K,
    ) -> Result<(), Error> {
        let spec = self.spec(Some(namespace), set)?;
        invalidate_key(spec, key.into_user_key()).await
    }

    /// [`invalidate_blocking`] in this cluster.
    ///
    /// # Errors
    /// As [`NamedCache::invalidate`].
    pub fn invalidate_blocking<K: IntoUserKey>(
        self,
        set: &'static str,
        key: K,
    ) -> Result<(), Error> {
        let spec = self.spec(None, set)?;
        invalidate_key_blocking(spec, key.into_user_key())
    }

    /// [`invalidate_in_blocking`] in this cluster.
    ///
    /// # Errors
    /// As [`NamedCache::invalidate_in`].
    pub fn invalidate_in_blocking<K: IntoUserKey>(
        self,
        namespace: &'static str,
        set: &'static str,
        key: K,
    ) -> Result<(), Error> {
        let spec = self.spec(Some(namespace), set)?;
        invalidate_key_blocking(spec, key.into_user_key())
    }

    fn spec(
        self,
        namespace: Option<&'static str>,
        set: &'static str,
    ) -> Result<&'static CacheSpec, Error> {
        client::check_cluster_name(self.name)?;
        spec_for(Some(self.name), namespace, set)
    }
}

/// Invalidates the entry of `key` in Aerospike (see `engine::invalidate`) between two forgets of
/// the key by every local tier of this process (see `local::forgetting_around`): the one rule
/// for `invalidate`, `<fn>_invalidate` and [`NamedCache::invalidate`].
pub(crate) async fn invalidate_key(spec: &'static CacheSpec, key: KeyResult) -> Result<(), Error> {
    local::forgetting_around(key.as_ref().ok().cloned(), engine::invalidate(spec, key)).await
}

/// [`invalidate_key`] for sync callers, on the background runtime.
pub(crate) fn invalidate_key_blocking(
    spec: &'static CacheSpec,
    key: KeyResult,
) -> Result<(), Error> {
    bridge::run(invalidate_key(spec, key)).unwrap_or_else(|| Err(unavailable(spec)))
}

/// Writes `bytes`, encoded in `codec`, over whatever the entry holds: an invalidation marker
/// first (so older loads lose), then the value, only over that marker.
async fn write_replacing(
    spec: &'static CacheSpec,
    key: KeyResult,
    (codec, bytes): (Codec, Vec<u8>),
    counters: &'static SetCounters,
) {
    engine::detach_flight(spec, &key);
    let target = engine::replacing_target(spec, key, counters, |spec, error| {
        format!(
            "set {}: {} could not write its value to the cache: {error}; the old entry may be \
             served until the invalidation is retried successfully",
            spec.set, spec.function
        )
    })
    .await;
    match target {
        Some(target) if target.codec == codec => {
            store_with_ttl(spec, target, bytes, spec.ttl, counters).await;
        }
        Some(_) => {
            // A configuration installed since the value was encoded gave the set another codec,
            // which its readers now expect: the marker stays, as after an evict.
            tracing::debug!(
                target: "cacheaside",
                set = spec.set,
                "the set's codec changed while {} ran; its entry is removed instead",
                spec.function
            );
        }
        None => {}
    }
}

/// Invalidates the entry of `key`, reporting a failure once (counted by the engine).
async fn remove(spec: &'static CacheSpec, key: KeyResult) {
    if let Err(error) = engine::invalidate(spec, key).await {
        report::warn_once(Cause::Delete, spec.set, || {
            format!(
                "set {}: {} could not remove its cache entry: {error}; it may be served until its \
                 ttl ends",
                spec.set, spec.function
            )
        });
    }
}

/// Counts and describes a background runtime that could not run a sync caller's operation.
fn unavailable(spec: &'static CacheSpec) -> Error {
    stats::counters(spec.set).count(Event::CacheError);
    Error::new(
        ErrorKind::Unavailable,
        "the cache's background runtime did not run the operation",
    )
}

/// The spec of [`invalidate`] for a cluster, set and namespace, made once per combination: the
/// names are `'static`, so there are as many specs as combinations named in the program.
fn spec_for(
    cache: Option<&'static str>,
    namespace: Option<&'static str>,
    set: &'static str,
) -> Result<&'static CacheSpec, Error> {
    check_name(NameKind::Set, set)?;
    if let Some(namespace) = namespace {
        check_name(NameKind::Namespace, namespace)?;
    }
    type Names = (Option<&'static str>, Option<&'static str>, &'static str);
    type Specs = Mutex<HashMap<Names, &'static CacheSpec>>;
    static SPECS: OnceLock<Specs> = OnceLock::new();
    let mut specs = SPECS
        .get_or_init(Specs::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let spec = specs.entry((cache, namespace, set)).or_insert_with(|| {
        Box::leak(Box::new(CacheSpec {
            cache,
            namespace,
            set,
            ttl: Ttl::NamespaceDefault,
            function: "invalidate",
            codec: crate::codec::Codec::MessagePack,
        }))
    });
    Ok(*spec)
}

/// A set or namespace name given to `invalidate`, checked by Aerospike's rules: a bad one is a key
/// error, like a bad key.
fn check_name(kind: NameKind, name: &str) -> Result<(), Error> {
    match name_problem(kind, name) {
        Some(problem) => Err(Error::new(ErrorKind::Key, problem)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spec_per_cluster_namespace_and_set() {
        let users = spec_for(None, None, "wt_users").unwrap();
        assert!(core::ptr::eq(
            users,
            spec_for(None, None, "wt_users").unwrap()
        ));
        let elsewhere = spec_for(None, Some("cache"), "wt_users").unwrap();
        assert!(!core::ptr::eq(users, elsewhere));
        assert_eq!(elsewhere.namespace, Some("cache"));
        assert_eq!(elsewhere.set, "wt_users");
        let analytics = named("analytics").spec(None, "wt_users").unwrap();
        assert!(!core::ptr::eq(users, analytics));
        assert_eq!(analytics.cache, Some("analytics"));
        assert_eq!(analytics.namespace, None);
    }

    #[test]
    fn rejects_invalid_cluster_names() {
        for name in ["", "has space", "sl/ash"] {
            let error = named(name).spec(None, "wt_users").unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Config);
            assert!(error.to_string().contains("cache cluster name"), "{error}");
        }
    }

    #[test]
    fn rejects_invalid_names() {
        let long_set: &'static str = Box::leak("s".repeat(64).into_boxed_str());
        for (error, expected) in [
            (
                spec_for(None, None, "").unwrap_err(),
                "set name is not empty",
            ),
            (
                spec_for(None, None, long_set).unwrap_err(),
                "set name has at most 63 bytes",
            ),
            (
                spec_for(None, Some("a_namespace_name_longer_than_31_bytes"), "s").unwrap_err(),
                "namespace name has at most 31 bytes",
            ),
            (
                spec_for(None, None, "users:v2").unwrap_err(),
                "set name cannot contain `:`",
            ),
        ] {
            assert_eq!(error.kind(), ErrorKind::Key);
            assert!(error.to_string().contains(expected), "{error}");
        }
    }

    #[test]
    fn success_follows_the_return_kind() {
        assert!(succeeded(ResultKind, &Ok::<u8, ()>(1)));
        assert!(!succeeded(ResultKind, &Err::<u8, ()>(())));
        assert!(succeeded(OptionKind, &Some(1)));
        assert!(!succeeded(OptionKind, &None::<u8>));
        assert!(succeeded(PlainKind, &()));
    }

    // A cluster never installed: the values are encoded in the attribute's codec, and nothing
    // installs a configuration from the environment.
    static PUT: CacheSpec = CacheSpec {
        cache: Some("writes-unit"),
        namespace: None,
        set: "writes_unit",
        ttl: Ttl::Seconds(60),
        function: "put",
        codec: codec::Codec::MessagePack,
    };

    #[test]
    fn a_put_writes_only_after_success() {
        assert!(put_returned(&PUT, ResultKind, &Err::<u8, ()>(()))
            .0
            .is_none());
        let written = put_returned(&PUT, ResultKind, &Ok::<u8, ()>(7))
            .0
            .unwrap()
            .bytes
            .unwrap();
        assert_eq!(codec::decode::<u8>(&written).ok(), Some(7));
        let value = put_value(&PUT, &"new".to_owned());
        assert!(put_value_if(OptionKind, value, &None::<()>).0.is_none());
        let value = put_value(&PUT, &"new".to_owned());
        let written = put_value_if(PlainKind, value, &())
            .0
            .unwrap()
            .bytes
            .unwrap();
        assert_eq!(
            codec::decode::<String>(&written).ok(),
            Some("new".to_owned())
        );
    }
}
