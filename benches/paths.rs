//! The hit path, the miss path and throughput of `#[cache_aside]` against the hand-written recipe
//! and the raw client, measured in the same process on the same cluster.
//!
//! `cargo bench --bench paths`. With `CACHEASIDE_HIT_LOOP=N` (and `CACHEASIDE_HIT_VARIANT=
//! cache_aside|handwritten`) it only warms one key and runs N hits, for instruction counts under
//! `valgrind --tool=callgrind`.

mod common;

use std::sync::Arc;
use std::time::Instant;

use aerospike::{Client, Key, ReadPolicy};
use cacheaside::cache_aside;
use common::handwritten::HandWritten;
use common::{
    cluster, cold_id, init_cacheaside, integer_key, nanos, paired_ratio, paired_ratio_sized,
    put_raw, quantile, raw_client, raw_get, runtime, write_extra, LoadCounter, LoadError, User,
};
use criterion::{BenchmarkId, Criterion, Throughput};
use serde_json::json;

/// Tasks of the throughput bench, and gets each task does per iteration.
const TASKS: u64 = 64;
const GETS_PER_TASK: u64 = 16;
/// Interleaved pairs of throughput iterations.
const THROUGHPUT_PAIRED_ROUNDS: usize = 30;
/// Hits of both sides before the counted ones of `CACHEASIDE_HIT_LOOP`.
const HIT_LOOP_WARM_UP: u64 = 2_000;
/// Individually timed hits per side, for the latency distribution.
const TIMED_HITS: usize = 4_000;

static CACHED_LOADS: LoadCounter = LoadCounter::new();
static KEYED_LOADS: LoadCounter = LoadCounter::new();
static HANDWRITTEN_LOADS: LoadCounter = LoadCounter::new();

/// The annotated function, as most users write it: the default (readable) key.
#[cache_aside(set = "bench_paths", ttl = 3600)]
async fn user_cached(id: u64) -> Result<User, LoadError> {
    CACHED_LOADS.count();
    Ok(User::sample(id))
}

/// The annotated function with an integer key, as the hand-written code uses.
#[cache_aside(set = "bench_paths_keyed", ttl = 3600, key = id)]
async fn user_cached_keyed(id: u64) -> Result<User, LoadError> {
    KEYED_LOADS.count();
    Ok(User::sample(id))
}

/// The source behind the hand-written cache.
async fn load_user(id: u64) -> Result<User, LoadError> {
    HANDWRITTEN_LOADS.count();
    Ok(User::sample(id))
}

/// Everything the benches of this file share.
struct Setup {
    runtime: tokio::runtime::Runtime,
    handwritten: Arc<HandWritten>,
    /// The hand-written recipe with a client living on `bridge`, for the runtime-hop diagnostic.
    bridged: HandWritten,
    bridge: tokio::runtime::Runtime,
    client: Arc<Client>,
    namespace: String,
}

fn setup() -> Setup {
    let runtime = runtime();
    let cluster = cluster();
    let client = runtime.block_on(async {
        init_cacheaside(
            &cluster.hosts,
            &cluster.namespace,
            std::time::Duration::from_secs(1),
        )
        .await;
        Arc::new(raw_client(&cluster.hosts).await)
    });
    let handwritten = Arc::new(HandWritten::new(
        Arc::clone(&client),
        &cluster.namespace,
        "bench_handwritten",
    ));
    let bridge = common::runtime();
    let bridged_client = Arc::new(bridge.block_on(raw_client(&cluster.hosts)));
    let bridged = HandWritten::new(bridged_client, &cluster.namespace, "bench_handwritten");
    Setup {
        runtime,
        handwritten,
        bridged,
        bridge,
        client,
        namespace: cluster.namespace.clone(),
    }
}

/// Caches `id` on every side; the load counters saved with the figures show that later calls hit.
fn warm(setup: &Setup, id: u64) {
    setup.runtime.block_on(async {
        for _ in 0..2 {
            user_cached(id).await.expect("the loader succeeds");
            user_cached_keyed(id).await.expect("the loader succeeds");
            setup
                .handwritten
                .get_or_load(id, load_user(id))
                .await
                .expect("the loader succeeds");
        }
    });
}

/// Loads since the start, per side, to prove hits were hits.
fn loads() -> serde_json::Value {
    json!({
        "cache_aside": CACHED_LOADS.get(),
        "cache_aside_key_expr": KEYED_LOADS.get(),
        "handwritten": HANDWRITTEN_LOADS.get(),
    })
}

fn hit(c: &mut Criterion, setup: &Setup) {
    let id = cold_id();
    warm(setup, id);
    let before = loads();
    let mut group = c.benchmark_group("hit");
    group.bench_function("handwritten", |b| {
        b.to_async(&setup.runtime)
            .iter(|| setup.handwritten.get_or_load(id, load_user(id)));
    });
    group.bench_function("cache_aside", |b| {
        b.to_async(&setup.runtime).iter(|| user_cached(id));
    });
    group.bench_function("cache_aside_key_expr", |b| {
        b.to_async(&setup.runtime).iter(|| user_cached_keyed(id));
    });
    let bridge = setup.bridge.handle();
    group.bench_function("handwritten_via_runtime_hop", |b| {
        b.to_async(&setup.runtime)
            .iter(|| setup.bridged.get_or_load_via(bridge, id, load_user(id)));
    });
    group.finish();
    let distribution = timed_hits(setup, id);
    let bridge = setup.bridge.handle();
    let paired = setup.runtime.block_on(async {
        let handwritten = || setup.handwritten.get_or_load(id, load_user(id));
        json!({
            "cache_aside": paired_ratio(|| user_cached(id), handwritten).await,
            "cache_aside_key_expr": paired_ratio(|| user_cached_keyed(id), handwritten).await,
            "handwritten_via_runtime_hop": paired_ratio(
                || setup.bridged.get_or_load_via(bridge, id, load_user(id)),
                handwritten,
            )
            .await,
        })
    });
    write_extra(
        "hit",
        &json!({
            "loads_before": before,
            "loads_after": loads(),
            "latency_ns": distribution,
            "paired": paired,
        }),
    );
}

/// Times single hits of both sides, interleaved so that noise hits both alike.
fn timed_hits(setup: &Setup, id: u64) -> serde_json::Value {
    let rounds = if common::quick_check() {
        50
    } else {
        TIMED_HITS
    };
    let (mut ours, mut theirs) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    setup.runtime.block_on(async {
        for _ in 0..rounds {
            let start = Instant::now();
            let _ = user_cached(id).await;
            ours.push(nanos(start.elapsed()));
            let start = Instant::now();
            let _ = setup.handwritten.get_or_load(id, load_user(id)).await;
            theirs.push(nanos(start.elapsed()));
        }
    });
    ours.sort_unstable();
    theirs.sort_unstable();
    let summary = |sorted: &[u64]| {
        json!({
            "p50": quantile(sorted, 0.5),
            "p90": quantile(sorted, 0.9),
            "p99": quantile(sorted, 0.99),
            "max": quantile(sorted, 1.0),
        })
    };
    json!({
        "cache_aside": { "summary": summary(&ours), "sorted": ours },
        "handwritten": { "summary": summary(&theirs), "sorted": theirs },
    })
}

fn miss(c: &mut Criterion, setup: &Setup) {
    let before = loads();
    let mut group = c.benchmark_group("miss");
    group.bench_function("handwritten", |b| {
        b.to_async(&setup.runtime).iter(|| {
            let id = cold_id();
            setup.handwritten.get_or_load(id, load_user(id))
        });
    });
    group.bench_function("cache_aside", |b| {
        b.to_async(&setup.runtime).iter(|| user_cached(cold_id()));
    });
    group.bench_function("cache_aside_key_expr", |b| {
        b.to_async(&setup.runtime)
            .iter(|| user_cached_keyed(cold_id()));
    });
    let bridge = setup.bridge.handle();
    group.bench_function("handwritten_via_runtime_hop", |b| {
        b.to_async(&setup.runtime).iter(|| {
            let id = cold_id();
            setup.bridged.get_or_load_via(bridge, id, load_user(id))
        });
    });
    group.finish();
    let bridge = setup.bridge.handle();
    let paired = setup.runtime.block_on(async {
        let handwritten = || {
            let id = cold_id();
            setup.handwritten.get_or_load(id, load_user(id))
        };
        json!({
            "cache_aside": paired_ratio(|| user_cached(cold_id()), handwritten).await,
            "cache_aside_key_expr": paired_ratio(|| user_cached_keyed(cold_id()), handwritten).await,
            "handwritten_via_runtime_hop": paired_ratio(
                || {
                    let id = cold_id();
                    setup.bridged.get_or_load_via(bridge, id, load_user(id))
                },
                handwritten,
            )
            .await,
        })
    });
    write_extra(
        "miss",
        &json!({ "loads_before": before, "loads_after": loads(), "paired": paired }),
    );
}

/// The hot keys of the throughput bench, one per task, cached on every side.
struct HotKeys {
    ids: Vec<u64>,
    raw_keys: Vec<Key>,
}

/// One iteration of the throughput bench: `TASKS` tasks doing `GETS_PER_TASK` gets each.
async fn gets_in_parallel(variant: &'static str, keys: Arc<HotKeys>, setup: &Setup) {
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..keys.ids.len() {
        let keys = Arc::clone(&keys);
        let (client, handwritten) = (Arc::clone(&setup.client), Arc::clone(&setup.handwritten));
        tasks.spawn(async move {
            let (id, key) = (keys.ids[task], &keys.raw_keys[task]);
            let policy = ReadPolicy::default();
            for _ in 0..GETS_PER_TASK {
                match variant {
                    "raw_client" => {
                        raw_get(&client, &policy, key).await;
                    }
                    "handwritten" => {
                        let _ = handwritten.get_or_load(id, load_user(id)).await;
                    }
                    _ => {
                        let _ = user_cached(id).await;
                    }
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a throughput task panicked");
    }
}

fn throughput(c: &mut Criterion, setup: &Setup) {
    let ids: Vec<u64> = (0..TASKS).map(|_| cold_id()).collect();
    let raw_keys = ids
        .iter()
        .map(|&id| integer_key(&setup.namespace, "bench_raw", id))
        .collect();
    let keys = Arc::new(HotKeys { ids, raw_keys });
    setup.runtime.block_on(async {
        for (&id, key) in keys.ids.iter().zip(keys.raw_keys.iter()) {
            put_raw(&setup.client, key, &User::sample(id)).await;
        }
    });
    for &id in keys.ids.iter() {
        warm(setup, id);
    }
    let before = loads();

    let mut group = c.benchmark_group("throughput");
    group.throughput(Throughput::Elements(TASKS * GETS_PER_TASK));
    for variant in ["raw_client", "handwritten", "cache_aside"] {
        group.bench_function(BenchmarkId::from_parameter(variant), |b| {
            b.to_async(&setup.runtime)
                .iter(|| gets_in_parallel(variant, Arc::clone(&keys), setup));
        });
    }
    group.finish();
    // Time ratios of whole iterations, interleaved: ops/s ratios are their inverses.
    let paired = setup.runtime.block_on(paired_ratio_sized(
        THROUGHPUT_PAIRED_ROUNDS,
        1,
        || gets_in_parallel("cache_aside", Arc::clone(&keys), setup),
        || gets_in_parallel("raw_client", Arc::clone(&keys), setup),
    ));
    write_extra(
        "throughput",
        &json!({
            "tasks": TASKS,
            "gets_per_task": GETS_PER_TASK,
            "loads_before": before,
            "loads_after": loads(),
            "paired_time_ratio": paired,
        }),
    );
}

/// `CACHEASIDE_HIT_LOOP=N`: N hits of one side and nothing else, for instruction counts.
fn hit_loop(setup: &Setup, hits: u64) {
    let variant = std::env::var("CACHEASIDE_HIT_VARIANT").unwrap_or_else(|_| "cache_aside".into());
    let id = cold_id();
    warm(setup, id);
    let before = loads();
    setup.runtime.block_on(async {
        // The same steady state in every run, whatever `hits`: past the operations after which
        // the runtime gets a client of its own (`Config::client_per_runtime`), and past its
        // connecting, so that the difference of two runs counts hits alone.
        for _ in 0..HIT_LOOP_WARM_UP {
            let _ = user_cached(id).await;
            let _ = setup.handwritten.get_or_load(id, load_user(id)).await;
        }
        for _ in 0..hits {
            match variant.as_str() {
                "handwritten" => {
                    let _ = setup.handwritten.get_or_load(id, load_user(id)).await;
                }
                _ => {
                    let _ = user_cached(id).await;
                }
            }
        }
    });
    eprintln!(
        "{hits} hits of {variant}; loads before {before}, after {}",
        loads()
    );
}

fn main() {
    let setup = setup();
    if let Some(hits) = std::env::var("CACHEASIDE_HIT_LOOP")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        hit_loop(&setup, hits);
        return;
    }
    let mut criterion = common::criterion();
    hit(&mut criterion, &setup);
    miss(&mut criterion, &setup);
    throughput(&mut criterion, &setup);
    criterion.final_summary();
}
