//! Reads of a failing node's keys from their replicas, until the client routes around it.
//!
//! Until the cluster re-forms without a dead node (about two seconds: the server's heartbeat
//! timeout), the client keeps sending the reads of that node's partitions to it, waiting for a
//! connection until the operation times out; it never tries the replica, which holds every
//! record. So when a node is found failing (see `breaker::partitions`), a second client is
//! opened on the other nodes alone (`seed_only_cluster`): its partition map has no master for
//! the failing node's partitions, and sends their reads to the replicas. While those partitions
//! are paused, their reads go through it; it is closed when a probe through the main client is
//! answered again (the client has routed around the node, or the node is back).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aerospike::{Client, ClientPolicy};

use crate::error::node_hash;

/// The client of the nodes other than a failing one.
#[derive(Clone)]
pub(crate) struct Fallback {
    /// The failing node, as a hash of its name.
    pub(crate) node: u64,
    pub(crate) client: Arc<Client>,
}

/// The open fallback client, if any: at most one (for the last node found failing).
#[derive(Default)]
pub(crate) struct Fallbacks {
    /// Whether one is open: calls read this before taking the lock, which only the calls of a
    /// paused partition do.
    open: AtomicBool,
    current: Mutex<Option<Fallback>>,
}

impl Fallbacks {
    fn lock(&self) -> MutexGuard<'_, Option<Fallback>> {
        self.current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The open fallback client, if any.
    #[inline]
    pub(crate) fn current(&self) -> Option<Fallback> {
        if !self.open.load(Ordering::Relaxed) {
            return None;
        }
        self.lock().clone()
    }

    /// Makes `fallback` the open one; returns the one it replaces, to be closed.
    pub(crate) fn install(&self, fallback: Fallback) -> Option<Fallback> {
        let mut current = self.lock();
        self.open.store(true, Ordering::Relaxed);
        current.replace(fallback)
    }

    /// Takes the open fallback client, whichever node it avoids, to be closed.
    pub(crate) fn take(&self) -> Option<Fallback> {
        let mut current = self.lock();
        self.open.store(false, Ordering::Relaxed);
        current.take()
    }

    /// Takes the open fallback client if it is `node`'s, to be closed.
    pub(crate) fn remove(&self, node: u64) -> Option<Fallback> {
        if !self.open.load(Ordering::Relaxed) {
            return None;
        }
        let mut current = self.lock();
        if current
            .as_ref()
            .is_some_and(|fallback| fallback.node == node)
        {
            self.open.store(false, Ordering::Relaxed);
            return current.take();
        }
        None
    }
}

/// A client of the active nodes of `main` other than `failed`, restricted to them; `None` if
/// there are none, or it does not connect within `timeout`.
pub(crate) async fn connect(
    main: &Client,
    failed: u64,
    policy: &ClientPolicy,
    timeout: Duration,
) -> Option<Arc<Client>> {
    let hosts: Vec<aerospike::Host> = main
        .nodes()
        .iter()
        .filter(|node| node.is_active() && node_hash(&node.to_string()) != failed)
        .map(|node| node.host())
        .collect();
    if hosts.is_empty() {
        return None;
    }
    let mut policy = policy.clone();
    policy.seed_only_cluster = true;
    match tokio::time::timeout(timeout, Client::new(&policy, &hosts)).await {
        Ok(Ok(client)) => Some(Arc::new(client)),
        _ => None,
    }
}
