//! Clients that live on the runtimes of their callers.
//!
//! An installation's shared client lives on the background runtime, so that every caller can use
//! it: a sync thread, another executor, a runtime that shuts down. An async caller on a runtime of
//! its own pays for that on every operation: the answer arrives at the background runtime's
//! reactor, whose thread wakes up only to hand the task over to the caller's runtime. Under
//! concurrency that hand-off is most of what a hit costs beyond a hand-written get (64 tasks over
//! 20,000 keys: 0.69× the throughput of the same recipe whose client lives on the caller's runtime;
//! see `benches/many_keys.rs`).
//!
//! So a multi-thread tokio runtime that keeps calling the cache gets a client of its own, started
//! on that runtime: its connections and its tend task run there, and its operations are polled
//! where the call runs, as a hand-written client's are. A runtime gets one once one of its threads
//! has made [`ConfigBuilder::client_per_runtime`](crate::ConfigBuilder::client_per_runtime)
//! cached calls (1,000 by default): a test or a script that makes a few calls keeps using the shared
//! client. The client goes away with its runtime, and is closed when the installation is replaced.
//! Until it is connected, and whenever an operation runs elsewhere (a task of the background
//! runtime, a sync caller), the shared client serves.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use aerospike::{Client, ClientPolicy, Host};
use tokio::runtime::{Handle, Id, RuntimeFlavor};

/// How often, in calls, a thread whose runtime's client is still starting asks again.
const ASK_EVERY: u32 = 64;

/// The clients of one installation, one per runtime that earned one.
pub(crate) struct RuntimeClients {
    /// Unique among installations, so that a thread never keeps a replaced installation's client.
    owner: u64,
    /// Calls a thread makes before its runtime gets a client; `None`: never.
    after: Option<u32>,
    policy: ClientPolicy,
    hosts: Vec<Host>,
    connect_timeout: Duration,
    /// How long a runtime whose client failed to connect waits before it tries again.
    retry_after: Duration,
    slots: Mutex<HashMap<Id, Slot>>,
    /// Set when the installation is replaced: a client that connects afterwards is closed.
    closed: AtomicBool,
}

enum Slot {
    Starting,
    Ready(Arc<Client>, Handle),
    Failed(Instant),
}

/// What a thread knows of the client of the runtime it runs on.
struct Here {
    owner: u64,
    runtime: Id,
    client: Option<Arc<Client>>,
    calls: u32,
}

thread_local! {
    static HERE: RefCell<Option<Here>> = const { RefCell::new(None) };
}

impl RuntimeClients {
    pub(crate) fn new(
        after: Option<u32>,
        policy: ClientPolicy,
        hosts: Vec<Host>,
        connect_timeout: Duration,
        retry_after: Duration,
    ) -> Self {
        static OWNERS: AtomicU64 = AtomicU64::new(1);
        RuntimeClients {
            owner: OWNERS.fetch_add(1, Ordering::Relaxed),
            after,
            policy,
            hosts,
            connect_timeout,
            retry_after,
            slots: Mutex::default(),
            closed: AtomicBool::new(false),
        }
    }

    /// The client of the runtime this thread runs on, with that runtime's id; `None` where the
    /// shared client serves (see the module docs). Counts the call towards the runtime's own
    /// client, and starts it when the count is reached.
    pub(crate) fn here(self: &Arc<Self>) -> Option<(Id, Arc<Client>)> {
        let after = self.after?;
        let handle = Handle::try_current().ok()?;
        if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
            return None;
        }
        let runtime = handle.id();
        if Some(runtime) == super::background_id() {
            return None;
        }
        // A thread whose locals are being destroyed uses the shared client.
        HERE.try_with(|here| {
            let mut here = here.borrow_mut();
            let here = match &mut *here {
                Some(known) if known.owner == self.owner && known.runtime == runtime => known,
                other => other.insert(Here {
                    owner: self.owner,
                    runtime,
                    client: None,
                    calls: 0,
                }),
            };
            if let Some(client) = &here.client {
                return Some((runtime, Arc::clone(client)));
            }
            let before = here.calls;
            here.calls = before.saturating_add(1);
            if before < after || (before - after) % ASK_EVERY != 0 {
                return None;
            }
            here.client = self.client_of(runtime, &handle);
            here.client.clone().map(|client| (runtime, client))
        })
        .ok()
        .flatten()
    }

    /// The ready client of `runtime`, or `None` after starting it if it has none (yet).
    fn client_of(self: &Arc<Self>, runtime: Id, handle: &Handle) -> Option<Arc<Client>> {
        if self.closed.load(Ordering::SeqCst) {
            return None;
        }
        let mut slots = self.slots();
        match slots.get(&runtime) {
            Some(Slot::Ready(client, _)) => return Some(Arc::clone(client)),
            Some(Slot::Starting) => return None,
            Some(Slot::Failed(at)) if at.elapsed() < self.retry_after => return None,
            Some(Slot::Failed(_)) | None => {}
        }
        slots.insert(runtime, Slot::Starting);
        drop(slots);
        // On the caller's runtime: the client's tend task and connections belong to it.
        handle.spawn(Arc::clone(self).start(runtime, handle.clone()));
        None
    }

    /// Connects `runtime`'s client, then keeps its slot for as long as the runtime runs.
    async fn start(self: Arc<Self>, runtime: Id, handle: Handle) {
        let attempt =
            tokio::time::timeout(self.connect_timeout, Client::new(&self.policy, &self.hosts))
                .await;
        let client = match attempt {
            Ok(Ok(client)) => Arc::new(client),
            // The shared client keeps serving; the failure is the shared client's to report.
            Ok(Err(_)) | Err(_) => {
                self.slots().insert(runtime, Slot::Failed(Instant::now()));
                return;
            }
        };
        {
            let mut slots = self.slots();
            // Checked under the lock that `close_all` takes after setting the flag: either it
            // finds this client in its slot, or the client is closed here.
            if self.closed.load(Ordering::SeqCst) {
                drop(slots);
                client.close().await.ok();
                return;
            }
            slots.insert(runtime, Slot::Ready(Arc::clone(&client), handle));
        }
        // A runtime that shuts down drops its tasks, this one with them, and so the slot.
        let _leaving = Leaving {
            clients: Arc::downgrade(&self),
            runtime,
        };
        drop((self, client));
        std::future::pending::<()>().await;
    }

    /// Closes every client, for a replaced installation.
    pub(crate) fn close_all(&self) {
        self.closed.store(true, Ordering::SeqCst);
        for (_, slot) in self.slots().drain() {
            if let Slot::Ready(client, handle) = slot {
                // Closing fails only for a client already closed: nothing more to do then.
                handle.spawn(async move { client.close().await.ok() });
            }
        }
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<Id, Slot>> {
        // A panic cannot leave the map half changed: each change is one insert or remove.
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Removes a runtime's slot when the runtime drops its tasks.
struct Leaving {
    clients: Weak<RuntimeClients>,
    runtime: Id,
}

impl Drop for Leaving {
    fn drop(&mut self) {
        if let Some(clients) = self.clients.upgrade() {
            clients.slots().remove(&self.runtime);
        }
    }
}
