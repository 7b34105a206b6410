//! The server: its own OS thread and tokio runtime, a listener, one task per connection.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::admin::{self, Security};
use crate::clock::Clock;
use crate::counters::{CommandKind, CounterCells, Counters};
use crate::engine;
use crate::faults::Faults;
use crate::info;
use crate::key::UserKey;
use crate::membership::{partition_of, Membership};
use crate::namespace::NamespaceConfig;
use crate::store::{KeyView, RecordView, Store};
use crate::wire::{self, FrameKind, MESSAGE_HEADER_SIZE};

/// How long the surviving nodes keep advertising the old cluster after a node is killed or
/// restarted, unless [`TestServerBuilder::recluster_delay`] says otherwise. With the default
/// heartbeat settings (interval 150 ms, timeout 10 intervals) a real cluster notices a lost node
/// after 1.5 s and has re-formed about half a second later.
pub const DEFAULT_RECLUSTER_DELAY: Duration = Duration::from_secs(2);

/// State shared by the handle and the server thread.
#[derive(Debug)]
struct Shared {
    store: Store,
    clock: Clock,
    faults: Faults,
    /// Counts over all nodes.
    counters: CounterCells,
    nodes: Vec<NodeShared>,
    membership: Membership,
    /// What `cluster-name` answers; `None` answers `null`, as a server without one does.
    cluster_name: Option<String>,
    /// The users that may log in; without any, connections need no login.
    security: Security,
    /// Set when the server speaks TLS.
    #[cfg(feature = "tls")]
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

/// What belongs to one node.
#[derive(Debug, Default)]
struct NodeShared {
    /// The port it listens on (kept while it is stopped or killed).
    port: Mutex<u16>,
    counters: CounterCells,
}

impl Shared {
    fn port_of(&self, node: usize) -> u16 {
        *self.nodes[node]
            .port
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn ports(&self) -> Vec<u16> {
        (0..self.nodes.len())
            .map(|node| self.port_of(node))
            .collect()
    }

    /// Applies `count` to the counters of all nodes and to those of `node`.
    fn count(&self, node: usize, count: impl Fn(&CounterCells)) {
        count(&self.counters);
        count(&self.nodes[node].counters);
    }
}

/// Called once the nodes asked for listen, or with the first error; may be sync or async.
type OnListening = Box<dyn FnOnce(io::Result<()>) + Send>;

/// Requests from the handle to the server thread.
enum Control {
    /// Listen on these nodes' ports (those not listening already).
    Listen(Vec<usize>, OnListening),
    /// Close these nodes' listeners and connections, all at once.
    Close(Vec<usize>, oneshot::Sender<()>),
    Shutdown(Option<oneshot::Sender<()>>),
}

/// An in-process server speaking the Aerospike wire protocol on 127.0.0.1.
///
/// It runs on its own OS thread with its own tokio runtime, so it outlives the runtime of any single
/// `#[tokio::test]` and can be shared between tests (e.g. in a `OnceLock`). Dropping it stops the server and
/// frees the port.
///
/// ```
/// # async fn demo() -> std::io::Result<()> {
/// let server = cacheaside_testkit::TestServer::start().await?;
/// // aerospike::Client::new(&aerospike::ClientPolicy::default(), &server.hosts()).await
/// assert!(server.hosts().starts_with("127.0.0.1:"));
/// server.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct TestServer {
    shared: Arc<Shared>,
    control: mpsc::UnboundedSender<Control>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("port", &self.port())
            .field("nodes", &self.node_count())
            .finish_non_exhaustive()
    }
}

/// Configures a [`TestServer`] before starting it.
#[derive(Clone, Debug, Default)]
pub struct TestServerBuilder {
    port: u16,
    nodes: usize,
    replication_factor: Option<usize>,
    recluster_delay: Option<Duration>,
    namespaces: Vec<NamespaceConfig>,
    cluster_name: Option<String>,
    users: Vec<(String, String)>,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsIdentity>,
}

impl TestServerBuilder {
    /// The port to listen on; 0 (the default) picks a free one. With several
    /// [`nodes`](Self::nodes), node `i` listens on `port + i` (each on a free port with 0).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Runs a cluster of `nodes` nodes (default 1; 0 is taken as 1), each listening on its own
    /// port on 127.0.0.1 with its own node name (`BB9TESTKIT0001`, `BB9TESTKIT0002`, …), and each
    /// answering the client's cluster discovery as a node of a real cluster would: its peers,
    /// generations, and the partitions it holds as master and as replica. Partition `p`'s master
    /// is node `p % nodes` and its replicas the nodes after it; a partition whose master is gone
    /// passes to its first replica.
    ///
    /// All nodes serve one shared store, as a cluster with a replication factor of 2 or more keeps
    /// every record through the loss of one node: any node answers for any record (a real node
    /// proxies a command for a partition it does not hold), and [`Counters::served_as_replica`]
    /// and [`Counters::proxied`] count the keys a node got for partitions it is not master of.
    /// See [`TestServer::kill_node`] and [`TestServer::restart_node`].
    ///
    /// ```
    /// # async fn demo() -> std::io::Result<()> {
    /// let server = cacheaside_testkit::TestServer::builder().nodes(3).start().await?;
    /// // Seeds: every node, e.g. "127.0.0.1:41001,127.0.0.1:41002,127.0.0.1:41003".
    /// assert_eq!(server.hosts().split(',').count(), 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn nodes(mut self, nodes: usize) -> Self {
        self.nodes = nodes.max(1);
        self
    }

    /// Copies of each partition while enough nodes are in the cluster (the namespaces'
    /// `replication-factor`; 0 is taken as 1). Default: 2, or 1 for a single node. The nodes
    /// advertise `min(replication factor, nodes in the cluster)` copies.
    pub fn replication_factor(mut self, copies: usize) -> Self {
        self.replication_factor = Some(copies.max(1));
        self
    }

    /// How long after [`TestServer::kill_node`] or [`TestServer::restart_node`] the nodes keep
    /// advertising the old cluster (peers, partition map, generations) before they re-form it;
    /// default [`DEFAULT_RECLUSTER_DELAY`]. Tests can shorten it, e.g. to 100 ms.
    pub fn recluster_delay(mut self, delay: Duration) -> Self {
        self.recluster_delay = Some(delay);
        self
    }

    /// Adds a namespace. Without any, the server has one namespace `test` with default settings.
    pub fn namespace(mut self, namespace: NamespaceConfig) -> Self {
        self.namespaces.retain(|ns| ns.name != namespace.name);
        self.namespaces.push(namespace);
        self
    }

    /// The name the server reports for the info request `cluster-name` (without one it answers
    /// `null`, like a server with no `cluster-name` configured). A client whose policy names
    /// another cluster refuses the node.
    pub fn cluster_name(mut self, name: impl Into<String>) -> Self {
        self.cluster_name = Some(name.into());
        self
    }

    /// Adds a user that may log in with this password, which turns security on: every
    /// connection must then log in (the client does so when its policy has a user and password)
    /// before its data commands are answered; others get `NOT_AUTHENTICATED` (80). A login with
    /// an unknown user is refused with `INVALID_USER` (60), one with a wrong password with
    /// `INVALID_CREDENTIAL` (65). Info requests need no login here.
    ///
    /// ```
    /// # async fn demo() -> std::io::Result<()> {
    /// let server = cacheaside_testkit::TestServer::builder()
    ///     .user("app", "secret")
    ///     .start()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        let name = name.into();
        self.users.retain(|(existing, _)| *existing != name);
        self.users.push((name, password.into()));
        self
    }

    /// Serves over TLS with this certificate chain (PEM, the server's certificate first) and
    /// private key (PEM, PKCS#8, PKCS#1 or SEC1). Every connection must then begin with a TLS
    /// handshake; connections whose handshake fails are closed. [`start`](Self::start) fails
    /// with `InvalidInput` if the PEM does not hold a usable certificate and key.
    ///
    /// ```
    /// # async fn demo(cert_pem: &[u8], key_pem: &[u8]) -> std::io::Result<()> {
    /// let server = cacheaside_testkit::TestServer::builder()
    ///     .tls(cert_pem, key_pem)
    ///     .start()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(mut self, cert_chain_pem: impl AsRef<[u8]>, key_pem: impl AsRef<[u8]>) -> Self {
        self.tls = Some(crate::tls::TlsIdentity {
            cert_chain_pem: cert_chain_pem.as_ref().to_vec(),
            key_pem: key_pem.as_ref().to_vec(),
        });
        self
    }

    /// Starts the server and waits until it listens.
    pub async fn start(self) -> io::Result<TestServer> {
        let (reply, listening) = oneshot::channel();
        let server = self.spawn(Box::new(move |outcome| {
            let _ = reply.send(outcome);
        }))?;
        listening.await.map_err(|_| server_gone())??;
        Ok(server)
    }

    /// Starts the server from synchronous code, e.g. inside a `OnceLock` shared by async tests.
    /// Blocks the calling thread only until the server listens, so it may be called inside a runtime.
    pub fn start_blocking(self) -> io::Result<TestServer> {
        let (reply, listening) = std::sync::mpsc::channel();
        let server = self.spawn(Box::new(move |outcome| {
            let _ = reply.send(outcome);
        }))?;
        listening.recv().map_err(|_| server_gone())??;
        Ok(server)
    }

    fn spawn(self, on_listening: OnListening) -> io::Result<TestServer> {
        let mut namespaces = self.namespaces;
        if namespaces.is_empty() {
            namespaces.push(NamespaceConfig::new("test"));
        }
        #[cfg(feature = "tls")]
        let tls = self
            .tls
            .as_ref()
            .map(crate::tls::TlsIdentity::server_config)
            .transpose()?;
        let node_count = self.nodes.max(1);
        let nodes = (0..node_count)
            .map(|node| {
                let port = match self.port {
                    0 => Ok(0),
                    first => u16::try_from(usize::from(first) + node).map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!("{node_count} nodes from port {first} go past port 65535"),
                        )
                    }),
                };
                Ok(NodeShared {
                    port: Mutex::new(port?),
                    counters: CounterCells::default(),
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        let membership = Membership::new(
            node_count,
            self.replication_factor.unwrap_or(node_count.min(2)),
            self.recluster_delay.unwrap_or(DEFAULT_RECLUSTER_DELAY),
        );
        let shared = Arc::new(Shared {
            store: Store::new(namespaces),
            clock: Clock::default(),
            faults: Faults::default(),
            counters: CounterCells::default(),
            nodes,
            membership,
            cluster_name: self.cluster_name,
            security: Security::new(&self.users)?,
            #[cfg(feature = "tls")]
            tls,
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("aerospike-testkit")
            .enable_all()
            .build()?;
        let (control, requests) = mpsc::unbounded_channel();
        control
            .send(Control::Listen((0..node_count).collect(), on_listening))
            .map_err(|_| server_gone())?;
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("aerospike-testkit".into())
            .spawn(move || runtime.block_on(control_loop(thread_shared, requests)))?;
        Ok(TestServer {
            shared,
            control,
            thread: Some(thread),
        })
    }
}

fn server_gone() -> io::Error {
    io::Error::other("the test server thread has stopped")
}

impl TestServer {
    /// Starts a server on a free port with one namespace, `test`.
    pub async fn start() -> io::Result<TestServer> {
        TestServer::builder().start().await
    }

    /// A builder for port and namespaces.
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder::default()
    }

    /// `127.0.0.1:PORT`, the hosts string for `aerospike::Client::new`. With several
    /// [`nodes`](TestServerBuilder::nodes), every node not [killed](Self::kill_node) (all of
    /// them if every one is), comma-separated: the client takes each as a seed.
    pub fn hosts(&self) -> String {
        let live: Vec<usize> = (0..self.node_count())
            .filter(|&node| self.shared.membership.is_live(node))
            .collect();
        let nodes = if live.is_empty() {
            (0..self.node_count()).collect()
        } else {
            live
        };
        nodes
            .into_iter()
            .map(|node| self.node_host(node))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The port the server (its first node) listens on (kept across [`stop`](Self::stop) and
    /// [`start_again`](Self::start_again)).
    pub fn port(&self) -> u16 {
        self.shared.port_of(0)
    }

    /// The number of nodes, killed or not ([`TestServerBuilder::nodes`]).
    pub fn node_count(&self) -> usize {
        self.shared.nodes.len()
    }

    /// The port of node `node` (0-based), kept while it is killed.
    ///
    /// # Panics
    /// If there is no such node.
    pub fn node_port(&self, node: usize) -> u16 {
        self.shared.port_of(node)
    }

    /// `127.0.0.1:PORT` of node `node` (0-based), e.g. to connect a client to that node only.
    ///
    /// # Panics
    /// If there is no such node.
    pub fn node_host(&self, node: usize) -> String {
        format!("127.0.0.1:{}", self.node_port(node))
    }

    /// The name node `node` (0-based) reports: `BB9TESTKIT0001` for node 0, and so on. The
    /// client's `Node::name` for that node.
    ///
    /// # Panics
    /// If there is no such node.
    pub fn node_name(&self, node: usize) -> String {
        assert!(node < self.node_count(), "no node {node}");
        info::node_name(node)
    }

    /// A snapshot of the commands node `node` (0-based) has seen; [`counters`](Self::counters)
    /// adds up all nodes.
    ///
    /// # Panics
    /// If there is no such node.
    pub fn node_counters(&self, node: usize) -> Counters {
        self.shared.nodes[node].counters.snapshot()
    }

    /// The nodes of the cluster as the nodes advertise it now, ascending: all of them, but for a
    /// killed one once the re-cluster delay has passed, and for a restarted one until it has.
    pub fn cluster_nodes(&self) -> Vec<usize> {
        self.shared
            .membership
            .with_view(|view| view.members().to_vec())
    }

    /// The nodes holding the partition of this key, master first, as the nodes advertise it now.
    pub fn owners(&self, set: &str, key: impl Into<UserKey>) -> Vec<usize> {
        self.owners_by_digest(&key.into().digest(set))
    }

    /// The nodes holding the partition of this digest, master first, as advertised now.
    pub fn owners_by_digest(&self, digest: &[u8; 20]) -> Vec<usize> {
        let partition = partition_of(digest);
        self.shared
            .membership
            .with_view(|view| view.owners(partition).collect())
    }

    /// Kills node `node` (0-based) as `kill -9` would: it stops listening and every open
    /// connection to it is closed at once, so clients read end-of-stream on the connections they
    /// hold and have new ones refused. The other nodes keep advertising the old cluster, the
    /// killed node included, for the [re-cluster delay](TestServerBuilder::recluster_delay);
    /// then they re-form it without the node: new peers lists, the killed node's partitions
    /// passed to their replicas, generations bumped. The node's data stays in the shared store.
    /// Does nothing if the node is already killed.
    ///
    /// # Panics
    /// If there is no such node.
    pub async fn kill_node(&self, node: usize) {
        assert!(node < self.node_count(), "no node {node}");
        if self.shared.membership.set_live(node, false) {
            self.close(vec![node]).await;
        }
    }

    /// Starts a [killed](Self::kill_node) node again on the same port with the same name. It
    /// answers at once, but as a node outside the cluster (no peers, `partition-generation` -1,
    /// no partitions) until the re-cluster delay has passed; then the cluster re-forms with it
    /// and it takes its partitions back. Does nothing if the node runs.
    ///
    /// # Panics
    /// If there is no such node.
    pub async fn restart_node(&self, node: usize) -> io::Result<()> {
        assert!(node < self.node_count(), "no node {node}");
        if self.shared.membership.is_live(node) {
            return Ok(());
        }
        self.listen(vec![node]).await?;
        self.shared.membership.set_live(node, true);
        Ok(())
    }

    /// Moves every partition to other nodes now, as the migrations after a rebalance would:
    /// each partition's master and replicas shift one node along, and `partition-generation`
    /// is bumped on every node, so clients fetch the new partition map on their next tend.
    /// Clients that have not yet done so send commands to the old owners, which still serve
    /// them (counted in [`Counters::served_as_replica`] or [`Counters::proxied`]).
    pub fn rebalance(&self) {
        self.shared.membership.rebalance();
    }

    /// Closes every node's listener and connections; data, faults, counters and the port numbers
    /// are kept, and the nodes keep advertising the same cluster. Clients see connection refused
    /// until [`start_again`](Self::start_again).
    pub async fn stop(&self) {
        self.close((0..self.node_count()).collect()).await;
    }

    /// Listens again on the same ports after [`stop`](Self::stop) (killed nodes stay killed).
    /// Does nothing for nodes that listen already.
    pub async fn start_again(&self) -> io::Result<()> {
        let live = (0..self.node_count())
            .filter(|&node| self.shared.membership.is_live(node))
            .collect();
        self.listen(live).await
    }

    async fn listen(&self, nodes: Vec<usize>) -> io::Result<()> {
        let (reply, listening) = oneshot::channel();
        let on_listening = Box::new(move |outcome| {
            let _ = reply.send(outcome);
        });
        self.control
            .send(Control::Listen(nodes, on_listening))
            .map_err(|_| server_gone())?;
        listening.await.map_err(|_| server_gone())?
    }

    async fn close(&self, nodes: Vec<usize>) {
        let (reply, done) = oneshot::channel();
        if self.control.send(Control::Close(nodes, reply)).is_ok() {
            let _ = done.await;
        }
    }

    /// Stops the server for good and frees the port (dropping it does the same).
    pub async fn shutdown(mut self) {
        let (reply, done) = oneshot::channel();
        if self.control.send(Control::Shutdown(Some(reply))).is_ok() {
            let _ = done.await;
        }
        self.join_thread();
    }

    /// The virtual clock expiration is decided by.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// Faults, switchable while the server runs.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// A snapshot of the commands seen so far, per kind, by all nodes together.
    pub fn counters(&self) -> Counters {
        self.shared.counters.snapshot()
    }

    /// Sets every command counter back to zero, those of each node too.
    pub fn reset_counters(&self) {
        self.shared.counters.reset();
        for node in &self.shared.nodes {
            node.counters.reset();
        }
    }

    /// A live record's bins, generation and TTL, read straight from server state.
    pub fn record(
        &self,
        namespace: &str,
        set: &str,
        key: impl Into<UserKey>,
    ) -> Option<RecordView> {
        self.record_by_digest(namespace, &key.into().digest(set))
    }

    /// A live record by its digest.
    pub fn record_by_digest(&self, namespace: &str, digest: &[u8; 20]) -> Option<RecordView> {
        let now = self.shared.clock.now_aerospike_secs();
        self.shared
            .store
            .view(namespace, digest, now)
            .map(|record| RecordView::from_stored(record, now))
    }

    /// The live records of a set, sorted by digest. User keys are known only for records written with
    /// `send_key`.
    pub fn keys(&self, namespace: &str, set: &str) -> Vec<KeyView> {
        self.shared
            .store
            .keys(namespace, set, self.shared.clock.now_aerospike_secs())
    }

    /// Removes every record.
    pub fn clear(&self) {
        self.shared.store.clear();
    }

    fn join_thread(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.control.send(Control::Shutdown(None));
            let _ = thread.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.join_thread();
    }
}

/// A running listener: signal `stop` and await `task` to close it and all its connections.
struct Listening {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

async fn control_loop(shared: Arc<Shared>, mut requests: mpsc::UnboundedReceiver<Control>) {
    let mut listening: Vec<Option<Listening>> = shared.nodes.iter().map(|_| None).collect();
    while let Some(request) = requests.recv().await {
        match request {
            Control::Listen(nodes, reply) => {
                let mut outcome = Ok(());
                for node in nodes {
                    if listening[node].is_some() {
                        continue;
                    }
                    match listen(&shared, node).await {
                        Ok(running) => listening[node] = Some(running),
                        Err(e) => {
                            outcome = Err(e);
                            break;
                        }
                    }
                }
                reply(outcome);
            }
            Control::Close(nodes, reply) => {
                close_all(nodes.into_iter().filter_map(|node| listening[node].take())).await;
                let _ = reply.send(());
            }
            Control::Shutdown(reply) => {
                close_all(listening.iter_mut().filter_map(Option::take)).await;
                if let Some(reply) = reply {
                    let _ = reply.send(());
                }
                return;
            }
        }
    }
    close_all(listening.iter_mut().filter_map(Option::take)).await;
}

/// Binds `node`'s port (a free one the first time if it is 0) and accepts connections on it.
async fn listen(shared: &Arc<Shared>, node: usize) -> io::Result<Listening> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, shared.port_of(node)));
    let listener = TcpListener::bind(addr).await?;
    let port = listener.local_addr()?.port();
    *shared.nodes[node]
        .port
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = port;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, Arc::clone(shared), node, stopped));
    Ok(Listening { stop, task })
}

/// Signals every listener first, so that their connections all close at once, then waits.
async fn close_all(running: impl Iterator<Item = Listening>) {
    let tasks: Vec<_> = running
        .map(|running| {
            let _ = running.stop.send(true);
            running.task
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    node: usize,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if shared.faults.refusing() {
                        let _ = stream.set_zero_linger();
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    shared.count(node, CounterCells::record_connection);
                    #[cfg(feature = "tls")]
                    if let Some(config) = &shared.tls {
                        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(config));
                        connections.spawn(serve_tls(acceptor, stream, Arc::clone(&shared), node));
                        continue;
                    }
                    connections.spawn(serve_connection(stream, Arc::clone(&shared), node));
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

/// A transport the server speaks the protocol over: plain TCP, or TLS over TCP.
pub(crate) trait Connection: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Makes closing the connection a reset (RST) instead of an orderly close.
    fn reset_on_close(&self);
}

impl Connection for TcpStream {
    fn reset_on_close(&self) {
        let _ = self.set_zero_linger();
    }
}

/// How long a client has to complete the TLS handshake.
#[cfg(feature = "tls")]
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Completes the TLS handshake, then serves the connection; a failed handshake closes it.
#[cfg(feature = "tls")]
async fn serve_tls(
    acceptor: tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    shared: Arc<Shared>,
    node: usize,
) {
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => serve_connection(tls, shared, node).await,
        Ok(Err(error)) => {
            tracing::debug!(%error, "closing a connection after a failed TLS handshake")
        }
        Err(_) => tracing::debug!("closing a connection whose TLS handshake did not complete"),
    }
}

/// Serves one connection until the client closes it, a frame is malformed, or a fault ends it.
async fn serve_connection(stream: impl Connection, shared: Arc<Shared>, node: usize) {
    let mut stream = BufReader::with_capacity(16 * 1024, stream);
    let mut body = Vec::new();
    let mut authenticated = !shared.security.enabled();
    loop {
        let mut header = [0u8; 8];
        if stream.read_exact(&mut header).await.is_err() {
            return;
        }
        let frame = match wire::parse_frame_header(header) {
            Ok(frame) => frame,
            Err(error) => {
                tracing::debug!(
                    ?error,
                    "closing a connection after a malformed frame header"
                );
                return;
            }
        };
        body.clear();
        // Grows with the bytes that actually arrive, never to the claimed length up front.
        body.reserve(frame.body_len.min(64 * 1024));
        match (&mut stream)
            .take(frame.body_len as u64)
            .read_to_end(&mut body)
            .await
        {
            Ok(n) if n == frame.body_len => {}
            _ => return,
        }
        let reply = match frame.kind {
            FrameKind::Info => {
                shared.count(node, |counters| counters.record(CommandKind::Info));
                let ports = shared.ports();
                let view = shared.membership.view();
                let context = info::Context {
                    store: &shared.store,
                    cluster_name: shared.cluster_name.as_deref(),
                    node,
                    ports: &ports,
                    view: &view,
                };
                wire::info_frame(&info::answer(&context, &body))
            }
            FrameKind::Admin => {
                let (reply, outcome) = shared.security.answer(&body);
                authenticated |= outcome == admin::Outcome::Authenticated;
                reply
            }
            FrameKind::Message if !authenticated => wire::Reply::code(admin::NOT_AUTHENTICATED),
            FrameKind::Message => match handle_message(&shared, node, &body).await {
                Some(reply) => reply,
                None => {
                    stream.get_ref().reset_on_close();
                    return;
                }
            },
        };
        // The flush sends what TLS buffered; on plain TCP it does nothing.
        let written = stream.get_mut().write_all(&reply).await;
        if written.is_err() || stream.get_mut().flush().await.is_err() {
            return;
        }
    }
}

/// The reply to one data message, or `None` to drop the connection.
async fn handle_message(shared: &Shared, node: usize, body: &[u8]) -> Option<Vec<u8>> {
    let message = match wire::parse_message(body) {
        Ok(message) => message,
        Err(error) => {
            tracing::debug!(?error, "closing a connection after a malformed message");
            return None;
        }
    };
    let kind = engine::classify(&message);
    shared.count(node, |counters| counters.record(kind));
    if kind == CommandKind::BatchRead {
        let keys = engine::batch_key_count(&message);
        shared.count(node, |counters| counters.record_batch_keys(keys));
    }
    if shared.nodes.len() > 1 {
        count_ownership(shared, node, &message);
    }
    let plan = shared.faults.plan(kind);
    if plan.reset {
        return None;
    }
    if plan.stall {
        // Never answers; the task ends when the connection is closed by stop or shutdown.
        std::future::pending::<()>().await;
    }
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    let mut reply = match plan.fail_with {
        Some(code) => wire::Reply::code(code),
        None => engine::execute(&shared.store, &shared.clock, &message),
    };
    if kind.returns_bins() && carries_bin_data(&reply) && shared.faults.take_corruption() {
        wire::corrupt_bin_values(&mut reply);
    }
    Some(reply)
}

/// Counts the keys of a message that `node` is not master of, by the partition map it advertises.
fn count_ownership(shared: &Shared, node: usize, message: &wire::Message<'_>) {
    let digests = engine::digests(message);
    let (as_replica, proxied) = shared.membership.with_view(|view| {
        digests
            .iter()
            .fold((0, 0), |(as_replica, proxied), digest| {
                match view.role(node, partition_of(digest)) {
                    Some(0) => (as_replica, proxied),
                    Some(_) => (as_replica + 1, proxied),
                    None => (as_replica, proxied + 1),
                }
            })
    });
    if as_replica + proxied > 0 {
        shared.count(node, |counters| {
            counters.record_ownership(as_replica, proxied)
        });
    }
}

/// Whether a reply frame has at least one operation (bin) in its first message.
fn carries_bin_data(frame: &[u8]) -> bool {
    let op_count_at = 8 + MESSAGE_HEADER_SIZE - 2;
    frame
        .get(op_count_at..op_count_at + 2)
        .is_some_and(|count| count != [0, 0])
}
