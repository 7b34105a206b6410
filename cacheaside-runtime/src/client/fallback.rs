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

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aerospike::{Client, ClientPolicy};

use crate::breaker::other_nodes;

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
    /// Whether one is open: reads of paused partitions check this before taking the lock.
    open: AtomicBool,
    /// Counts the probes answered on a node that had failed (see [`answered`](Self::answered)):
    /// a fallback prepared before the last of them is not installed.
    answers: AtomicU64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    current: Option<Fallback>,
    /// The node a fallback is being prepared for.
    preparing: Option<u64>,
}

impl Fallbacks {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The open fallback client, if any.
    pub(crate) fn current(&self) -> Option<Fallback> {
        if !self.open.load(Ordering::Relaxed) {
            return None;
        }
        self.lock().current.clone()
    }

    /// Claims the preparation of `node`'s fallback: `None` if one is open or being prepared
    /// for it already; else the count of answers to pass to [`install`](Self::install).
    pub(crate) fn prepare(&self, node: u64) -> Option<u64> {
        let mut state = self.lock();
        let taken =
            state.preparing == Some(node) || state.current.as_ref().is_some_and(|f| f.node == node);
        if taken {
            return None;
        }
        state.preparing = Some(node);
        Some(self.answers.load(Ordering::SeqCst))
    }

    /// Whether a probe was answered since [`prepare`](Self::prepare) returned `answers`: the
    /// node may be reachable again, and what was prepared is out of date.
    pub(crate) fn answered_since(&self, answers: u64) -> bool {
        self.answers.load(Ordering::SeqCst) != answers
    }

    /// Ends the preparation of `node`'s fallback: makes `fallback` the open one, unless a probe
    /// was answered since `answers`. Returns the client to close: the one replaced, or
    /// `fallback` itself when it came too late.
    pub(crate) fn install(
        &self,
        node: u64,
        fallback: Option<Fallback>,
        answers: u64,
    ) -> Option<Fallback> {
        let mut state = self.lock();
        if state.preparing == Some(node) {
            state.preparing = None;
        }
        let fallback = fallback?;
        if self.answered_since(answers) {
            return Some(fallback);
        }
        self.open.store(true, Ordering::Relaxed);
        state.current.replace(fallback)
    }

    /// Takes the open fallback client, whichever node it avoids, to be closed.
    pub(crate) fn take(&self) -> Option<Fallback> {
        let mut state = self.lock();
        self.open.store(false, Ordering::Relaxed);
        state.current.take()
    }

    /// A probe of a partition that had failed on `node` was answered: takes `node`'s fallback
    /// client, if open, to be closed, and makes any fallback still being prepared out of date.
    pub(crate) fn answered(&self, node: u64) -> Option<Fallback> {
        self.answers.fetch_add(1, Ordering::SeqCst);
        if !self.open.load(Ordering::Relaxed) {
            return None;
        }
        let mut state = self.lock();
        if state.current.as_ref().is_some_and(|f| f.node == node) {
            self.open.store(false, Ordering::Relaxed);
            return state.current.take();
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
    let hosts: Vec<aerospike::Host> = other_nodes(main, failed).map(|node| node.host()).collect();
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
