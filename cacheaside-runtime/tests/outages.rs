//! Outages of every kind: a stalled server, one that resets connections, one that returns
//! errors, one that is stopped. Every call returns its loader's result; the breaker opens after a
//! run of failures, after which calls no longer reach the server; half-open, one probe at a time
//! goes through; caching resumes by itself when the server is healthy again.
//! Needs the testkit's faults; skipped against a real server.

use std::time::Duration;

use cacheaside_runtime::__private::{default_key, get_or_load, CacheSpec, PlainKind};
use cacheaside_runtime::{SetStats, Ttl};
use cacheaside_testkit::TestServer;
use tokio::task::JoinSet;

const PAUSE: Duration = Duration::from_millis(500);

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_outages",
    ttl: Ttl::Seconds(600),
    function: "f",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

async fn call(arg: u32, value: u32) -> u32 {
    get_or_load(
        &SPEC,
        default_key(&SPEC, "app", &(&arg,)),
        PlainKind,
        async move { value },
    )
    .await
}

fn stats() -> SetStats {
    cacheaside_runtime::stats().set(SPEC.set)
}

/// Calls until the cache serves a hit (the loader's value would be `0`); at most ~10 s.
async fn until_cached(arg: u32) {
    for _ in 0..200 {
        call(arg, 1).await;
        if call(arg, 0).await == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("caching did not resume");
}

/// Applies a fault, checks that calls fail open, that the breaker opens and then keeps calls
/// away from the server, then clears the fault and waits for caching to resume.
async fn outage(server: &TestServer, mode: &str, first_arg: u32, fault: impl FnOnce(&TestServer)) {
    until_cached(first_arg).await;
    let before = stats();
    fault(server);

    // Detecting: each call pays at most its operations' timeout, and returns its loader's value.
    let mut arg = first_arg + 1;
    while stats().breaker_opens == before.breaker_opens {
        assert!(arg < first_arg + 50, "{mode}: the breaker did not open");
        assert_eq!(call(arg, arg).await, arg, "{mode}: the loader's value");
        arg += 1;
    }
    assert_eq!(stats().breaker_opens - before.breaker_opens, 1, "{mode}");
    let calls_to_open = arg - first_arg - 1;
    assert_eq!(
        calls_to_open, 5,
        "{mode}: five failed calls in a row open it"
    );

    // Open: calls bypass the cache without a single command to the server.
    let commands = server.counters().data_commands();
    for value in 0..50 {
        assert_eq!(call(arg, value).await, value, "{mode}: the loader's value");
    }
    assert!(
        server.counters().data_commands() - commands <= 2,
        "{mode}: no commands while open (one half-open probe at most, on a slow machine)"
    );

    // Half-open after the pause: of concurrent calls, one probes (a read, perhaps retried once);
    // it fails and the breaker opens again.
    tokio::time::sleep(PAUSE + Duration::from_millis(100)).await;
    let commands = server.counters().data_commands();
    let mut calls = JoinSet::new();
    for value in 0..10 {
        calls.spawn(call(arg + 1 + value, value));
    }
    let mut returned: Vec<u32> = calls.join_all().await;
    returned.sort_unstable();
    assert_eq!(
        returned,
        (0..10).collect::<Vec<_>>(),
        "{mode}: the loaders' values"
    );
    let probed = server.counters().data_commands() - commands;
    assert!(
        (1..=2).contains(&probed),
        "{mode}: one probe while half-open, saw {probed} commands"
    );
    arg += 20;

    server.faults().clear();
    until_cached(arg + 1).await;
    eprintln!("{mode}: opened after {calls_to_open} calls, recovered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_outage_fails_open_opens_the_breaker_and_recovers() {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty()) {
        eprintln!(
            "every_outage_fails_open_opens_the_breaker_and_recovers: skipped, needs the testkit"
        );
        return;
    }
    let server = TestServer::start().await.unwrap();
    let config = cacheaside_runtime::Config::builder()
        .hosts(server.hosts())
        .operation_timeout(Duration::from_millis(200))
        .connect_timeout(Duration::from_secs(5))
        .reconnect_interval(PAUSE)
        .build()
        .unwrap();
    cacheaside_runtime::init(config).await.unwrap();

    outage(&server, "stalled", 0, |server| {
        server.faults().set_stall(true)
    })
    .await;
    outage(&server, "resetting", 100, |server| {
        server.faults().set_reset_connections(true)
    })
    .await;
    outage(&server, "server errors", 200, |server| {
        server.faults().fail_next(u64::MAX, 1)
    })
    .await;
    outage(&server, "device overload", 300, |server| {
        server.faults().fail_next(u64::MAX, 18)
    })
    .await;

    // Stopped: the client notices the node is gone; calls run their loaders, and caching resumes
    // once the server listens again.
    until_cached(400).await;
    server.stop().await;
    for value in 401..420 {
        assert_eq!(
            call(value, value).await,
            value,
            "stopped: the loader's value"
        );
    }
    server.start_again().await.unwrap();
    until_cached(420).await;
}
