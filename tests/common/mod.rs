//! The cluster the integration tests run against: the one `AEROSPIKE_HOSTS` names, or else a testkit
//! server started once per test process (it runs on its own thread, so it outlives each test's runtime).
#![allow(dead_code)] // each test file uses a different part of this module

use cacheaside_testkit::raw::{self, RawBin};
use cacheaside_testkit::{TestCluster, TestServer, UserKey};

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
    init_with(|config| config).await
}

/// Installs the configuration for the process's cluster that `adjust` makes of the plain one,
/// once: a test file that needs its own settings calls only this, with the same `adjust`.
pub async fn init_with(
    adjust: impl FnOnce(cacheaside::ConfigBuilder) -> cacheaside::ConfigBuilder,
) -> &'static TestCluster {
    static INIT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let cluster = cluster();
    INIT.get_or_init(|| async {
        // Generous timeouts: on a busy machine a write-back that timed out would cost one more
        // load and fail the tests that count loads.
        let mut config = cacheaside::Config::builder()
            .hosts(cluster.hosts())
            .namespace(cluster.namespace())
            .operation_timeout(std::time::Duration::from_secs(2))
            .connect_timeout(std::time::Duration::from_secs(5));
        if let Some((user, password)) = cluster.credentials() {
            config = config.credentials(user, password);
        }
        let config = adjust(config).build().expect("valid test configuration");
        cacheaside::init(config).await.expect("init");
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

/// Every bin of the record at `key`, read with `client` (a [`raw_client`]) the way another service
/// would; panics when there is no such record.
pub async fn raw_get(client: &aerospike::Client, key: &aerospike::Key) -> aerospike::Record {
    let policy = aerospike::ReadPolicy::default();
    client
        .get(&policy, key, aerospike::Bins::All)
        .await
        .expect("the record is at the documented key")
}

/// Bin `data` of the record of `key` in `set`, read with a raw client the way another service
/// would; panics when there is no such record or its bin `data` is not bytes.
pub async fn raw_data(set: &str, key: aerospike::Value) -> Vec<u8> {
    let key = aerospike::Key::new(cluster().namespace().to_owned(), set.to_owned(), key)
        .expect("a valid key");
    let record = raw_get(&raw_client().await, &key).await;
    match record.bins.get("data") {
        Some(aerospike::Value::Blob(bytes)) => bytes.clone(),
        _ => panic!("bin data holds bytes: {:?}", record.bins),
    }
}

/// A cached value of the tests: a user row.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct User {
    pub id: u64,
    pub name: String,
}

/// The user row of `id`, as a source would load it.
pub fn user(id: u64) -> User {
    User {
        id,
        name: format!("user-{id}"),
    }
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

/// Puts `bin` as the record of integer key `id` in `set` with a raw write, exactly as given (a
/// value no client would send), into the process's cluster.
pub async fn put_raw(set: &str, id: u64, bin: RawBin) {
    let cluster = cluster();
    let key = UserKey::Int(i64::try_from(id).expect("ids fit in i64"));
    let code = raw::put(&cluster.hosts(), cluster.namespace(), set, &key, &[bin])
        .await
        .expect("the raw write reaches the server");
    assert_eq!(code, 0, "the server stores the raw record");
}

/// A MessagePack list nested `depth` deep: `depth` one-element array markers, then a nil.
pub fn nested_list(depth: usize) -> Vec<u8> {
    let mut bytes = vec![0x91; depth];
    bytes.push(0xc0);
    bytes
}

/// A three-node testkit cluster whose survivors re-form `recluster_delay` after a node dies, with
/// a configuration installed for it; `None` (after printing why) against a real cluster, whose
/// nodes a test cannot kill.
pub async fn three_node_testkit(
    test: &str,
    recluster_delay: std::time::Duration,
) -> Option<TestServer> {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty()) {
        eprintln!("{test}: skipped, it kills a node of a testkit cluster");
        return None;
    }
    let server = TestServer::builder()
        .nodes(3)
        .recluster_delay(recluster_delay)
        .start()
        .await
        .expect("a three-node testkit cluster starts");
    let config = cacheaside::Config::builder()
        .hosts(server.hosts())
        // Generous for a loaded test machine; also the pause of a failing partition or cluster.
        .operation_timeout(std::time::Duration::from_millis(200))
        .reconnect_interval(std::time::Duration::from_millis(300))
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()
        .expect("valid test configuration");
    cacheaside::init(config).await.expect("init");
    Some(server)
}
