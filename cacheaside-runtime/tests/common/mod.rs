//! Shared by the integration tests: the server to test against and a raw client to look at it.
//!
//! With `AEROSPIKE_HOSTS` set, tests run against that server; otherwise against an in-process
//! testkit server. Tests that need the testkit's clock or faults ask for [`Backend::testkit`] and
//! skip themselves against a real server.
#![allow(dead_code)] // each test file uses a different part

pub mod logs;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aerospike::{Bins, Client, ClientPolicy, Key, ReadPolicy, Value, WritePolicy};
use cacheaside_runtime::__private::{default_key, get_or_load, CacheSpec, PlainKind};
use cacheaside_testkit::TestServer;

/// The namespace every test uses.
pub fn namespace() -> String {
    std::env::var("AEROSPIKE_NAMESPACE").unwrap_or_else(|_| "test".to_owned())
}

/// Where the tests' records live.
pub struct Backend {
    pub hosts: String,
    pub testkit: Option<TestServer>,
}

impl Backend {
    /// The real server of `AEROSPIKE_HOSTS`, or a new testkit server.
    pub async fn start() -> Backend {
        match std::env::var("AEROSPIKE_HOSTS") {
            Ok(hosts) if !hosts.trim().is_empty() => Backend {
                hosts,
                testkit: None,
            },
            _ => {
                let server = TestServer::start()
                    .await
                    .expect("the testkit server starts");
                Backend {
                    hosts: server.hosts(),
                    testkit: Some(server),
                }
            }
        }
    }

    /// The testkit server, or `None` (after saying so) when testing against a real server.
    pub fn testkit(&self, test: &str) -> Option<&TestServer> {
        if self.testkit.is_none() {
            eprintln!("{test}: skipped, it needs the testkit server (AEROSPIKE_HOSTS is set)");
        }
        self.testkit.as_ref()
    }

    /// A configuration for this backend with generous timeouts: test machines are noisy, and
    /// these tests are about behaviour, not speed.
    pub fn config(&self) -> cacheaside_runtime::ConfigBuilder {
        let mut builder = cacheaside_runtime::Config::builder()
            .hosts(&self.hosts)
            .namespace(namespace())
            .operation_timeout(Duration::from_millis(2_000))
            .connect_timeout(Duration::from_millis(5_000))
            .reconnect_interval(Duration::from_millis(100));
        if let (Ok(user), Ok(password)) = (
            std::env::var("AEROSPIKE_USER"),
            std::env::var("AEROSPIKE_PASSWORD"),
        ) {
            builder = builder.credentials(user, password);
        }
        builder
    }

    /// A plain `aerospike` client, as another service would use.
    pub async fn raw_client(&self) -> Client {
        let mut policy = ClientPolicy::default();
        if let (Ok(user), Ok(password)) = (
            std::env::var("AEROSPIKE_USER"),
            std::env::var("AEROSPIKE_PASSWORD"),
        ) {
            policy.auth_mode = aerospike::AuthMode::Internal(user, password);
        }
        Client::new(&policy, &self.hosts)
            .await
            .expect("the raw client connects")
    }
}

/// The record's bin `data` and remaining TTL, read with a raw client; `None` if the record is
/// absent or holds no bin `data` (an invalidation marker).
pub async fn read_data(
    client: &Client,
    set: &str,
    key: Value,
) -> Option<(Value, Option<Duration>)> {
    let key = Key::new(namespace(), set, key).unwrap();
    match client.get(&ReadPolicy::default(), &key, Bins::All).await {
        Ok(mut record) => {
            let ttl = record.time_to_live();
            record.bins.swap_remove("data").map(|data| (data, ttl))
        }
        Err(e) if e.matches(&[aerospike::ResultCode::KeyNotFoundError]) => None,
        Err(e) => panic!("raw read failed: {e}"),
    }
}

/// Writes `value` into bin `data` with a raw client.
pub async fn write_data(client: &Client, set: &str, key: Value, value: Value) {
    let key = Key::new(namespace(), set, key).unwrap();
    client
        .put(
            &WritePolicy::default(),
            &key,
            &[aerospike::Bin::new("data", value)],
        )
        .await
        .expect("raw write");
}

/// Deletes a record with a raw client (tests start from a clean slate on a real server).
pub async fn delete(client: &Client, set: &str, key: Value) {
    let key = Key::new(namespace(), set, key).unwrap();
    client
        .delete(&WritePolicy::default(), &key)
        .await
        .expect("raw delete");
}

/// The default key a function of this test crate gets, as documented.
pub fn default_key_string(scope: &str, function: &str, args: &str) -> Value {
    Value::String(format!("::{scope}::{function}{args}"))
}

/// A unique suffix so that repeated runs against a real server do not see each other's records.
pub fn run_id() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}")
}

/// Calls the function of `spec` twice with the default key of `key` (the body returns 7) and
/// returns how many of the two calls ran the body: 1 when the first call cached, 2 when the cache
/// was not used.
pub async fn loads_of_two_calls(spec: &'static CacheSpec, key: &str) -> u32 {
    let loads = AtomicU32::new(0);
    for _ in 0..2 {
        let value = get_or_load(spec, default_key(spec, "app", &(&key,)), PlainKind, async {
            loads.fetch_add(1, Ordering::SeqCst);
            7
        })
        .await;
        assert_eq!(value, 7);
    }
    loads.load(Ordering::SeqCst)
}
