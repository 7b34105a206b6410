//! Counters of commands the server has seen, per kind.

use std::sync::atomic::{AtomicU64, Ordering};

/// The kinds of command the server tells apart, for counters and per-kind faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandKind {
    /// A single-record read (all bins, named bins or header only).
    Read,
    /// A put.
    Write,
    /// A delete.
    Delete,
    /// A touch.
    Touch,
    /// An exists check.
    Exists,
    /// An operate (a mix of operations, or any operate that writes).
    Operate,
    /// A batch read command (one per request, whatever the number of keys).
    BatchRead,
    /// An info request.
    Info,
}

impl CommandKind {
    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// Whether a reply to this kind of command can carry bin data.
    pub(crate) const fn returns_bins(self) -> bool {
        matches!(
            self,
            CommandKind::Read | CommandKind::Operate | CommandKind::BatchRead
        )
    }
}

/// A snapshot of the command counters, taken by [`TestServer::counters`](crate::TestServer::counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Single-record reads.
    pub reads: u64,
    /// Puts.
    pub writes: u64,
    /// Deletes.
    pub deletes: u64,
    /// Touches.
    pub touches: u64,
    /// Exists checks.
    pub exists: u64,
    /// Operates.
    pub operates: u64,
    /// Batch read commands.
    pub batch_reads: u64,
    /// Keys asked for across all batch read commands.
    pub batch_keys: u64,
    /// Info requests.
    pub info: u64,
    /// Connections accepted (a client opens one per concurrent command to each node, and keeps
    /// them in its pool).
    pub connections: u64,
    /// Keys of data commands (one per single-record command, one per key of a batch) that reached a
    /// node holding a replica of the key's partition but not its master copy (a client reading
    /// from a replica, or retrying there). Always 0 with one node.
    pub served_as_replica: u64,
    /// Keys of data commands that reached a node holding no copy of the key's partition (a real
    /// node proxies them to the master; this one serves them from the shared store). Always 0
    /// with one node.
    pub proxied: u64,
}

impl Counters {
    /// The count for one kind of command.
    pub fn get(&self, kind: CommandKind) -> u64 {
        match kind {
            CommandKind::Read => self.reads,
            CommandKind::Write => self.writes,
            CommandKind::Delete => self.deletes,
            CommandKind::Touch => self.touches,
            CommandKind::Exists => self.exists,
            CommandKind::Operate => self.operates,
            CommandKind::BatchRead => self.batch_reads,
            CommandKind::Info => self.info,
        }
    }

    /// All data commands (everything but info requests).
    pub fn data_commands(&self) -> u64 {
        self.reads
            + self.writes
            + self.deletes
            + self.touches
            + self.exists
            + self.operates
            + self.batch_reads
    }
}

/// The live counters behind [`Counters`] snapshots.
#[derive(Debug, Default)]
pub(crate) struct CounterCells {
    by_kind: [AtomicU64; 8],
    batch_keys: AtomicU64,
    connections: AtomicU64,
    served_as_replica: AtomicU64,
    proxied: AtomicU64,
}

impl CounterCells {
    pub(crate) fn record(&self, kind: CommandKind) {
        self.by_kind[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_batch_keys(&self, keys: u64) {
        self.batch_keys.fetch_add(keys, Ordering::Relaxed);
    }

    pub(crate) fn record_ownership(&self, served_as_replica: u64, proxied: u64) {
        self.served_as_replica
            .fetch_add(served_as_replica, Ordering::Relaxed);
        self.proxied.fetch_add(proxied, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Counters {
        let count = |kind: CommandKind| self.by_kind[kind.index()].load(Ordering::Relaxed);
        Counters {
            reads: count(CommandKind::Read),
            writes: count(CommandKind::Write),
            deletes: count(CommandKind::Delete),
            touches: count(CommandKind::Touch),
            exists: count(CommandKind::Exists),
            operates: count(CommandKind::Operate),
            batch_reads: count(CommandKind::BatchRead),
            batch_keys: self.batch_keys.load(Ordering::Relaxed),
            info: count(CommandKind::Info),
            connections: self.connections.load(Ordering::Relaxed),
            served_as_replica: self.served_as_replica.load(Ordering::Relaxed),
            proxied: self.proxied.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn reset(&self) {
        for cell in &self.by_kind {
            cell.store(0, Ordering::Relaxed);
        }
        self.batch_keys.store(0, Ordering::Relaxed);
        self.connections.store(0, Ordering::Relaxed);
        self.served_as_replica.store(0, Ordering::Relaxed);
        self.proxied.store(0, Ordering::Relaxed);
    }
}
