//! The in-process tier of `local(ttl = "5s", capacity = 10_000)`: a bounded moka cache per
//! annotated function, in front of Aerospike.
//!
//! It holds the values themselves, not their bytes: a hit clones the value, with no decoding and
//! no network. Entries are type-erased (`Arc<dyn Any>`) so that one tier serves a generic function
//! whatever its type arguments; a value of another type under the same key is a miss.
//!
//! Consistency: `<fn>_invalidate`, `<fn>_refresh`, `#[cache_put]`, `#[cache_evict]` and
//! [`invalidate`](crate::invalidate) clear the entry in this process, and a call of this process
//! that missed the tier before one of them (its load, or its Aerospike read, may predate the
//! change) does not keep its value here afterwards ([`LocalKey`]). Other processes hear of them
//! through the backplane (see `backplane`) and drop the key within about its interval; a tier
//! answers only while its set has heard of every change (its [`Watch`]). `#[cache_evict(all = true)]`
//! empties every tier of this process, with the same protection for calls that were running.
//!
//! The single-key protection is a fixed array of counters indexed by a hash of the key, not one
//! per key: a call whose key shares a counter with a key removed meanwhile does not keep its value
//! either, which costs its next call one Aerospike read, never a wrong value.

use core::fmt;
use core::hash::BuildHasherDefault;
use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use moka::sync::Cache;

use crate::client;
use crate::flight::DigestHasher;
use crate::key::{self, KeyPath, KeySink};
use crate::local_registry::{Forget, Watch};
use crate::observe::Call;
use crate::spec::CacheSpec;
use crate::stats;
use crate::UserKey;

/// How many times this process emptied every local tier (`#[cache_evict(all = true)]`).
static EMPTIED: AtomicU64 = AtomicU64::new(0);

/// Notes that every local tier is about to be emptied: values of loads that started before are
/// not kept. Call before emptying them.
pub(crate) fn note_emptied() {
    EMPTIED.fetch_add(1, Ordering::SeqCst);
}

/// How many counters [`FORGOTTEN`] has, as a power of two: 256 counters, 2 KiB.
const FORGOTTEN_BITS: u32 = 8;

/// How many times this process removed a key from the local tiers, one counter per group of keys
/// (by [`key_hash`]): a call that missed the tier notes its key's counter, and does not keep its
/// value if the counter moved meanwhile. A fixed array rather than one counter per key: nothing to
/// allocate, to clean up or to look up under a lock, at the price of a skipped insert when another
/// key of the same group was removed (the next call reads Aerospike again).
static FORGOTTEN: [AtomicU64; 1 << FORGOTTEN_BITS] =
    [const { AtomicU64::new(0) }; 1 << FORGOTTEN_BITS];

/// The counter of the keys whose [`key_hash`] is `hash` (its top bits, the best mixed).
fn forgotten(hash: u64) -> &'static AtomicU64 {
    &FORGOTTEN[(hash >> (u64::BITS - FORGOTTEN_BITS)) as usize]
}

/// Notes that the key hashing to `hash` is about to be removed from the local tiers: values of
/// calls that missed the tier before are not kept. Call before removing it.
///
/// Why before: an insert checks the counter, inserts, then checks again. If the removal came
/// first and the count after it, an insert could check (unchanged), the removal find nothing, the
/// insert land and check again (still unchanged), and the count move too late: the value would
/// stay. With the count first, either the insert's second check sees it (and the insert removes
/// its entry), or that check came before the count, so the insert landed before the removal,
/// which removes it.
fn note_forgotten(hash: u64) {
    forgotten(hash).fetch_add(1, Ordering::SeqCst);
}

/// Removes `key` from every local tier of this process, after noting it: a call that missed a
/// tier before does not keep its value (see [`LocalKey`]).
///
/// A write path calls it before its Aerospike write (so that local hits stop serving the old
/// value at once) and again after it: that second call is the one that protects. A call noted
/// after it reads Aerospike after the write (the marker or the new value), while a call that could
/// have read the old entry was noted before it, so its value is not kept. A count before the write
/// alone would not do: a call that misses between it and the write may still read the old entry.
pub(crate) fn forget(key: &UserKey) {
    note_forgotten(key_hash(key));
    crate::local_registry::forget(key);
}

/// Runs `write`, a change of `key`'s entry in Aerospike, between two [`forget`]s of the key: the
/// first stops local hits serving the old value at once, the second is the one that protects.
/// Without a key (it could not be built) `write` runs alone.
pub(crate) async fn forgetting_around<T>(
    key: Option<UserKey>,
    write: impl core::future::Future<Output = T>,
) -> T {
    if let Some(key) = &key {
        forget(key);
    }
    let written = write.await;
    if let Some(key) = &key {
        forget(key);
    }
    written
}

/// The counts that tell whether a value may predate a change, for the key hashing to `hash`: the
/// emptyings of every tier plus the removals of the key's group. Both only grow, so their sum
/// moves when either does; one number keeps [`LocalKey`] (held across the call's await) as small
/// as it was with the emptyings alone.
fn changes(hash: u64) -> u64 {
    EMPTIED
        .load(Ordering::SeqCst)
        .wrapping_add(forgotten(hash).load(Ordering::SeqCst))
}

/// The key a call that missed the local tier keeps its value under, and when it missed (taken
/// before its Aerospike read and its load): a value that may predate a change made since in this
/// process is not kept. Such changes are an emptying of every tier (`#[cache_evict(all =
/// true)]`) and a removal of the key (`forget`, `LocalTier::remove`); a removal of another key
/// that shares its counter counts too (see `FORGOTTEN`).
#[derive(Debug)]
pub struct LocalKey {
    key: UserKey,
    changes: u64,
}

impl LocalKey {
    /// The key of a call that missed the tier now.
    pub(crate) fn starting(key: UserKey) -> LocalKey {
        let changes = changes(key_hash(&key));
        LocalKey { key, changes }
    }
}

/// One entry: its full key (a hit checks it, so two keys with one hash never share a value) and
/// the value.
pub(crate) struct Entry {
    key: UserKey,
    value: Box<dyn Any + Send + Sync>,
}

/// An entry found by [`LocalProbe::find`].
pub struct LocalEntry(Arc<Entry>);

impl LocalEntry {
    /// The value, type-erased.
    pub(crate) fn value(&self) -> &(dyn Any + Send + Sync) {
        &*self.0.value
    }
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
    /// The hash state after the constant `::<path>` of the default key, for the first path
    /// seen (a generic function or a method of a generic type may see several, which then hash
    /// in full).
    prefix: OnceLock<Prefix>,
    /// Whether the tier's set has heard of every other process's change (see `backplane`), set
    /// when the tier first keeps a value.
    watch: OnceLock<&'static Watch>,
}

/// A default key's constant start and its hash state.
struct Prefix {
    path: KeyPath,
    /// `::<path>`.
    text: Box<str>,
    state: StrHasher,
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
            prefix: OnceLock::new(),
            watch: OnceLock::new(),
        }
    }

    /// The hash state after `::<path>`, computed once per tier.
    #[inline]
    fn prefix_state(&self, path: KeyPath) -> (StrHasher, Option<&str>) {
        let hash = || {
            let mut hasher = StrHasher::default();
            hasher.bytes(key::DEFAULT_KEY_MARKER.as_bytes());
            hasher.bytes(path.head.as_bytes());
            hasher.bytes(path.tail.as_bytes());
            hasher
        };
        let prefix = self.prefix.get_or_init(|| Prefix {
            path,
            text: format!("{}{path}", key::DEFAULT_KEY_MARKER).into_boxed_str(),
            state: hash(),
        });
        // Usually the same text at the same address; copies of one type name may have other
        // addresses (one per codegen unit), so the text is compared when the addresses differ.
        let same =
            |kept: &'static str, given: &'static str| core::ptr::eq(kept, given) || kept == given;
        if same(prefix.path.head, path.head) && same(prefix.path.tail, path.tail) {
            (prefix.state, Some(&prefix.text))
        } else {
            (hash(), None)
        }
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

    /// The entry stored under `hash` if its key `is` the one looked up (a hit compares the key
    /// in full, never the hash alone).
    #[inline]
    fn find_by(&self, hash: u64, is: impl FnOnce(&UserKey) -> bool) -> Option<LocalEntry> {
        let entry = self.entries.get()?.get(&hash)?;
        is(&entry.key).then_some(LocalEntry(entry))
    }

    /// A clone of the value stored under the key `probe` stands for, if it is a `T`.
    #[cfg(test)]
    pub(crate) fn get<T: Clone + 'static, P: LocalProbe + ?Sized>(&self, probe: &P) -> Option<T> {
        probe.find(self)?.value().downcast_ref::<T>().cloned()
    }

    #[cfg(test)]
    pub(crate) fn insert<T: Send + Sync + 'static>(&self, key: UserKey, value: T) {
        let hash = key_hash(&key);
        let value = Box::new(value);
        self.entries().insert(hash, Arc::new(Entry { key, value }));
    }

    /// Keeps the value of a call that missed the tier, unless every tier was emptied, or its key
    /// removed, since it missed ([`LocalKey`]). Checked again after the insert: an emptying or a
    /// removal that came between the check and the insert may have missed the entry, which is
    /// then removed.
    pub(crate) fn insert_loaded<T: Send + Sync + 'static>(&self, key: LocalKey, value: T) {
        let LocalKey { key, changes: seen } = key;
        let hash = key_hash(&key);
        if changes(hash) != seen {
            return;
        }
        let entries = self.entries();
        entries.insert(
            hash,
            Arc::new(Entry {
                key,
                value: Box::new(value),
            }),
        );
        if changes(hash) != seen {
            entries.invalidate(&hash);
        }
    }

    /// A hit of this tier for a call of `spec`'s function: the stored value, if `value` can
    /// take it (a clone of the right type), counted and reported as a local hit. `None` sends
    /// the call on to Aerospike.
    ///
    /// `watch` gives the tier's set's [`Watch`] the first time: the tier answers only while its
    /// set has heard of every other process's change.
    #[inline]
    pub(crate) fn hit<V>(
        &self,
        spec: &'static CacheSpec,
        probe: &impl LocalProbe,
        watch: impl FnOnce() -> &'static Watch,
        value: impl FnOnce(&(dyn Any + Send + Sync)) -> Option<V>,
    ) -> Option<V> {
        if !self.watch.get_or_init(watch).heard() {
            return None;
        }
        let started = Call::clock();
        let value = value(probe.find(self)?.value())?;
        stats::counters(spec.set).count_local_hit();
        Call::local_hit(spec, started);
        Some(value)
    }

    /// Keeps a call's loaded value (see [`insert_loaded`](Self::insert_loaded)), given by `keep`,
    /// unless `spec`'s cluster is disabled or not installed: no cache, no local copy of it.
    /// `watch` gives the tier's set's [`Watch`] the first time.
    pub(crate) fn keep_loaded(
        &self,
        spec: &'static CacheSpec,
        watch: impl FnOnce() -> &'static Watch,
        keep: impl FnOnce(&Self),
    ) {
        if !client::disabled(spec.cache) {
            self.watch.get_or_init(watch);
            keep(self);
        }
    }

    /// Removes the entry of `key` (and, should another key share its hash, that key's entry: it
    /// costs that key one read of Aerospike, never a wrong value), after noting the removal, as
    /// [`forget`] does: a call that missed before does not keep its value.
    pub(crate) fn remove(&self, key: &UserKey) {
        let hash = key_hash(key);
        note_forgotten(hash);
        if let Some(entries) = self.entries.get() {
            entries.invalidate(&hash);
        }
    }
}

/// A call's key as the local tier looks it up: a built [`UserKey`] (explicit keys), or the parts
/// of a default key, which the tier hashes and compares without building the string.
pub trait LocalProbe {
    /// The entry of this key in `tier`, if there is one (and if the key can be built).
    fn find(&self, tier: &LocalTier) -> Option<LocalEntry>;
    /// The key, built.
    fn into_key(self) -> Result<UserKey, crate::Error>
    where
        Self: Sized;
}

impl LocalProbe for Result<UserKey, crate::Error> {
    #[inline]
    fn find(&self, tier: &LocalTier) -> Option<LocalEntry> {
        let own = self.as_ref().ok()?;
        tier.find_by(key_hash(own), |stored| stored == own)
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

/// Up to eight bytes as a little-endian integer.
#[inline]
fn little_endian(bytes: &[u8]) -> u64 {
    let mut array = [0; 8];
    array[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(array)
}

fn mix(hash: u64, word: u64) -> u64 {
    (hash.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
}

/// Hashes a byte stream eight bytes at a time, whatever pieces it is written in.
#[derive(Default, Clone, Copy)]
pub(crate) struct StrHasher {
    hash: u64,
    pending: u64,
    pending_len: u32,
    total: u64,
}

impl StrHasher {
    #[inline]
    fn bytes(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if self.pending_len != 0 {
            // Completes the pending word first (pending_len is below 8).
            let free = 8 - self.pending_len as usize;
            let (head, rest) = bytes.split_at(free.min(bytes.len()));
            self.pending |= little_endian(head) << (8 * self.pending_len);
            self.pending_len += head.len() as u32;
            if self.pending_len < 8 {
                return;
            }
            self.hash = mix(self.hash, self.pending);
            (self.pending, self.pending_len) = (0, 0);
            bytes = rest;
        }
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.hash = mix(self.hash, little_endian(word));
        }
        let rest = words.remainder();
        self.pending = little_endian(rest);
        self.pending_len = rest.len() as u32;
    }

    pub(crate) fn finish(&self) -> u64 {
        let hash = mix(mix(self.hash, self.pending), self.total);
        hash ^ (hash >> 29)
    }
}

/// A key form written on the stack: the arguments of a default key are written once, then hashed
/// and compared from here. A longer form does not fit ([`overflowed`](Self::overflowed)).
struct FormBuffer {
    bytes: [u8; FormBuffer::CAPACITY],
    len: usize,
    overflowed: bool,
}

impl FormBuffer {
    const CAPACITY: usize = 96;

    fn new() -> FormBuffer {
        FormBuffer {
            bytes: [0; FormBuffer::CAPACITY],
            len: 0,
            overflowed: false,
        }
    }

    #[inline]
    fn extend(&mut self, piece: &[u8]) {
        let end = self.len + piece.len();
        match self.bytes.get_mut(self.len..end) {
            Some(slot) => {
                slot.copy_from_slice(piece);
                self.len = end;
            }
            None => self.overflowed = true,
        }
    }

    #[inline]
    fn written(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl fmt::Write for FormBuffer {
    #[inline]
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.extend(text.as_bytes());
        Ok(())
    }
}

impl KeySink for FormBuffer {
    #[inline]
    fn push(&mut self, c: char) {
        match self.bytes.get_mut(self.len) {
            Some(slot) if c.is_ascii() => {
                *slot = c as u8;
                self.len += 1;
            }
            _ => self.extend(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }

    #[inline]
    fn push_ascii(&mut self, ascii: &[u8]) {
        self.extend(ascii);
    }
}

/// Byte equality; short pieces (most of a key) are compared in place rather than by a call to
/// `memcmp`.
#[inline]
fn same_bytes(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    if left.len() > 16 {
        return left == right;
    }
    left.iter().zip(right).all(|(l, r)| l == r)
}

/// A default key written for a lookup, with its hash: the arguments' form after the constant
/// `::<path>`, or (too long for that) the whole key, built.
enum Written<'t> {
    /// The hash, the arguments' form and, when the tier keeps it, `::<path>`.
    Args(u64, FormBuffer, Option<&'t str>),
    Built(u64, UserKey),
}

impl Written<'_> {
    fn hash(&self) -> u64 {
        match self {
            Written::Args(hash, ..) | Written::Built(hash, _) => *hash,
        }
    }
}

/// The parts of a default key `::<path>(<args>)`, before it is built; `args` is the tuple of
/// the key arguments, whose form starts with `(` (as the built default key has it).
pub struct DefaultKeyParts<'a, A: ?Sized> {
    pub(crate) path: KeyPath,
    pub(crate) args: &'a A,
}

impl<A: serde::Serialize + ?Sized> DefaultKeyParts<'_, A> {
    /// Builds the key, as [`key::default_key_at`] does.
    fn build(&self) -> Result<UserKey, crate::Error> {
        key::default_key_at(self.path, self.args)
    }

    /// The key, written as the tier looks it up: hashed like the built key (see [`key_hash`]).
    #[inline]
    fn written<'t>(&self, tier: &'t LocalTier) -> Option<Written<'t>> {
        // Argument tuples are written with their parentheses: what `default_key` stores.
        let mut args = FormBuffer::new();
        key::write_args_into(&mut args, self.args).ok()?;
        if args.overflowed {
            // A long key: built, as on a miss.
            let key = self.build().ok()?;
            return Some(Written::Built(key_hash(&key), key));
        }
        // The hash of `::<path>` is the same on every call: the tier keeps it.
        let (mut hasher, prefix) = tier.prefix_state(self.path);
        hasher.bytes(args.written());
        Some(Written::Args(hasher.finish(), args, prefix))
    }

    /// Whether `stored` is the key `written` stands for, compared in full.
    #[inline]
    fn is(&self, written: &Written, stored: &UserKey) -> bool {
        let (args, prefix) = match written {
            Written::Args(_, args, prefix) => (args.written(), *prefix),
            Written::Built(_, key) => return key == stored,
        };
        let UserKey::Str(stored) = stored else {
            return false;
        };
        let stored = stored.as_bytes();
        let Some(tail) = stored.len().checked_sub(args.len()) else {
            return false;
        };
        let (head, tail) = stored.split_at(tail);
        if !same_bytes(tail, args) {
            return false;
        }
        match prefix {
            // `::<path>` in one piece.
            Some(prefix) => head == prefix.as_bytes(),
            None => {
                let marker = key::DEFAULT_KEY_MARKER.as_bytes();
                let (path_head, path_tail) = (self.path.head.as_bytes(), self.path.tail.as_bytes());
                head.len() == marker.len() + self.path.len()
                    && head.starts_with(marker)
                    && head[marker.len()..].starts_with(path_head)
                    && head.ends_with(path_tail)
            }
        }
    }
}

impl<A: serde::Serialize + ?Sized> LocalProbe for DefaultKeyParts<'_, A> {
    #[inline]
    fn find(&self, tier: &LocalTier) -> Option<LocalEntry> {
        let written = self.written(tier)?;
        tier.find_by(written.hash(), |stored| self.is(&written, stored))
    }

    fn into_key(self) -> Result<UserKey, crate::Error> {
        self.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests that move the counts every tier shares ([`EMPTIED`], [`FORGOTTEN`]) or expect
    /// a loaded value kept run one at a time: tests run on several threads.
    fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
        static COUNTS: std::sync::Mutex<()> = std::sync::Mutex::new(());
        COUNTS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[test]
    fn a_value_loaded_before_the_tiers_were_emptied_is_not_kept() {
        let _counts = one_at_a_time();
        static TIER: LocalTier = LocalTier::new(60, 10);
        let (before, after) = (UserKey::Int(-7001), UserKey::Int(-7002));
        let started_before = LocalKey::starting(before.clone());
        note_emptied();
        let started_after = LocalKey::starting(after.clone());
        TIER.insert_loaded(started_before, 1_u32);
        TIER.insert_loaded(started_after, 2_u32);
        assert_eq!(TIER.get::<u32, _>(&Ok(before)), None);
        assert_eq!(TIER.get::<u32, _>(&Ok(after)), Some(2));
    }

    /// The counter of `key` in [`FORGOTTEN`].
    fn counter_of(key: &UserKey) -> usize {
        (key_hash(key) >> (u64::BITS - FORGOTTEN_BITS)) as usize
    }

    /// Keys for the tests of removals: `removed`, `other` and `shared` with counters of their
    /// own, `sharing` with the counter of `shared`.
    struct RemovalKeys {
        removed: UserKey,
        other: UserKey,
        shared: UserKey,
        sharing: UserKey,
    }

    fn removal_keys() -> RemovalKeys {
        let mut taken = Vec::new();
        let mut own = (-8_000..0).rev().map(UserKey::Int).filter(|key| {
            let counter = counter_of(key);
            let free = !taken.contains(&counter);
            taken.push(counter);
            free
        });
        let (removed, other, shared) = (
            own.next().unwrap(),
            own.next().unwrap(),
            own.next().unwrap(),
        );
        let sharing = (-9_000..-8_000)
            .rev()
            .map(UserKey::Int)
            .find(|key| *key != shared && counter_of(key) == counter_of(&shared))
            .unwrap();
        RemovalKeys {
            removed,
            other,
            shared,
            sharing,
        }
    }

    #[test]
    fn a_value_of_a_call_that_missed_before_its_key_was_removed_is_not_kept() {
        let _counts = one_at_a_time();
        static TIER: LocalTier = LocalTier::new(60, 10);
        let RemovalKeys { removed, other, .. } = removal_keys();
        let (removed_probe, other_probe) = (Ok(removed.clone()), Ok(other.clone()));
        let missed_before = LocalKey::starting(removed.clone());
        let other_missed_before = LocalKey::starting(other.clone());
        forget(&removed);
        let missed_after = LocalKey::starting(removed.clone());
        TIER.insert_loaded(missed_before, 1_u32);
        assert_eq!(
            TIER.get::<u32, _>(&removed_probe),
            None,
            "may predate the change"
        );
        TIER.insert_loaded(other_missed_before, 2_u32);
        assert_eq!(
            TIER.get::<u32, _>(&other_probe),
            Some(2),
            "another key is kept"
        );
        TIER.insert_loaded(missed_after, 3_u32);
        assert_eq!(
            TIER.get::<u32, _>(&removed_probe),
            Some(3),
            "a later call is kept"
        );

        // `forget` removes the key from every tier; `LocalTier::remove` (`<fn>_invalidate`,
        // `<fn>_refresh`) counts like it.
        forget(&removed);
        assert_eq!(TIER.get::<u32, _>(&removed_probe), None, "forgotten");
        let missed_before = LocalKey::starting(removed.clone());
        TIER.remove(&removed);
        TIER.insert_loaded(missed_before, 4_u32);
        assert_eq!(TIER.get::<u32, _>(&removed_probe), None);
        assert_eq!(TIER.get::<u32, _>(&other_probe), Some(2), "still kept");

        // Counted even before the tier holds anything: the call that missed may be its first
        // insert.
        static UNUSED: LocalTier = LocalTier::new(60, 10);
        let missed_before = LocalKey::starting(removed.clone());
        UNUSED.remove(&removed);
        UNUSED.insert_loaded(missed_before, 5_u32);
        assert_eq!(UNUSED.get::<u32, _>(&removed_probe), None);
    }

    #[test]
    fn a_removal_skips_the_inserts_of_the_keys_sharing_its_counter() {
        let _counts = one_at_a_time();
        static TIER: LocalTier = LocalTier::new(60, 10);
        let RemovalKeys {
            shared, sharing, ..
        } = removal_keys();
        let probe = Ok(sharing.clone());
        let missed_before = LocalKey::starting(sharing.clone());
        forget(&shared);
        TIER.insert_loaded(missed_before, 1_u32);
        assert_eq!(
            TIER.get::<u32, _>(&probe),
            None,
            "skipped: its next call reads again"
        );
        TIER.insert_loaded(LocalKey::starting(sharing.clone()), 2_u32);
        assert_eq!(TIER.get::<u32, _>(&probe), Some(2), "the next call is kept");
    }

    fn parts<A: serde::Serialize + ?Sized>(args: &A) -> DefaultKeyParts<'_, A> {
        DefaultKeyParts {
            path: KeyPath {
                head: "app::repo::",
                tail: "get_user",
            },
            args,
        }
    }

    /// Whether the key `probe` stands for is `stored`, as a hit compares them.
    fn is<A: serde::Serialize + ?Sized>(probe: &DefaultKeyParts<'_, A>, stored: &UserKey) -> bool {
        let tier = LocalTier::new(60, 10);
        probe.is(&probe.written(&tier).unwrap(), stored)
    }

    /// The parts of `args` hash like the key they build, match it, and find its entry.
    fn hashes_like_the_built_key<A: serde::Serialize + ?Sized>(args: &A) {
        let tier = LocalTier::new(60, 10);
        let probe = parts(args);
        let built = probe.build().unwrap();
        for _ in 0..2 {
            // The first call computes the prefix's hash state, the second reuses it.
            let written = probe.written(&tier).unwrap();
            assert_eq!(written.hash(), key_hash(&built), "{built}");
            assert!(probe.is(&written, &built), "{built}");
        }
        tier.insert(built.clone(), 5_u8);
        assert_eq!(tier.get::<u8, _>(&probe), Some(5), "{built}");
    }

    #[test]
    fn default_key_parts_hash_and_compare_like_the_built_key() {
        hashes_like_the_built_key(&(&42_u64, &"alice"));
        hashes_like_the_built_key(&());
        hashes_like_the_built_key(&(&"x".repeat(100), &-7_i32, &Some(1.5_f64)));
        hashes_like_the_built_key(&(&std::collections::BTreeMap::from([("b", 2), ("a", 1)]),));
        hashes_like_the_built_key(&(&"é\"\\", &'q', &vec![1_u8, 2]));
        let long = "y".repeat(FormBuffer::CAPACITY);
        for probe in [
            parts(&(&42_u64, &"alice")),
            parts(&(&42_u64, &long.as_str())),
        ] {
            let other = |args: &(&u64, &str)| parts(args).build().unwrap();
            assert!(is(&probe, &probe.build().unwrap()));
            let UserKey::Str(own) = probe.build().unwrap() else {
                panic!("a default key is a string")
            };
            let changed = own.replacen("::get_user(", "::get_usex(", 1);
            assert!(!is(&probe, &UserKey::Str(changed)), "another function");
            let changed = own.replacen("app::repo", "app::rep0", 1);
            assert!(!is(&probe, &UserKey::Str(changed)), "another scope");
            let changed = own.replacen("::app", "app:", 1);
            assert!(!is(&probe, &UserKey::Str(changed)), "not a default key");
            assert!(
                !is(&probe, &UserKey::Str(own[..own.len() - 1].to_owned())),
                "a prefix"
            );
            assert!(!is(&probe, &UserKey::Str(format!("{own})"))), "longer");
            assert!(!is(&probe, &other(&(&42, "alicf"))));
            assert!(!is(&probe, &parts(&(&42_u64,)).build().unwrap()), "fewer");
            assert!(!is(&probe, &UserKey::Int(42)));
        }
    }

    #[test]
    fn a_string_hashes_alike_whatever_pieces_it_is_written_in() {
        let text = b"app::repo::get_user(42,\"alice\",[1,2,3])";
        let mut whole = StrHasher::default();
        whole.bytes(text);
        for first in 0..=text.len() {
            for second in first..=text.len() {
                let mut pieces = StrHasher::default();
                pieces.bytes(&text[..first]);
                pieces.bytes(&text[first..second]);
                pieces.bytes(&text[second..]);
                assert_eq!(
                    pieces.finish(),
                    whole.finish(),
                    "split at {first} and {second}"
                );
            }
        }
        let mut other = StrHasher::default();
        other.bytes(b"app::repo::get_user(42,\"alicf\",[1,2,3])");
        assert_ne!(other.finish(), whole.finish());
    }

    #[test]
    fn a_tier_seeing_several_paths_hashes_each_as_its_own() {
        // A method of a generic type: one tier, one path per type argument.
        let tier = LocalTier::new(60, 10);
        for head in ["app::Repo<u8>::", "app::Repo<u16>::", "app::Repo<u8>::"] {
            let probe = DefaultKeyParts {
                path: KeyPath { head, tail: "get" },
                args: &(&1_u8,),
            };
            let built = probe.build().unwrap();
            assert_eq!(built.to_string(), format!("::{head}get(1)"));
            let written = probe.written(&tier).unwrap();
            assert_eq!(written.hash(), key_hash(&built), "{built}");
            assert!(probe.is(&written, &built));
        }
    }

    #[test]
    fn a_hash_collision_is_a_miss_never_another_keys_value() {
        static TIER: LocalTier = LocalTier::new(60, 100);
        let stored = UserKey::Str("::app::repo::get_user(1)".to_owned());
        TIER.insert(stored.clone(), 1_u32);
        // Another key whose lookup lands on the same entry (as a colliding hash would).
        let other = parts(&(&2_u32,));
        let entry = TIER.entries().get(&key_hash(&stored)).unwrap();
        assert!(!is(&other, &entry.key));
        assert_eq!(TIER.get::<u32, _>(&parts(&(&1_u32,))), Some(1));
        assert_eq!(TIER.get::<u32, _>(&other), None);
    }

    #[test]
    fn stores_clones_and_removes_values() {
        let _counts = one_at_a_time();
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
