//! Which part of a function's return value is cached ([`ReturnKind`]): `Ok` of a `Result`, `Some`
//! of an `Option` (or both `Some` and `None` with `none_ttl`), or the whole value, and how an entry's
//! TTL may come from the value (`ttl_from`). The macro names the kind from the return type's
//! syntax; the engine only sees the trait.

use core::marker::PhantomData;

use serde::{de::DeserializeOwned, Serialize};

/// Which part of a return value is cached: `Ok` of a `Result`, `Some` of an `Option`, or all of it.
///
/// The macro decides the kind from the return type's syntax and names one of [`ResultKind`],
/// [`OptionKind`] or [`PlainKind`].
pub trait ReturnKind<R> {
    /// The cached value.
    type Value: CacheValue;
    /// The value to write back, or `None` when this return value must not be cached.
    fn cacheable(returned: &R) -> Option<&Self::Value>;
    /// Rebuilds a return value from a cached value.
    fn from_cached(value: Self::Value) -> R;
    /// Whether a cached value stands for "nothing found" (a cached `None`), which is written with
    /// the function's `none_ttl` instead of its `ttl`.
    fn is_negative(_value: &Self::Value) -> bool {
        false
    }
    /// The TTL of this value's entry when the value decides it (`ttl_from`); `None` for the
    /// function's `ttl`.
    fn ttl_of(&self, _value: &Self::Value) -> Option<core::time::Duration> {
        None
    }
}

/// A value that can be stored in the cache.
#[diagnostic::on_unimplemented(
    message = "the cached value `{Self}` must implement `serde::Serialize` and `serde::de::DeserializeOwned`",
    label = "this return type is written to the cache",
    note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to the value's type"
)]
pub trait CacheValue: Serialize + DeserializeOwned {}
impl<T: Serialize + DeserializeOwned> CacheValue for T {}

/// `Result<T, E>`: only `Ok(T)` is cached.
#[derive(Debug, Clone, Copy)]
pub struct ResultKind;
/// `Option<T>`: only `Some(T)` is cached.
#[derive(Debug, Clone, Copy)]
pub struct OptionKind;
/// Any other `T`: every value is cached.
#[derive(Debug, Clone, Copy)]
pub struct PlainKind;
/// `Option<T>` with `none_ttl`: `Some(T)` and `None` are both cached, `None` with its own TTL.
#[derive(Debug, Clone, Copy)]
pub struct NegativeOptionKind;

/// The cached part of a return type `R` for a kind, without the bounds of [`ReturnKind`]: names
/// the value type of `<fn>_peek` without repeating the errors of an unstorable return type.
#[diagnostic::on_unimplemented(
    message = "`<fn>_peek` cannot name the cached part of `{R}`: it does not match the declared kind",
    label = "the return type does not match `returns = …` (see the error at the return type)",
    note = "fix the return type or the `returns` option; this error goes away with it"
)]
pub trait CachedPart<R> {
    /// What `<fn>_peek` returns inside its `Option`.
    type Part;
}
impl<T, E> CachedPart<Result<T, E>> for ResultKind {
    type Part = T;
}
impl<T> CachedPart<Option<T>> for OptionKind {
    type Part = T;
}
impl<T> CachedPart<Option<T>> for NegativeOptionKind {
    type Part = Option<T>;
}
impl<T> CachedPart<T> for PlainKind {
    type Part = T;
}

/// Any kind with `ttl_from = path`: the entry's TTL is `ttl_from(&value)`.
pub struct TtlFromKind<K, V> {
    inner: K,
    ttl_from: fn(&V) -> core::time::Duration,
}

impl<K: Clone, V> Clone for TtlFromKind<K, V> {
    fn clone(&self) -> Self {
        TtlFromKind {
            inner: self.inner.clone(),
            ttl_from: self.ttl_from,
        }
    }
}
impl<K: Copy, V> Copy for TtlFromKind<K, V> {}

impl<R, K: ReturnKind<R>> ReturnKind<R> for TtlFromKind<K, K::Value> {
    type Value = K::Value;
    fn cacheable(returned: &R) -> Option<&K::Value> {
        K::cacheable(returned)
    }
    fn from_cached(value: K::Value) -> R {
        K::from_cached(value)
    }
    fn is_negative(value: &K::Value) -> bool {
        K::is_negative(value)
    }
    fn ttl_of(&self, value: &K::Value) -> Option<core::time::Duration> {
        Some((self.ttl_from)(value))
    }
}

impl<R, K: CachedPart<R>, V> CachedPart<R> for TtlFromKind<K, V> {
    type Part = K::Part;
}

/// `ttl_from = path` for the kind of the return type `R`: the function's type is fixed by `R`, so
/// a `fn` of another signature is reported at the path, once.
pub struct TtlFromCheck<R, K>(K, PhantomData<fn() -> R>);

impl<R, K: ReturnKind<R>> TtlFromCheck<R, K> {
    /// A check for the kind of the function's return type `R`.
    #[inline(always)]
    pub fn new(kind: K) -> Self {
        TtlFromCheck(kind, PhantomData)
    }

    /// The kind whose entries get the TTL `ttl_from(&value)`.
    #[inline(always)]
    pub fn ttl_from(
        self,
        ttl_from: fn(&K::Value) -> core::time::Duration,
    ) -> TtlFromKind<K, K::Value> {
        TtlFromKind {
            inner: self.0,
            ttl_from,
        }
    }
}

impl OptionKind {
    /// The kind that caches `None` as well (`none_ttl = …`).
    #[inline(always)]
    pub fn cache_none(self) -> NegativeOptionKind {
        NegativeOptionKind
    }
}

impl<T: CacheValue> ReturnKind<Option<T>> for NegativeOptionKind {
    type Value = Option<T>;
    fn cacheable(returned: &Option<T>) -> Option<&Option<T>> {
        Some(returned)
    }
    fn from_cached(value: Option<T>) -> Option<T> {
        value
    }
    fn is_negative(value: &Option<T>) -> bool {
        value.is_none()
    }
}

impl<T: CacheValue, E> ReturnKind<Result<T, E>> for ResultKind {
    type Value = T;
    fn cacheable(returned: &Result<T, E>) -> Option<&T> {
        returned.as_ref().ok()
    }
    fn from_cached(value: T) -> Result<T, E> {
        Ok(value)
    }
}

impl<T: CacheValue> ReturnKind<Option<T>> for OptionKind {
    type Value = T;
    fn cacheable(returned: &Option<T>) -> Option<&T> {
        returned.as_ref()
    }
    fn from_cached(value: T) -> Option<T> {
        Some(value)
    }
}

impl<T: CacheValue> ReturnKind<T> for PlainKind {
    type Value = T;
    fn cacheable(returned: &T) -> Option<&T> {
        Some(returned)
    }
    fn from_cached(value: T) -> T {
        value
    }
}
