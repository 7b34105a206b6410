//! The shared Aerospike client and the background runtime it lives on.
//!
//! The `aerospike` client spawns its tend task on the runtime that creates it, and pooled
//! connections bind to that runtime's reactor. Callers' runtimes come and go (`#[tokio::test]`
//! builds one per test) and sync callers have none, so the client is created on one dedicated
//! background runtime, whose reactor and timer drive every socket and deadline of the client.
//!
//! An async caller polls the client's operation in place, on its own task, inside the background
//! runtime's context (`InBackground`): whatever the operation registers (a new pooled
//! connection, a timer, a connection-recovery task) goes to the background runtime, never to the
//! caller's, which may end at any time; the reactor wakes the caller's task directly. That works
//! from any executor and saves spawning a task per operation. Dropping a call mid-operation
//! drops the operation in that context too: the client then recovers or closes the connection it
//! was using (a connection in an unknown state never goes back to the pool). Sync callers run
//! the same operations on the background runtime (see `bridge`).
//!
//! Connecting never blocks a call for longer than the operation timeout: the connection is made
//! by a background task, which retries every reconnect interval while the cluster is unreachable;
//! calls meanwhile bypass the cache.

use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, Instant};

use aerospike::{
    operations, AdminPolicy, AuthMode, Bin, Client, ClientPolicy, Expiration, GenerationPolicy,
    Key, ReadPolicy, RecordExistsAction, Replica, ResultCode, Value, WritePolicy,
};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::watch;

use crate::breaker::partitions::{Access as RecordAccess, Route};
use crate::breaker::{self, Admission, Breaker, Outcome, PartitionGates, Transition};
use crate::codec::Codec;
use crate::config::Config;
use crate::envelope::{DATA_BIN, INVALIDATED_BIN};
use crate::namespace::{self, NamespaceStatus};
use crate::recycled::RecycledBox;
use crate::report::{self, Cause};
use crate::spec::CacheSpec;
use crate::stats::{Event, SetCounters};
use crate::{Error, ErrorKind};

pub(crate) mod backplane;
pub(crate) mod batch_read;
pub(crate) mod data_filter;
mod fallback;
pub(crate) mod lease;
mod runtime_clients;

use fallback::{Fallback, Fallbacks};
use runtime_clients::RuntimeClients;

/// Worker threads of the background runtime: operations are I/O bound and short.
const BACKGROUND_WORKERS: usize = 2;

/// Installs `config`: every later call uses it. Calling `init` again replaces the configuration
/// and the client (the old client is closed).
///
/// Without `init`, the first call of an annotated function installs [`Config::from_env`].
///
/// `init` waits for the first connection attempt, at most the configured
/// [`connect_timeout`](crate::ConfigBuilder::connect_timeout). An unreachable cluster is not an
/// error: calls run their bodies and the connection is retried in the background every
/// [`reconnect_interval`](crate::ConfigBuilder::reconnect_interval).
///
/// ```no_run
/// # async fn start() -> Result<(), cacheaside_runtime::Error> {
/// let config = cacheaside_runtime::Config::from_env()?;
/// cacheaside_runtime::init(config).await?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// [`ErrorKind::Unavailable`] if the background runtime cannot be started (the OS refused a
/// thread); calls then run their bodies without the cache.
pub async fn init(config: Config) -> Result<(), Error> {
    let installation = install(config)?;
    if let Some(state) = installation.state_receiver() {
        wait_for_first_attempt(state, installation.config.connect_timeout()).await;
    }
    Ok(())
}

/// Installs `config` as the cluster named `name`, next to the default one of [`init`]: every
/// annotated function with `cache = "<name>"` uses it. Calling it again with the same name
/// replaces that configuration and its client (the old client is closed), as [`init`] does for
/// the default cluster. Functions without `cache` keep using the default cluster.
///
/// A call of a function whose named cluster was never installed runs its body without the cache
/// and logs one warning naming the cluster and this function. Named clusters never install
/// themselves from the environment: `AEROSPIKE_*` variables configure the default cluster only
/// (build the named one's configuration with [`Config::builder`], or from other variables).
///
/// Statistics ([`stats`](crate::stats)) are kept per set name: functions of two clusters that
/// use the same set name share their counters.
///
/// Waits for the first connection attempt like [`init`].
///
/// ```no_run
/// # async fn start() -> Result<(), cacheaside_runtime::Error> {
/// use cacheaside_runtime::Config;
///
/// cacheaside_runtime::init(Config::from_env()?).await?;
/// let analytics = Config::builder()
///     .hosts("analytics-1:3000,analytics-2:3000")
///     .namespace("reports")
///     .build()?;
/// cacheaside_runtime::init_named("analytics", analytics).await?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// [`ErrorKind::Config`] if `name` is not a valid cluster name (1 to 63 ASCII letters, digits,
/// `_`, `-` or `.`); [`ErrorKind::Unavailable`] as for [`init`].
pub async fn init_named(name: &str, config: Config) -> Result<(), Error> {
    let installation = install_named(name, config)?;
    if let Some(state) = installation.state_receiver() {
        wait_for_first_attempt(state, installation.config.connect_timeout()).await;
    }
    Ok(())
}

/// For a call of `spec`'s function that cannot use its cluster now: how long it waits for a
/// concurrent call of the same key, and the codec their shared value is encoded in (see
/// [`Cache::codec_for`]); `None` when that cluster is disabled or not installed, where calls do
/// not coalesce either.
pub(crate) fn flight_settings(spec: &CacheSpec) -> Option<(Duration, Codec)> {
    let installation = match spec.cache {
        None => current(),
        Some(name) => named(name)?,
    };
    let disabled = installation.state.is_none() && installation.unusable.is_none();
    (!disabled).then(|| {
        let wait = installation.config.single_flight_wait();
        (wait, installation.codec_for(spec))
    })
}

/// Whether the configuration of the cluster `cache` (`None`: the default one) disables the cache,
/// or that named cluster is not installed: then nothing is cached in the local tier either.
pub(crate) fn disabled(cache: Option<&'static str>) -> bool {
    let Some(installation) = (match cache {
        None => Some(current()),
        Some(name) => named(name),
    }) else {
        return true;
    };
    installation.state.is_none() && installation.unusable.is_none()
}

/// The codec of `spec`'s function in the configuration of its cluster (see
/// [`Cache::codec_for`]), for paths that encode before they have a connected cache
/// (`#[cache_put]`) or while there is none (a load shared with concurrent calls). The attribute's
/// own codec while a named cluster is not installed.
pub(crate) fn codec_for(spec: &CacheSpec) -> Codec {
    let installation = match spec.cache {
        None => Some(current()),
        Some(name) => named(name),
    };
    installation.map_or(spec.codec, |installation| installation.codec_for(spec))
}

/// What a call can do with the cache right now.
pub(crate) enum Access {
    /// The configuration disables the cache.
    Disabled,
    /// The cache cannot be used; the error says why.
    Unavailable(Error),
    /// Connected.
    Ready(Cache),
}

/// The current cache of the cluster `cache` (`None`: the default cluster, installing its
/// configuration from the environment on first use; `Some(name)`: the cluster of
/// [`init_named`], unavailable until it is installed).
/// Waits for a connection in progress at most the operation timeout.
/// Operations run by the returned cache count breaker openings on `counters`.
pub(crate) async fn access(cache: Option<&'static str>, counters: &'static SetCounters) -> Access {
    let installation = match cache {
        None => current(),
        Some(name) => match named(name) {
            Some(installation) => installation,
            None => return Access::Unavailable(not_installed(name)),
        },
    };
    if let Some(error) = &installation.unusable {
        return Access::Unavailable(error.clone());
    }
    if installation.state.is_none() {
        return Access::Disabled;
    }
    // Once connected, an installation stays connected until it is replaced: the snapshot spares
    // a call the `watch` subscription (and its wake-up bookkeeping) on every call.
    let client = match installation.connected_client() {
        Some(client) => Arc::clone(client),
        None => match settled_connection(&installation).await {
            Some(client) => client,
            None => return Access::Unavailable(not_connected(&installation.config)),
        },
    };
    // Before the breaker: a call that would take its probe must go on to make an operation,
    // or the probe is lost until it expires.
    if !installation.has_nodes(&client, breaker::now_millis()) {
        return Access::Unavailable(not_connected(&installation.config));
    }
    let Some(admission) = installation
        .breaker
        .admits(|| (breaker::now_millis(), installation.probe_expiry_millis()))
    else {
        return Access::Unavailable(Error::bypassed(format!(
            "Aerospike at {} failed {} operations in a row; the cache is paused for {:?} at a \
             time until it answers",
            installation.config.hosts(),
            crate::breaker::FAILURES_TO_OPEN,
            installation.config.reconnect_interval()
        )));
    };
    let own_client = installation.runtime_clients.here();
    Access::Ready(Cache {
        client,
        made_in_task: own_client.as_ref().and_then(|_| tokio::task::try_id()),
        own_client,
        installation,
        counters,
        admission,
        fallback: OnceLock::new(),
    })
}

/// No client knows a node of the cluster: calls skip the cache until the connection loop (which
/// reports the outage) connects again.
fn not_connected(config: &Config) -> Error {
    Error::bypassed(format!("not connected to Aerospike at {}", config.hosts()))
}

/// How long a partition that failed, and the node it failed on, are paused: a quarter of the
/// reconnect interval, at most the client's tend interval, so that the keys of a dead node come
/// back soon after the client routes around it. Cheap, since a node's partitions probe one at a
/// time.
fn partition_pause(config: &Config) -> Duration {
    (config.reconnect_interval() / 4).min(config.tend_interval())
}

/// Closes a fallback client that is no longer used, in the background.
fn close_in_background(fallback: Option<Fallback>) {
    let (Some(fallback), Ok(runtime)) = (fallback, background()) else {
        return;
    };
    runtime.spawn(async move {
        let _ = fallback.client.close().await;
    });
}

/// The client of an installation that has no connected snapshot: waits for a first connection
/// attempt in progress (at most the operation timeout), then reads the state it settled in.
async fn settled_connection(installation: &Installation) -> Option<Arc<Client>> {
    let mut state = installation.state_receiver()?;
    if matches!(*state.borrow(), ConnState::Connecting) {
        state = wait_for_first_attempt(state, installation.config.operation_timeout()).await;
    }
    let connection = state.borrow().clone();
    match connection {
        ConnState::Connected(client) => Some(client),
        ConnState::Connecting | ConnState::Disconnected => None,
    }
}

/// The connected cache: runs operations with the shared client (on the background runtime) or
/// with the client of the caller's runtime (see `runtime_clients`), each bounded by the operation
/// timeout.
pub(crate) struct Cache {
    /// The shared client.
    client: Arc<Client>,
    /// The client of the caller's runtime and that runtime, if it has one (see
    /// `runtime_clients`).
    own_client: Option<(tokio::runtime::Id, Arc<Client>)>,
    /// The task that found `own_client`'s runtime running it, if a task did: its operations run
    /// on that runtime without asking again (a task never moves to another runtime).
    made_in_task: Option<tokio::task::Id>,
    installation: Arc<Installation>,
    /// The counters of the set whose call uses this cache.
    counters: &'static SetCounters,
    /// How the cluster's breaker let this call through: a probe's first outcome decides.
    admission: Admission,
    /// The client of the nodes other than a failing one, while there is one (see `fallback`):
    /// looked up by the first read of a paused partition, so that other calls take no lock.
    fallback: OnceLock<Option<Fallback>>,
}

impl Cache {
    /// The installed configuration.
    pub(crate) fn config(&self) -> &Config {
        &self.installation.config
    }

    /// The codec of `spec`'s function: its set's, when the set's policy names one, else the
    /// attribute's.
    pub(crate) fn codec_for(&self, spec: &CacheSpec) -> Codec {
        self.installation.codec_for(spec)
    }

    /// The configured namespace, for functions whose attribute names none.
    pub(crate) fn default_namespace(&self) -> &str {
        self.installation.config.namespace()
    }

    /// Reads bin `data` and the record's generation: `Ok(None)` when the record does not exist.
    /// The server answers only when bin `data` is bytes or absent (see `data_filter`); for any
    /// other record the read finds [`Data::Unusable`].
    ///
    /// Not an `async fn`: the future `run` returns is the read's, not held (and copied) by one
    /// more layer around it.
    pub(crate) fn read<'a>(
        &'a self,
        key: impl Borrow<Key> + Send + 'a,
    ) -> impl Future<Output = Result<Option<Stored>, Error>> + Send + 'a {
        let policies = self.installation.policies_for(key.borrow().set_name());
        let policy = &policies.read;
        let route = Route::of(key.borrow(), RecordAccess::Read);
        self.run(Some(route), move |client| async move {
            match client.get(policy, key.borrow(), [DATA_BIN]).await {
                Ok(record) => {
                    let (generation, time_to_live) = (record.generation, record.time_to_live());
                    // The read asked for one bin: taking it from the entries as they are
                    // dropped costs less than removing it from the map's index.
                    let data = record
                        .bins
                        .into_iter()
                        .find_map(|(name, value)| (name == DATA_BIN).then_some(value));
                    Ok(Some(Stored {
                        data: data.map_or(Data::Absent, Data::Bin),
                        generation,
                        time_to_live,
                    }))
                }
                Err(e) if e.matches(&[ResultCode::KeyNotFoundError]) => Ok(None),
                Err(e) if e.matches(&[ResultCode::FilteredOut]) => Ok(Some(Stored::UNUSABLE)),
                Err(e) => Err(e),
            }
        })
    }

    /// Writes bin `data` with the given expiration, replacing the whole record, only if the
    /// record is still as `expected` (Aerospike checks it in the same operation).
    pub(crate) async fn write(
        &self,
        key: impl Borrow<Key> + Send,
        bytes: Vec<u8>,
        expiration: Expiration,
        expected: Expected,
    ) -> Result<(), Error> {
        let mut policy = self
            .installation
            .policies_for(key.borrow().set_name())
            .write
            .clone();
        policy.expiration = expiration;
        match expected {
            Expected::Absent => policy.record_exists_action = RecordExistsAction::CreateOnly,
            Expected::Generation(generation) => {
                policy.record_exists_action = RecordExistsAction::ReplaceOnly;
                policy.generation_policy = GenerationPolicy::ExpectGenEqual;
                policy.generation = generation;
            }
            Expected::Unusable => {
                policy.record_exists_action = RecordExistsAction::ReplaceOnly;
                policy.base_policy.filter_expression = Some(data_filter::unusable().clone());
            }
        }
        let route = Route::of(key.borrow(), RecordAccess::Write);
        self.run(Some(route), move |client| async move {
            client
                .put(
                    &policy,
                    key.borrow(),
                    &[Bin::new(DATA_BIN, Value::Blob(bytes))],
                )
                .await
        })
        .await
    }

    /// Turns the record into an invalidation marker (bin `data` removed) that expires as given;
    /// returns the marker's generation.
    pub(crate) async fn mark_invalidated(
        &self,
        key: Key,
        expiration: Expiration,
    ) -> Result<u32, Error> {
        let mut policy = self.installation.policies_for(key.set_name()).write.clone();
        policy.expiration = expiration;
        let route = Route::of(&key, RecordAccess::Invalidate);
        self.write_marker(Some(route), policy, key, []).await
    }

    /// Writes an invalidation marker (bin `data` removed, bin `invalidated` set, and `extra`)
    /// under `policy`; returns the record's new generation. The one marker of `mark_invalidated`
    /// and of a lease (see `client::lease`).
    fn write_marker<'a, const N: usize>(
        &'a self,
        route: Option<Route>,
        policy: WritePolicy,
        key: impl Borrow<Key> + Send + 'a,
        extra: [Bin; N],
    ) -> impl Future<Output = Result<u32, Error>> + Send + 'a {
        self.run(route, move |client| async move {
            // Removes bin `data` (a nil write deletes a bin) rather than replacing the record:
            // the server may refuse read operations with the replace policies.
            let no_data = Bin::new(DATA_BIN, Value::Nil);
            let marker = Bin::new(INVALIDATED_BIN, Value::Int(1));
            let mut ops = vec![operations::put(&no_data), operations::put(&marker)];
            ops.extend(extra.iter().map(operations::put));
            ops.push(operations::get_header());
            client
                .operate(&policy, key.borrow(), &ops)
                .await
                .map(|record| record.generation)
        })
    }

    /// Resets the record's TTL to `expiration` (a touch), only if it still has `generation`.
    pub(crate) async fn touch(
        &self,
        key: Key,
        expiration: Expiration,
        generation: u32,
    ) -> Result<(), Error> {
        let mut policy = self.installation.policies_for(key.set_name()).write.clone();
        policy.expiration = expiration;
        policy.generation_policy = GenerationPolicy::ExpectGenEqual;
        policy.generation = generation;
        let route = Route::of(&key, RecordAccess::Write);
        self.run(Some(route), move |client| async move {
            client.touch(&policy, &key).await
        })
        .await
    }

    /// Deletes the record; deleting an absent record succeeds.
    pub(crate) async fn delete(&self, key: Key) -> Result<(), Error> {
        let policy = self
            .installation
            .policies_for(key.set_name())
            .delete
            .clone();
        let route = Route::of(&key, RecordAccess::Invalidate);
        self.run(Some(route), move |client| async move {
            client.delete(&policy, &key).await.map(|_existed| ())
        })
        .await
    }

    /// Asks the cluster to remove every record of `set` in `namespace` (the info command
    /// `truncate`), and returns once every node that holds the set has the new cutoff in force:
    /// the server answers the command before it applies it, and until then reads still find the
    /// old records. Records written after the cutoff are kept. Bounded, as a whole, by the connect
    /// timeout.
    pub(crate) async fn truncate(&self, namespace: &str, set: &str) -> Result<(), Error> {
        let client = Arc::clone(&self.client);
        let limit = self.installation.config.connect_timeout();
        let policy = AdminPolicy {
            timeout: u32::try_from(limit.as_millis()).unwrap_or(u32::MAX),
        };
        let (namespace, set) = (namespace.to_owned(), set.to_owned());
        let task = background()?.spawn(async move {
            tokio::time::timeout(limit, async {
                let before = truncate_cutoffs(&client, &policy, &namespace, &set).await;
                // The server removes records last written before the millisecond of its cutoff:
                // one written in that same millisecond, just before this call, would survive.
                tokio::time::sleep(TRUNCATE_CLOCK_STEP).await;
                client.truncate(&policy, &namespace, &set, 0).await?;
                cutoffs_moved(&client, &policy, &namespace, &set, &before).await;
                Ok::<(), aerospike::Error>(())
            })
            .await
        });
        match task.await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(error))) => Err(Error::from_aerospike(&error)),
            Ok(Err(_elapsed)) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "the truncate request took longer than {limit:?}; entries may be served until \
                     the cluster applies it"
                ),
            )),
            Err(join_error) => Err(Error::new(
                ErrorKind::Unavailable,
                format!("the truncate request did not complete: {join_error}"),
            )),
        }
    }

    /// Runs one operation of the client in place (see the module docs) and records its outcome
    /// in the breaker. The operation timeout bounds it: the read and write policies carry it as
    /// their total timeout, which the client enforces on every socket operation and retry.
    ///
    /// The operation is boxed at once, before anything awaits it: the futures of the engine that
    /// await this one then hold a pointer, not the client's large state machine, and do not
    /// copy it around as they are created and moved. The box's memory is reused (see
    /// `recycled`): a block that large would cost more to allocate than the rest of a hit.
    ///
    /// An operation on one record (`route`) first asks its partition's breaker: a partition that
    /// failed recently is skipped (see `breaker`).
    fn run<'a, T: 'a, F>(
        &'a self,
        route: Option<Route>,
        operation: impl FnOnce(&'a Client) -> F,
    ) -> impl Future<Output = Result<T, Error>> + Send + 'a
    where
        F: Future<Output = aerospike::Result<T>> + Send + 'a,
    {
        let gate = match route {
            None => Ok(None),
            Some(route) => match self.installation.partitions.admits(route, || {
                (
                    breaker::now_millis(),
                    self.installation.probe_expiry_millis(),
                )
            }) {
                Some(admission) => Ok(Some((route, admission))),
                None => Err(route),
            },
        };
        // The runtime's own client only where that runtime runs this call (see
        // `runtime_clients`); anywhere else the shared one, polled in the background's context.
        // Asking the task is cheaper than asking the runtime, whose handle is shared by its
        // threads: cloning it writes a reference count they all write.
        let own = self.own_client.as_ref().filter(|(runtime, _)| {
            (self.made_in_task.is_some() && tokio::task::try_id() == self.made_in_task)
                || Handle::try_current().is_ok_and(|handle| handle.id() == *runtime)
        });
        let mut in_place = own.is_some();
        let mut client = Some(own.map_or(&self.client, |(_, client)| client));
        if let Err(paused) = gate {
            // A paused partition's read goes to the replicas, if a node is down and this
            // partition failed on it; anything else skips the cache.
            client = self.fallback_for(paused).map(|fallback| &fallback.client);
            in_place = false;
        }
        let operation = client.map(|client| RecycledBox::new(operation(client)));
        async move {
            let Some(operation) = operation else {
                return Err(self.paused(route));
            };
            // Not recorded when it went to the fallback client: a probe of the main one decides.
            let via_main = gate.is_ok();
            let gate = gate.unwrap_or(None);
            let result = if in_place {
                operation.await
            } else {
                InBackground::new(background()?.handle(), operation).await
            };
            let result = result.map_err(|error| Error::from_aerospike(&error));
            if via_main {
                self.record(gate, &result);
            }
            result
        }
    }

    /// The fallback client for a read of `route`'s paused partition, if it failed on the node
    /// that client avoids.
    fn fallback_for(&self, route: Route) -> Option<&Fallback> {
        if route.access() != RecordAccess::Read {
            return None;
        }
        let fallback = self
            .fallback
            .get_or_init(|| self.installation.fallbacks.current())
            .as_ref()?;
        (self.installation.partitions.failed_on(route) == fallback.node).then_some(fallback)
    }

    /// The error of an operation skipped because its partition is paused.
    fn paused(&self, route: Option<Route>) -> Error {
        Error::bypassed(format!(
            "partition {} is paused (it, or the node holding it, failed within the last {:?}): \
             the cache skips it until an operation there succeeds again",
            route.map_or(0, Route::partition),
            partition_pause(&self.installation.config)
        ))
    }

    /// Pauses the partitions of a node found failing (see `breaker::partitions`) that have not
    /// failed yet, once the nodes that still answer have said which ones they are: in the
    /// background, while calls go on.
    fn pause_failing_node(&self, node: u64) {
        let Ok(runtime) = background() else {
            return;
        };
        // One preparation per node at a time, and none while its fallback is open.
        let Some(answers) = self.installation.fallbacks.prepare(node) else {
            return;
        };
        let client = Arc::clone(&self.client);
        let installation = Arc::clone(&self.installation);
        runtime.spawn(async move {
            let config = &installation.config;
            let fallbacks = &installation.fallbacks;
            let timeout = config.operation_timeout().saturating_mul(3);
            let mastered = breaker::mastered_elsewhere(&client, node, timeout).await;
            // A probe answered meanwhile: the node, or the client, is back; pause nothing more.
            if let Some(mastered) = mastered.filter(|_| !fallbacks.answered_since(answers)) {
                installation
                    .partitions
                    .pause_node(node, &mastered, partition_pause(config));
            }
            let policy = client_policy(config);
            let timeout = config.connect_timeout();
            let other_nodes = fallback::connect(&client, node, &policy, timeout).await;
            let fallback = other_nodes.map(|client| Fallback { node, client });
            close_in_background(fallbacks.install(node, fallback, answers));
            // Retired meanwhile: its fallback would never be closed otherwise.
            if installation.replaced.load(Ordering::SeqCst) {
                close_in_background(fallbacks.take());
            }
        });
    }

    /// Records an operation's outcome in the breakers; reports the cluster's breaker opening
    /// and closing.
    fn record<T>(&self, gate: Option<(Route, Admission)>, result: &Result<T, Error>) {
        let outcome = Outcome::of(result);
        let config = &self.installation.config;
        if let Some((route, admission)) = gate {
            let recorded = self.installation.partitions.record(
                route,
                admission,
                outcome,
                partition_pause(config),
            );
            if let Some(node) = recorded.node_down {
                self.pause_failing_node(node);
            }
            if let Some(node) = recorded.node_up {
                self.installation.close_fallback(node);
            }
        }
        let single_node = || self.client.nodes().len() <= 1;
        match self.installation.breaker.record(
            outcome,
            self.admission,
            config.reconnect_interval(),
            single_node,
        ) {
            Some(Transition::Opened) => {
                self.counters.count(Event::BreakerOpened);
                let last = result.as_ref().err().map(ToString::to_string);
                report::warn_once(Cause::Breaker, config.hosts(), || {
                    format!(
                        "Aerospike at {} failed {} operations in a row (last: {}); calls bypass \
                         the cache, which is retried every {:?}",
                        config.hosts(),
                        breaker::FAILURES_TO_OPEN,
                        last.as_deref().unwrap_or("unknown"),
                        config.reconnect_interval()
                    )
                });
            }
            Some(Transition::Closed) => report::resumed(Cause::Breaker, config.hosts()),
            None => {}
        }
    }
}

/// A future of the client polled on the caller's task inside the background runtime's context,
/// and dropped there too (see the module docs). Boxed once, so that the futures of the engine
/// that await it move a pointer rather than the client's large state machine.
struct InBackground<'h, F> {
    handle: &'h Handle,
    operation: Option<RecycledBox<F>>,
}

impl<'h, F: Future> InBackground<'h, F> {
    fn new(handle: &'h Handle, operation: RecycledBox<F>) -> Self {
        InBackground {
            handle,
            operation: Some(operation),
        }
    }
}

impl<F: Future> Future for InBackground<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let Some(operation) = this.operation.as_mut() else {
            // Polled after completion: a bug of the caller; never ready again.
            return Poll::Pending;
        };
        let _context = this.handle.enter();
        let output = ready!(operation.pinned().poll(cx));
        // Finished: dropped here, still inside the context.
        this.operation = None;
        Poll::Ready(output)
    }
}

impl<F> Drop for InBackground<'_, F> {
    fn drop(&mut self) {
        if let Some(operation) = self.operation.take() {
            // A cancelled call: whatever the operation hands back on drop (a pooled connection
            // to recover) is handled by the background runtime.
            let _context = self.handle.enter();
            drop(operation);
        }
    }
}

/// What a read found in an existing record.
pub(crate) struct Stored {
    pub(crate) data: Data,
    /// The record's generation (0 when the record is [`Data::Unusable`]: the server does not say).
    pub(crate) generation: u32,
    /// What is left of the record's TTL, from its void-time; `None` when it never expires.
    pub(crate) time_to_live: Option<Duration>,
}

impl Stored {
    /// What a read of `record` found (its bin `data` is taken out of it).
    pub(crate) fn of(record: &mut aerospike::Record) -> Stored {
        Stored {
            data: record
                .bins
                .swap_remove(DATA_BIN)
                .map_or(Data::Absent, Data::Bin),
            generation: record.generation,
            time_to_live: record.time_to_live(),
        }
    }

    /// A record whose bin `data` is not bytes: the server sent nothing of it.
    const UNUSABLE: Stored = Stored {
        data: Data::Unusable,
        generation: 0,
        time_to_live: None,
    };

    /// What a write must find to replace this record.
    pub(crate) fn expected(&self) -> Expected {
        match self.data {
            Data::Unusable => Expected::Unusable,
            Data::Bin(_) | Data::Absent => Expected::Generation(self.generation),
        }
    }
}

/// Bin `data` of an existing record.
pub(crate) enum Data {
    /// Bytes, as this library writes them (any other value is [`Data::Unusable`]).
    Bin(Value),
    /// No bin `data`: an invalidation marker, or a record written by something else.
    Absent,
    /// A value of another type (a list, a map, a string...), which this library never writes and
    /// does not let the client parse (see `data_filter`).
    Unusable,
}

/// The state of the record a write-back may replace: what the read before the load saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expected {
    /// No record (or unknown): create only.
    Absent,
    /// This generation: replace only if it still has it.
    Generation(u32),
    /// A record whose bin `data` is unusable: replace it only while that is still so.
    Unusable,
}

/// One installed configuration and its connection.
struct Installation {
    config: Config,
    policies: Policies,
    /// The policies of the sets with overrides, in the order of `config.set_policies()`.
    set_policies: Box<[Policies]>,
    /// Whether a set's policy names a codec: without one (most programs), a call's codec is its
    /// attribute's, found without looking at the sets.
    set_codecs: bool,
    /// `None` when the cache is disabled.
    state: Option<watch::Sender<ConnState>>,
    /// The client, set when the state first becomes `Connected` (before it is published there).
    /// Together with `replaced`, which a replacement sets before its state leaves `Connected`,
    /// it tells a call the state without subscribing to it.
    client: OnceLock<Arc<Client>>,
    /// The last answer of `Client::is_connected` (bit 0) and when it was asked (the other bits,
    /// [`breaker::now_millis`]); 0 before the first. The client copies its node list to answer,
    /// and changes that list only in its tend loop: calls ask at most once per
    /// [`NODES_CHECK_MILLIS`].
    nodes_checked: AtomicU64,
    /// Set when a newer `init` replaced this installation: its connect loop stops.
    replaced: AtomicBool,
    /// Why the cache cannot be used at all (an invalid environment, no background runtime).
    unusable: Option<Error>,
    /// Stops paying timeouts while the cluster does not answer.
    breaker: Breaker,
    /// Stops paying timeouts for the partitions that do not answer.
    partitions: PartitionGates,
    /// Reads a failing node's keys from their replicas meanwhile.
    fallbacks: Fallbacks,
    /// What the cluster said about each namespace used so far.
    namespaces: Mutex<HashMap<String, NamespaceCheck>>,
    /// The clients of the runtimes that call the cache most.
    runtime_clients: Arc<RuntimeClients>,
    /// The final status of the configured namespace (a copy of its `Done` check in
    /// `namespaces`): most calls use it, and find it with one atomic load.
    default_namespace: OnceLock<NamespaceStatus>,
}

/// How long a call trusts the last answer of `Client::is_connected`, in milliseconds: far below
/// the client's tend interval (at least 250 ms), the only time its node list changes.
const NODES_CHECK_MILLIS: u64 = 10;

/// The check of one namespace.
enum NamespaceCheck {
    InFlight,
    Done(NamespaceStatus),
    /// The info command failed; retried on first use after the reconnect interval.
    Failed(Instant),
}

impl Installation {
    /// The operation policies of `set`'s functions: a scan of the sets with overrides, none in
    /// most programs.
    fn policies_for(&self, set: &str) -> &Policies {
        match self.config.set_policies().position(set) {
            Some(at) => &self.set_policies[at],
            None => &self.policies,
        }
    }

    /// The codec of `spec`'s function (see [`Cache::codec_for`]).
    fn codec_for(&self, spec: &CacheSpec) -> Codec {
        if self.set_codecs {
            self.config.codec_for(spec.set, spec.codec)
        } else {
            spec.codec
        }
    }

    fn new(config: Config, state: Option<watch::Sender<ConnState>>) -> Self {
        let set_codecs = config
            .set_policies()
            .iter()
            .any(|(_, policy)| policy.codec_override().is_some());
        Installation {
            policies: Policies::new(&config),
            set_policies: config
                .set_policies()
                .iter()
                .map(|(_, policy)| {
                    let timeout = policy.operation_timeout_override();
                    Policies::with_timeout(&config, timeout.unwrap_or(config.operation_timeout()))
                })
                .collect(),
            set_codecs,
            state,
            client: OnceLock::new(),
            nodes_checked: AtomicU64::new(0),
            replaced: AtomicBool::new(false),
            unusable: None,
            breaker: Breaker::default(),
            partitions: PartitionGates::default(),
            fallbacks: Fallbacks::default(),
            namespaces: Mutex::default(),
            default_namespace: OnceLock::new(),
            runtime_clients: Arc::new(RuntimeClients::new(
                config.client_per_runtime(),
                client_policy(&config),
                seed_hosts(&config),
                config.connect_timeout(),
                config.reconnect_interval(),
            )),
            config,
        }
    }

    /// The client while the state is `Connected`; `None` while connecting, disconnected or
    /// replaced.
    fn connected_client(&self) -> Option<&Arc<Client>> {
        let client = self.client.get()?;
        (!self.replaced.load(Ordering::SeqCst)).then_some(client)
    }

    /// Whether `client` knows nodes of the cluster (`Client::is_connected`), asked again only
    /// when the last answer is older than [`NODES_CHECK_MILLIS`] at `now`.
    fn has_nodes(&self, client: &Client, now: u64) -> bool {
        let checked = self.nodes_checked.load(Ordering::Relaxed);
        if checked != 0 && now.saturating_sub(checked >> 1) < NODES_CHECK_MILLIS {
            return checked & 1 == 1;
        }
        let connected = client.is_connected();
        self.nodes_checked
            .store((now << 1) | u64::from(connected), Ordering::Relaxed);
        connected
    }

    fn namespace_checks(&self) -> MutexGuard<'_, HashMap<String, NamespaceCheck>> {
        self.namespaces
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Asks the cluster about `namespace` and records the answer; a missing namespace is
    /// logged as an error, once.
    async fn check_namespace(&self, client: &Client, namespace: &str) {
        let config = &self.config;
        let limit = config.connect_timeout();
        let policy = AdminPolicy {
            timeout: u32::try_from(limit.as_millis()).unwrap_or(u32::MAX),
        };
        let details = format!("namespace/{namespace}");
        let commands = ["namespaces", details.as_str()];
        let asked = tokio::time::timeout(limit, client.info(&policy, &commands));
        let check = match asked.await {
            Ok(Ok(answers)) => {
                let listed = answers
                    .get("namespaces")
                    .is_some_and(|names| namespace::is_listed(names, namespace));
                if listed {
                    let details = answers.get(&details).map_or("", String::as_str);
                    NamespaceCheck::Done(NamespaceStatus::Present(namespace::parse_details(
                        details,
                    )))
                } else {
                    report::error_once(Cause::Namespace, namespace, || {
                        format!(
                            "namespace {namespace} does not exist on the Aerospike cluster at {}; \
                             calls that use it bypass the cache. Fix: add the namespace to the \
                             server configuration, or use an existing one (AEROSPIKE_NAMESPACE, \
                             Config::namespace or the attribute's namespace)",
                            config.hosts()
                        )
                    });
                    NamespaceCheck::Done(NamespaceStatus::Missing)
                }
            }
            Ok(Err(_)) | Err(_) => NamespaceCheck::Failed(Instant::now()),
        };
        if let NamespaceCheck::Done(status) = check {
            if namespace == config.namespace() {
                // Final: a check that is done is never repeated for this installation.
                let _ = self.default_namespace.set(status);
            }
        }
        self.namespace_checks().insert(namespace.to_owned(), check);
    }
}

impl Cache {
    /// What is known about `namespace`; on first use starts its check in the background (the
    /// call does not wait for it).
    pub(crate) fn namespace_status(&self, namespace: &str) -> NamespaceStatus {
        let installation = &self.installation;
        if let Some(status) = installation.default_namespace.get() {
            if namespace == installation.config.namespace() {
                return *status;
            }
        }
        let mut checks = installation.namespace_checks();
        match checks.get(namespace) {
            Some(NamespaceCheck::Done(status)) => return *status,
            Some(NamespaceCheck::InFlight) => return NamespaceStatus::Unknown,
            Some(NamespaceCheck::Failed(at))
                if at.elapsed() < installation.config.reconnect_interval() =>
            {
                return NamespaceStatus::Unknown
            }
            Some(NamespaceCheck::Failed(_)) | None => {}
        }
        checks.insert(namespace.to_owned(), NamespaceCheck::InFlight);
        drop(checks);
        if let Ok(runtime) = background() {
            let (installation, client) = (Arc::clone(installation), Arc::clone(&self.client));
            let namespace = namespace.to_owned();
            runtime.spawn(async move { installation.check_namespace(&client, &namespace).await });
        }
        NamespaceStatus::Unknown
    }
}

impl Installation {
    fn unusable(config: Config, error: Error) -> Self {
        Installation {
            unusable: Some(error),
            ..Installation::new(config, None)
        }
    }

    /// Closes the fallback client that avoids `node`, if it is open: the main client reaches
    /// that node's partitions again.
    fn close_fallback(&self, node: u64) {
        close_in_background(self.fallbacks.answered(node));
    }

    /// How long a half-open breaker waits for its probe to report before admitting another, in
    /// milliseconds: a probe's call makes at most a few operations, each bounded by the
    /// operation timeout.
    fn probe_expiry_millis(&self) -> u64 {
        breaker::millis(self.config.operation_timeout().saturating_mul(3))
    }

    fn state_receiver(&self) -> Option<watch::Receiver<ConnState>> {
        self.state.as_ref().map(watch::Sender::subscribe)
    }
}

#[derive(Clone)]
enum ConnState {
    /// The first connection attempt is in flight.
    Connecting,
    /// The last attempt failed; the next one comes after the reconnect interval.
    Disconnected,
    Connected(Arc<Client>),
}

/// Operation policies derived from the configuration once.
struct Policies {
    read: ReadPolicy,
    write: WritePolicy,
    delete: WritePolicy,
}

impl Policies {
    fn new(config: &Config) -> Self {
        Self::with_timeout(config, config.operation_timeout())
    }

    fn with_timeout(config: &Config, timeout: Duration) -> Self {
        // The configured timeouts were checked to fit in u32 milliseconds.
        let millis = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let mut read = ReadPolicy::default();
        read.base_policy.filter_expression = Some(data_filter::usable().clone());
        read.base_policy.total_timeout = millis;
        // A node that does not answer within half the budget leaves the other half to the
        // retry, which goes to the partition's replica (`Replica::Sequence`): a stalled node
        // does not fail the reads of the keys it holds. (A dead one refuses connections, which
        // the client waits out without retrying elsewhere: see `fallback`.) The retry also
        // covers a pooled connection the server closed (e.g. after a restart).
        read.base_policy.socket_timeout = (millis / 2).max(1);
        read.base_policy.replica = Replica::Sequence;
        read.base_policy.max_retries = 1;
        read.base_policy.sleep_between_retries = 0;
        let mut write = WritePolicy::default();
        write.base_policy.total_timeout = millis;
        write.base_policy.socket_timeout = millis;
        write.base_policy.max_retries = 0;
        write.send_key = config.send_key();
        let mut delete = write.clone();
        delete.base_policy.max_retries = 1;
        delete.base_policy.sleep_between_retries = 0;
        Policies {
            read,
            write,
            delete,
        }
    }
}

fn installed() -> &'static RwLock<Option<Arc<Installation>>> {
    static INSTALLED: RwLock<Option<Arc<Installation>>> = RwLock::new(None);
    &INSTALLED
}

/// Counts the changes of [`installed`], so that a thread can keep the current installation
/// and skip the lock (shared by every thread, and written on each acquisition) on every call.
static INSTALLS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The installation this thread last found, and the count of changes it was found at.
    static CURRENT: std::cell::RefCell<Option<(u64, Arc<Installation>)>> =
        const { std::cell::RefCell::new(None) };
}

/// The current installation; on first use installs the configuration from the environment.
fn current() -> Arc<Installation> {
    // Read before the lock: a change after this read bumps the count, and the next call looks
    // again.
    let installs = INSTALLS.load(Ordering::Acquire);
    let kept = CURRENT.try_with(|kept| match &*kept.borrow() {
        Some((at, installation)) if *at == installs => Some(Arc::clone(installation)),
        _ => None,
    });
    if let Ok(Some(installation)) = kept {
        return installation;
    }
    let installation = installed_or_from_env();
    // A thread whose locals are being destroyed simply reads the lock next time too.
    let _ = CURRENT.try_with(|kept| {
        *kept.borrow_mut() = Some((installs, Arc::clone(&installation)));
    });
    installation
}

/// The installed installation, or one for the environment's configuration if there is none.
fn installed_or_from_env() -> Arc<Installation> {
    if let Some(installation) = installed()
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .as_ref()
    {
        return Arc::clone(installation);
    }
    let mut slot = installed()
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(installation) = slot.as_ref() {
        return Arc::clone(installation);
    }
    // An invalid environment is reported once and remembered, not re-read on every call.
    let installation = match Config::from_env() {
        Ok(config) => start(config),
        Err(error) => Arc::new(Installation::unusable(Config::default(), error)),
    };
    if let Some(error) = &installation.unusable {
        report::warn_once(Cause::Connect, "environment", || {
            format!("calls run without the cache: {error}")
        });
    }
    *slot = Some(Arc::clone(&installation));
    INSTALLS.fetch_add(1, Ordering::Release);
    installation
}

/// The installations of [`init_named`], by name. A program has a handful at most, so a call
/// finds its cluster by comparing names in a short list, under a read lock that is only
/// contended while a cluster is being installed.
fn named_installations() -> &'static RwLock<Vec<(Box<str>, Arc<Installation>)>> {
    static NAMED: RwLock<Vec<(Box<str>, Arc<Installation>)>> = RwLock::new(Vec::new());
    &NAMED
}

/// The installation of the cluster `name`, if [`init_named`] installed one.
fn named(name: &str) -> Option<Arc<Installation>> {
    let installations = named_installations()
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    installations
        .iter()
        .find(|(installed, _)| **installed == *name)
        .map(|(_, installation)| Arc::clone(installation))
}

/// Why a call of the cluster `name` runs without the cache before [`init_named`] installed it.
fn not_installed(name: &str) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!(
            "the cache cluster \"{name}\" is not initialised; call \
             `cacheaside::init_named(\"{name}\", config)` at startup"
        ),
    )
}

/// Checks the name of a named cluster: the rule the attribute's `cache = "…"` applies at
/// compile time.
pub(crate) fn check_cluster_name(name: &str) -> Result<(), Error> {
    let valid = !name.is_empty()
        && name.len() <= MAX_CLUSTER_NAME
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Config,
            format!(
                "invalid cache cluster name {name:?}: use 1 to {MAX_CLUSTER_NAME} ASCII letters, \
                 digits, `_`, `-` or `.`, e.g. \"analytics\""
            ),
        ))
    }
}

/// The longest name of a named cluster, in bytes.
const MAX_CLUSTER_NAME: usize = 63;

/// Replaces (or adds) the installation of the cluster `name` with one for `config`.
fn install_named(name: &str, config: Config) -> Result<Arc<Installation>, Error> {
    check_cluster_name(name)?;
    report::reset();
    let installation = start(config);
    let previous = {
        let mut installations = named_installations()
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match installations
            .iter_mut()
            .find(|(installed, _)| **installed == *name)
        {
            Some((_, slot)) => Some(core::mem::replace(slot, Arc::clone(&installation))),
            None => {
                installations.push((name.into(), Arc::clone(&installation)));
                None
            }
        }
    };
    if let Some(previous) = previous {
        retire(&previous);
    }
    match &installation.unusable {
        Some(error) => Err(error.clone()),
        None => Ok(installation),
    }
}

/// Replaces the installation with one for `config`.
fn install(config: Config) -> Result<Arc<Installation>, Error> {
    report::reset();
    let installation = start(config);
    let previous = installed()
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .replace(Arc::clone(&installation));
    INSTALLS.fetch_add(1, Ordering::Release);
    if let Some(previous) = previous {
        retire(&previous);
    }
    match &installation.unusable {
        Some(error) => Err(error.clone()),
        None => Ok(installation),
    }
}

/// Starts the connect loop of a new installation (nothing to start when disabled).
fn start(config: Config) -> Arc<Installation> {
    if config.disabled() {
        return Arc::new(Installation::new(config, None));
    }
    let runtime = match background() {
        Ok(runtime) => runtime,
        Err(error) => return Arc::new(Installation::unusable(config, error)),
    };
    let installation = Arc::new(Installation::new(
        config,
        Some(watch::Sender::new(ConnState::Connecting)),
    ));
    runtime.spawn(connect_loop(Arc::clone(&installation)));
    installation
}

/// Stops a replaced installation and closes its client.
fn retire(installation: &Arc<Installation>) {
    installation.replaced.store(true, Ordering::SeqCst);
    installation.runtime_clients.close_all();
    close_in_background(installation.fallbacks.take());
    let Some(state) = &installation.state else {
        return;
    };
    if let ConnState::Connected(client) = state.send_replace(ConnState::Disconnected) {
        if let Ok(runtime) = background() {
            runtime.spawn(async move {
                // A client already gone needs no closing; nothing else can be done with the error.
                let _ = client.close().await;
            });
        }
    }
}

/// Connects, retrying every reconnect interval, until connected or replaced. Once connected, the
/// client's own tend task follows the cluster (and re-seeds it after an outage).
async fn connect_loop(installation: Arc<Installation>) {
    let Some(state) = &installation.state else {
        return;
    };
    let config = &installation.config;
    let policy = client_policy(config);
    let hosts = seed_hosts(config);
    loop {
        if installation.replaced.load(Ordering::SeqCst) {
            return;
        }
        let attempt = tokio::time::timeout(config.connect_timeout(), Client::new(&policy, &hosts));
        let failure = match attempt.await {
            Ok(Ok(client)) => {
                // Known before the first call: whether the configured namespace exists and what
                // it accepts.
                installation
                    .check_namespace(&client, config.namespace())
                    .await;
                let client = Arc::new(client);
                // The snapshot first: a call that sees `Connected` finds the client there.
                let _ = installation.client.set(Arc::clone(&client));
                state.send_replace(ConnState::Connected(Arc::clone(&client)));
                // Checked after publishing: a concurrent `retire` either sees this client and
                // closes it, or set the flag before this check and the client is closed here.
                if installation.replaced.load(Ordering::SeqCst) {
                    state.send_replace(ConnState::Disconnected);
                    let _ = client.close().await;
                    return;
                }
                report::connected(config.hosts());
                return;
            }
            Ok(Err(error)) => error.to_string(),
            Err(_elapsed) => format!("no answer within {:?}", config.connect_timeout()),
        };
        report::warn_once(Cause::Connect, config.hosts(), || {
            format!(
                "cannot connect to Aerospike at {}{}: {failure}; calls run without the cache and \
                 the connection is retried every {:?}",
                config.hosts(),
                connection_settings(config),
                config.reconnect_interval()
            )
        });
        state.send_replace(ConnState::Disconnected);
        tokio::time::sleep(config.reconnect_interval()).await;
    }
}

/// The seed hosts; with TLS, each with the name its certificate must carry.
fn seed_hosts(config: &Config) -> Vec<aerospike::Host> {
    // Checked when the configuration was built.
    let hosts = aerospike::ToHosts::to_hosts(&config.hosts()).unwrap_or_default();
    if config.tls().requested() {
        crate::tls::seed_hosts(hosts, config.tls())
    } else {
        hosts
    }
}

/// The settings a failed connection may be due to, for the warning: never credentials.
fn connection_settings(config: &Config) -> String {
    let mut settings = String::new();
    if let Some(tls) = crate::tls::describe(config.tls()) {
        settings.push_str(&tls);
    }
    if let Some(cluster_name) = config.cluster_name() {
        settings.push_str(&format!(" (cluster-name {cluster_name})"));
    }
    if let Some(user) = config.user() {
        settings.push_str(&format!(" (as user {user})"));
    }
    settings
}

fn client_policy(config: &Config) -> ClientPolicy {
    let mut policy = ClientPolicy::default();
    let connect_millis = u32::try_from(config.connect_timeout().as_millis()).unwrap_or(u32::MAX);
    policy.timeout = connect_millis;
    policy.connect_timeout = connect_millis;
    policy.login_timeout = connect_millis;
    // The client notices a changed cluster (a node gone, partitions moved) at its next tend:
    // by default four times a second rather than the client's once, so that the keys of a dead
    // node come back sooner. Checked to fit in u32 milliseconds.
    policy.tend_interval = u32::try_from(config.tend_interval().as_millis()).unwrap_or(u32::MAX);
    if let Some((user, password)) = config.credentials() {
        policy.auth_mode = AuthMode::Internal(user.to_owned(), password.to_owned());
    }
    policy.cluster_name = config.cluster_name().map(str::to_owned);
    #[cfg(feature = "tls")]
    if let Some(tls) = &config.tls().client_config {
        policy.tls_policy = Some(aerospike::TlsPolicy::new(Arc::clone(tls)));
    }
    policy
}

/// Waits on the background runtime, at most `limit`, until the state leaves `Connecting`.
async fn wait_for_first_attempt(
    mut state: watch::Receiver<ConnState>,
    limit: Duration,
) -> watch::Receiver<ConnState> {
    let Ok(runtime) = background() else {
        return state;
    };
    let waiter = runtime.spawn(async move {
        let _ = tokio::time::timeout(
            limit,
            state.wait_for(|s| !matches!(s, ConnState::Connecting)),
        )
        .await;
        state
    });
    match waiter.await {
        Ok(state) => state,
        // The waiter cannot panic; should the runtime be shutting down, report "not connected".
        Err(_) => watch::Sender::new(ConnState::Disconnected).subscribe(),
    }
}

/// How long a truncate waits before it asks for its cutoff: longer than the millisecond of the
/// server's record times, so that every write made before the call is older than the cutoff.
const TRUNCATE_CLOCK_STEP: Duration = Duration::from_millis(2);

/// Each node's truncate cutoff of a set (`truncate_lut` of the info command `sets/<ns>/<set>`),
/// for the nodes that report one: a node that does not know the set holds none of its records.
async fn truncate_cutoffs(
    client: &Client,
    policy: &AdminPolicy,
    namespace: &str,
    set: &str,
) -> HashMap<String, u64> {
    let command = format!("sets/{namespace}/{set}");
    let mut cutoffs = HashMap::new();
    for node in client.nodes() {
        // A node that does not answer is not waited for: the truncate reaches it through the
        // cluster, and the timeout bounds the whole call anyway.
        if let Ok(answers) = node.info(policy, &[command.as_str()]).await {
            let cutoff = answers.get(&command).and_then(|answer| {
                answer
                    .split([':', ';'])
                    .find_map(|field| field.strip_prefix("truncate_lut="))
                    .and_then(|value| value.parse().ok())
            });
            if let Some(cutoff) = cutoff {
                cutoffs.insert(node.name().to_owned(), cutoff);
            }
        }
    }
    cutoffs
}

/// Waits until every node of `before` reports a later truncate cutoff than it did there.
async fn cutoffs_moved(
    client: &Client,
    policy: &AdminPolicy,
    namespace: &str,
    set: &str,
    before: &HashMap<String, u64>,
) {
    loop {
        let now = truncate_cutoffs(client, policy, namespace, set).await;
        let applied = before
            .iter()
            .all(|(node, cutoff)| now.get(node).is_none_or(|later| later > cutoff));
        if applied {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The id of the background runtime, if it runs.
fn background_id() -> Option<tokio::runtime::Id> {
    background().ok().map(|runtime| runtime.handle().id())
}

/// The background runtime, started on first use.
pub(crate) fn background() -> Result<&'static Runtime, Error> {
    static BACKGROUND: OnceLock<Result<Runtime, String>> = OnceLock::new();
    BACKGROUND
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(BACKGROUND_WORKERS)
                .thread_name("cacheaside-io")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!("cannot start the cache's runtime: {e}"),
            )
        })
}
