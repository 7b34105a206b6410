//! Compile-time checks that generated code runs before it calls the runtime, so that a mistake in
//! user code is reported once, at the offending token, with the fix.
//!
//! Each check is a method call resolved by "autoref specialization": an inherent method that exists
//! only when the check passes, and a trait method (the fallback) that is picked otherwise. The
//! fallback's bound is a trait with `#[diagnostic::on_unimplemented]` and no implementation for
//! user types, so rustc reports exactly that message; its return type cannot be normalized then,
//! which keeps rustc from repeating the same problem at every later use of the value.

use core::marker::PhantomData;

use serde::Serialize;

use super::{CacheValue, OptionKind, PlainKind, ResultKind};

/// Stands for "no user type": the single implementation of the marker traits below, so that they
/// are implemented for nothing a user can name.
pub enum NoUserType {}

/// Borrows one key argument for the default key.
pub struct KeyPart<'a, T: ?Sized>(pub &'a T);

impl<'a, T: Serialize + ?Sized> KeyPart<'a, T> {
    /// The argument, once it is known to be serializable.
    #[inline(always)]
    pub fn key_part(&self) -> &'a T {
        self.0
    }
}

/// Reported when a default-key argument does not implement `Serialize`.
#[diagnostic::on_unimplemented(
    message = "the cache key argument of type `{Self}` does not implement `serde::Serialize`",
    label = "this argument is part of the cache key",
    note = "add the argument to `skip(...)` to leave it out of the key, or derive `serde::Serialize` for its type"
)]
pub trait SerializableKeyArgument {
    /// Never normalized for a user type.
    type Part;
    /// The part; only [`NoUserType`] has one.
    fn part() -> Self::Part;
}

impl SerializableKeyArgument for NoUserType {
    type Part = ();
    fn part() {}
}

/// The fallback of [`KeyPart::key_part`], picked only when the argument is not serializable.
pub trait KeyPartFallback<T: ?Sized> {
    /// Fails to compile with [`SerializableKeyArgument`]'s message.
    fn key_part(&self) -> <T as SerializableKeyArgument>::Part
    where
        T: SerializableKeyArgument;
}

impl<T: ?Sized> KeyPartFallback<T> for KeyPart<'_, T> {
    fn key_part(&self) -> <T as SerializableKeyArgument>::Part
    where
        T: SerializableKeyArgument,
    {
        T::part()
    }
}

/// The declared return type `R` of a cached function; yields the runtime's kind marker once `R`
/// fits the kind and its cached part can be stored.
pub struct CachedReturn<R>(PhantomData<fn() -> R>);

impl<R> CachedReturn<R> {
    /// A probe for the return type `R`.
    #[inline(always)]
    pub fn new() -> Self {
        CachedReturn(PhantomData)
    }
}

impl<R> Default for CachedReturn<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: CacheValue, E> CachedReturn<Result<T, E>> {
    /// `Result<T, E>` with a storable `T`: only `Ok` is cached.
    #[inline(always)]
    pub fn result_kind(&self) -> ResultKind {
        ResultKind
    }
}

impl<T: CacheValue> CachedReturn<Option<T>> {
    /// `Option<T>` with a storable `T`: only `Some` is cached.
    #[inline(always)]
    pub fn option_kind(&self) -> OptionKind {
        OptionKind
    }
}

impl<T: CacheValue> CachedReturn<T> {
    /// A storable `T`: every value is cached.
    #[inline(always)]
    pub fn plain_kind(&self) -> PlainKind {
        PlainKind
    }
}

/// Reported when `returns = result` (or a `Result<…>` return type) meets a type that is not a
/// `Result`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `Result`, but the cached function is declared to return one",
    label = "not a `Result`",
    note = "write `returns = option` for an `Option`, or `returns = value` to cache every returned value"
)]
pub trait ReturnsResult {
    /// The `Ok` type.
    type Ok;
}

impl<T, E> ReturnsResult for Result<T, E> {
    type Ok = T;
}

/// Reported when `returns = option` (or an `Option<…>` return type) meets a type that is not an
/// `Option`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an `Option`, but the cached function is declared to return one",
    label = "not an `Option`",
    note = "write `returns = result` for a `Result`, or `returns = value` to cache every returned value"
)]
pub trait ReturnsOption {
    /// The `Some` type.
    type Some;
}

impl<T> ReturnsOption for Option<T> {
    type Some = T;
}

/// Reported when the cached part of a return value cannot be stored.
#[diagnostic::on_unimplemented(
    message = "the cached value `{Self}` must implement `serde::Serialize` and `serde::de::DeserializeOwned`",
    label = "this return type is written to the cache",
    note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to the value's type"
)]
pub trait StorableValue {
    /// Never normalized for a user type.
    type Kind;
    /// The kind; only [`NoUserType`] has one.
    fn kind() -> Self::Kind;
}

impl StorableValue for NoUserType {
    type Kind = ();
    fn kind() {}
}

/// The fallbacks of [`CachedReturn`]'s kind methods, picked only when a check fails.
pub trait CachedReturnFallback<R> {
    /// Fails to compile: `R` is not a `Result`, or its `Ok` type cannot be stored.
    fn result_kind(&self) -> <<R as ReturnsResult>::Ok as StorableValue>::Kind
    where
        R: ReturnsResult,
        <R as ReturnsResult>::Ok: StorableValue;

    /// Fails to compile: `R` is not an `Option`, or its `Some` type cannot be stored.
    fn option_kind(&self) -> <<R as ReturnsOption>::Some as StorableValue>::Kind
    where
        R: ReturnsOption,
        <R as ReturnsOption>::Some: StorableValue;

    /// Fails to compile: `R` cannot be stored.
    fn plain_kind(&self) -> <R as StorableValue>::Kind
    where
        R: StorableValue;
}

impl<R> CachedReturnFallback<R> for CachedReturn<R> {
    fn result_kind(&self) -> <<R as ReturnsResult>::Ok as StorableValue>::Kind
    where
        R: ReturnsResult,
        <R as ReturnsResult>::Ok: StorableValue,
    {
        <<R as ReturnsResult>::Ok as StorableValue>::kind()
    }

    fn option_kind(&self) -> <<R as ReturnsOption>::Some as StorableValue>::Kind
    where
        R: ReturnsOption,
        <R as ReturnsOption>::Some: StorableValue,
    {
        <<R as ReturnsOption>::Some as StorableValue>::kind()
    }

    fn plain_kind(&self) -> <R as StorableValue>::Kind
    where
        R: StorableValue,
    {
        R::kind()
    }
}

/// Looks at a return type whose kind was read from its syntax as "any other value": if it is in
/// fact a `Result` or an `Option` (behind an alias with another name), caching it whole would
/// store `Err`/`None`, so compilation stops and asks for `returns = …`.
pub struct KindProbe<R>(PhantomData<fn() -> R>);

impl<R> KindProbe<R> {
    /// A probe for the return type `R`.
    #[inline(always)]
    pub fn new() -> Self {
        KindProbe(PhantomData)
    }
}

impl<R> Default for KindProbe<R> {
    fn default() -> Self {
        Self::new()
    }
}

/// Reported when a return type read as a plain value is a `Result` or an `Option`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is a `Result` or an `Option`, but its name does not say so: `#[cache_aside]` would cache `Err` and `None` too",
    label = "a `Result` or `Option` behind an alias",
    note = "add `returns = result` (cache only `Ok`) or `returns = option` (cache only `Some`) to the attribute; `returns = value` caches every value"
)]
pub trait CachedWhole {}

impl CachedWhole for NoUserType {}

impl<T, E> KindProbe<Result<T, E>> {
    /// A `Result` read as a plain value: [`AliasedKind::confirm_plain`] does not compile.
    #[inline(always)]
    pub fn probe_kind(&self) -> AliasedKind<Result<T, E>> {
        AliasedKind(PhantomData)
    }
}

impl<T> KindProbe<Option<T>> {
    /// An `Option` read as a plain value: [`AliasedKind::confirm_plain`] does not compile.
    #[inline(always)]
    pub fn probe_kind(&self) -> AliasedKind<Option<T>> {
        AliasedKind(PhantomData)
    }
}

/// A `Result` or `Option` that was read as a plain value.
pub struct AliasedKind<R>(PhantomData<fn() -> R>);

/// Fails to compile for an [`AliasedKind`]; a trait method so that rustc points at the call's
/// method name, which the macro spans on the return type.
pub trait AliasedKindCheck<R> {
    /// Fails to compile with [`CachedWhole`]'s message.
    fn confirm_plain(&self)
    where
        R: CachedWhole;
}

impl<R> AliasedKindCheck<R> for AliasedKind<R> {
    fn confirm_plain(&self)
    where
        R: CachedWhole,
    {
    }
}

/// A return type that is neither a `Result` nor an `Option`.
pub struct PlainKindConfirmed;

impl PlainKindConfirmed {
    /// Passes.
    #[inline(always)]
    pub fn confirm_plain(&self) {}
}

/// The fallback of [`KindProbe`]'s checks: any type other than `Result` and `Option` is plain.
pub trait KindProbeFallback {
    /// Any other type: confirmed plain.
    #[inline(always)]
    fn probe_kind(&self) -> PlainKindConfirmed {
        PlainKindConfirmed
    }
}

impl<R> KindProbeFallback for KindProbe<R> {}
