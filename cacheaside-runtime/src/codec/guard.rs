//! A serde `Deserializer` around rmp-serde's that bounds what decoding allocates and keeps data
//! out of errors.
//!
//! Every `Deserialize` impl of the cached type sees this guard, never rmp-serde itself:
//!
//! - its error type is [`DecodeError`], which drops whatever data an impl or serde formats into
//!   an error (see [`error`](super::error));
//! - the sequences and maps it hands out charge the memory of the elements they yield against a
//!   budget proportional to the record's size ([`budget`]), and refuse past it.
//!
//! rmp-serde only carries its own error type, so an error of ours that crosses it (returned by a
//! visitor rmp-serde called) is parked in [`State`] and picked up again at the next guard above.
//!
//! The guard adds no allocation: its state lives on the stack, its wrappers are generic and
//! inline, and errors (the only thing it allocates) are built on the failure path only.

use std::cell::Cell;
use std::mem::size_of;

use serde::de::{self, DeserializeSeed, Visitor};

use super::error::{DecodeError, Expecting, Segment};

/// Bytes of element storage a record may decode into per byte of its payload.
pub(crate) const BUDGET_PER_BYTE: usize = 16;

/// Bytes of element storage any record may decode into, whatever its size: small records of
/// types with large elements stay decodable.
pub(crate) const BUDGET_BASE: usize = 64 * 1024;

/// serde preallocates at most this many bytes from a size hint (`size_hint::cautious`).
const PREALLOC_MAX: usize = 1024 * 1024;

/// Slots a growing vector allocates first (`RawVec`'s minimum for elements of 2 to 1024 bytes).
const VEC_FIRST_SLOTS: usize = 4;

/// Slots a map collection allocates first: a B-tree leaf holds 11 entries (a hash table's first
/// allocation is smaller).
const MAP_FIRST_SLOTS: usize = 11;

/// The element storage a payload of `len` bytes may decode into.
pub(crate) fn budget(len: usize) -> usize {
    len.saturating_mul(BUDGET_PER_BYTE)
        .saturating_add(BUDGET_BASE)
}

/// How deep decoding may recurse: each nested value (an element, a field, an option's content, a
/// newtype's) passes through one guard. Twice [`MAX_DEPTH`](super::MAX_DEPTH), since options and
/// newtypes add guards without adding a level to the data; MessagePack and JSON payloads are
/// checked against `MAX_DEPTH` before, so this limit is what bounds the stack of the positional
/// codecs, whose recursive types (`Box<Self>`, `Vec<Self>`) can nest a level per byte.
pub(crate) const MAX_GUARD_DEPTH: usize = 2 * super::MAX_DEPTH;

/// Decodes a `T` from a payload that [`check_msgpack`](super::check_msgpack) accepted.
pub(super) fn decode<'de, T: de::Deserialize<'de>>(payload: &'de [u8]) -> Result<T, DecodeError> {
    let mut decoder = rmp_serde::Deserializer::from_read_ref(payload);
    decode_from(&mut decoder, payload.len())
}

/// Decodes a `T` from `inner`, a deserializer of a payload of `len` bytes.
pub(super) fn decode_from<'de, T, D>(inner: D, len: usize) -> Result<T, DecodeError>
where
    T: de::Deserialize<'de>,
    D: de::Deserializer<'de>,
{
    let state = State::new(len);
    T::deserialize(Guard {
        inner,
        state: &state,
    })
}

/// Decodes a `T` through `decode`, which hands the given seed to a deserializer of a payload of
/// `len` bytes (for decoders that take a seed rather than lend their deserializer), and returns
/// what `decode` returns beside the value.
#[cfg(feature = "bincode")]
pub(super) fn decode_seeded<'de, T, X, E>(
    len: usize,
    decode: impl for<'s> FnOnce(Root<'s, 'de, T>) -> Result<(T, X), E>,
) -> Result<(T, X), DecodeError>
where
    T: de::Deserialize<'de>,
    E: std::fmt::Debug,
{
    let state = State::new(len);
    decode(Root {
        state: &state,
        value: std::marker::PhantomData,
    })
    .map_err(|error| {
        state
            .in_transit
            .take()
            .unwrap_or_else(|| DecodeError::from_decoder(&error, Expecting::Any))
    })
}

/// The seed of the cached type for [`decode_seeded`]: what it is given is guarded.
#[cfg(feature = "bincode")]
pub(super) struct Root<'s, 'de, T> {
    state: &'s State<'de>,
    value: std::marker::PhantomData<fn() -> T>,
}

#[cfg(feature = "bincode")]
impl<'de, T: de::Deserialize<'de>> DeserializeSeed<'de> for Root<'_, 'de, T> {
    type Value = T;

    fn deserialize<D: de::Deserializer<'de>>(self, inner: D) -> Result<T, D::Error> {
        let state = self.state;
        T::deserialize(Guard { inner, state }).map_err(|error| state.send(error))
    }
}

/// What the guards of one decode share.
struct State<'de> {
    budget: usize,
    /// Bytes of element storage still allowed.
    remaining: Cell<usize>,
    /// An error of ours on its way through rmp-serde.
    in_transit: Cell<Option<DecodeError>>,
    /// The last string a visitor was given: a struct's field name, read right after its key.
    last_str: Cell<Option<&'de str>>,
    /// Guards entered and not yet left.
    depth: Cell<usize>,
}

impl State<'_> {
    fn new(len: usize) -> Self {
        State {
            budget: budget(len),
            remaining: Cell::new(budget(len)),
            in_transit: Cell::new(None),
            last_str: Cell::new(None),
            depth: Cell::new(0),
        }
    }

    /// Parks `error` for the next guard above and gives rmp-serde an error of its own type.
    #[cold]
    fn send<E: de::Error>(&self, error: DecodeError) -> E {
        self.in_transit.set(Some(error));
        E::custom("")
    }

    /// The error that came back from rmp-serde: ours if one was parked, else a description of
    /// rmp-serde's own (it met something other than `expected`).
    #[cold]
    fn receive<E: de::Error>(&self, error: E, expected: Expecting) -> DecodeError {
        self.in_transit
            .take()
            .unwrap_or_else(|| DecodeError::from_decoder(&error, expected))
    }

    /// Takes `new` bytes and gives back `old` (a buffer that grew); refuses past the budget,
    /// and from then on refuses everything (a visitor that ignores the error gets no more).
    fn reserve(&self, new: usize, old: usize) -> Result<(), DecodeError> {
        let available = self.remaining.get().saturating_add(old);
        if new > available {
            self.remaining.set(0);
            return Err(DecodeError::too_large(self.budget));
        }
        self.remaining.set(available - new);
        Ok(())
    }
}

/// How the elements of a sequence or map a visitor is given are stored.
#[derive(Clone, Copy)]
enum Layout {
    /// In a growing buffer (a `Vec`, serde's buffered content): charged.
    Buffer,
    /// In a map collection: charged, starting with a B-tree leaf.
    Collection,
    /// Inside the value itself (a tuple, an array, a tuple struct or variant): not charged, the
    /// value is counted where it is stored.
    Inline,
    /// A struct's fields, by name: not charged, like `Inline`.
    Struct(&'static [&'static str]),
}

/// The guard: a deserializer of the cached type's data, wrapping one of rmp-serde's.
struct Guard<'s, 'de, D> {
    inner: D,
    state: &'s State<'de>,
}

impl<'s, 'de, D> Guard<'s, 'de, D> {
    fn visitor<V>(&self, visitor: V, layout: Layout) -> Guarded<'s, 'de, V> {
        Guarded {
            visitor,
            state: self.state,
            layout,
        }
    }
}

/// Forwards `deserialize_*` methods to rmp-serde with a guarded visitor.
macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*) => $layout:expr, $expecting:expr;)*) => {$(
        #[inline]
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, DecodeError> {
            let state = self.state;
            let depth = state.depth.get();
            if depth == MAX_GUARD_DEPTH {
                return Err(DecodeError::too_deep(MAX_GUARD_DEPTH));
            }
            state.depth.set(depth + 1);
            let visitor = self.visitor(visitor, $layout);
            let decoded = self.inner
                .$method($($arg,)* visitor)
                .map_err(|error| state.receive(error, $expecting));
            state.depth.set(depth);
            decoded
        }
    )*};
}

impl<'de, D: de::Deserializer<'de>> de::Deserializer<'de> for Guard<'_, 'de, D> {
    type Error = DecodeError;

    forward! {
        deserialize_any() => Layout::Buffer, Expecting::Any;
        deserialize_bool() => Layout::Buffer, Expecting::Kind("a boolean");
        deserialize_i8() => Layout::Buffer, Expecting::Kind("i8");
        deserialize_i16() => Layout::Buffer, Expecting::Kind("i16");
        deserialize_i32() => Layout::Buffer, Expecting::Kind("i32");
        deserialize_i64() => Layout::Buffer, Expecting::Kind("i64");
        deserialize_i128() => Layout::Buffer, Expecting::Kind("i128");
        deserialize_u8() => Layout::Buffer, Expecting::Kind("u8");
        deserialize_u16() => Layout::Buffer, Expecting::Kind("u16");
        deserialize_u32() => Layout::Buffer, Expecting::Kind("u32");
        deserialize_u64() => Layout::Buffer, Expecting::Kind("u64");
        deserialize_u128() => Layout::Buffer, Expecting::Kind("u128");
        deserialize_f32() => Layout::Buffer, Expecting::Kind("f32");
        deserialize_f64() => Layout::Buffer, Expecting::Kind("f64");
        deserialize_char() => Layout::Buffer, Expecting::Kind("a character");
        deserialize_str() => Layout::Buffer, Expecting::Kind("a string");
        deserialize_string() => Layout::Buffer, Expecting::Kind("a string");
        deserialize_bytes() => Layout::Buffer, Expecting::Kind("bytes");
        deserialize_byte_buf() => Layout::Buffer, Expecting::Kind("bytes");
        deserialize_option() => Layout::Buffer, Expecting::Kind("an option");
        deserialize_unit() => Layout::Buffer, Expecting::Kind("unit");
        deserialize_unit_struct(name: &'static str) => Layout::Inline, Expecting::Named("unit struct", name);
        deserialize_newtype_struct(name: &'static str) => Layout::Buffer, Expecting::Named("struct", name);
        deserialize_seq() => Layout::Buffer, Expecting::Kind("a sequence");
        deserialize_tuple(len: usize) => Layout::Inline, Expecting::Kind("a tuple");
        deserialize_tuple_struct(name: &'static str, len: usize) => Layout::Inline, Expecting::Named("tuple struct", name);
        deserialize_map() => Layout::Collection, Expecting::Kind("a map");
        deserialize_struct(name: &'static str, fields: &'static [&'static str]) => Layout::Struct(fields), Expecting::Named("struct", name);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]) => Layout::Inline, Expecting::Named("enum", name);
        deserialize_identifier() => Layout::Inline, Expecting::Kind("a field or variant name");
        deserialize_ignored_any() => Layout::Buffer, Expecting::Any;
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// A visitor of the cached type, as rmp-serde sees it: what it hands the visitor is guarded.
struct Guarded<'s, 'de, V> {
    visitor: V,
    state: &'s State<'de>,
    layout: Layout,
}

/// Forwards `visit_*` methods of plain values, parking the visitor's error for rmp-serde.
macro_rules! visit {
    ($($method:ident($ty:ty);)*) => {$(
        #[inline]
        fn $method<E: de::Error>(self, value: $ty) -> Result<V::Value, E> {
            let state = self.state;
            self.visitor.$method(value).map_err(|error| state.send(error))
        }
    )*};
}

impl<'s, 'de, V: Visitor<'de>> Visitor<'de> for Guarded<'s, 'de, V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.visitor.expecting(formatter)
    }

    visit! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_str(&str);
        visit_string(String);
        visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    #[inline]
    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<V::Value, E> {
        let state = self.state;
        state.last_str.set(Some(value));
        self.visitor
            .visit_borrowed_str(value)
            .map_err(|error| state.send(error))
    }

    #[inline]
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        let state = self.state;
        self.visitor.visit_none().map_err(|error| state.send(error))
    }

    #[inline]
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        let state = self.state;
        self.visitor.visit_unit().map_err(|error| state.send(error))
    }

    #[inline]
    fn visit_some<D: de::Deserializer<'de>>(self, inner: D) -> Result<V::Value, D::Error> {
        let state = self.state;
        self.visitor
            .visit_some(Guard { inner, state })
            .map_err(|error| state.send(error))
    }

    #[inline]
    fn visit_newtype_struct<D: de::Deserializer<'de>>(
        self,
        inner: D,
    ) -> Result<V::Value, D::Error> {
        let state = self.state;
        self.visitor
            .visit_newtype_struct(Guard { inner, state })
            .map_err(|error| state.send(error))
    }

    #[inline]
    fn visit_seq<A: de::SeqAccess<'de>>(self, inner: A) -> Result<V::Value, A::Error> {
        let state = self.state;
        let seq = Seq {
            inner,
            state,
            charged: !matches!(self.layout, Layout::Inline | Layout::Struct(_)),
            index: 0,
            growth: Growth::default(),
        };
        self.visitor
            .visit_seq(seq)
            .map_err(|error| state.send(error))
    }

    #[inline]
    fn visit_map<A: de::MapAccess<'de>>(self, inner: A) -> Result<V::Value, A::Error> {
        let state = self.state;
        let map = Map {
            inner,
            state,
            layout: self.layout,
            index: 0,
            key: None,
            keys: Growth::default(),
            value_slots: 0,
        };
        self.visitor
            .visit_map(map)
            .map_err(|error| state.send(error))
    }

    #[inline]
    fn visit_enum<A: de::EnumAccess<'de>>(self, inner: A) -> Result<V::Value, A::Error> {
        let state = self.state;
        self.visitor
            .visit_enum(Enum { inner, state })
            .map_err(|error| state.send(error))
    }
}

/// A seed of the cached type, as rmp-serde sees it: the deserializer it is given is guarded.
struct Seed<'s, 'de, S> {
    seed: S,
    state: &'s State<'de>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<'_, 'de, S> {
    type Value = S::Value;

    #[inline]
    fn deserialize<D: de::Deserializer<'de>>(self, inner: D) -> Result<S::Value, D::Error> {
        let state = self.state;
        self.seed
            .deserialize(Guard { inner, state })
            .map_err(|error| state.send(error))
    }
}

/// The storage of a collection's elements as it grows, modelled on `Vec`: it starts with what
/// serde preallocates from the size hint and doubles when full. Charged as it grows, the old
/// buffer given back.
#[derive(Default)]
struct Growth {
    len: usize,
    capacity: usize,
}

impl Growth {
    /// Counts one more element of `size` bytes; `hint` is the number of elements left,
    /// including this one, if known.
    #[inline]
    fn add(
        &mut self,
        state: &State<'_>,
        size: usize,
        hint: Option<usize>,
        first_slots: usize,
    ) -> Result<(), DecodeError> {
        if size == 0 {
            return Ok(());
        }
        self.len += 1;
        if self.len <= self.capacity {
            return Ok(());
        }
        self.grow(state, size, hint, first_slots)
    }

    #[inline(never)]
    fn grow(
        &mut self,
        state: &State<'_>,
        size: usize,
        hint: Option<usize>,
        first_slots: usize,
    ) -> Result<(), DecodeError> {
        let capacity = if self.capacity == 0 {
            let hinted = hint.unwrap_or(0).saturating_add(self.len - 1);
            hinted.min(PREALLOC_MAX / size).max(first_slots)
        } else {
            self.capacity.saturating_mul(2)
        }
        .max(self.len);
        state.reserve(
            capacity.saturating_mul(size),
            self.capacity.saturating_mul(size),
        )?;
        self.capacity = capacity;
        Ok(())
    }
}

/// A sequence handed to the cached type.
struct Seq<'s, 'de, A> {
    inner: A,
    state: &'s State<'de>,
    /// Whether its elements are stored in a buffer of their own (see [`Layout`]).
    charged: bool,
    index: usize,
    growth: Growth,
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Seq<'_, 'de, A> {
    type Error = DecodeError;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        let index = self.index;
        if self.charged {
            let hint = self.inner.size_hint();
            if hint != Some(0) {
                self.growth
                    .add(self.state, size_of::<T::Value>(), hint, VEC_FIRST_SLOTS)
                    .map_err(|error| error.at(Segment::Index(index)))?;
            }
        }
        self.index += 1;
        let state = self.state;
        self.inner
            .next_element_seed(Seed { seed, state })
            .map_err(|error| {
                state
                    .receive(error, Expecting::Any)
                    .at(Segment::Index(index))
            })
    }

    #[inline]
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// A map (or a struct's fields) handed to the cached type.
struct Map<'s, 'de, A> {
    inner: A,
    state: &'s State<'de>,
    layout: Layout,
    index: usize,
    /// The current key, when it was a string (a struct's field name).
    key: Option<&'de str>,
    keys: Growth,
    /// Value slots charged so far (the keys' growth decides how many there are).
    value_slots: usize,
}

impl<'de, A> Map<'_, 'de, A> {
    /// Where the current entry is: a struct's field by its declared name, else its position.
    #[cold]
    fn segment(&self) -> Segment {
        match self.layout {
            Layout::Struct(fields) => match self.key {
                Some(key) => fields
                    .iter()
                    .find(|field| **field == key)
                    .map_or(Segment::UnknownField, |field| Segment::Field(field)),
                None => Segment::Entry(self.index.saturating_sub(1)),
            },
            _ => Segment::Entry(self.index.saturating_sub(1)),
        }
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Map<'_, 'de, A> {
    type Error = DecodeError;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        self.index += 1;
        self.key = None;
        let first_slots = match self.layout {
            Layout::Inline | Layout::Struct(_) => None,
            Layout::Buffer => Some(VEC_FIRST_SLOTS),
            Layout::Collection => Some(MAP_FIRST_SLOTS),
        };
        if let Some(first_slots) = first_slots {
            let hint = self.inner.size_hint();
            if hint != Some(0) {
                self.keys
                    .add(self.state, size_of::<K::Value>(), hint, first_slots)
                    .map_err(|error| error.at(self.segment()))?;
            }
        }
        let state = self.state;
        state.last_str.set(None);
        let key = self.inner.next_key_seed(Seed { seed, state });
        // A struct's key was read as a string: the field it names, or one the type refused.
        self.key = state.last_str.get();
        key.map_err(|error| state.receive(error, Expecting::Any).at(self.segment()))
    }

    #[inline]
    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, DecodeError> {
        if self.value_slots != self.keys.capacity {
            let size = size_of::<S::Value>();
            self.state
                .reserve(
                    self.keys.capacity.saturating_mul(size),
                    self.value_slots.saturating_mul(size),
                )
                .map_err(|error| error.at(self.segment()))?;
            self.value_slots = self.keys.capacity;
        }
        let state = self.state;
        self.inner
            .next_value_seed(Seed { seed, state })
            .map_err(|error| state.receive(error, Expecting::Any).at(self.segment()))
    }

    #[inline]
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// An enum handed to the cached type.
struct Enum<'s, 'de, A> {
    inner: A,
    state: &'s State<'de>,
}

impl<'s, 'de, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Enum<'s, 'de, A> {
    type Error = DecodeError;
    type Variant = Variant<'s, 'de, A::Variant>;

    #[inline]
    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), DecodeError> {
        let state = self.state;
        match self.inner.variant_seed(Seed { seed, state }) {
            Ok((value, inner)) => Ok((value, Variant { inner, state })),
            Err(error) => Err(state.receive(error, Expecting::Kind("a variant name"))),
        }
    }
}

/// An enum's variant handed to the cached type.
struct Variant<'s, 'de, A> {
    inner: A,
    state: &'s State<'de>,
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Variant<'_, 'de, A> {
    type Error = DecodeError;

    fn unit_variant(self) -> Result<(), DecodeError> {
        let state = self.state;
        self.inner
            .unit_variant()
            .map_err(|error| state.receive(error, Expecting::Kind("a unit variant")))
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, DecodeError> {
        let state = self.state;
        self.inner
            .newtype_variant_seed(Seed { seed, state })
            .map_err(|error| state.receive(error, Expecting::Kind("a newtype variant")))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let state = self.state;
        let visitor = Guarded {
            visitor,
            state,
            layout: Layout::Inline,
        };
        self.inner
            .tuple_variant(len, visitor)
            .map_err(|error| state.receive(error, Expecting::Kind("a tuple variant")))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        let state = self.state;
        let visitor = Guarded {
            visitor,
            state,
            layout: Layout::Struct(fields),
        };
        self.inner
            .struct_variant(fields, visitor)
            .map_err(|error| state.receive(error, Expecting::Kind("a struct variant")))
    }
}
