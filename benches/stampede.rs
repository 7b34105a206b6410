//! A stampede: 1,000 concurrent callers ask for one cold key whose source takes 20 ms. Counted:
//! loader calls per round and each caller's latency, for `#[cache_aside]` and the hand-written
//! recipe; criterion times whole rounds.
//!
//! `cargo bench --bench stampede`. It measures whatever the engine does today: without
//! single-flight every caller misses and loads.

mod common;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cacheaside::cache_aside;
use common::handwritten::HandWritten;
use common::{
    cluster, cold_id, init_cacheaside, nanos, quantile, raw_client, runtime, set_stats,
    write_extra, LoadCounter, LoadError, User,
};
use serde_json::json;

const CALLERS: usize = 1_000;
/// How long the source of truth takes: long enough for every caller to arrive during the load.
const SOURCE_LATENCY: Duration = Duration::from_millis(20);
const SET: &str = "bench_stampede";
const HANDWRITTEN_SET: &str = "bench_stampede_handwritten";

static CACHED_LOADS: LoadCounter = LoadCounter::new();
static HANDWRITTEN_LOADS: LoadCounter = LoadCounter::new();

#[cache_aside(set = "bench_stampede", ttl = 3600, key = id)]
async fn report_cached(id: u64) -> Result<User, LoadError> {
    CACHED_LOADS.count();
    tokio::time::sleep(SOURCE_LATENCY).await;
    Ok(User::sample(id))
}

async fn load_report(id: u64) -> Result<User, LoadError> {
    HANDWRITTEN_LOADS.count();
    tokio::time::sleep(SOURCE_LATENCY).await;
    Ok(User::sample(id))
}

/// What the rounds of one side saw.
#[derive(Default)]
struct Rounds {
    loads_per_round: Vec<u64>,
    caller_latencies_ns: Vec<u64>,
    failed_calls: u64,
}

impl Rounds {
    fn to_json(&self) -> serde_json::Value {
        let mut loads = self.loads_per_round.clone();
        loads.sort_unstable();
        let mut latencies = self.caller_latencies_ns.clone();
        latencies.sort_unstable();
        json!({
            "rounds": loads.len(),
            "callers_per_round": CALLERS,
            "loads_per_round": {
                "min": loads.first().copied().unwrap_or(0),
                "median": quantile(&loads, 0.5),
                "max": loads.last().copied().unwrap_or(0),
            },
            "caller_latency_ns": {
                "p50": quantile(&latencies, 0.5),
                "p99": quantile(&latencies, 0.99),
                "max": quantile(&latencies, 1.0),
            },
            "failed_calls": self.failed_calls,
        })
    }
}

/// One round: `CALLERS` tasks call `call(id)` for one cold id at once.
async fn round<F, Fut>(id: u64, loads: &LoadCounter, rounds: &Mutex<Rounds>, call: F) -> Duration
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Result<User, LoadError>> + Send + 'static,
{
    let loads_before = loads.get();
    let start = Instant::now();
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..CALLERS {
        let call = call(id);
        callers.spawn(async move {
            let start = Instant::now();
            let outcome = call.await;
            (nanos(start.elapsed()), outcome.is_ok())
        });
    }
    let mut latencies = Vec::with_capacity(CALLERS);
    let mut failed = 0;
    while let Some(joined) = callers.join_next().await {
        let (latency, ok) = joined.expect("a caller panicked");
        latencies.push(latency);
        failed += u64::from(!ok);
    }
    let elapsed = start.elapsed();
    let mut rounds = rounds.lock().unwrap_or_else(PoisonError::into_inner);
    rounds.loads_per_round.push(loads.get() - loads_before);
    rounds.caller_latencies_ns.extend(latencies);
    rounds.failed_calls += failed;
    elapsed
}

fn main() {
    let runtime = runtime();
    let cluster = cluster();
    let handwritten = runtime.block_on(async {
        init_cacheaside(&cluster.hosts, &cluster.namespace, Duration::from_secs(1)).await;
        let client = Arc::new(raw_client(&cluster.hosts).await);
        Arc::new(HandWritten::new(
            client,
            &cluster.namespace,
            HANDWRITTEN_SET,
        ))
    });
    let ours = Mutex::new(Rounds::default());
    let theirs = Mutex::new(Rounds::default());

    let mut criterion = common::criterion()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300));
    let mut group = criterion.benchmark_group("stampede");
    group.bench_function("handwritten", |b| {
        b.to_async(&runtime).iter_custom(|iterations| {
            let (handwritten, theirs) = (Arc::clone(&handwritten), &theirs);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let call = |id| {
                        let handwritten = Arc::clone(&handwritten);
                        async move { handwritten.get_or_load(id, load_report(id)).await }
                    };
                    total += round(cold_id(), &HANDWRITTEN_LOADS, theirs, call).await;
                }
                total
            }
        });
    });
    group.bench_function("cache_aside", |b| {
        b.to_async(&runtime).iter_custom(|iterations| {
            let ours = &ours;
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    total += round(cold_id(), &CACHED_LOADS, ours, report_cached).await;
                }
                total
            }
        });
    });
    group.finish();

    let lock = |rounds: &Mutex<Rounds>| {
        rounds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .to_json()
    };
    write_extra(
        "stampede",
        &json!({
            "source_latency_ms": SOURCE_LATENCY.as_millis() as u64,
            "handwritten": lock(&theirs),
            "cache_aside": lock(&ours),
            "cache_aside_counters": set_stats(SET),
        }),
    );
    criterion.final_summary();
}
