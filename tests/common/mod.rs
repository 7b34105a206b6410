//! The cluster the integration tests run against: the one `AEROSPIKE_HOSTS` names, or else a testkit
//! server started once per test process (it runs on its own thread, so it outlives each test's runtime).
#![allow(dead_code)] // each test file uses a different part of this module

use std::sync::OnceLock;

use cacheaside_testkit::TestServer;

pub struct Cluster {
    pub hosts: String,
    pub namespace: String,
    /// The in-process server, or `None` against a real cluster (then testkit-only tests skip).
    pub server: Option<TestServer>,
}

/// The process's cluster, started on first use.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let namespace = std::env::var("AEROSPIKE_NAMESPACE").unwrap_or_else(|_| "test".to_owned());
        match std::env::var("AEROSPIKE_HOSTS") {
            Ok(hosts) => Cluster {
                hosts,
                namespace,
                server: None,
            },
            Err(_) => {
                let server = TestServer::builder()
                    .start_blocking()
                    .expect("start the testkit server");
                Cluster {
                    hosts: server.hosts(),
                    namespace,
                    server: Some(server),
                }
            }
        }
    })
}

/// The testkit server, or `None` (print why) when the test needs one and runs against a real cluster.
pub fn testkit_only(test: &str) -> Option<&'static TestServer> {
    let server = cluster().server.as_ref();
    if server.is_none() {
        eprintln!("{test}: skipped, needs the testkit (AEROSPIKE_HOSTS points at a real cluster)");
    }
    server
}

/// Installs a configuration for the process's cluster, once.
pub async fn init() -> &'static Cluster {
    static INIT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let cluster = cluster();
    INIT.get_or_init(|| async {
        let config = cacheaside::Config::builder()
            .hosts(cluster.hosts.clone())
            .namespace(cluster.namespace.clone())
            .build()
            .expect("valid test configuration");
        cacheaside::init(config).await.expect("init");
    })
    .await;
    cluster
}

/// A raw client of the official crate, to check records the way another service would.
pub async fn raw_client() -> aerospike::Client {
    let hosts = cluster().hosts.clone();
    aerospike::Client::new(&aerospike::ClientPolicy::default(), &hosts)
        .await
        .expect("raw client connects")
}

/// A value unique to this run, so tests never see records of an earlier run on a real cluster.
pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64);
    nanos.unwrap_or(0).wrapping_mul(1_000) + NEXT.fetch_add(1, Ordering::Relaxed)
}
