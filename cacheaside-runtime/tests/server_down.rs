//! Aerospike down when the process starts: calls succeed (running their bodies), connecting is
//! retried in the background, and caching resumes once the server is up. Testkit only.

mod common;

use std::time::Duration;

use cacheaside_runtime::__private::{default_key, get_or_load, invalidate, CacheSpec, PlainKind};
use cacheaside_runtime::{ErrorKind, Ttl};
use cacheaside_testkit::TestServer;

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_down",
    ttl: Ttl::Seconds(3600),
    function: "f",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

async fn call(value: u32) -> u32 {
    get_or_load(
        &SPEC,
        default_key(&SPEC, "app", &(&"k",)),
        PlainKind,
        async { value },
    )
    .await
}

#[tokio::test]
async fn calls_succeed_while_down_and_caching_resumes_after_start() {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty()) {
        eprintln!(
            "calls_succeed_while_down_and_caching_resumes_after_start: skipped, needs the testkit"
        );
        return;
    }
    let server = TestServer::start().await.unwrap();
    server.stop().await;

    let config = cacheaside_runtime::Config::builder()
        .hosts(server.hosts())
        .operation_timeout(Duration::from_millis(1_000))
        .connect_timeout(Duration::from_millis(1_000))
        .reconnect_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    cacheaside_runtime::init(config)
        .await
        .expect("an unreachable server is not an init error");

    // Down: every call runs its body; nothing can be cached.
    for value in 1..=3 {
        assert_eq!(call(value).await, value);
    }
    let error = invalidate(&SPEC, default_key(&SPEC, "app", &(&"k",)))
        .await
        .unwrap_err();
    assert_eq!(
        error.kind(),
        ErrorKind::Unavailable,
        "invalidate reports the outage: {error}"
    );
    let down = cacheaside_runtime::stats().set("rt_down");
    assert_eq!(down.loads, 3);
    assert!(
        down.bypassed >= 3,
        "calls skip the cache while not connected: {down:?}"
    );

    // Up again: the background task connects and calls start hitting the cache.
    server.start_again().await.unwrap();
    assert!(
        eventually_cached(10).await,
        "caching resumed after the server came up"
    );
    assert!(server
        .record("test", "rt_down", "::app::f(\"k\")")
        .is_some());

    // Down again after having been connected: calls still succeed, and the client finds the
    // server again when it comes back.
    server.stop().await;
    server.clear();
    assert_eq!(call(20).await, 20);
    assert_eq!(call(21).await, 21);
    server.start_again().await.unwrap();
    assert!(
        eventually_cached(30).await,
        "caching resumed after the second outage"
    );
}

/// Calls until a value written by one call is served to the next, a bounded number of times.
async fn eventually_cached(value: u32) -> bool {
    for _ in 0..200 {
        call(value).await;
        if call(0).await == value {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
