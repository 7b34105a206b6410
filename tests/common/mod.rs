//! The cluster the integration tests run against: the one `AEROSPIKE_HOSTS` names, or else a testkit
//! server started once per test process (it runs on its own thread, so it outlives each test's runtime).
#![allow(dead_code)] // each test file uses a different part of this module

use cacheaside_testkit::{TestCluster, TestServer};

/// The process's cluster, started on first use.
pub fn cluster() -> &'static TestCluster {
    TestCluster::shared()
}

/// The testkit server, or `None` (after printing why) when the test needs one and runs against a
/// real cluster.
pub fn testkit_only(test: &str) -> Option<&'static TestServer> {
    cluster().testkit_only(test)
}

/// Installs a configuration for the process's cluster, once.
pub async fn init() -> &'static TestCluster {
    static INIT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let cluster = cluster();
    INIT.get_or_init(|| async {
        let mut config = cacheaside::Config::builder()
            .hosts(cluster.hosts())
            .namespace(cluster.namespace());
        if let Some((user, password)) = cluster.credentials() {
            config = config.credentials(user, password);
        }
        cacheaside::init(config.build().expect("valid test configuration"))
            .await
            .expect("init");
    })
    .await;
    cluster
}

/// A raw client of the official crate, to check records the way another service would.
pub async fn raw_client() -> aerospike::Client {
    let cluster = cluster();
    let mut policy = aerospike::ClientPolicy::default();
    if let Some((user, password)) = cluster.credentials() {
        policy.auth_mode = aerospike::AuthMode::Internal(user.to_owned(), password.to_owned());
    }
    aerospike::Client::new(&policy, &cluster.hosts())
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
