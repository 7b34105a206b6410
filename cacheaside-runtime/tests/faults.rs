//! Failing open: server errors, stalls, corrupt replies and refused TTLs never reach the caller.
//! Needs the testkit's fault injection; skipped against a real server.

mod common;

use std::time::Duration;

use cacheaside_runtime::__private::{default_key, get_or_load, CacheSpec, PlainKind};
use cacheaside_runtime::{SetStats, Ttl};
use cacheaside_testkit::{NamespaceConfig, TestServer};
use tokio::sync::{Mutex, MutexGuard, OnceCell};

const SCOPE: &str = "app::faults";
/// Short enough that a stalled server costs little, long enough for a loaded test machine.
const OPERATION_TIMEOUT: Duration = Duration::from_millis(300);

/// The server of this file, with a namespace that refuses TTLs; `None` against a real server.
/// Faults are server-wide, so the tests take turns through the returned guard.
async fn server(test: &str) -> Option<(&'static TestServer, MutexGuard<'static, ()>)> {
    static SERVER: OnceCell<Option<TestServer>> = OnceCell::const_new();
    static TURN: Mutex<()> = Mutex::const_new(());
    let server = SERVER
        .get_or_init(|| async {
            if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty()) {
                return None;
            }
            let server = TestServer::builder()
                .namespace(NamespaceConfig::new("test"))
                .namespace(NamespaceConfig::new("nottl").nsup_period(Duration::ZERO))
                .start()
                .await
                .expect("the testkit server starts");
            let config = cacheaside_runtime::Config::builder()
                .hosts(server.hosts())
                .operation_timeout(OPERATION_TIMEOUT)
                .reconnect_interval(Duration::from_millis(100))
                .connect_timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            cacheaside_runtime::init(config).await.unwrap();
            Some(server)
        })
        .await;
    let Some(server) = server.as_ref() else {
        eprintln!("{test}: skipped, it needs the testkit server (AEROSPIKE_HOSTS is set)");
        return None;
    };
    let turn = TURN.lock().await;
    server.faults().clear();
    Some((server, turn))
}

async fn call(spec: &'static CacheSpec, arg: &str, value: u32) -> u32 {
    let key = default_key(spec, SCOPE, &(&arg,));
    get_or_load(spec, key, PlainKind, async { value }).await
}

fn stats(set: &str) -> SetStats {
    cacheaside_runtime::stats().set(set)
}

/// Calls until the cache serves a hit (the loader's value would be `0`), a bounded number of times.
async fn eventually_cached(spec: &'static CacheSpec, arg: &str) -> bool {
    for _ in 0..50 {
        call(spec, arg, 1).await;
        if call(spec, arg, 0).await == 1 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn server_errors_return_the_loaded_value() {
    static SPEC: CacheSpec = CacheSpec {
        cache: None,
        namespace: None,
        set: "ft_errors",
        ttl: Ttl::Seconds(60),
        function: "f",
        codec: cacheaside_runtime::__private::Codec::MessagePack,
    };
    let Some((server, _turn)) = server("server_errors_return_the_loaded_value").await else {
        return;
    };
    let before = stats("ft_errors");
    // Code 1: a generic server error, on the read; an unwell server gets no write-back.
    server.faults().fail_next(1, 1);
    assert_eq!(call(&SPEC, "a", 7).await, 7);
    let after = stats("ft_errors");
    assert_eq!(
        after.cache_errors - before.cache_errors,
        1,
        "the failed read"
    );
    assert_eq!(
        after.writes, before.writes,
        "no write-back to an unwell server"
    );
    assert_eq!(after.loads - before.loads, 1);
    assert!(
        eventually_cached(&SPEC, "a").await,
        "caching works again once the errors stop"
    );
}

#[tokio::test]
async fn a_failed_operation_pauses_only_its_keys_partition() {
    static SPEC: CacheSpec = CacheSpec {
        cache: None,
        namespace: None,
        set: "ft_partition",
        ttl: Ttl::Seconds(60),
        function: "f",
        codec: cacheaside_runtime::__private::Codec::MessagePack,
    };
    let Some((server, _turn)) = server("a_failed_operation_pauses_only_its_keys_partition").await
    else {
        return;
    };
    let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    for (value, key) in (0..).zip(&keys) {
        assert_eq!(call(&SPEC, key, value).await, value);
    }
    let before = stats("ft_partition");
    let reads_before = server.counters().reads;

    // Result code 1: a server error, for the next read (k0's).
    server.faults().fail_next(1, 1);
    assert_eq!(call(&SPEC, "k0", 100).await, 100, "fails open");
    assert_eq!(
        call(&SPEC, "k0", 101).await,
        101,
        "k0's partition is paused: the call skips the cache"
    );
    for (value, key) in (0..).zip(&keys).skip(1) {
        assert_eq!(
            call(&SPEC, key, 999).await,
            value,
            "{key}: the other partitions still answer"
        );
    }
    let after = stats("ft_partition");
    assert_eq!(after.cache_errors - before.cache_errors, 1, "{after:?}");
    assert_eq!(after.bypassed - before.bypassed, 1, "{after:?}");
    assert_eq!(after.breaker_opens, before.breaker_opens, "{after:?}");
    assert_eq!(after.hits - before.hits, 9, "{after:?}");
    assert_eq!(
        server.counters().reads - reads_before,
        10,
        "the paused partition was not read"
    );

    // After the pause (the reconnect interval), one call probes the partition and finds the
    // entry k0 had before the failure.
    let mut resumed = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if call(&SPEC, "k0", 7).await == 0 {
            resumed = true;
            break;
        }
    }
    assert!(resumed, "the partition answers again after the pause");
}

#[tokio::test]
async fn a_stalled_server_costs_at_most_the_timeout() {
    static SPEC: CacheSpec = CacheSpec {
        cache: None,
        namespace: None,
        set: "ft_stall",
        ttl: Ttl::Seconds(60),
        function: "f",
        codec: cacheaside_runtime::__private::Codec::MessagePack,
    };
    let Some((server, _turn)) = server("a_stalled_server_costs_at_most_the_timeout").await else {
        return;
    };
    let before = stats("ft_stall");
    server.faults().set_stall(true);
    assert_eq!(call(&SPEC, "a", 7).await, 7);
    assert_eq!(
        call(&SPEC, "a", 8).await,
        8,
        "nothing was cached while stalled"
    );
    let after = stats("ft_stall");
    assert_eq!(
        after.cache_errors - before.cache_errors,
        1,
        "the first call's read timed out: {after:?}"
    );
    assert_eq!(
        after.bypassed - before.bypassed,
        1,
        "which paused the key's partition: the second call skipped the cache: {after:?}"
    );
    assert_eq!(
        after.writes, before.writes,
        "no write-back after a read that timed out"
    );
    assert_eq!(after.hits, before.hits);
    server.faults().set_stall(false);
    assert!(
        eventually_cached(&SPEC, "a").await,
        "caching resumes after the stall"
    );
}

#[tokio::test]
async fn corrupt_replies_are_a_miss() {
    static SPEC: CacheSpec = CacheSpec {
        cache: None,
        namespace: None,
        set: "ft_corrupt",
        ttl: Ttl::Seconds(60),
        function: "f",
        codec: cacheaside_runtime::__private::Codec::MessagePack,
    };
    let Some((server, _turn)) = server("corrupt_replies_are_a_miss").await else {
        return;
    };
    assert!(eventually_cached(&SPEC, "a").await);
    let before = stats("ft_corrupt");
    server.faults().corrupt_next_reads(1);
    assert_eq!(
        call(&SPEC, "a", 5).await,
        5,
        "a corrupt entry is never returned"
    );
    let after = stats("ft_corrupt");
    assert_eq!(after.undecodable - before.undecodable, 1);
    assert_eq!(call(&SPEC, "a", 0).await, 5, "the reload was written back");
}

#[tokio::test]
async fn a_namespace_refusing_ttls_fails_open() {
    static WITH_TTL: CacheSpec = CacheSpec {
        cache: None,
        namespace: Some("nottl"),
        set: "ft_forbidden",
        ttl: Ttl::Seconds(60),
        function: "f",
        codec: cacheaside_runtime::__private::Codec::MessagePack,
    };
    static NEVER: CacheSpec = CacheSpec {
        cache: None,
        namespace: Some("nottl"),
        set: "ft_forbidden_never",
        ttl: Ttl::Never,
        function: "f",
        codec: cacheaside_runtime::__private::Codec::MessagePack,
    };
    let Some((server, _turn)) = server("a_namespace_refusing_ttls_fails_open").await else {
        return;
    };
    let before = stats("ft_forbidden");
    assert_eq!(call(&WITH_TTL, "a", 3).await, 3);
    assert_eq!(
        call(&WITH_TTL, "a", 4).await,
        4,
        "the write was refused, so nothing is cached"
    );
    // The first call may write before the namespace's check (on first use) has answered: the
    // server refuses it. Once the check has answered, nothing is sent.
    let after = stats("ft_forbidden");
    assert_eq!(
        (after.cache_errors - before.cache_errors)
            + (after.ttl_forbidden_skips - before.ttl_forbidden_skips),
        2
    );
    assert!(server.keys("nottl", "ft_forbidden").is_empty());
    // Records that never expire are accepted there.
    assert_eq!(call(&NEVER, "a", 3).await, 3);
    assert_eq!(call(&NEVER, "a", 0).await, 3);
}
