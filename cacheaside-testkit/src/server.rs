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
use crate::namespace::NamespaceConfig;
use crate::store::{KeyView, RecordView, Store};
use crate::wire::{self, FrameKind, MESSAGE_HEADER_SIZE};

/// State shared by the handle and the server thread.
#[derive(Debug)]
struct Shared {
    store: Store,
    clock: Clock,
    faults: Faults,
    counters: CounterCells,
    port: Mutex<u16>,
    /// What `cluster-name` answers; `None` answers `null`, as a server without one does.
    cluster_name: Option<String>,
    /// The users that may log in; without any, connections need no login.
    security: Security,
    /// Set when the server speaks TLS.
    #[cfg(feature = "tls")]
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl Shared {
    fn port(&self) -> u16 {
        *self.port.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Requests from the handle to the server thread.
enum Control {
    /// Listen (if not already) and report the port to the callback, which may be sync or async.
    Listen(Box<dyn FnOnce(io::Result<u16>) + Send>),
    Stop(oneshot::Sender<()>),
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
            .finish_non_exhaustive()
    }
}

/// Configures a [`TestServer`] before starting it.
#[derive(Clone, Debug, Default)]
pub struct TestServerBuilder {
    port: u16,
    namespaces: Vec<NamespaceConfig>,
    cluster_name: Option<String>,
    users: Vec<(String, String)>,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsIdentity>,
}

impl TestServerBuilder {
    /// The port to listen on; 0 (the default) picks a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
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
        let server = self.spawn(Box::new(move |port| {
            let _ = reply.send(port);
        }))?;
        listening.await.map_err(|_| server_gone())??;
        Ok(server)
    }

    /// Starts the server from synchronous code, e.g. inside a `OnceLock` shared by async tests.
    /// Blocks the calling thread only until the server listens, so it may be called inside a runtime.
    pub fn start_blocking(self) -> io::Result<TestServer> {
        let (reply, listening) = std::sync::mpsc::channel();
        let server = self.spawn(Box::new(move |port| {
            let _ = reply.send(port);
        }))?;
        listening.recv().map_err(|_| server_gone())??;
        Ok(server)
    }

    fn spawn(
        self,
        on_listening: Box<dyn FnOnce(io::Result<u16>) + Send>,
    ) -> io::Result<TestServer> {
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
        let shared = Arc::new(Shared {
            store: Store::new(namespaces),
            clock: Clock::default(),
            faults: Faults::default(),
            counters: CounterCells::default(),
            port: Mutex::new(self.port),
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
            .send(Control::Listen(on_listening))
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

    /// `127.0.0.1:PORT`, the hosts string for `aerospike::Client::new`.
    pub fn hosts(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    /// The port the server listens on (kept across [`stop`](Self::stop) and [`start_again`](Self::start_again)).
    pub fn port(&self) -> u16 {
        self.shared.port()
    }

    /// Closes the listener and every connection; data, faults, counters and the port number are kept.
    /// Clients see connection refused until [`start_again`](Self::start_again).
    pub async fn stop(&self) {
        let (reply, done) = oneshot::channel();
        if self.control.send(Control::Stop(reply)).is_ok() {
            let _ = done.await;
        }
    }

    /// Listens again on the same port after [`stop`](Self::stop). Does nothing if already listening.
    pub async fn start_again(&self) -> io::Result<()> {
        let (reply, listening) = oneshot::channel();
        let on_listening = Box::new(move |port| {
            let _ = reply.send(port);
        });
        self.control
            .send(Control::Listen(on_listening))
            .map_err(|_| server_gone())?;
        listening.await.map_err(|_| server_gone())?.map(|_| ())
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

    /// A snapshot of the commands seen so far, per kind.
    pub fn counters(&self) -> Counters {
        self.shared.counters.snapshot()
    }

    /// Sets every command counter back to zero.
    pub fn reset_counters(&self) {
        self.shared.counters.reset();
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

impl Listening {
    async fn close(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn control_loop(shared: Arc<Shared>, mut requests: mpsc::UnboundedReceiver<Control>) {
    let mut listening: Option<Listening> = None;
    while let Some(request) = requests.recv().await {
        match request {
            Control::Listen(reply) => {
                if listening.is_some() {
                    reply(Ok(shared.port()));
                    continue;
                }
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, shared.port()));
                match TcpListener::bind(addr)
                    .await
                    .and_then(|l| Ok((l.local_addr()?.port(), l)))
                {
                    Ok((port, listener)) => {
                        *shared.port.lock().unwrap_or_else(PoisonError::into_inner) = port;
                        let (stop, stopped) = watch::channel(false);
                        let task =
                            tokio::spawn(accept_loop(listener, Arc::clone(&shared), stopped));
                        listening = Some(Listening { stop, task });
                        reply(Ok(port));
                    }
                    Err(e) => reply(Err(e)),
                }
            }
            Control::Stop(reply) => {
                if let Some(running) = listening.take() {
                    running.close().await;
                }
                let _ = reply.send(());
            }
            Control::Shutdown(reply) => {
                if let Some(running) = listening.take() {
                    running.close().await;
                }
                if let Some(reply) = reply {
                    let _ = reply.send(());
                }
                return;
            }
        }
    }
    if let Some(running) = listening.take() {
        running.close().await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
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
                    shared.counters.record_connection();
                    #[cfg(feature = "tls")]
                    if let Some(config) = &shared.tls {
                        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(config));
                        connections.spawn(serve_tls(acceptor, stream, Arc::clone(&shared)));
                        continue;
                    }
                    connections.spawn(serve_connection(stream, Arc::clone(&shared)));
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
async fn serve_tls(acceptor: tokio_rustls::TlsAcceptor, stream: TcpStream, shared: Arc<Shared>) {
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => serve_connection(tls, shared).await,
        Ok(Err(error)) => {
            tracing::debug!(%error, "closing a connection after a failed TLS handshake")
        }
        Err(_) => tracing::debug!("closing a connection whose TLS handshake did not complete"),
    }
}

/// Serves one connection until the client closes it, a frame is malformed, or a fault ends it.
async fn serve_connection(stream: impl Connection, shared: Arc<Shared>) {
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
                shared.counters.record(CommandKind::Info);
                wire::info_frame(&info::answer(
                    &shared.store,
                    shared.port(),
                    shared.cluster_name.as_deref(),
                    &body,
                ))
            }
            FrameKind::Admin => {
                let (reply, outcome) = shared.security.answer(&body);
                authenticated |= outcome == admin::Outcome::Authenticated;
                reply
            }
            FrameKind::Message if !authenticated => wire::Reply::code(admin::NOT_AUTHENTICATED),
            FrameKind::Message => match handle_message(&shared, &body).await {
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
async fn handle_message(shared: &Shared, body: &[u8]) -> Option<Vec<u8>> {
    let message = match wire::parse_message(body) {
        Ok(message) => message,
        Err(error) => {
            tracing::debug!(?error, "closing a connection after a malformed message");
            return None;
        }
    };
    let kind = engine::classify(&message);
    shared.counters.record(kind);
    if kind == CommandKind::BatchRead {
        shared
            .counters
            .record_batch_keys(engine::batch_key_count(&message));
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

/// Whether a reply frame has at least one operation (bin) in its first message.
fn carries_bin_data(frame: &[u8]) -> bool {
    let op_count_at = 8 + MESSAGE_HEADER_SIZE - 2;
    frame
        .get(op_count_at..op_count_at + 2)
        .is_some_and(|count| count != [0, 0])
}
