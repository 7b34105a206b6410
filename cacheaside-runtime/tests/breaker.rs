//! A cluster that stops answering costs each call at most one operation timeout, and after a run
//! of timeouts none at all until it answers again. Needs the testkit's stall; skipped against a
//! real server.

use std::time::Duration;

use cacheaside_runtime::__private::{default_key, get_or_load, CacheSpec, PlainKind};
use cacheaside_runtime::Ttl;
use cacheaside_testkit::TestServer;

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_breaker",
    ttl: Ttl::Seconds(60),
    function: "f",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

async fn call(arg: u32, value: u32) -> u32 {
    get_or_load(
        &SPEC,
        default_key(&SPEC, "app", &(&arg,)),
        PlainKind,
        async { value },
    )
    .await
}

#[tokio::test]
async fn timeouts_open_the_breaker_and_answers_close_it() {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty()) {
        eprintln!(
            "timeouts_open_the_breaker_and_answers_close_it: skipped, it needs the testkit server"
        );
        return;
    }
    let server = TestServer::start().await.unwrap();
    let config = cacheaside_runtime::Config::builder()
        .hosts(server.hosts())
        .operation_timeout(Duration::from_millis(200))
        // The pause of the breaker: long enough that the calls below all fall into it.
        .reconnect_interval(Duration::from_secs(3))
        .build()
        .unwrap();
    cacheaside_runtime::init(config).await.unwrap();
    assert_eq!(call(0, 1).await, 1);
    assert_eq!(call(0, 0).await, 1, "cached before the stall");

    server.faults().set_stall(true);
    let before = server.counters();
    for value in 1..=5 {
        assert_eq!(call(value, value).await, value);
    }
    let stalled = server.counters();
    // A read that times out on its node is retried once, within the same budget.
    assert_eq!(
        stalled.reads - before.reads,
        10,
        "a read and its retry per call"
    );
    assert_eq!(
        stalled.writes, before.writes,
        "no write-back after a read that timed out"
    );

    // Five timeouts in a row on a one-node cluster: the breaker is open, calls no longer reach
    // the server.
    let before = cacheaside_runtime::stats().set("rt_breaker");
    for value in 10..30 {
        assert_eq!(call(value, value).await, value);
    }
    let open = server.counters();
    assert_eq!(
        open.reads, stalled.reads,
        "no reads while the breaker is open"
    );
    let after = cacheaside_runtime::stats().set("rt_breaker");
    assert_eq!(
        after.bypassed - before.bypassed,
        20,
        "each bypass is counted"
    );
    assert_eq!(
        after.cache_errors, before.cache_errors,
        "as a bypass, not as a cache error"
    );

    // The cluster answers again: after the pause, caching resumes.
    server.faults().set_stall(false);
    let mut cached = false;
    for _ in 0..200 {
        call(100, 7).await;
        if call(100, 0).await == 7 {
            cached = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(cached, "caching resumed once the server answered");
}
