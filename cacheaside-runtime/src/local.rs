//! The in-process tier of `local(ttl = "5s", capacity = 10_000)`: a bounded moka cache per
//! annotated function, in front of Aerospike.
//!
//! It holds the values themselves, not their bytes: a hit clones the value, with no decoding and
//! no network. Entries are type-erased (`Arc<dyn Any>`) so that one tier serves a generic function
//! whatever its type arguments; a value of another type under the same key is a miss.
//!
//! Consistency: `<fn>_invalidate` and `<fn>_refresh` clear the entry in this process. Other
//! processes do not see them, so another process may serve a value up to the tier's TTL after it
//! was invalidated or replaced: the staleness across processes is bounded by that TTL.

use core::fmt;
use core::hash::BuildHasherDefault;
use std::any::Any;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use moka::sync::Cache;

use crate::flight::DigestHasher;
use crate::key::{self, KeySink};
use crate::local_registry::Forget;
use crate::stats::{self, SetCounters};
use crate::UserKey;

/// One entry: its full key (a hit checks it, so two keys with one hash never share a value) and
/// the value.
struct Entry {
    key: UserKey,
    value: Box<dyn Any + Send + Sync>,
}

/// Entries by the [`key_hash`] of their key: a default key is looked up without being built.
type Entries = Cache<u64, Arc<Entry>, BuildHasherDefault<DigestHasher>>;

impl Forget for Entries {
    fn forget(&self, key: &UserKey) {
        self.invalidate(&key_hash(key));
    }

    fn forget_all(&self) {
        self.invalidate_all();
    }
}

/// The local tier of one annotated function; generated code keeps it in a `static`.
pub struct LocalTier {
    ttl: Duration,
    capacity: u64,
    entries: OnceLock<Entries>,
    /// The function's set counters, looked up once: a local hit is cheap enough that finding them
    /// by name on every hit would be a good part of its cost.
    counters: OnceLock<&'static SetCounters>,
}

impl core::fmt::Debug for LocalTier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LocalTier")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl LocalTier {
    /// A tier whose entries live `ttl_secs` seconds, holding at most `capacity` entries (the least
    /// valuable are evicted first). Nothing is allocated before first use.
    pub const fn new(ttl_secs: u64, capacity: u64) -> LocalTier {
        LocalTier {
            ttl: Duration::from_secs(ttl_secs),
            capacity,
            entries: OnceLock::new(),
            counters: OnceLock::new(),
        }
    }

    /// The counters of `set`, the set of the one function this tier belongs to.
    pub(crate) fn counters(&self, set: &'static str) -> &'static SetCounters {
        self.counters.get_or_init(|| stats::counters(set))
    }

    fn entries(&self) -> &Entries {
        self.entries.get_or_init(|| {
            let entries = Cache::builder()
                .max_capacity(self.capacity)
                .time_to_live(self.ttl)
                .build_with_hasher(BuildHasherDefault::default());
            crate::local_registry::registered(entries)
        })
    }

    /// A clone of the value stored under the key `probe` stands for, if it is a `T`.
    pub(crate) fn get<T: Clone + 'static, P: LocalProbe + ?Sized>(&self, probe: &P) -> Option<T> {
        let hash = probe.local_hash()?;
        let entry = self.entries.get()?.get(&hash)?;
        if !probe.is(&entry.key) {
            return None;
        }
        entry.value.downcast_ref::<T>().cloned()
    }

    pub(crate) fn insert<T: Send + Sync + 'static>(&self, key: UserKey, value: T) {
        let hash = key_hash(&key);
        let value = Box::new(value);
        self.entries().insert(hash, Arc::new(Entry { key, value }));
    }

    /// Removes the entry of `key` (and, should another key share its hash, that key's entry: it
    /// costs that key one read of Aerospike, never a wrong value).
    pub(crate) fn remove(&self, key: &UserKey) {
        if let Some(entries) = self.entries.get() {
            entries.forget(key);
        }
    }
}

/// A call's key as the local tier looks it up: a built [`UserKey`] (explicit keys), or the parts
/// of a default key, which the tier hashes and compares without building the string.
pub trait LocalProbe {
    /// The key's hash in the local tier (of the bytes of its string form, for a string key), or
    /// `None` when there is no key (it cannot be built).
    fn local_hash(&self) -> Option<u64>;
    /// Whether `key` is this key.
    fn is(&self, key: &UserKey) -> bool;
    /// The key, built.
    fn into_key(self) -> Result<UserKey, crate::Error>
    where
        Self: Sized;
}

impl LocalProbe for Result<UserKey, crate::Error> {
    fn local_hash(&self) -> Option<u64> {
        self.as_ref().ok().map(key_hash)
    }
    fn is(&self, key: &UserKey) -> bool {
        self.as_ref().is_ok_and(|own| own == key)
    }
    fn into_key(self) -> Result<UserKey, crate::Error> {
        self
    }
}

/// The hash of a key in the local tier: of the bytes of a string key (so that the parts of a
/// default key hash to the same value as the built string), of an integer, or of bytes.
pub(crate) fn key_hash(key: &UserKey) -> u64 {
    match key {
        UserKey::Str(text) => {
            let mut hasher = StrHasher::default();
            hasher.bytes(text.as_bytes());
            hasher.finish()
        }
        UserKey::Int(value) => mix(mix(0x1f, 1), *value as u64),
        UserKey::Bytes(bytes) => {
            let mut hasher = StrHasher {
                hash: 0x2f,
                ..StrHasher::default()
            };
            hasher.bytes(bytes);
            hasher.finish()
        }
    }
}

fn mix(hash: u64, word: u64) -> u64 {
    (hash.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
}

/// Hashes a byte stream eight bytes at a time, whatever pieces it is written in.
#[derive(Default)]
pub(crate) struct StrHasher {
    hash: u64,
    pending: u64,
    pending_len: u32,
    total: u64,
}

impl StrHasher {
    fn bytes(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        while self.pending_len != 0 {
            let Some((&first, rest)) = bytes.split_first() else {
                return;
            };
            self.push_byte(first);
            bytes = rest;
        }
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut array = [0; 8];
            array.copy_from_slice(word);
            self.hash = mix(self.hash, u64::from_le_bytes(array));
        }
        for &byte in words.remainder() {
            self.push_byte(byte);
        }
    }

    fn push_byte(&mut self, byte: u8) {
        self.pending |= u64::from(byte) << (8 * self.pending_len);
        self.pending_len += 1;
        if self.pending_len == 8 {
            self.hash = mix(self.hash, self.pending);
            (self.pending, self.pending_len) = (0, 0);
        }
    }

    pub(crate) fn finish(&self) -> u64 {
        let hash = mix(mix(self.hash, self.pending), self.total);
        hash ^ (hash >> 29)
    }
}

impl fmt::Write for StrHasher {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.bytes(text.as_bytes());
        Ok(())
    }
}

impl KeySink for StrHasher {}

/// Compares a key form, as it is written, with a stored string.
struct Matcher<'k> {
    rest: &'k str,
    equal: bool,
}

impl fmt::Write for Matcher<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        match self.rest.strip_prefix(text) {
            Some(rest) if self.equal => self.rest = rest,
            _ => self.equal = false,
        }
        Ok(())
    }
}

impl KeySink for Matcher<'_> {}

/// The parts of a default key `<scope>::<function>(<args>)`, before it is built; `args` is the
/// tuple of the key arguments, whose form starts with `(` (as the built default key has it).
pub struct DefaultKeyParts<'a, A: ?Sized> {
    pub(crate) scope: &'a str,
    pub(crate) function: &'static str,
    pub(crate) args: &'a A,
}

impl<A: serde::Serialize + ?Sized> DefaultKeyParts<'_, A> {
    /// Builds the key, as [`key::default_key`] does.
    fn build(&self) -> Result<UserKey, crate::Error> {
        key::default_key(self.scope, self.function, self.args)
    }

    fn write_into<S: KeySink>(&self, sink: &mut S) -> bool {
        sink.push_str(self.scope);
        sink.push_str("::");
        sink.push_str(self.function);
        key::write_args_into(sink, self.args).is_ok()
    }
}

impl<A: serde::Serialize + ?Sized> LocalProbe for DefaultKeyParts<'_, A> {
    fn local_hash(&self) -> Option<u64> {
        let mut hasher = StrHasher::default();
        self.write_into(&mut hasher).then(|| hasher.finish())
    }

    fn is(&self, key: &UserKey) -> bool {
        let UserKey::Str(stored) = key else {
            return false;
        };
        let mut matcher = Matcher {
            rest: stored,
            equal: true,
        };
        // Argument tuples are written with their parentheses: what `default_key` stores.
        self.write_into(&mut matcher) && matcher.equal && matcher.rest.is_empty()
    }

    fn into_key(self) -> Result<UserKey, crate::Error> {
        self.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a, A: serde::Serialize + ?Sized>(args: &'a A) -> DefaultKeyParts<'a, A> {
        DefaultKeyParts {
            scope: "app::repo",
            function: "get_user",
            args,
        }
    }

    /// The parts of `args` hash like the key they build, and match it.
    fn hashes_like_the_built_key<A: serde::Serialize + ?Sized>(args: &A) {
        let probe = parts(args);
        let built = probe.build().unwrap();
        assert_eq!(probe.local_hash(), Some(key_hash(&built)), "{built}");
        assert!(probe.is(&built), "{built}");
    }

    #[test]
    fn default_key_parts_hash_and_compare_like_the_built_key() {
        hashes_like_the_built_key(&(&42_u64, &"alice"));
        hashes_like_the_built_key(&());
        hashes_like_the_built_key(&(&"x".repeat(100), &-7_i32, &Some(1.5_f64)));
        hashes_like_the_built_key(&(&std::collections::BTreeMap::from([("b", 2), ("a", 1)]),));
        hashes_like_the_built_key(&(&"é\"\\", &'q', &vec![1_u8, 2]));
        let probe = parts(&(&42_u64, &"alice"));
        assert!(probe.is(&probe.build().unwrap()));
        assert!(!probe.is(&parts(&(&42_u64, &"alicf")).build().unwrap()));
        assert!(!probe.is(&parts(&(&42_u64,)).build().unwrap()), "a prefix");
        assert!(
            !probe.is(&parts(&(&42_u64, &"alice", &1)).build().unwrap()),
            "longer"
        );
        assert!(!probe.is(&UserKey::Int(42)));
    }

    #[test]
    fn a_hash_collision_is_a_miss_never_another_keys_value() {
        static TIER: LocalTier = LocalTier::new(60, 100);
        let stored = UserKey::Str("app::repo::get_user(1)".to_owned());
        TIER.insert(stored.clone(), 1_u32);
        // Another key whose lookup lands on the same entry (as a colliding hash would).
        let other = parts(&(&2_u32,));
        let entry = TIER.entries().get(&key_hash(&stored)).unwrap();
        assert!(!other.is(&entry.key));
        assert_eq!(TIER.get::<u32, _>(&parts(&(&1_u32,))), Some(1));
        assert_eq!(TIER.get::<u32, _>(&other), None);
    }

    #[test]
    fn stores_clones_and_removes_values() {
        static TIER: LocalTier = LocalTier::new(60, 100);
        let key = UserKey::Int(1);
        let probe = Ok(key.clone());
        assert_eq!(
            TIER.get::<String, _>(&probe),
            None,
            "empty before first use"
        );
        TIER.insert(key.clone(), "one".to_owned());
        assert_eq!(TIER.get::<String, _>(&probe), Some("one".to_owned()));
        assert_eq!(
            TIER.get::<u64, _>(&probe),
            None,
            "another type under the key is a miss"
        );
        TIER.remove(&key);
        assert_eq!(TIER.get::<String, _>(&probe), None);
    }

    #[test]
    fn keeps_at_most_its_capacity() {
        static TIER: LocalTier = LocalTier::new(60, 10);
        for id in 0..1_000 {
            TIER.insert(UserKey::Int(id), id);
        }
        let entries = TIER.entries();
        entries.run_pending_tasks();
        assert!(entries.entry_count() <= 10, "{}", entries.entry_count());
    }
}
