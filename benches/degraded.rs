//! A sick cache: the latency each call adds when the server stalls (answers nothing) or is
//! stopped (refuses connections), for `#[cache_aside]` and the hand-written recipe, call by call
//! and, once `#[cache_aside]`'s breaker has opened, in the steady state.
//!
//! `cargo bench --bench degraded`. Needs the testkit's fault injection: skipped when
//! `AEROSPIKE_HOSTS` names a real cluster.

mod common;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cacheaside::cache_aside;
use cacheaside_testkit::TestServer;
use common::handwritten::HandWritten;
use common::{
    init_cacheaside, nanos, raw_client, runtime, set_stats, start_testkit, write_extra, LoadError,
    User,
};
use criterion::Criterion;
use serde_json::json;
use tokio::runtime::Runtime;

/// Calls timed one by one after the fault starts.
const SEQUENCE_CALLS: usize = 12;
/// The hand-written recipe waits for the client's default timeouts (1 s per read and write)
/// under a stall, so it gets fewer calls.
const HANDWRITTEN_STALLED_CALLS: usize = 3;
const SET: &str = "bench_degraded";
const HANDWRITTEN_SET: &str = "bench_degraded_handwritten";
const ID: u64 = 7;

#[cache_aside(set = "bench_degraded", ttl = 3600, key = id)]
async fn profile_cached(id: u64) -> Result<User, LoadError> {
    load_profile(id).await
}

/// The body alone: what a call costs without any cache.
async fn load_profile(id: u64) -> Result<User, LoadError> {
    Ok(User::sample(id))
}

/// Times `calls` calls one after the other, in nanoseconds.
fn sequence<F, Fut>(runtime: &Runtime, calls: usize, call: F) -> Vec<u64>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<User, LoadError>>,
{
    runtime.block_on(async {
        let mut latencies = Vec::with_capacity(calls);
        for _ in 0..calls {
            let start = Instant::now();
            let _ = call().await;
            latencies.push(nanos(start.elapsed()));
        }
        latencies
    })
}

/// A fresh server with `#[cache_aside]` installed on it and `ID` cached on both sides.
fn healthy(runtime: &Runtime, reconnect_interval: Duration) -> (TestServer, Arc<HandWritten>) {
    let server = start_testkit();
    let handwritten = runtime.block_on(async {
        init_cacheaside(&server.hosts(), "test", reconnect_interval).await;
        let client = Arc::new(raw_client(&server.hosts()).await);
        let handwritten = Arc::new(HandWritten::new(client, "test", HANDWRITTEN_SET));
        for _ in 0..2 {
            profile_cached(ID).await.expect("the loader succeeds");
            let _ = handwritten.get_or_load(ID, load_profile(ID)).await;
        }
        handwritten
    });
    (server, handwritten)
}

fn stalled(criterion: &mut Criterion, runtime: &Runtime) -> serde_json::Value {
    // A long pause keeps the breaker open through the steady-state measurement.
    let (server, handwritten) = healthy(runtime, Duration::from_secs(120));
    let healthy_hits = sequence(runtime, SEQUENCE_CALLS, || profile_cached(ID));
    server.faults().set_stall(true);
    let ours = sequence(runtime, SEQUENCE_CALLS, || profile_cached(ID));

    let mut group = criterion.benchmark_group("degraded_stalled");
    group.bench_function("loader_only", |b| {
        b.to_async(runtime).iter(|| load_profile(ID));
    });
    group.bench_function("cache_aside_breaker_open", |b| {
        b.to_async(runtime).iter(|| profile_cached(ID));
    });
    group.finish();

    let calls = if common::quick_check() {
        1
    } else {
        HANDWRITTEN_STALLED_CALLS
    };
    let theirs = sequence(runtime, calls, || {
        handwritten.get_or_load(ID, load_profile(ID))
    });
    server.faults().set_stall(false);
    json!({
        "healthy_hits_ns": healthy_hits,
        "cache_aside_ns": ours,
        "handwritten_ns": theirs,
        "cache_aside_counters": set_stats(SET),
    })
}

fn stopped(criterion: &mut Criterion, runtime: &Runtime) -> serde_json::Value {
    let (server, handwritten) = healthy(runtime, Duration::from_secs(1));
    runtime.block_on(server.stop());
    let ours = sequence(runtime, SEQUENCE_CALLS, || profile_cached(ID));
    let theirs = sequence(runtime, SEQUENCE_CALLS, || {
        handwritten.get_or_load(ID, load_profile(ID))
    });

    let mut group = criterion.benchmark_group("degraded_stopped");
    group.bench_function("loader_only", |b| {
        b.to_async(runtime).iter(|| load_profile(ID));
    });
    group.bench_function("cache_aside", |b| {
        b.to_async(runtime).iter(|| profile_cached(ID));
    });
    group.bench_function("handwritten", |b| {
        b.to_async(runtime)
            .iter(|| handwritten.get_or_load(ID, load_profile(ID)));
    });
    group.finish();
    json!({
        "cache_aside_ns": ours,
        "handwritten_ns": theirs,
    })
}

/// The default operation timeout the benches run with.
fn operation_timeout_ms() -> u64 {
    cacheaside::Config::builder()
        .build()
        .map(|config| u64::try_from(config.operation_timeout().as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn main() {
    if std::env::var_os("AEROSPIKE_HOSTS").is_some() {
        eprintln!("degraded: skipped, it injects faults into the testkit (AEROSPIKE_HOSTS is set)");
        write_extra(
            "degraded",
            &json!({ "skipped": "needs the testkit's fault injection" }),
        );
        return;
    }
    let runtime = runtime();
    let mut criterion = common::criterion();
    let stalled = stalled(&mut criterion, &runtime);
    let stopped = stopped(&mut criterion, &runtime);
    write_extra(
        "degraded",
        &json!({
            "operation_timeout_ms": operation_timeout_ms(),
            "stalled": stalled,
            "stopped": stopped,
        }),
    );
    criterion.final_summary();
}
