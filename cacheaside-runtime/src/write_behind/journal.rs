//! The journal: every accepted write is also stored in Aerospike until the source has it, so that
//! a new process started after a crash flushes what the crashed one had queued.
//!
//! Records live in the journal's set, in the write-behind's namespace, without TTL:
//!
//! - the cursor, user key `<name>`: bin `data` holds `{next, head}` in the runtime's envelope.
//!   Sequence numbers below `next` have been handed out (processes reserve them in blocks);
//!   every write below `head` is persisted in the source.
//! - one record per write, user key `<name>#<seq>`: bin `data` holds `(key, value)`.
//!
//! After a batch is persisted the cursor's `head` moves up to the oldest write still pending
//! (a compare-and-set on the cursor's generation), then the batch's records are deleted. Recovery
//! reads `head..next` (one read per number: the pending writes, plus at most a block of unused
//! numbers per crash) and queues what it finds, in sequence order. Only one process at a time may
//! use a journal name.

use std::collections::BTreeSet;
use std::sync::Mutex;

use aerospike::{Expiration, Key, Value};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::client::{self, Access, Cache, Data, Expected, Stored};
use crate::codec;
use crate::report::{self, Cause};
use crate::stats::SetCounters;
use crate::{Error, ErrorKind};

/// Sequence numbers reserved per compare-and-set of the cursor: one cursor update per this many
/// writes. Unused ones of a crashed process are gaps that recovery skips.
const RESERVATION: u64 = 64;
/// Attempts at a compare-and-set of the cursor that other updates keep changing.
const CURSOR_ATTEMPTS: usize = 5;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    next: u64,
    head: u64,
}

/// Where a journal lives.
pub(super) struct Journal {
    name: String,
    /// The cluster of [`init_named`](crate::init_named); `None`: the default one.
    cache: Option<&'static str>,
    namespace: Option<&'static str>,
    set: &'static str,
    counters: &'static SetCounters,
    state: tokio::sync::Mutex<Reserved>,
    /// Sequence numbers handed out and not yet persisted: the head may not pass them.
    outstanding: Mutex<BTreeSet<u64>>,
}

/// The block of sequence numbers this process reserved: `next..end`.
#[derive(Default)]
struct Reserved {
    next: u64,
    end: u64,
}

/// What recovery found: `(seq, bytes of (key, value))` in sequence order.
pub(super) struct Recovered {
    pub(super) entries: Vec<(u64, Vec<u8>)>,
}

impl Journal {
    pub(super) fn new(
        name: String,
        cache: Option<&'static str>,
        namespace: Option<&'static str>,
        set: &'static str,
        counters: &'static SetCounters,
    ) -> Journal {
        Journal {
            name,
            cache,
            namespace,
            set,
            counters,
            state: tokio::sync::Mutex::new(Reserved::default()),
            outstanding: Mutex::new(BTreeSet::new()),
        }
    }

    /// Reads the writes a previous process left: every record from `head` to `next`.
    ///
    /// # Errors
    /// When the cache is unreachable or a read fails: the journal then cannot be used by this
    /// process (moving its head would skip the unread writes).
    pub(super) async fn recover(&self) -> Result<Recovered, Error> {
        let cache = self.cache().await?;
        let (cursor, _) = self.read_cursor(&cache).await?;
        let mut entries = Vec::new();
        for seq in cursor.head..cursor.next {
            // A missing record is a gap: reserved and never used, or already deleted.
            if let Some(Stored {
                data: Data::Bin(Value::Blob(bytes)),
                ..
            }) = cache.read(self.entry_key(&cache, seq)?).await?
            {
                entries.push((seq, bytes));
            }
        }
        self.outstanding_set()
            .extend(entries.iter().map(|(seq, _)| *seq));
        Ok(Recovered { entries })
    }

    /// Stores one write; returns its sequence number, which the write carries until it is
    /// persisted. `None` when it could not be stored (counted; the write stays queued in memory).
    pub(super) async fn append(&self, bytes: Vec<u8>) -> Option<u64> {
        let seq = self.reserve().await.inspect_err(|e| self.failed(e)).ok()?;
        // From here on the head waits for this write, whether or not its record gets written: a
        // write whose outcome is unknown (a timeout) may have stored it.
        let stored = async {
            let cache = self.cache().await?;
            let key = self.entry_key(&cache, seq)?;
            cache
                .write(key, bytes, Expiration::Never, Expected::Absent)
                .await
        };
        if let Err(error) = stored.await {
            self.failed(&error);
        }
        Some(seq)
    }

    /// The writes `seqs` are persisted: moves the head past them if nothing older is pending, then
    /// deletes their records. Failures are counted; records left behind are below the head, where
    /// recovery does not look, or are replayed by it (at least once).
    pub(super) async fn complete(&self, seqs: &[u64]) {
        if seqs.is_empty() {
            return;
        }
        // Under the reservation's lock: a number handed out later is at least `reserved.next`.
        let head_bound = {
            let reserved = self.state.lock().await;
            let mut outstanding = self.outstanding_set();
            for seq in seqs {
                outstanding.remove(seq);
            }
            match outstanding.first() {
                Some(&oldest_pending) => Some(oldest_pending),
                None if reserved.end > 0 => Some(reserved.next),
                // Nothing reserved by this process: everything handed out is done.
                _ => None,
            }
        };
        let result = async {
            let cache = self.cache().await?;
            self.update_cursor(&cache, |cursor| Cursor {
                head: cursor.head.max(head_bound.unwrap_or(cursor.next)),
                ..cursor
            })
            .await?;
            for &seq in seqs {
                cache.delete(self.entry_key(&cache, seq)?).await?;
            }
            Ok::<(), Error>(())
        };
        if let Err(error) = result.await {
            self.failed(&error);
        }
    }

    /// Stops waiting for `seq`, whose record cannot be replayed; it stays in Aerospike, below the
    /// head, for an operator to look at.
    pub(super) fn abandon(&self, seq: u64) {
        self.outstanding_set().remove(&seq);
    }

    /// The next sequence number, reserving a new block on the cursor when this one is used up.
    async fn reserve(&self) -> Result<u64, Error> {
        let mut reserved = self.state.lock().await;
        if reserved.next >= reserved.end {
            let cache = self.cache().await?;
            let cursor = self
                .update_cursor(&cache, |cursor| Cursor {
                    next: cursor.next + RESERVATION,
                    ..cursor
                })
                .await?;
            *reserved = Reserved {
                next: cursor.next - RESERVATION,
                end: cursor.next,
            };
        }
        let seq = reserved.next;
        reserved.next += 1;
        // Registered while the reservation is locked, so that the head computed by `complete`
        // never passes a number handed out.
        self.outstanding_set().insert(seq);
        Ok(seq)
    }

    /// Applies `change` to the cursor with a compare-and-set; returns the new cursor.
    async fn update_cursor(
        &self,
        cache: &Cache,
        change: impl Fn(Cursor) -> Cursor,
    ) -> Result<Cursor, Error> {
        for _ in 0..CURSOR_ATTEMPTS {
            let (cursor, expected) = self.read_cursor(cache).await?;
            let updated = change(cursor);
            if updated == cursor {
                return Ok(cursor);
            }
            let bytes = codec::encode(&updated)?;
            match cache
                .write(self.cursor_key(cache)?, bytes, Expiration::Never, expected)
                .await
            {
                Ok(()) => return Ok(updated),
                Err(error) if error.server_code().is_some() => continue,
                Err(error) => return Err(error),
            }
        }
        Err(Error::new(
            ErrorKind::Server,
            format!(
                "the journal cursor {} kept changing during {CURSOR_ATTEMPTS} updates; is another \
                 process using the same journal name?",
                self.name
            ),
        ))
    }

    async fn read_cursor(&self, cache: &Cache) -> Result<(Cursor, Expected), Error> {
        match cache.read(self.cursor_key(cache)?).await? {
            None => Ok((Cursor::default(), Expected::Absent)),
            Some(Stored {
                data: Data::Bin(Value::Blob(bytes)),
                generation,
                ..
            }) => decode::<Cursor>(&bytes).map(|c| (c, Expected::Generation(generation))),
            Some(_) => Err(Error::new(
                ErrorKind::Server,
                format!("the journal cursor {} is not a cursor", self.name),
            )),
        }
    }

    async fn cache(&self) -> Result<Cache, Error> {
        match client::access(self.cache, self.counters).await {
            Access::Ready(cache) => Ok(cache),
            Access::Unavailable(error) => Err(error),
            Access::Disabled => Err(Error::new(
                ErrorKind::Unavailable,
                "the cache is disabled, so the journal cannot be used",
            )),
        }
    }

    fn cursor_key(&self, cache: &Cache) -> Result<Key, Error> {
        self.key(cache, self.name.clone())
    }

    fn entry_key(&self, cache: &Cache, seq: u64) -> Result<Key, Error> {
        self.key(cache, format!("{}#{seq}", self.name))
    }

    fn key(&self, cache: &Cache, user_key: String) -> Result<Key, Error> {
        let namespace = self.namespace.unwrap_or_else(|| cache.default_namespace());
        Key::new(namespace, self.set, Value::String(user_key))
            .map_err(|e| Error::new(ErrorKind::Key, format!("invalid journal key: {e}")))
    }

    fn outstanding_set(&self) -> std::sync::MutexGuard<'_, BTreeSet<u64>> {
        self.outstanding
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts a failed journal operation; logs the first one per journal (an outage would
    /// otherwise log on every write).
    fn failed(&self, error: &Error) {
        self.counters.count_failed(error);
        report::warn_once(Cause::Write, &format!("{}/{}", self.set, self.name), || {
            format!(
                "write-behind journal {} (set {}): {error}; writes stay queued in memory, and \
                 are not recoverable after a crash while this lasts",
                self.name, self.set
            )
        });
    }
}

/// Decodes journal bytes written by [`codec::encode`].
pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    codec::decode(bytes).map_err(|why| {
        Error::new(
            ErrorKind::Server,
            format!("a journal record does not decode: {why:?}"),
        )
    })
}
