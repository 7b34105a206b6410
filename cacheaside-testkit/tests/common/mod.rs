//! Which server a test talks to: a real one when `AEROSPIKE_HOSTS` is set, a testkit server otherwise.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::sync::atomic::{AtomicU64, Ordering};

use aerospike::{Client, ClientPolicy};
use cacheaside_testkit::{TestServer, TestServerBuilder};

/// A connected client and, when running against the testkit, its server.
pub struct Target {
    pub client: Client,
    pub server: Option<TestServer>,
    pub namespace: String,
}

/// `AEROSPIKE_HOSTS`, when set and not empty.
pub fn real_hosts() -> Option<String> {
    std::env::var("AEROSPIKE_HOSTS")
        .ok()
        .filter(|h| !h.trim().is_empty())
}

/// The namespace for tests that run against a real server too (`AEROSPIKE_NAMESPACE`, default `test`).
pub fn namespace() -> String {
    std::env::var("AEROSPIKE_NAMESPACE").unwrap_or_else(|_| "test".to_owned())
}

/// A server for a test that must pass against a real server as well.
pub async fn any_server() -> Target {
    any_server_with(TestServer::builder()).await
}

/// Like [`any_server`], with a testkit configured by `builder` when no real server is given.
pub async fn any_server_with(builder: TestServerBuilder) -> Target {
    match real_hosts() {
        Some(hosts) => Target {
            client: connect(&hosts).await,
            server: None,
            namespace: namespace(),
        },
        None => {
            let server = builder.start().await.expect("testkit server starts");
            Target {
                client: connect(&server.hosts()).await,
                server: Some(server),
                namespace: "test".to_owned(),
            }
        }
    }
}

/// A testkit server for a test that only the testkit can run (clock, faults, counters, inspection);
/// `None` when `AEROSPIKE_HOSTS` is set, and the test then passes without doing anything.
pub async fn testkit_only(builder: TestServerBuilder) -> Option<(TestServer, Client)> {
    if real_hosts().is_some() {
        eprintln!("skipped: testkit-only test while AEROSPIKE_HOSTS is set");
        return None;
    }
    let server = builder.start().await.expect("testkit server starts");
    let client = connect(&server.hosts()).await;
    Some((server, client))
}

pub async fn connect(hosts: &str) -> Client {
    Client::new(&ClientPolicy::default(), &hosts.to_owned())
        .await
        .expect("client connects")
}

/// A set name no other test (or earlier run against a real server) uses.
pub fn unique_set(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
