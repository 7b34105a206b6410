//! The cluster a test suite runs against: a real one when `AEROSPIKE_HOSTS` names it, an in-process
//! [`TestServer`] otherwise. One suite then runs on a laptop and in CI without Aerospike, and
//! against a staging cluster when one is at hand, while tests that need the test server's clock or
//! faults skip themselves there.

use std::io;
use std::sync::OnceLock;

use crate::{TestServer, TestServerBuilder};

/// Where the tests' records live: `AEROSPIKE_HOSTS` when set, else an in-process [`TestServer`]. One suite
/// then runs without Aerospike and against a real cluster alike, while tests that need the test server's
/// clock or faults skip themselves there.
///
/// ```
/// use cacheaside_testkit::TestCluster;
///
/// # fn demo() -> std::io::Result<()> {
/// let cluster = TestCluster::shared(); // once per process
/// let hosts = cluster.hosts(); // for aerospike::Client::new or a cache configuration
/// if let Some(server) = cluster.testkit_only("ttl_expires") {
///     server.clock().advance(std::time::Duration::from_secs(60));
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TestCluster {
    hosts: String,
    namespace: String,
    credentials: Option<(String, String)>,
    server: Option<TestServer>,
}

impl TestCluster {
    /// `AEROSPIKE_HOSTS` (with `AEROSPIKE_NAMESPACE`, default `test`, and `AEROSPIKE_USER` /
    /// `AEROSPIKE_PASSWORD`) when set and not empty; else a new test server started by `builder`.
    pub async fn from_env_or(builder: TestServerBuilder) -> io::Result<TestCluster> {
        match Self::from_env() {
            Some(cluster) => Ok(cluster),
            None => Ok(Self::testkit(builder.start().await?)),
        }
    }

    /// Like [`from_env_or`](Self::from_env_or), from synchronous code.
    pub fn from_env_or_blocking(builder: TestServerBuilder) -> io::Result<TestCluster> {
        match Self::from_env() {
            Some(cluster) => Ok(cluster),
            None => Ok(Self::testkit(builder.start_blocking()?)),
        }
    }

    /// One cluster for the whole process, made by
    /// [`from_env_or_blocking`](Self::from_env_or_blocking) with a default server on first use.
    /// The server runs on its own thread, so it outlives every test's runtime.
    ///
    /// # Panics
    /// If the test server cannot start (no free port, no thread): no test could run then.
    pub fn shared() -> &'static TestCluster {
        static SHARED: OnceLock<TestCluster> = OnceLock::new();
        SHARED.get_or_init(|| {
            Self::from_env_or_blocking(TestServer::builder())
                .unwrap_or_else(|error| panic!("the test server does not start: {error}"))
        })
    }

    fn from_env() -> Option<TestCluster> {
        let hosts = std::env::var("AEROSPIKE_HOSTS")
            .ok()
            .filter(|h| !h.trim().is_empty())?;
        let namespace = std::env::var("AEROSPIKE_NAMESPACE").unwrap_or_else(|_| "test".to_owned());
        let credentials = match (
            std::env::var("AEROSPIKE_USER"),
            std::env::var("AEROSPIKE_PASSWORD"),
        ) {
            (Ok(user), Ok(password)) => Some((user, password)),
            _ => None,
        };
        Some(TestCluster {
            hosts,
            namespace,
            credentials,
            server: None,
        })
    }

    fn testkit(server: TestServer) -> TestCluster {
        TestCluster {
            hosts: server.hosts(),
            namespace: "test".to_owned(),
            credentials: None,
            server: Some(server),
        }
    }

    /// The seed hosts, `host:port[,host:port…]`.
    pub fn hosts(&self) -> String {
        self.hosts.clone()
    }

    /// The namespace tests should use.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// User and password of a real cluster with security on.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(user, password)| (user.as_str(), password.as_str()))
    }

    /// The in-process test server, or `None` against a real cluster.
    pub fn server(&self) -> Option<&TestServer> {
        self.server.as_ref()
    }

    /// For a test that only the test server can run (clock, faults, counters, inspection): the
    /// server, or `None` against a real cluster, after printing that `test` is skipped.
    pub fn testkit_only(&self, test: &str) -> Option<&TestServer> {
        if self.server.is_none() {
            eprintln!(
                "{test}: skipped, it needs the cacheaside test server (AEROSPIKE_HOSTS is set)"
            );
        }
        self.server.as_ref()
    }
}
