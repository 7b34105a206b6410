//! A multi-thread runtime that keeps calling the cache gets a client of its own, whose I/O runs on
//! that runtime (`Config::client_per_runtime`); everything else keeps using the shared client.
//!
//! The tests count the connections the testkit server accepts: a new client opens its own, while
//! sequential calls on one client reuse one pooled connection. So they run against a testkit
//! server of their own, one at a time (each installs its configuration).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use cacheaside::{cache_aside, Config};
use cacheaside_testkit::TestServer;

static SERIAL: Mutex<()> = Mutex::new(());

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Item {
    id: u64,
    name: String,
}

#[cache_aside(set = "runtime_clients", ttl = 600)]
async fn item(id: u64) -> Result<Item, String> {
    Ok(Item {
        id,
        name: format!("item {id}"),
    })
}

#[cache_aside(set = "runtime_clients", ttl = 600)]
fn item_sync(id: u64) -> Result<Item, String> {
    Ok(Item {
        id,
        name: format!("item {id}"),
    })
}

fn server() -> TestServer {
    TestServer::builder()
        .start_blocking()
        .expect("start the testkit server")
}

fn config(server: &TestServer, after: Option<u32>) -> Config {
    let slow_machine = Duration::from_secs(5);
    Config::builder()
        .hosts(server.hosts())
        .operation_timeout(slow_machine)
        .connect_timeout(slow_machine)
        .client_per_runtime(after)
        .build()
        .expect("a valid configuration")
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Calls `item` for ids `0..calls` (each cached after its first call), checking every value.
async fn call_items(calls: u64) {
    for id in 0..calls {
        let found = item(id % 20).await.expect("the body succeeds");
        assert_eq!(found.id, id % 20);
    }
}

/// Calls until the server has accepted more than `connections` connections (a new client),
/// or `limit` has passed; whether it did.
async fn calls_until_more_connections(
    server: &TestServer,
    connections: u64,
    limit: Duration,
) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        call_items(20).await;
        if server.counters().connections > connections {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[test]
fn a_busy_runtime_gets_a_client_of_its_own_and_keeps_serving_hits() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let server = server();
    let runtime = multi_thread();
    runtime.block_on(async {
        cacheaside::init(config(&server, Some(100)))
            .await
            .expect("init");
        // Below the count, the shared client serves: one pooled connection for sequential calls.
        call_items(20).await;
        let shared = server.counters().connections;
        call_items(40).await;
        assert_eq!(server.counters().connections, shared, "no new client yet");

        assert!(
            calls_until_more_connections(&server, shared, Duration::from_secs(30)).await,
            "after 100 operations the runtime connects a client of its own"
        );
        // Its calls are hits, served by the server like any other.
        let stats = cacheaside::stats().set("runtime_clients");
        let reads = server.counters().reads;
        call_items(200).await;
        let after = cacheaside::stats().set("runtime_clients");
        assert_eq!(after.hits - stats.hits, 200);
        assert_eq!(after.cache_errors, 0);
        assert_eq!(server.counters().reads - reads, 200);
    });
}

#[test]
fn without_client_per_runtime_every_call_uses_the_shared_client() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let server = server();
    let runtime = multi_thread();
    runtime.block_on(async {
        cacheaside::init(config(&server, None)).await.expect("init");
        call_items(20).await;
        let shared = server.counters().connections;
        call_items(2_000).await;
        assert_eq!(server.counters().connections, shared);
    });
}

#[test]
fn sync_callers_and_current_thread_runtimes_use_the_shared_client() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let server = server();
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    current.block_on(async {
        cacheaside::init(config(&server, Some(0)))
            .await
            .expect("init");
        call_items(20).await;
    });
    let shared = server.counters().connections;
    current.block_on(call_items(500));
    for id in 0..500 {
        assert_eq!(item_sync(id % 20).expect("the body succeeds").id, id % 20);
    }
    assert_eq!(server.counters().connections, shared);
}

#[test]
fn a_runtime_that_shuts_down_takes_its_client_and_others_go_on() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let server = server();
    let first = multi_thread();
    first.block_on(async {
        cacheaside::init(config(&server, Some(0)))
            .await
            .expect("init");
        let shared = server.counters().connections;
        assert!(calls_until_more_connections(&server, shared, Duration::from_secs(30)).await);
    });
    drop(first);

    // Another runtime: a fresh client of its own in time, and correct values all along.
    let second = multi_thread();
    second.block_on(async {
        let before = cacheaside::stats().set("runtime_clients");
        let connections = server.counters().connections;
        assert!(calls_until_more_connections(&server, connections, Duration::from_secs(30)).await);
        call_items(100).await;
        let after = cacheaside::stats().set("runtime_clients");
        assert_eq!(after.cache_errors, before.cache_errors);
    });
    // And sync callers, on the shared client, after both.
    drop(second);
    assert_eq!(item_sync(3).expect("the body succeeds").id, 3);
}

#[test]
fn after_init_the_runtime_uses_the_new_cluster_not_its_old_client() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (old, new) = (server(), server());
    let runtime = multi_thread();
    runtime.block_on(async {
        cacheaside::init(config(&old, Some(0))).await.expect("init");
        let connections = old.counters().connections;
        assert!(calls_until_more_connections(&old, connections, Duration::from_secs(30)).await);

        cacheaside::init(config(&new, Some(0))).await.expect("init");
        let old_reads = old.counters().reads;
        call_items(300).await;
        assert_eq!(
            old.counters().reads,
            old_reads,
            "no call reads the old cluster"
        );
        assert!(new.counters().reads >= 300);
    });
}
