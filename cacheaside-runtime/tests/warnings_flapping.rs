//! A cluster that fails and recovers over and over (the breaker opening and closing) is reported
//! a bounded number of times, not once per flap. Needs the testkit's faults; skipped against a
//! real server.

mod common;

use std::time::{Duration, Instant};

use cacheaside_runtime::__private::{default_key, get_or_load, CacheSpec, PlainKind};
use cacheaside_runtime::Ttl;
use cacheaside_testkit::TestServer;
use common::logs;

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_warnings_flapping",
    ttl: Ttl::Seconds(60),
    function: "f",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

async fn call(arg: u32) -> u32 {
    get_or_load(
        &SPEC,
        default_key(&SPEC, "app", &(&arg,)),
        PlainKind,
        async move { arg },
    )
    .await
}

/// Result code 1: a server error, which counts against the cluster's health.
const SERVER_ERROR: u8 = 1;

/// How often the breaker opens and closes.
const CYCLES: usize = 100;

/// Lines a rate limit of one per ten seconds allows in `elapsed`, for each of a warning and its
/// recovery.
fn allowed(elapsed: Duration) -> usize {
    1 + (elapsed.as_secs() / 10) as usize
}

#[tokio::test]
async fn a_flapping_breaker_logs_a_bounded_number_of_lines() {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty()) {
        eprintln!("a_flapping_breaker_logs_a_bounded_number_of_lines: skipped, it needs the testkit server");
        return;
    }
    logs::capture();
    let server = TestServer::start().await.unwrap();
    let config = cacheaside_runtime::Config::builder()
        .hosts(server.hosts())
        .operation_timeout(Duration::from_millis(2_000))
        // The breaker's pause: short, so that it closes again right away.
        .reconnect_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    cacheaside_runtime::init(config).await.unwrap();
    assert_eq!(call(0).await, 0);

    let started = Instant::now();
    for cycle in 0..CYCLES {
        server.faults().fail_next(5, SERVER_ERROR);
        // Keys not used before: a partition that failed recently would be skipped, not read.
        for arg in 0..5 {
            call(10 * cycle as u32 + arg).await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        // The probe after the pause is answered: the breaker closes.
        server.faults().clear();
        call(100_000 + cycle as u32).await;
    }
    let elapsed = started.elapsed();
    let openings = cacheaside_runtime::stats()
        .set("rt_warnings_flapping")
        .breaker_opens;
    assert!(
        openings >= CYCLES as u64 / 2,
        "the breaker flapped ({openings} openings)"
    );

    let warnings = logs::matching(&["level=WARN", "cause=Breaker"]);
    assert!(
        !warnings.is_empty() && warnings.len() <= allowed(elapsed),
        "{} breaker warnings in {elapsed:?}: {warnings:?}",
        warnings.len()
    );
}
