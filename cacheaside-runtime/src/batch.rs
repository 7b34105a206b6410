//! Batch loaders, `#[cache_aside(…, batch)]`: many ids, one Aerospike batch read, one call of the
//! body with only the ids that missed.
//!
//! Each id is its own record, addressed by the id itself as the user key (exactly what
//! `key = id` gives a single-id reader), so a batch loader and a single-id reader of the same set
//! share their entries. A call:
//!
//! 1. builds the user key of every id and drops repeated ids (by their key);
//! 2. reads every entry in one batch command, bounded by the operation timeout;
//! 3. decodes the hits; absent, invalidated and undecodable entries are misses;
//! 4. calls the body once with the missing ids, in the argument's own collection type;
//! 5. writes back each value the body returned for a missing id, conditional on what the read
//!    saw (create-only after a miss, at the read generation otherwise: an invalidation meanwhile
//!    wins), and returns the body's map with the hits added.
//!
//! It fails open like a single call: when the batch read fails, times out, the breaker is open or
//! the cache is disabled, every id is a miss and the body gets them all; write-back failures are
//! counted, never returned. Counters are per id: each id counts one hit or one miss, and each id
//! the body is asked for counts a load (and a load error when the body fails or does not return
//! it). Concurrent batch calls do not coalesce (no single-flight across batches).

use core::borrow::Borrow;
use core::future::Future;
use core::hash::{BuildHasher, Hash};
use core::marker::PhantomData;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use aerospike::{Key, Value};

use crate::bridge;
use crate::client;
use crate::client::batch_read::Row;
use crate::codec;
use crate::key::{IntoUserKey, KeyResult};
use crate::kind::{CacheValue, OptionKind, PlainKind, ResultKind};
use crate::report::{self, Cause};
use crate::spec::{CacheSpec, Codec};
use crate::stats::{self, Event, SetCounters};
use crate::store::found::{self, Found};
use crate::store::locate::{self, Wording};
use crate::store::write::{encode_failed, store_with_ttl, LoadStart, Target};
use crate::{Error, ErrorKind, UserKey};

/// Write-backs of one batch call in flight at a time: enough to hide round trips, few enough to
/// leave connections for other calls.
const CONCURRENT_WRITES: usize = 16;

/// An id of a batch loader: the user key of its entry.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the id of a `batch` function: each id is the Aerospike user key of its entry",
    label = "the ids of this collection are user keys",
    note = "use integer, `String` or `Vec<u8>` ids (what `key = id` accepts on a single-id reader); they must be `Clone`"
)]
pub trait BatchId: Clone {
    /// The user key of this id's entry.
    fn user_key(&self) -> KeyResult;
}

impl<T: Clone> BatchId for T
where
    for<'a> &'a T: IntoUserKey,
{
    fn user_key(&self) -> KeyResult {
        self.into_user_key()
    }
}

/// The collection of ids a batch function takes (without its reference: `[u64]` for `&[u64]`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a collection of ids that a `batch` function can take",
    label = "the argument that is not skipped holds the ids",
    note = "take the ids as `&[Id]`, `Vec<Id>`, `&Vec<Id>`, `HashSet<Id>` or `BTreeSet<Id>` (or a reference to a set)"
)]
pub trait BatchIds {
    /// One id.
    type Id;
    /// The collection the body is called with: the missing ids, in this argument's type (a
    /// `Vec` where the argument is a slice).
    type Rebuilt;
    /// Calls `each` with every id, in the collection's order.
    fn for_each_id(&self, each: impl FnMut(&Self::Id));
    /// The collection of the missing ids.
    fn rebuild(missing: Vec<Self::Id>) -> Self::Rebuilt;
}

impl<T> BatchIds for [T] {
    type Id = T;
    type Rebuilt = Vec<T>;
    fn for_each_id(&self, each: impl FnMut(&T)) {
        self.iter().for_each(each);
    }
    fn rebuild(missing: Vec<T>) -> Vec<T> {
        missing
    }
}

impl<T> BatchIds for Vec<T> {
    type Id = T;
    type Rebuilt = Vec<T>;
    fn for_each_id(&self, each: impl FnMut(&T)) {
        self.iter().for_each(each);
    }
    fn rebuild(missing: Vec<T>) -> Vec<T> {
        missing
    }
}

impl<T: Eq + Hash, S: BuildHasher + Default> BatchIds for HashSet<T, S> {
    type Id = T;
    type Rebuilt = HashSet<T, S>;
    fn for_each_id(&self, each: impl FnMut(&T)) {
        self.iter().for_each(each);
    }
    fn rebuild(missing: Vec<T>) -> HashSet<T, S> {
        missing.into_iter().collect()
    }
}

impl<T: Ord> BatchIds for BTreeSet<T> {
    type Id = T;
    type Rebuilt = BTreeSet<T>;
    fn for_each_id(&self, each: impl FnMut(&T)) {
        self.iter().for_each(each);
    }
    fn rebuild(missing: Vec<T>) -> BTreeSet<T> {
        missing.into_iter().collect()
    }
}

/// The map a batch function returns: its values by id.
#[diagnostic::on_unimplemented(
    message = "a `batch` function returns its values in a map by id, and `{Self}` is not one",
    label = "the cached part of this return type must be a map from id to value",
    note = "return `HashMap<Id, V>` or `BTreeMap<Id, V>`, in a `Result` or an `Option` if the body can fail"
)]
pub trait BatchMap: Default {
    /// The map's key: one id.
    type Id;
    /// The value of one id, cached in the id's entry.
    type Value;
    /// The value of `id`, if the map has one.
    fn value_of(&self, id: &Self::Id) -> Option<&Self::Value>;
    /// The value of a string id, for a map keyed by `String` whose ids are `&str`.
    fn value_of_str(&self, id: &str) -> Option<&Self::Value>
    where
        Self::Id: Borrow<str>;
    /// Adds a cached value, unless the body returned one for this id as well (it is newer).
    fn add_cached(&mut self, id: Self::Id, value: Self::Value);
}

impl<K: Eq + Hash, V, S: BuildHasher + Default> BatchMap for HashMap<K, V, S> {
    type Id = K;
    type Value = V;
    fn value_of(&self, id: &K) -> Option<&V> {
        self.get(id)
    }
    fn value_of_str(&self, id: &str) -> Option<&V>
    where
        K: Borrow<str>,
    {
        self.get(id)
    }
    fn add_cached(&mut self, id: K, value: V) {
        self.entry(id).or_insert(value);
    }
}

impl<K: Ord, V> BatchMap for BTreeMap<K, V> {
    type Id = K;
    type Value = V;
    fn value_of(&self, id: &K) -> Option<&V> {
        self.get(id)
    }
    fn value_of_str(&self, id: &str) -> Option<&V>
    where
        K: Borrow<str>,
    {
        self.get(id)
    }
    fn add_cached(&mut self, id: K, value: V) {
        self.entry(id).or_insert(value);
    }
}

/// Where the map is in a batch function's return type `R`: the `Ok` of a `Result`, the `Some` of
/// an `Option`, or the whole value. An `Err` or a `None` is returned as it is and caches nothing.
pub trait BatchReturn<R> {
    /// The map of values by id (checked to be a [`BatchMap`] by [`BatchReturnCheck::batch_kind`]).
    type Map;
    /// The map, or the returned value when it holds none (`Err`, `None`).
    fn into_map(returned: R) -> Result<Self::Map, R>;
    /// A return value holding `map`.
    fn from_map(map: Self::Map) -> R;
}

impl<M, E> BatchReturn<Result<M, E>> for ResultKind {
    type Map = M;
    fn into_map(returned: Result<M, E>) -> Result<M, Result<M, E>> {
        match returned {
            Ok(map) => Ok(map),
            Err(error) => Err(Err(error)),
        }
    }
    fn from_map(map: M) -> Result<M, E> {
        Ok(map)
    }
}

impl<M> BatchReturn<Option<M>> for OptionKind {
    type Map = M;
    fn into_map(returned: Option<M>) -> Result<M, Option<M>> {
        returned.ok_or(None)
    }
    fn from_map(map: M) -> Option<M> {
        Some(map)
    }
}

impl<M> BatchReturn<M> for PlainKind {
    type Map = M;
    fn into_map(returned: M) -> Result<M, M> {
        Ok(returned)
    }
    fn from_map(map: M) -> M {
        map
    }
}

/// What a batch call does with its return type `R`, its map `M` of values `V` by id `I`, once
/// [`BatchReturnCheck::batch_kind`] checked them: kept as functions, so that the later steps require nothing of the
/// types and a failed check is reported once.
pub struct BatchKind<R, M, I, V> {
    into_map: fn(R) -> Result<M, R>,
    from_map: fn(M) -> R,
    new_map: fn() -> M,
    value_of: for<'m> fn(&'m M, &I) -> Option<&'m V>,
    add_cached: fn(&mut M, I, V),
    encode: fn(Codec, &V) -> Result<Vec<u8>, Error>,
    decode: fn(Codec, &[u8]) -> Result<V, String>,
}

impl<R, M, I, V> Clone for BatchKind<R, M, I, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<R, M, I, V> Copy for BatchKind<R, M, I, V> {}

/// The return type `R` of a batch function and the kind its syntax says, before
/// [`BatchReturnCheck::batch_kind`] checks them.
pub struct BatchReturnOf<R, K>(K, PhantomData<fn() -> R>);

impl<R, K> BatchReturnOf<R, K> {
    /// The return type `R` with its kind marker.
    #[inline(always)]
    pub fn new(kind: K) -> Self {
        BatchReturnOf(kind, PhantomData)
    }
}

/// The check of a batch function's return type. A trait method with the bounds on the method,
/// so that a failed bound is reported with its own message, at the method's name (which the
/// generated code spans on the return type).
pub trait BatchReturnCheck<R, K> {
    /// Checks that the cached part of `R` is a map of storable values by id. On a failed check
    /// the result's type cannot be named, which keeps the compiler from repeating the problem.
    #[allow(clippy::type_complexity)]
    fn batch_kind(
        self,
    ) -> BatchKind<
        R,
        K::Map,
        <<K as BatchReturn<R>>::Map as BatchMap>::Id,
        <<K as BatchReturn<R>>::Map as BatchMap>::Value,
    >
    where
        K: BatchReturn<R>,
        K::Map: BatchMap,
        <K::Map as BatchMap>::Value: CacheValue;
}

impl<R, K> BatchReturnCheck<R, K> for BatchReturnOf<R, K> {
    #[inline(always)]
    fn batch_kind(
        self,
    ) -> BatchKind<
        R,
        K::Map,
        <<K as BatchReturn<R>>::Map as BatchMap>::Id,
        <<K as BatchReturn<R>>::Map as BatchMap>::Value,
    >
    where
        K: BatchReturn<R>,
        K::Map: BatchMap,
        <K::Map as BatchMap>::Value: CacheValue,
    {
        BatchKind {
            into_map: K::into_map,
            from_map: K::from_map,
            new_map: Default::default,
            value_of: BatchMap::value_of,
            add_cached: BatchMap::add_cached,
            encode: |codec, value| codec::encode_as(codec, value),
            decode: |codec, bytes| codec::decode_as(codec, bytes).map_err(|why| why.to_string()),
        }
    }
}

/// Calls a function with every id of a collection.
type ForEachId<A, I> = fn(&A, &mut dyn FnMut(&I));

/// A batch function's ids, checked once (at the argument) by [`BatchIdsCheck::batch_ids`]; kept as functions
/// like [`BatchKind`].
pub struct BatchIdsOf<'a, A: ?Sized, I, B> {
    ids: &'a A,
    for_each: ForEachId<A, I>,
    user_key: fn(&I) -> KeyResult,
    clone: fn(&I) -> I,
    rebuild: fn(Vec<I>) -> B,
}

/// The ids argument of a batch function, before [`BatchIdsCheck::batch_ids`] checks it.
pub struct IdsArg<'a, A: ?Sized>(pub &'a A);

/// The check of a batch function's ids argument, a trait method like [`BatchReturnCheck`]'s
/// (spanned on the argument's type).
pub trait BatchIdsCheck<'a, A: ?Sized> {
    /// Checks that the argument is a collection of ids that are user keys.
    #[allow(clippy::type_complexity)]
    fn batch_ids(self) -> BatchIdsOf<'a, A, <A as BatchIds>::Id, <A as BatchIds>::Rebuilt>
    where
        A: BatchIds,
        A::Id: BatchId;
}

impl<'a, A: ?Sized> BatchIdsCheck<'a, A> for IdsArg<'a, A> {
    #[inline]
    fn batch_ids(self) -> BatchIdsOf<'a, A, <A as BatchIds>::Id, <A as BatchIds>::Rebuilt>
    where
        A: BatchIds,
        A::Id: BatchId,
    {
        BatchIdsOf {
            ids: self.0,
            for_each: |ids, each| ids.for_each_id(each),
            user_key: BatchId::user_key,
            clone: Clone::clone,
            rebuild: A::rebuild,
        }
    }
}

impl<A: ?Sized, I, B> BatchIdsOf<'_, A, I, B> {
    /// The distinct ids in order of first appearance, and their keys. Ids are the same when their
    /// user keys are; an id whose key cannot be built is kept (it bypasses the cache).
    fn distinct(&self) -> (Vec<I>, Vec<KeyResult>) {
        let mut seen: HashSet<UserKey> = HashSet::new();
        let mut distinct = Vec::new();
        let mut keys = Vec::new();
        (self.for_each)(self.ids, &mut |id| {
            let key = (self.user_key)(id);
            if let Ok(user_key) = &key {
                if !seen.insert(user_key.clone()) {
                    return;
                }
            }
            distinct.push((self.clone)(id));
            keys.push(key);
        });
        (distinct, keys)
    }
}

/// The checked kind and ids of one call, before [`BatchParts::join`] checks that they fit.
pub struct BatchParts<K, D>(pub K, pub D);

/// The ids of a batch function are the keys of the map it returns: the same type, or `String`
/// keys for `&str` ids (borrowed from the caller; the map owns copies).
#[diagnostic::on_unimplemented(
    message = "the map of a `batch` function must be keyed by the ids: its keys are `{Self}`, the ids `{I}`",
    label = "the ids and the keys of the returned map differ",
    note = "take the ids in a collection of the map's key type, or key the map by the ids' type (`&str` ids may also key a map by `String`)"
)]
pub trait KeysAre<I, M, V> {
    /// The kind, with the map's key type named as the ids' type.
    fn keyed<R>(kind: BatchKind<R, M, Self, V>) -> BatchKind<R, M, I, V>
    where
        Self: Sized;
}

impl<I, M, V> KeysAre<I, M, V> for I {
    fn keyed<R>(kind: BatchKind<R, M, I, V>) -> BatchKind<R, M, I, V> {
        kind
    }
}

/// `&str` ids, a map `M` by `String`: a hit's id is copied into the map, the body's values are
/// found by the borrowed id.
impl<'s, M: BatchMap<Id = String, Value = V>, V> KeysAre<&'s str, M, V> for String {
    fn keyed<R>(kind: BatchKind<R, M, String, V>) -> BatchKind<R, M, &'s str, V> {
        BatchKind {
            into_map: kind.into_map,
            from_map: kind.from_map,
            new_map: kind.new_map,
            value_of: |map, id| map.value_of_str(id),
            add_cached: |map, id, value| map.add_cached(id.to_owned(), value),
            encode: kind.encode,
            decode: kind.decode,
        }
    }
}

/// An id of a `&[&str]` (or `Vec<&str>`, a set of `&str`) is reached through one more reference
/// than a `key = name` of type `&str`.
impl IntoUserKey for &&str {
    fn into_user_key(self) -> KeyResult {
        IntoUserKey::into_user_key(*self)
    }
}

impl<'a, R, M, J, V, A: ?Sized, I, B>
    BatchParts<BatchKind<R, M, J, V>, &'a BatchIdsOf<'a, A, I, B>>
{
    /// Checks that the map is keyed by the ids (a method, so that both types are known before
    /// the check); the call's plan.
    #[inline(always)]
    pub fn join(self) -> BatchCall<'a, R, M, I, V, A, B>
    where
        J: KeysAre<I, M, V>,
    {
        BatchCall {
            kind: J::keyed(self.0),
            ids: self.1,
        }
    }
}

/// Everything a batch call needs of its types, checked.
pub struct BatchCall<'a, R, M, I, V, A: ?Sized, B> {
    kind: BatchKind<R, M, I, V>,
    ids: &'a BatchIdsOf<'a, A, I, B>,
}

/// The collection the body of a batch function is called with: the missing ids, in the type of
/// the ids argument (a `Vec` for a slice; the generated code passes a reference where the
/// argument is one).
#[inline]
pub fn rebuild_ids<R, M, I, V, A: ?Sized, B>(
    call: &BatchCall<'_, R, M, I, V, A, B>,
    missing: Vec<I>,
) -> B {
    (call.ids.rebuild)(missing)
}

/// The cache's answer for the ids of one batch call: the hits, and the ids still to load with
/// where their values go.
pub struct BatchLookup<R, M, I, V> {
    spec: &'static CacheSpec,
    counters: &'static SetCounters,
    hits: Vec<(I, V)>,
    missing: Vec<(I, Option<Target>)>,
    kind: BatchKind<R, M, I, V>,
    clone: fn(&I) -> I,
}

/// Reads the entries of every id in one batch read.
pub async fn batch_lookup<R, M, I, V, A: ?Sized, B>(
    spec: &'static CacheSpec,
    call: &BatchCall<'_, R, M, I, V, A, B>,
) -> BatchLookup<R, M, I, V> {
    let counters = stats::counters(spec.set);
    let (distinct, keys) = call.ids.distinct();
    let entries = if distinct.is_empty() {
        Vec::new()
    } else {
        read_entries(spec, keys, counters).await
    };
    BatchLookup::resolve(spec, call, distinct, entries, counters)
}

/// [`batch_lookup`] for a sync function: the batch read runs on the cache's background runtime
/// while this thread waits (at most the operation timeout).
pub fn batch_lookup_blocking<R, M, I, V, A: ?Sized, B>(
    spec: &'static CacheSpec,
    call: &BatchCall<'_, R, M, I, V, A, B>,
) -> BatchLookup<R, M, I, V> {
    let counters = stats::counters(spec.set);
    let (distinct, keys) = call.ids.distinct();
    let entries = if distinct.is_empty() {
        Vec::new()
    } else {
        let count = keys.len();
        bridge::run(read_entries(spec, keys, counters)).unwrap_or_else(|| all_missing(count))
    };
    BatchLookup::resolve(spec, call, distinct, entries, counters)
}

impl<R, M, I, V> BatchLookup<R, M, I, V> {
    fn resolve<A: ?Sized, B>(
        spec: &'static CacheSpec,
        call: &BatchCall<'_, R, M, I, V, A, B>,
        ids: Vec<I>,
        entries: Vec<Entry>,
        counters: &'static SetCounters,
    ) -> Self {
        let kind = call.kind;
        let mut hits = Vec::new();
        let mut missing = Vec::new();
        for (id, entry) in ids.into_iter().zip(entries) {
            let target = match entry {
                Entry::Missing(target) => target,
                Entry::Found(target, stored) => match decode(kind.decode, target.codec, stored) {
                    Ok(value) => {
                        counters.count(Event::Hit);
                        hits.push((id, value));
                        continue;
                    }
                    Err(why) => {
                        found::undecodable(spec, counters, &why);
                        Some(target)
                    }
                },
            };
            counters.count(Event::Miss);
            missing.push((id, target));
        }
        BatchLookup {
            spec,
            counters,
            hits,
            missing,
            kind,
            clone: call.ids.clone,
        }
    }

    /// The ids to load, in the order first given; `None` when every id was a hit (or there were
    /// none), and the body is not called.
    pub fn to_load(&mut self) -> Option<Vec<I>> {
        if self.missing.is_empty() {
            return None;
        }
        let ids = self
            .missing
            .iter()
            .map(|(id, _)| (self.clone)(id))
            .collect();
        for _ in &self.missing {
            self.counters.count(Event::Load);
        }
        // The load starts: a truncate of the set from now on refuses its write-backs.
        let mut start = None;
        for target in self
            .missing
            .iter_mut()
            .filter_map(|(_, target)| target.as_mut())
        {
            let start =
                *start.get_or_insert_with(|| LoadStart::now(self.spec, target.key.namespace()));
            target.load_start = Some(start);
        }
        Some(ids)
    }

    /// The return value when nothing was loaded: the hits.
    pub fn complete(self) -> R {
        let kind = self.kind;
        let mut map = (kind.new_map)();
        for (id, value) in self.hits {
            (kind.add_cached)(&mut map, id, value);
        }
        (kind.from_map)(map)
    }

    /// After the load: writes back what the body returned for the missing ids and returns its
    /// map with the hits added; an `Err` or a `None` of the body is returned as it is.
    pub async fn store(self, returned: R) -> R {
        let (returned, writes) = self.merge(returned);
        if let Some((spec, writes)) = writes {
            if let Ok(runtime) = client::background() {
                // Bounded by the operation timeout per write; a lost task only loses write-backs.
                let _ = runtime.spawn(write_all(spec, writes)).await;
            }
        }
        returned
    }

    /// [`store`](Self::store) for a sync function: the writes run on the background runtime
    /// while this thread waits.
    pub fn store_blocking(self, returned: R) -> R {
        let (returned, writes) = self.merge(returned);
        if let Some((spec, writes)) = writes {
            bridge::run(write_all(spec, writes));
        }
        returned
    }

    /// The value to return, and the write-backs to make.
    #[allow(clippy::type_complexity)]
    fn merge(self, returned: R) -> (R, Option<(&'static CacheSpec, Vec<(Target, Vec<u8>)>)>) {
        let BatchLookup {
            spec,
            counters,
            hits,
            missing,
            kind,
            ..
        } = self;
        let mut map = match (kind.into_map)(returned) {
            Ok(map) => map,
            Err(failed) => {
                for _ in &missing {
                    counters.count(Event::LoadError);
                }
                return (failed, None);
            }
        };
        let mut writes = Vec::new();
        for (id, target) in missing {
            let Some(value) = (kind.value_of)(&map, &id) else {
                // Absent from the source: absent from the cache too.
                counters.count(Event::LoadError);
                continue;
            };
            let Some(target) = target else {
                continue;
            };
            match (kind.encode)(target.codec, value) {
                Ok(bytes) => writes.push((target, bytes)),
                Err(error) => encode_failed(spec, counters, &error),
            }
        }
        for (id, value) in hits {
            (kind.add_cached)(&mut map, id, value);
        }
        let writes = (!writes.is_empty()).then_some((spec, writes));
        ((kind.from_map)(map), writes)
    }
}

/// `<fn>_invalidate` of a batch function: invalidates the entry of every id, as the single-id
/// `<fn>_invalidate` does (see `__private::invalidate`). The first error is
/// returned, after every id was tried.
pub async fn invalidate_batch<A: ?Sized, I, B>(
    spec: &'static CacheSpec,
    ids: &BatchIdsOf<'_, A, I, B>,
) -> Result<(), Error> {
    let (_, keys) = ids.distinct();
    if keys.is_empty() {
        return Ok(());
    }
    let runtime = client::background()?;
    runtime
        .spawn(invalidate_all(spec, keys))
        .await
        .unwrap_or_else(|_| Err(lost(spec)))
}

/// [`invalidate_batch`] for a sync function.
pub fn invalidate_batch_blocking<A: ?Sized, I, B>(
    spec: &'static CacheSpec,
    ids: &BatchIdsOf<'_, A, I, B>,
) -> Result<(), Error> {
    let (_, keys) = ids.distinct();
    if keys.is_empty() {
        return Ok(());
    }
    bridge::run(invalidate_all(spec, keys)).unwrap_or_else(|| Err(lost(spec)))
}

fn lost(spec: &'static CacheSpec) -> Error {
    stats::counters(spec.set).count(Event::CacheError);
    Error::new(
        ErrorKind::Unavailable,
        "the cache's background runtime did not run the invalidations",
    )
}

async fn invalidate_all(spec: &'static CacheSpec, keys: Vec<KeyResult>) -> Result<(), Error> {
    let mut running = tokio::task::JoinSet::new();
    let mut first_error = None;
    for key in keys {
        if running.len() >= CONCURRENT_WRITES {
            if let Some(Ok(Err(error))) = running.join_next().await {
                first_error.get_or_insert(error);
            }
        }
        running.spawn(crate::engine::invalidate(spec, key));
    }
    while let Some(done) = running.join_next().await {
        if let Ok(Err(error)) = done {
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// What the batch read found for one id. Not generic, so that it can run on the background
/// runtime for sync callers; decoding happens on the caller's side.
enum Entry {
    /// Bin `data` of the entry, still to decode.
    Found(Target, Value),
    /// No entry: load, and write back to the target if there is one.
    Missing(Option<Target>),
}

fn all_missing(count: usize) -> Vec<Entry> {
    (0..count).map(|_| Entry::Missing(None)).collect()
}

/// What a batch loader logs when ids bypass the cache.
const BATCH_WORDING: Wording = Wording {
    bad_key: invalid_id,
    disconnected: Some(|spec, error| {
        format!("set {}: calls run without the cache: {error}", spec.set)
    }),
    invalid_key: invalid_id,
};

fn invalid_id(spec: &'static CacheSpec, error: &Error) -> String {
    format!(
        "set {}: an id of {} is not a valid Aerospike key, it bypasses the cache: {error}",
        spec.set, spec.function
    )
}

/// Reads the entry of every key in one batch command. Anything that keeps the cache from
/// answering makes every id a miss without a write-back.
async fn read_entries(
    spec: &'static CacheSpec,
    keys: Vec<KeyResult>,
    counters: &'static SetCounters,
) -> Vec<Entry> {
    let count = keys.len();
    let Ok((cache, namespace)) = locate::place(spec, counters, &BATCH_WORDING).await else {
        return all_missing(count);
    };
    // Per id: its target, or `None` when its key cannot be built.
    let targets: Vec<Option<Target>> = keys
        .into_iter()
        .map(|key| {
            let user_key = locate::user_key(spec, key, counters, &BATCH_WORDING)?;
            locate::target(
                spec,
                cache.clone(),
                namespace,
                user_key,
                counters,
                &BATCH_WORDING,
            )
        })
        .collect();
    let keys: Vec<Key> = targets.iter().flatten().map(|t| t.key.clone()).collect();
    if keys.is_empty() {
        return all_missing(count);
    }
    let rows = match cache.read_batch(keys).await {
        Ok(rows) => rows,
        Err(error) => {
            counters.count_failed(&error);
            report::warn_once(Cause::Read, spec.set, || {
                format!(
                    "set {}: cache batch read failed, loading every id instead: {error}",
                    spec.set
                )
            });
            return targets
                .into_iter()
                .map(|target| {
                    Entry::Missing(target.and_then(|t| found::after_failed_read(&error, t)))
                })
                .collect();
        }
    };
    let mut rows = rows.into_iter();
    let mut row_failed = false;
    let entries = targets
        .into_iter()
        .map(|target| {
            let Some(target) = target else {
                return Entry::Missing(None);
            };
            let stored = match rows.next() {
                Some(Row::Found(stored)) => Some(stored),
                Some(Row::Absent) => None,
                Some(Row::Failed(why)) => {
                    if !row_failed {
                        row_failed = true;
                        counters.count(Event::CacheError);
                        report::warn_once(Cause::Read, spec.set, || {
                            format!(
                                "set {}: the cache could not read some entries of a batch, \
                                 they are loaded: {why}",
                                spec.set
                            )
                        });
                    }
                    return Entry::Missing(None);
                }
                None => return Entry::Missing(None),
            };
            match found::found(target, stored) {
                Found::Entry(target, value, _) => Entry::Found(target, value),
                Found::Missing(target) => Entry::Missing(Some(target)),
            }
        })
        .collect();
    entries
}

/// Writes the encoded values, a few at a time; failures are counted and reported by
/// [`store_with_ttl`], never returned.
fn write_all(
    spec: &'static CacheSpec,
    writes: Vec<(Target, Vec<u8>)>,
) -> impl Future<Output = ()> + Send + 'static {
    let counters = stats::counters(spec.set);
    async move {
        let mut running = tokio::task::JoinSet::new();
        for (target, bytes) in writes {
            if running.len() >= CONCURRENT_WRITES {
                running.join_next().await;
            }
            running.spawn(store_with_ttl(spec, target, bytes, spec.ttl, counters));
        }
        while running.join_next().await.is_some() {}
    }
}

fn decode<V>(
    decode: fn(Codec, &[u8]) -> Result<V, String>,
    codec: Codec,
    stored: Value,
) -> Result<V, String> {
    match stored {
        Value::Blob(bytes) => decode(codec, &bytes),
        _ => Err("bin data is not a blob".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_ids_are_read_and_loaded_once() {
        let ids: &[u64] = &[3, 1, 3, 2, 1];
        let (distinct, keys) = IdsArg(ids).batch_ids().distinct();
        assert_eq!(distinct, [3, 1, 2]);
        let keys: Vec<UserKey> = keys.into_iter().map(Result::unwrap).collect();
        assert_eq!(keys, [UserKey::Int(3), UserKey::Int(1), UserKey::Int(2)]);
    }

    #[test]
    fn ids_are_keyed_like_an_explicit_key() {
        let ids = vec!["a".to_owned(), "b".to_owned(), "a".to_owned()];
        let (distinct, keys) = IdsArg(&ids).batch_ids().distinct();
        assert_eq!(distinct, ["a", "b"]);
        assert_eq!(keys[0].as_ref().unwrap(), &UserKey::Str("a".to_owned()));
        let bytes: &[Vec<u8>] = &[vec![1, 2]];
        assert_eq!(
            IdsArg(bytes).batch_ids().distinct().1[0].as_ref().unwrap(),
            &UserKey::Bytes(vec![1, 2])
        );
    }

    #[test]
    fn an_id_without_a_key_is_kept_but_has_none() {
        let ids: &[u64] = &[u64::MAX, u64::MAX, 7];
        let (distinct, keys) = IdsArg(ids).batch_ids().distinct();
        assert_eq!(distinct, [u64::MAX, u64::MAX, 7], "not deduplicated");
        assert!(keys[0].is_err() && keys[1].is_err() && keys[2].is_ok());
    }

    #[test]
    fn the_body_gets_the_missing_ids_in_the_arguments_type() {
        let set: HashSet<u32> = [1, 2, 3].into_iter().collect();
        let rebuilt: HashSet<u32> = (IdsArg(&set).batch_ids().rebuild)(vec![2]);
        assert_eq!(rebuilt, [2].into_iter().collect());
        let tree: BTreeSet<u32> = (IdsArg(&BTreeSet::new()).batch_ids().rebuild)(vec![5, 4]);
        assert_eq!(tree.into_iter().collect::<Vec<_>>(), [4, 5]);
        let slice: &[u32] = &[1, 2];
        let vec: Vec<u32> = (IdsArg(slice).batch_ids().rebuild)(vec![2]);
        assert_eq!(vec, [2]);
    }

    static SPEC: CacheSpec = CacheSpec {
        cache: None,
        namespace: None,
        set: "batch_unit",
        ttl: crate::Ttl::Seconds(60),
        function: "f",
        codec: crate::codec::Codec::MessagePack,
    };

    type Returned = Result<HashMap<u64, String>, String>;

    fn lookup(
        hits: Vec<(u64, String)>,
        missing: Vec<u64>,
    ) -> BatchLookup<Returned, HashMap<u64, String>, u64, String> {
        BatchLookup {
            spec: &SPEC,
            counters: stats::counters(SPEC.set),
            hits,
            missing: missing.into_iter().map(|id| (id, None)).collect(),
            kind: BatchReturnOf::<Returned, _>::new(ResultKind).batch_kind(),
            clone: Clone::clone,
        }
    }

    #[test]
    fn merges_hits_into_the_bodys_map_which_wins() {
        let mut batch = lookup(vec![(1, "cached".into()), (2, "cached".into())], vec![3]);
        assert_eq!(batch.to_load(), Some(vec![3]));
        let loaded: HashMap<u64, String> =
            [(3, "loaded".to_owned()), (2, "fresh".to_owned())].into();
        let (merged, writes) = batch.merge(Ok(loaded));
        assert!(writes.is_none(), "no targets, nothing to write");
        let merged = merged.unwrap();
        assert_eq!(merged.len(), 3);
        assert_eq!(merged[&1], "cached");
        assert_eq!(merged[&2], "fresh");
        assert_eq!(merged[&3], "loaded");
    }

    #[test]
    fn a_failed_body_is_returned_as_is() {
        let batch = lookup(vec![(1, "cached".into())], vec![2]);
        let (returned, writes) = batch.merge(Err("down".to_owned()));
        assert_eq!(returned, Err("down".to_owned()));
        assert!(writes.is_none());
    }

    #[test]
    fn all_hits_need_no_load() {
        let mut batch = lookup(vec![(1, "cached".into())], vec![]);
        assert_eq!(batch.to_load(), None);
        assert_eq!(batch.complete().unwrap()[&1], "cached");
    }
}
