//! Write-behind: [`WriteBehind::write`] puts a value into the cache at once and queues its write
//! to the source of truth, which happens later, in batches, through a function you give.
//!
//! ```no_run
//! use std::time::Duration;
//! use cacheaside_runtime::write_behind::WriteBehind;
//! use cacheaside_runtime::Ttl;
//!
//! #[derive(Clone, serde::Serialize, serde::Deserialize)]
//! struct User { id: u64, name: String }
//!
//! # async fn save_users(_: Vec<(u64, User)>) -> Result<(), std::io::Error> { Ok(()) }
//! # async fn demo() -> Result<(), cacheaside_runtime::Error> {
//! // Readers: #[cache_aside(set = "users", ttl = 3600, key = id)] async fn get_user(id: u64) ...
//! let users = WriteBehind::<u64, User>::builder("users")
//!     .ttl(Ttl::Seconds(3600))
//!     .max_batch(100)
//!     .max_delay(Duration::from_millis(200))
//!     .start(|batch: Vec<(u64, User)>| save_users(batch))?;
//!
//! users.write(42, User { id: 42, name: "Ada".into() }).await.ok();
//! // get_user(42) now answers "Ada" from the cache; the source gets it within 200 ms.
//! users.shutdown().await; // before the process exits: every queued write reaches the source
//! # Ok(())
//! # }
//! ```
//!
//! # Guarantees
//!
//! - **The cache is updated before `write` returns**, in the entry that
//!   `#[cache_aside(set = …, key = <expr>)]` readers of the same namespace, set and explicit key
//!   read (same envelope, codec, size guard and TTL policy). The write replaces any cached value
//!   or invalidation marker, and makes in-flight write-backs of older loads fail. If the value
//!   cannot be cached (too large, a namespace that refuses TTLs, an error answer) the entry is
//!   invalidated instead. If the cache is unreachable, the source write is queued all the same:
//!   the cache never causes a write to be lost, but readers may see the old cached value until
//!   its TTL ends.
//! - **Nothing is dropped.** A failed flush (an `Err` or a panic of the flush function) is
//!   retried with exponential backoff ([`WriteBehindBuilder::retry_backoff`]), the same batch
//!   again, until it succeeds; later batches wait for it, so the source sees writes in order.
//! - **Coalescing:** a write of a key that is already queued replaces the queued value and keeps
//!   its place in the queue (last value wins; a hot key cannot be starved). A key whose batch is
//!   being flushed is queued again and flushed after that batch.
//! - **Batches** hold at most [`max_batch`](WriteBehindBuilder::max_batch) keys and are flushed
//!   when that many are queued, or when the oldest queued write is
//!   [`max_delay`](WriteBehindBuilder::max_delay) old, or on [`flush`](WriteBehind::flush) and
//!   [`shutdown`](WriteBehind::shutdown).
//! - **Backpressure:** at most [`capacity`](WriteBehindBuilder::capacity) keys are queued
//!   (plus one batch in flight); `write` of a new key waits for room while the queue is full.
//! - [`flush`](WriteBehind::flush) returns once every write made before it is persisted;
//!   [`shutdown`](WriteBehind::shutdown) refuses new writes and returns once every accepted write
//!   is persisted. Both wait as long as the source keeps failing: bound them with
//!   `tokio::time::timeout` if you must, and [`pending`](WriteBehind::pending) tells what is left.
//!
//! # Limits
//!
//! - The queue lives in this process's memory: a crash loses what was not yet flushed, unless
//!   the write-behind was started with a journal
//!   ([`start_journaled`](WriteBehindBuilder::start_journaled)), which keeps every pending write
//!   in Aerospike too, for the next process to flush. Flush or shut down before exiting.
//! - Until a value is flushed the source holds the old one. A reader whose cache entry expires or
//!   is invalidated by another process in that window loads and caches the old value.
//! - The background task and the writes run on the tokio runtime `start` was called on; when
//!   that runtime shuts down, what is still queued is lost (unless journaled).
//! - Dropping the `WriteBehind` without `shutdown` lets the background task drain the queue on its
//!   own, as long as the runtime keeps running.

mod cache_entry;
mod journal;
mod queue;

use core::fmt;
use core::future::Future;
use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::names::{name_problem, NameKind};
use crate::report::{self, Cause};
use crate::spec::CacheSpec;
use crate::stats;
use crate::{Error, ErrorKind, Ttl, UserKey};
use cache_entry::CacheEntries;
use journal::Journal;
use queue::{Offer, Queue};

/// The set of journal records, unless [`WriteBehindBuilder::journal_set`] names another.
pub const DEFAULT_JOURNAL_SET: &str = "cacheaside_journal";

/// Writes of one key are applied to the cache and queued in call order: writers of keys in the
/// same stripe take turns. More stripes mean less waiting between writers of different keys.
const KEY_STRIPES: usize = 64;

/// A key of a [`WriteBehind`]: how it addresses the cache entry, as `key = <expr>` of
/// `#[cache_aside]` does (a string, an integer in `i64` range, or bytes).
pub trait CacheKey {
    /// The Aerospike user key of this key's entry.
    ///
    /// # Errors
    /// [`ErrorKind::Key`] when the key cannot be one (an integer outside `i64`, a string that
    /// starts with `::`); the value is then not cached, but still written to the source.
    fn user_key(&self) -> Result<UserKey, Error>;
}

macro_rules! integer_cache_keys {
    ($($t:ty),* $(,)?) => {$(
        impl CacheKey for $t {
            fn user_key(&self) -> Result<UserKey, Error> {
                crate::key::IntoUserKey::into_user_key(*self)
            }
        }
    )*};
}
integer_cache_keys!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

impl CacheKey for String {
    /// The string; refused when it starts with `::`, like an explicit key of a reader (see
    /// [`UserKey`]), so that a write-behind never overwrites the entry of a default key.
    fn user_key(&self) -> Result<UserKey, Error> {
        crate::key::IntoUserKey::into_user_key(self)
    }
}

impl CacheKey for Vec<u8> {
    fn user_key(&self) -> Result<UserKey, Error> {
        Ok(UserKey::Bytes(self.clone()))
    }
}

impl CacheKey for UserKey {
    fn user_key(&self) -> Result<UserKey, Error> {
        Ok(self.clone())
    }
}

/// A write refused because the [`WriteBehind`] was shut down; it hands the write back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed<K, V> {
    /// The key of the refused write.
    pub key: K,
    /// The value of the refused write.
    pub value: V,
}

impl<K, V> fmt::Display for Closed<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the write-behind queue was shut down; the write was not accepted")
    }
}

impl<K: fmt::Debug, V: fmt::Debug> std::error::Error for Closed<K, V> {}

/// Counters of one [`WriteBehind`], from [`WriteBehind::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteBehindStats {
    /// Accepted writes.
    pub writes: u64,
    /// Writes that replaced a queued value of the same key instead of adding an entry.
    pub coalesced: u64,
    /// Writes that had to wait for room in a full queue.
    pub waited_for_room: u64,
    /// Batches the flush function persisted.
    pub batches_flushed: u64,
    /// Entries in those batches.
    pub entries_flushed: u64,
    /// Calls of the flush function that failed (returned `Err` or panicked) and were retried.
    pub failed_flushes: u64,
    /// Writes recovered from the journal at start (coalesced per key before they were queued).
    pub recovered: u64,
}

#[derive(Default)]
struct Counters {
    writes: AtomicU64,
    coalesced: AtomicU64,
    waited_for_room: AtomicU64,
    batches_flushed: AtomicU64,
    entries_flushed: AtomicU64,
    failed_flushes: AtomicU64,
    recovered: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> WriteBehindStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        WriteBehindStats {
            writes: get(&self.writes),
            coalesced: get(&self.coalesced),
            waited_for_room: get(&self.waited_for_room),
            batches_flushed: get(&self.batches_flushed),
            entries_flushed: get(&self.entries_flushed),
            failed_flushes: get(&self.failed_flushes),
            recovered: get(&self.recovered),
        }
    }
}

/// How batches are formed and retried.
#[derive(Debug, Clone, Copy)]
struct Settings {
    max_batch: usize,
    max_delay: Duration,
    first_backoff: Duration,
    max_backoff: Duration,
}

/// Configures and starts a [`WriteBehind`]; from [`WriteBehind::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct WriteBehindBuilder<K, V> {
    set: &'static str,
    cache: Option<&'static str>,
    namespace: Option<&'static str>,
    ttl: Ttl,
    capacity: usize,
    settings: Settings,
    journal_set: &'static str,
    types: core::marker::PhantomData<fn(K, V)>,
}

impl<K, V> WriteBehindBuilder<K, V>
where
    K: CacheKey + Eq + Hash + Clone + Send + Sync + 'static,
    V: Serialize + Clone + Send + Sync + 'static,
{
    /// The cluster of the cache entries (and of the journal): the one
    /// [`init_named`](crate::init_named) installed under `name`, as for annotated functions with
    /// `cache = "<name>"`. By default the default cluster of [`init`](crate::init).
    pub fn cache(mut self, name: &'static str) -> Self {
        self.cache = Some(name);
        self
    }

    /// The namespace of the cache entries; by default the configured one
    /// ([`Config::namespace`](crate::Config::namespace)), as for annotated functions.
    pub fn namespace(mut self, namespace: &'static str) -> Self {
        self.namespace = Some(namespace);
        self
    }

    /// The TTL of the cache entries, as the readers' `ttl`. Default: the namespace's default TTL.
    pub fn ttl(mut self, ttl: Ttl) -> Self {
        self.ttl = ttl;
        self
    }

    /// The most keys in one call of the flush function (default 100; at least 1). A batch is
    /// flushed as soon as this many keys are queued.
    pub fn max_batch(mut self, max_batch: usize) -> Self {
        self.settings.max_batch = max_batch;
        self
    }

    /// The longest a write waits in the queue before its batch is flushed (default 100 ms), while
    /// the source answers.
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.settings.max_delay = max_delay;
        self
    }

    /// The most keys queued at once (default 10,000; at least 1). Writes of new keys wait while
    /// the queue is full; writes of queued keys replace their values without waiting.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// The wait before retrying a failed flush: `first`, doubled after each further failure up
    /// to `max` (defaults 100 ms and 10 s).
    pub fn retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.settings.first_backoff = first;
        self.settings.max_backoff = max.max(first);
        self
    }

    /// Starts the queue's background task on the current tokio runtime. `flush` persists one
    /// batch of distinct keys, in queue order; it is called again with the same batch after an
    /// `Err` or a panic.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when called outside a tokio runtime, with `max_batch` or
    /// `capacity` 0, with an invalid [`cache`](Self::cache) name, or with a set or
    /// [`namespace`](Self::namespace) name that Aerospike refuses (empty, too long, or with a
    /// NUL, `:` or `;`).
    pub fn start<F, Fut, E>(self, flush: F) -> Result<WriteBehind<K, V>, Error>
    where
        F: Fn(Vec<(K, V)>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        let shared = self.shared(None)?;
        spawn_worker(&shared, flush);
        Ok(WriteBehind { shared })
    }

    /// The set of the journal's records, in the write-behind's namespace (default
    /// [`DEFAULT_JOURNAL_SET`]).
    pub fn journal_set(mut self, set: &'static str) -> Self {
        self.journal_set = set;
        self
    }

    /// Like [`start`](Self::start), with every accepted write also stored in a journal in
    /// Aerospike until the source has it. First flushes, through `flush`, the writes a previous
    /// process left in the journal `name` (after a crash), in the order they were made; they are
    /// queued before any new write and flushed at once.
    ///
    /// Each write then costs one more Aerospike write (and one cursor update per 64 writes); each
    /// batch one cursor update and a delete per write. Only one process at a time may use a
    /// journal name (e.g. one per service instance, reused by its replacement). Delivery is at
    /// least once: a crash right after a flush, before the journal was updated, replays that
    /// batch. If the journal cannot be read at start (the cache is unreachable or disabled), the
    /// write-behind starts without it, leaving its records for the next start, and says so in a
    /// warning and in [`WriteBehind::is_journaled`]. A journal record that no longer decodes as
    /// `(K, V)` is logged as an error and left in place.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub async fn start_journaled<F, Fut, E>(
        self,
        name: impl Into<String>,
        flush: F,
    ) -> Result<WriteBehind<K, V>, Error>
    where
        K: Serialize + DeserializeOwned,
        V: DeserializeOwned,
        F: Fn(Vec<(K, V)>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        self.check_names(true)?;
        let name = name.into();
        let journal = Journal::new(
            name.clone(),
            self.cache,
            self.namespace,
            self.journal_set,
            stats::counters(self.journal_set),
        );
        let shared = match journal.recover().await {
            Ok(recovered) => {
                let shared = self.shared(Some(Journaled {
                    journal,
                    encode: |key, value| crate::codec::encode(&(key, value)),
                }))?;
                shared.restore(recovered.entries, &name);
                shared
            }
            Err(error) => {
                // Limited like every other warning: a service that starts write-behind queues
                // again and again (in a retry loop) logs this once per interval.
                report::warn_limited(Cause::Read, self.journal_set, || {
                    format!(
                        "write-behind journal {name} of set {} cannot be read ({error}); starting \
                         without a journal, its records stay for the next start",
                        self.set
                    )
                });
                self.shared(None)?
            }
        };
        spawn_worker(&shared, flush);
        Ok(WriteBehind { shared })
    }

    /// The shared state, checked settings included.
    /// Checks the set names (the journal's too, when `journaled`) and the namespace name by
    /// Aerospike's rules: a bad one would fail every write.
    fn check_names(&self, journaled: bool) -> Result<(), Error> {
        let journal_set = journaled.then_some(self.journal_set);
        let names = [
            (NameKind::Set, Some(self.set)),
            (NameKind::Set, journal_set),
            (NameKind::Namespace, self.namespace),
        ];
        for (kind, name) in names {
            if let Some(problem) = name.and_then(|name| name_problem(kind, name)) {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("WriteBehindBuilder: {problem}"),
                ));
            }
        }
        Ok(())
    }

    fn shared(&self, journal: Option<Journaled<K, V>>) -> Result<Arc<Shared<K, V>>, Error> {
        if self.settings.max_batch == 0 || self.capacity == 0 {
            return Err(Error::new(
                ErrorKind::Config,
                "WriteBehindBuilder: max_batch and capacity must be at least 1",
            ));
        }
        if let Some(name) = self.cache {
            crate::client::check_cluster_name(name)?;
        }
        self.check_names(journal.is_some())?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::new(
                ErrorKind::Config,
                "WriteBehindBuilder::start must be called inside a tokio runtime",
            )
        })?;
        // One small allocation per write-behind for its lifetime: the invalidation path of the
        // cache takes a `'static` description, like the one an annotated function has.
        let spec: &'static CacheSpec = Box::leak(Box::new(CacheSpec {
            cache: self.cache,
            namespace: self.namespace,
            set: self.set,
            ttl: self.ttl,
            function: "write-behind",
            codec: crate::codec::Codec::MessagePack,
        }));
        Ok(Arc::new(Shared {
            state: Mutex::new(State {
                queue: Queue::new(self.capacity),
                flush_requested_through: 0,
                closing: false,
                next_ticket: 0,
                writing: BTreeSet::new(),
                stopped: false,
            }),
            worker_wake: Notify::new(),
            room: Notify::new(),
            progress: Notify::new(),
            counters: Counters::default(),
            settings: self.settings,
            cache: CacheEntries {
                spec,
                counters: stats::counters(self.set),
            },
            stripes: (0..KEY_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            journal,
            runtime,
        }))
    }
}

/// Starts the background task on the write-behind's runtime.
fn spawn_worker<K, V, F, Fut, E>(shared: &Arc<Shared<K, V>>, flush: F)
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: Fn(Vec<(K, V)>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    shared.runtime.spawn(run_worker(Arc::clone(shared), flush));
}

/// A journal and how to encode a write for it (known only where `K: Serialize`).
struct Journaled<K, V> {
    journal: Journal,
    encode: fn(&K, &V) -> Result<Vec<u8>, Error>,
}

/// Cache-first writes with batched, retried, coalesced writes to the source of truth. See the
/// [module documentation](self) for the guarantees.
pub struct WriteBehind<K, V> {
    shared: Arc<Shared<K, V>>,
}

impl<K, V> fmt::Debug for WriteBehind<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteBehind")
            .field("set", &self.shared.cache.spec.set)
            .field("pending", &self.shared.lock().queue.len())
            .finish_non_exhaustive()
    }
}

impl<K, V> WriteBehind<K, V>
where
    K: CacheKey + Eq + Hash + Clone + Send + Sync + 'static,
    V: Serialize + Clone + Send + Sync + 'static,
{
    /// A builder for a write-behind whose values are cached in `set`, as `#[cache_aside(set =
    /// …)]` readers read them.
    pub fn builder(set: &'static str) -> WriteBehindBuilder<K, V> {
        WriteBehindBuilder {
            set,
            cache: None,
            namespace: None,
            ttl: Ttl::NamespaceDefault,
            capacity: 10_000,
            settings: Settings {
                max_batch: 100,
                max_delay: Duration::from_millis(100),
                first_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(10),
            },
            journal_set: DEFAULT_JOURNAL_SET,
            types: core::marker::PhantomData,
        }
    }

    /// Writes `value` into the cache entry of `key` (at most the cache's operation timeout per
    /// operation), then queues it for the source; waits while the queue is full.
    ///
    /// Once called, a write runs to its end as a task of the write-behind's runtime, even if the
    /// returned future is dropped (a cancelled request, a timeout): the cache never holds a value
    /// that is not queued for the source.
    ///
    /// # Errors
    /// [`Closed`], with the write, after [`shutdown`](Self::shutdown) began (the cache is not
    /// touched then), or when the write-behind's runtime shut down before the write started.
    pub async fn write(&self, key: K, value: V) -> Result<(), Closed<K, V>> {
        let shared = &self.shared;
        let writer = {
            let mut state = shared.lock();
            if state.closing {
                return Err(Closed { key, value });
            }
            let ticket = state.next_ticket;
            state.next_ticket += 1;
            state.writing.insert(ticket);
            WriterGuard {
                shared: Arc::clone(shared),
                ticket,
            }
        };
        // Taken by the task when it starts; still here if the runtime dropped it before.
        let unstarted = Arc::new(Mutex::new(Some((key, value))));
        let task = shared
            .runtime
            .spawn(write_task(writer, Arc::clone(&unstarted)));
        match task.await {
            Ok(()) => Ok(()),
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // The runtime is shutting down. A write it dropped after it started is lost with the
            // queue (unless journaled), like every queued one.
            Err(_cancelled) => match take_unstarted(&unstarted) {
                Some((key, value)) => Err(Closed { key, value }),
                None => Ok(()),
            },
        }
    }

    /// Returns once every write called before this call (including those still writing to the
    /// cache or waiting for room) has been persisted by the flush function; starts flushing
    /// queued writes now instead of after `max_delay`.
    pub async fn flush(&self) {
        let shared = &self.shared;
        // First the writes called before this flush must be queued.
        let called_before = shared.lock().next_ticket;
        shared
            .wait_for_progress(|state| {
                state
                    .writing
                    .first()
                    .is_none_or(|&ticket| ticket >= called_before)
            })
            .await;
        let target = {
            let mut state = shared.lock();
            let target = state.queue.last_seq();
            state.flush_requested_through = state.flush_requested_through.max(target);
            target
        };
        shared.worker_wake.notify_one();
        shared
            .wait_for_progress(|state| state.queue.persisted_through(target) || state.stopped)
            .await;
    }

    /// Refuses new writes, then returns once every accepted write (queued, being flushed, or
    /// still being written by a concurrent `write`) has been persisted and the background task
    /// has stopped. Calling it again returns at once after that.
    pub async fn shutdown(&self) {
        let shared = &self.shared;
        shared.lock().closing = true;
        shared.worker_wake.notify_one();
        shared.wait_for_progress(|state| state.stopped).await;
    }

    /// Whether accepted writes are journaled in Aerospike (see
    /// [`WriteBehindBuilder::start_journaled`]).
    pub fn is_journaled(&self) -> bool {
        self.shared.journal.is_some()
    }

    /// Keys queued and not yet handed to the flush function.
    pub fn pending(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// This write-behind's counters. The cache writes count in the set's
    /// [`SetStats::writes`](crate::SetStats::writes) and failures in its `cache_errors`.
    pub fn stats(&self) -> WriteBehindStats {
        self.shared.counters.snapshot()
    }
}

impl<K, V> Drop for WriteBehind<K, V> {
    /// The background task drains the queue and stops.
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.worker_wake.notify_one();
    }
}

fn stripe_of<K: Hash>(key: &K) -> usize {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    // The remainder is below KEY_STRIPES, so it fits in usize.
    (hasher.finish() % KEY_STRIPES as u64) as usize
}

/// What the handles and the background task share.
struct Shared<K, V> {
    state: Mutex<State<K, V>>,
    /// Wakes the background task: a batch may be due, or the queue is closing.
    worker_wake: Notify,
    /// Room in the queue for writers waiting on a full one.
    room: Notify,
    /// A batch was persisted, or the task stopped.
    progress: Notify,
    counters: Counters,
    settings: Settings,
    cache: CacheEntries,
    stripes: Vec<tokio::sync::Mutex<()>>,
    journal: Option<Journaled<K, V>>,
    /// The runtime `start` was called on: the background task and the writes run there.
    runtime: tokio::runtime::Handle,
}

struct State<K, V> {
    queue: Queue<K, V>,
    /// Writes up to this sequence number are to be flushed now.
    flush_requested_through: u64,
    closing: bool,
    /// Tickets of `write` calls accepted but not yet queued: `flush` waits for those that came
    /// before it, and the task for all of them before stopping.
    writing: BTreeSet<u64>,
    /// The ticket of the next `write` call.
    next_ticket: u64,
    stopped: bool,
}

/// Counts an accepted `write` until it is queued (or dropped).
struct WriterGuard<K, V> {
    shared: Arc<Shared<K, V>>,
    ticket: u64,
}

impl<K, V> Drop for WriterGuard<K, V> {
    fn drop(&mut self) {
        self.shared.lock().writing.remove(&self.ticket);
        self.shared.progress.notify_waiters();
        self.shared.worker_wake.notify_one();
    }
}

impl<K, V> Shared<K, V> {
    fn lock(&self) -> MutexGuard<'_, State<K, V>> {
        // The state is consistent after every critical section, so a poisoned lock is usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until `done` holds, re-checking after each notification of progress.
    async fn wait_for_progress(&self, done: impl Fn(&State<K, V>) -> bool) {
        loop {
            let mut notified = pin!(self.progress.notified());
            // Registered before the check, so a notification between the check and the await
            // is not missed.
            notified.as_mut().enable();
            if done(&self.lock()) {
                return;
            }
            notified.await;
        }
    }
}

impl<K: Eq + Hash + Clone, V> Shared<K, V> {
    /// Queues a write, waiting for room while the queue is full.
    async fn enqueue(&self, key: K, value: V, journal_seq: Option<u64>) {
        let (mut key, mut value) = (key, value);
        let mut waited = false;
        loop {
            let mut room = pin!(self.room.notified());
            room.as_mut().enable();
            let offer = {
                let mut state = self.lock();
                let offer = state.queue.offer(key, value, Instant::now(), journal_seq);
                if matches!(offer, Offer::Queued) && state.queue.len() >= self.settings.max_batch {
                    self.worker_wake.notify_one();
                }
                offer
            };
            match offer {
                Offer::Queued => break,
                Offer::Coalesced => {
                    Counters::add(&self.counters.coalesced, 1);
                    break;
                }
                Offer::Full(returned_key, returned_value) => {
                    (key, value) = (returned_key, returned_value);
                    if !waited {
                        waited = true;
                        Counters::add(&self.counters.waited_for_room, 1);
                    }
                    // A full queue is a due batch: make sure the task is flushing.
                    self.worker_wake.notify_one();
                    room.await;
                }
            }
        }
        Counters::add(&self.counters.writes, 1);
        // Wakes the task to schedule the new entry's max-delay deadline.
        self.worker_wake.notify_one();
    }
}

impl<K: Eq + Hash + Clone + DeserializeOwned, V: DeserializeOwned> Shared<K, V> {
    /// Queues the writes recovered from the journal, in the order they were made.
    fn restore(&self, entries: Vec<(u64, Vec<u8>)>, name: &str) {
        let Some(journaled) = &self.journal else {
            return;
        };
        let mut state = self.lock();
        for (seq, bytes) in entries {
            match journal::decode::<(K, V)>(&bytes) {
                Ok((key, value)) => {
                    state.queue.restore(key, value, Instant::now(), seq);
                    Counters::add(&self.counters.recovered, 1);
                }
                Err(error) => {
                    journaled.journal.abandon(seq);
                    let scope = format!("{}/{name}", self.cache.spec.set);
                    report::error_limited(Cause::Undecodable, &scope, || {
                        format!(
                            "write-behind journal {name}: record {name}#{seq} is not a write of \
                             this write-behind's types ({error}); it is left in place and not \
                             replayed"
                        )
                    });
                }
            }
        }
        // They waited long enough: flushed at once, not after max_delay.
        state.flush_requested_through = state.queue.last_seq();
    }
}

fn take_unstarted<K, V>(slot: &Mutex<Option<(K, V)>>) -> Option<(K, V)> {
    slot.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take()
}

/// The body of [`WriteBehind::write`]: cache, journal, queue.
async fn write_task<K, V>(writer: WriterGuard<K, V>, unstarted: Arc<Mutex<Option<(K, V)>>>)
where
    K: CacheKey + Eq + Hash + Clone + Send + Sync + 'static,
    V: Serialize + Clone + Send + Sync + 'static,
{
    let Some((key, value)) = take_unstarted(&unstarted) else {
        return;
    };
    let shared = &writer.shared;
    let _turn = shared.stripes[stripe_of(&key)].lock().await;
    shared.cache.put(key.user_key(), &value).await;
    let journal_seq = match &shared.journal {
        Some(journaled) => match (journaled.encode)(&key, &value) {
            Ok(bytes) => journaled.journal.append(bytes).await,
            Err(error) => {
                report::warn_limited(Cause::Encode, shared.cache.spec.set, || {
                    format!(
                        "write-behind: a write cannot be journaled ({error}); it stays queued in \
                         memory"
                    )
                });
                None
            }
        },
        None => None,
    };
    shared.enqueue(key, value, journal_seq).await;
}

/// What the background task does next.
enum Next<K, V> {
    Flush(queue::Batch<K, V>),
    Wait(Option<Instant>),
    Stop,
}

/// The background task: takes due batches and flushes each until it succeeds; stops when closing
/// and everything accepted is persisted.
async fn run_worker<K, V, F, Fut, E>(shared: Arc<Shared<K, V>>, flush: F)
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    F: Fn(Vec<(K, V)>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    let settings = shared.settings;
    loop {
        let wake = shared.worker_wake.notified();
        let next = {
            let mut state = shared.lock();
            next_step(&mut state, settings, Instant::now())
        };
        match next {
            Next::Flush(batch) => {
                shared.room.notify_waiters();
                persist(&shared, &flush, batch.entries).await;
                if let Some(journaled) = &shared.journal {
                    journaled.journal.complete(&batch.journal).await;
                }
                shared.lock().queue.batch_done();
                shared.progress.notify_waiters();
            }
            Next::Wait(Some(deadline)) => {
                // Either a notification or the deadline: both lead to a new look at the queue.
                let _ = tokio::time::timeout_at(deadline, wake).await;
            }
            Next::Wait(None) => wake.await,
            Next::Stop => {
                shared.progress.notify_waiters();
                return;
            }
        }
    }
}

/// Decides, under the lock, whether a batch is due, how long to wait otherwise, or whether to stop.
fn next_step<K: Eq + Hash + Clone, V>(
    state: &mut State<K, V>,
    settings: Settings,
    now: Instant,
) -> Next<K, V> {
    let queue = &state.queue;
    let Some(oldest) = queue.oldest_queued_at() else {
        if state.closing && state.writing.is_empty() {
            state.stopped = true;
            return Next::Stop;
        }
        return Next::Wait(None);
    };
    let deadline = oldest + settings.max_delay;
    let flush_requested = queue
        .front_seq()
        .is_some_and(|seq| seq <= state.flush_requested_through);
    let due = queue.len() >= settings.max_batch
        || queue.is_full()
        || state.closing
        || flush_requested
        || now >= deadline;
    if due {
        Next::Flush(state.queue.take_batch(settings.max_batch))
    } else {
        Next::Wait(Some(deadline))
    }
}

/// Calls `flush` with the batch until it succeeds, waiting with exponential backoff between
/// attempts. Each attempt runs as its own task, so a panic is a failed attempt, not a lost batch.
async fn persist<K, V, F, Fut, E>(shared: &Shared<K, V>, flush: &F, entries: Vec<(K, V)>)
where
    K: Clone + Send + 'static,
    V: Clone + Send + 'static,
    F: Fn(Vec<(K, V)>) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    let settings = shared.settings;
    let count = entries.len() as u64;
    let mut backoff = settings.first_backoff;
    let mut failures: u64 = 0;
    loop {
        let failure = match tokio::spawn(flush(entries.clone())).await {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error.to_string()),
            Err(join_error) if join_error.is_panic() => {
                Some("the flush function panicked".to_owned())
            }
            Err(join_error) => Some(format!("the flush was cancelled: {join_error}")),
        };
        let Some(failure) = failure else {
            Counters::add(&shared.counters.batches_flushed, 1);
            Counters::add(&shared.counters.entries_flushed, count);
            if failures > 0 {
                tracing::info!(
                    target: "cacheaside",
                    set = shared.cache.spec.set,
                    "write-behind: a batch of {count} writes was persisted after {failures} failed \
                     attempts"
                );
            }
            return;
        };
        failures += 1;
        Counters::add(&shared.counters.failed_flushes, 1);
        if failures == 1 {
            let scope = format!("{} write-behind", shared.cache.spec.set);
            report::warn_limited(Cause::Write, &scope, || {
                format!(
                    "write-behind: flushing a batch of {count} writes failed ({failure}); \
                     retrying with backoff, nothing is dropped"
                )
            });
        } else {
            tracing::debug!(
                target: "cacheaside",
                set = shared.cache.spec.set,
                "write-behind: attempt {} of a batch failed: {failure}",
                failures + 1
            );
        }
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2).min(settings.max_backoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: Settings = Settings {
        max_batch: 3,
        max_delay: Duration::from_secs(1),
        first_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(1),
    };

    fn state(capacity: usize) -> State<u32, u32> {
        State {
            queue: Queue::new(capacity),
            flush_requested_through: 0,
            closing: false,
            writing: BTreeSet::new(),
            next_ticket: 0,
            stopped: false,
        }
    }

    fn taken(next: Next<u32, u32>) -> Option<Vec<(u32, u32)>> {
        match next {
            Next::Flush(batch) => Some(batch.entries),
            Next::Wait(_) | Next::Stop => None,
        }
    }

    #[test]
    fn a_young_small_queue_waits_for_its_oldest_entrys_deadline() {
        let start = Instant::now();
        let mut state = state(10);
        assert!(matches!(
            next_step(&mut state, SETTINGS, start),
            Next::Wait(None)
        ));
        state.queue.offer(1, 1, start, None);
        match next_step(&mut state, SETTINGS, start) {
            Next::Wait(Some(deadline)) => assert_eq!(deadline, start + SETTINGS.max_delay),
            _ => panic!("expected to wait for the deadline"),
        }
        let late = start + SETTINGS.max_delay;
        assert_eq!(
            taken(next_step(&mut state, SETTINGS, late)),
            Some(vec![(1, 1)])
        );
    }

    #[test]
    fn a_full_batch_a_flush_request_or_closing_flushes_at_once() {
        let now = Instant::now();
        let mut full_batch = state(10);
        for key in 0..4 {
            full_batch.queue.offer(key, key, now, None);
        }
        let first = taken(next_step(&mut full_batch, SETTINGS, now));
        assert_eq!(first, Some(vec![(0, 0), (1, 1), (2, 2)]));

        let mut requested = state(10);
        requested.queue.offer(1, 1, now, None);
        requested.flush_requested_through = requested.queue.last_seq();
        assert!(taken(next_step(&mut requested, SETTINGS, now)).is_some());

        let mut closing = state(10);
        closing.queue.offer(1, 1, now, None);
        closing.closing = true;
        assert!(taken(next_step(&mut closing, SETTINGS, now)).is_some());
    }

    #[test]
    fn a_full_queue_is_flushed_even_below_max_batch() {
        let now = Instant::now();
        let mut state = state(2);
        state.queue.offer(1, 1, now, None);
        state.queue.offer(2, 2, now, None);
        assert!(taken(next_step(&mut state, SETTINGS, now)).is_some());
    }

    #[test]
    fn closing_stops_only_when_empty_and_no_write_is_in_progress() {
        let now = Instant::now();
        let mut state = state(10);
        state.closing = true;
        state.writing.insert(0);
        assert!(matches!(
            next_step(&mut state, SETTINGS, now),
            Next::Wait(None)
        ));
        assert!(!state.stopped);
        state.writing.clear();
        assert!(matches!(next_step(&mut state, SETTINGS, now), Next::Stop));
        assert!(state.stopped);
    }
}
