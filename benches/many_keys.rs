//! Hit throughput under concurrency over many keys, the way a busy service loads the cache: `N`
//! tasks calling in a loop over 20,000 distinct, already cached keys, so that concurrent calls
//! rarely share a key (and never a read). Three sides in the same process, on the same cluster:
//! the raw client's get (no decode), the hand-written recipe (get, decode), and
//! `#[cache_aside(set = …, ttl = 3600)] async fn`.
//!
//! Each configuration runs in windows of a fixed time, the sides interleaved round by round so
//! that noise hits all of them alike; the figures are medians over the rounds. Also a batch figure:
//! one batch loader call for 100 cached ids against 100 single calls and a hand-written batch read.
//!
//! `cargo bench --bench many_keys`. `CACHEASIDE_MANY_KEYS_TASKS=64` runs only that level (a list
//! separated by `,`); `CACHEASIDE_MANY_KEYS_ROUNDS=30` runs 30 interleaved rounds instead of 6; `CACHEASIDE_MANY_KEYS_ONLY=<side>:<tasks>:<seconds>` runs one side alone
//! (for a profiler) and prints its ops/s.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aerospike::{
    BatchOperation, BatchPolicy, BatchReadPolicy, Bins, Client, Key, ReadPolicy, Value,
};
use cacheaside::cache_aside;
use common::handwritten::HandWritten;
use common::{
    cluster, init_cacheaside, integer_key, paired_ratio_sized, put_raw, raw_client, raw_get,
    run_unique_base, runtime, set_stats, write_extra, LoadCounter, LoadError, User, DATA_BIN,
};
use criterion::{BenchmarkId, Criterion, Throughput};
use serde_json::json;

/// Distinct cached keys per side.
const KEYS: u64 = 20_000;
/// The concurrency levels reported; the acceptance figure is at 64.
const TASK_COUNTS: [usize; 4] = [1, 8, 64, 256];
/// Interleaved rounds per concurrency level; each round runs one window of every side.
/// `CACHEASIDE_MANY_KEYS_ROUNDS` sets another number (more rounds, a tighter median).
const ROUNDS: usize = 6;

fn rounds() -> usize {
    std::env::var("CACHEASIDE_MANY_KEYS_ROUNDS")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(ROUNDS)
}
/// Ids per batch call.
const BATCH: u64 = 100;

static CACHED_LOADS: LoadCounter = LoadCounter::new();
static HANDWRITTEN_LOADS: LoadCounter = LoadCounter::new();
static BATCH_LOADS: LoadCounter = LoadCounter::new();

/// The annotated function, as most users write it.
#[cache_aside(set = "bench_many", ttl = 3600)]
async fn user(id: u64) -> Result<User, LoadError> {
    CACHED_LOADS.count();
    Ok(User::sample(id))
}

/// A batch loader over the same kind of entries, keyed by id.
#[cache_aside(set = "bench_many_batch", ttl = 3600, batch)]
async fn users(ids: &[u64]) -> Result<HashMap<u64, User>, LoadError> {
    BATCH_LOADS.count();
    Ok(ids.iter().map(|&id| (id, User::sample(id))).collect())
}

/// A single-id reader of the batch loader's entries (`key = id`, as the batch keys them).
#[cache_aside(set = "bench_many_batch", ttl = 3600, key = id)]
async fn batch_user(id: u64) -> Result<User, LoadError> {
    BATCH_LOADS.count();
    Ok(User::sample(id))
}

/// The source behind the hand-written cache.
async fn load_user(id: u64) -> Result<User, LoadError> {
    HANDWRITTEN_LOADS.count();
    Ok(User::sample(id))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Side {
    Raw,
    HandWritten,
    CacheAside,
    /// Diagnostic, run only alone: the hand-written recipe with its client's I/O on a second
    /// runtime, polled in that runtime's context (a client shared by every caller, as
    /// `cacheaside`'s is).
    HandWrittenOtherRuntime,
}

impl Side {
    const ALL: [Side; 3] = [Side::Raw, Side::HandWritten, Side::CacheAside];

    fn name(self) -> &'static str {
        match self {
            Side::Raw => "raw_client",
            Side::HandWritten => "handwritten",
            Side::CacheAside => "cache_aside",
            Side::HandWrittenOtherRuntime => "handwritten_other_runtime",
        }
    }

    fn parse(name: &str) -> Option<Side> {
        let all = Side::ALL.into_iter().chain([Side::HandWrittenOtherRuntime]);
        all.into_iter().find(|side| side.name() == name)
    }
}

/// What every task of every side shares.
struct Keys {
    base: u64,
    namespace: String,
    client: Arc<Client>,
    handwritten: HandWritten,
    /// The diagnostic side's runtime and recipe, made only when that side runs: its client's
    /// tend task would otherwise run beside every other measurement.
    other: Option<OtherRuntime>,
}

/// A second runtime, and the hand-written recipe with a client living on it.
struct OtherRuntime {
    runtime: tokio::runtime::Runtime,
    handwritten: HandWritten,
}

impl Keys {
    fn id(&self, index: u64) -> u64 {
        self.base + index % KEYS
    }

    /// One get of `side` for key number `index`.
    async fn get(&self, side: Side, index: u64, policy: &ReadPolicy) {
        let id = self.id(index);
        match side {
            Side::Raw => {
                let key = integer_key(&self.namespace, "bench_many_raw", id);
                raw_get(&self.client, policy, &key).await;
            }
            Side::HandWritten => {
                let _ = self.handwritten.get_or_load(id, load_user(id)).await;
            }
            Side::CacheAside => {
                let _ = user(id).await;
            }
            Side::HandWrittenOtherRuntime => {
                let other = self.other.as_ref().expect("made for the diagnostic side");
                let get = other.handwritten.get_or_load(id, load_user(id));
                let _ = InContext(other.runtime.handle(), Box::pin(get)).await;
            }
        }
    }
}

/// A future polled inside another runtime's context.
struct InContext<'h, F>(&'h tokio::runtime::Handle, std::pin::Pin<Box<F>>);

impl<F: std::future::Future> std::future::Future for InContext<'_, F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let _inside = self.0.enter();
        self.1.as_mut().poll(cx)
    }
}

/// Caches every key on every side.
async fn warm(keys: &Arc<Keys>) {
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..64u64 {
        let keys = Arc::clone(keys);
        tasks.spawn(async move {
            let mut index = task;
            while index < KEYS {
                let id = keys.id(index);
                let raw = integer_key(&keys.namespace, "bench_many_raw", id);
                put_raw(&keys.client, &raw, &User::sample(id)).await;
                let _ = keys.handwritten.get_or_load(id, load_user(id)).await;
                let _ = user(id).await;
                index += 64;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a warming task panicked");
    }
}

/// Runs `tasks` tasks of `side` for `window`, each calling in a loop over its own stretch of the
/// keys; the calls per second of all of them.
async fn window(keys: &Arc<Keys>, side: Side, tasks: usize, window: Duration) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut running = tokio::task::JoinSet::new();
    let stretch = KEYS / tasks as u64;
    for task in 0..tasks as u64 {
        let (keys, stop, done) = (Arc::clone(keys), Arc::clone(&stop), Arc::clone(&done));
        running.spawn(async move {
            let policy = ReadPolicy::default();
            let mut index = task * stretch;
            let mut calls = 0;
            while !stop.load(Ordering::Relaxed) {
                keys.get(side, index, &policy).await;
                index += 1;
                calls += 1;
            }
            done.fetch_add(calls, Ordering::Relaxed);
        });
    }
    let started = Instant::now();
    tokio::time::sleep(window).await;
    stop.store(true, Ordering::Relaxed);
    while let Some(finished) = running.join_next().await {
        finished.expect("a throughput task panicked");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

/// Every side at every concurrency level, in interleaved windows.
async fn curve(keys: &Arc<Keys>, window_time: Duration) -> serde_json::Value {
    let mut levels = Vec::new();
    // `CACHEASIDE_MANY_KEYS_TASKS=64,256`: only these levels.
    let chosen: Vec<usize> = std::env::var("CACHEASIDE_MANY_KEYS_TASKS")
        .map(|list| {
            list.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|_| TASK_COUNTS.to_vec());
    for tasks in chosen {
        let mut ops: HashMap<Side, Vec<f64>> = HashMap::new();
        let mut ratios = Vec::new();
        for round in 0..rounds() {
            let mut measured = HashMap::new();
            // A different side goes first in each round.
            for turn in 0..Side::ALL.len() {
                let side = Side::ALL[(round + turn) % Side::ALL.len()];
                let rate = window(keys, side, tasks, window_time).await;
                measured.insert(side, rate);
                ops.entry(side).or_default().push(rate);
            }
            ratios.push(measured[&Side::CacheAside] / measured[&Side::HandWritten]);
        }
        let mut level = serde_json::Map::new();
        level.insert("tasks".into(), json!(tasks));
        for side in Side::ALL {
            let rates = ops.get_mut(&side).expect("every side ran");
            level.insert(
                side.name().into(),
                json!({ "median_ops": median(rates), "ops": rates.clone() }),
            );
        }
        level.insert(
            "ratio_to_handwritten".into(),
            json!({ "median": median(&mut ratios.clone()), "rounds": ratios }),
        );
        eprintln!("{}", serde_json::Value::Object(level.clone()));
        levels.push(serde_json::Value::Object(level));
    }
    serde_json::Value::Array(levels)
}

/// The batch figure: one batch loader call for `BATCH` cached ids, against `BATCH` single calls
/// in a row and against a hand-written batch read of the same records.
fn batch(c: &mut Criterion, rt: &tokio::runtime::Runtime, keys: &Arc<Keys>) -> serde_json::Value {
    let ids: Vec<u64> = (0..BATCH).map(|i| keys.base + KEYS + i).collect();
    let raw_keys: Vec<Key> = ids
        .iter()
        .map(|&id| integer_key(&keys.namespace, "bench_many_raw", id))
        .collect();
    rt.block_on(async {
        for (&id, key) in ids.iter().zip(&raw_keys) {
            put_raw(&keys.client, key, &User::sample(id)).await;
        }
        users(&ids).await.expect("the batch loader succeeds");
    });
    let before = BATCH_LOADS.get();
    let handwritten_batch = |client: Arc<Client>, raw_keys: Vec<Key>| async move {
        let mut reads: Vec<BatchOperation> = raw_keys
            .into_iter()
            .map(|key| {
                BatchOperation::read(&BatchReadPolicy::default(), key, Bins::from([DATA_BIN]))
            })
            .collect();
        client
            .batch(&BatchPolicy::default(), &mut reads)
            .await
            .expect("the batch read succeeds");
        let mut found = HashMap::new();
        for read in &mut reads {
            if let Some(record) = read.take_record() {
                if let Some(Value::Blob(bytes)) = record.bins.get(DATA_BIN) {
                    if let Ok(user) = rmp_serde::from_slice::<User>(bytes) {
                        found.insert(user.id, user);
                    }
                }
            }
        }
        found
    };
    let mut group = c.benchmark_group("batch_100");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("cache_aside_batch", |b| {
        b.to_async(rt).iter(|| users(&ids));
    });
    group.bench_function("cache_aside_single_calls", |b| {
        b.to_async(rt).iter(|| async {
            for &id in &ids {
                let _ = batch_user(id).await;
            }
        });
    });
    group.bench_function("handwritten_batch", |b| {
        b.to_async(rt)
            .iter(|| handwritten_batch(Arc::clone(&keys.client), raw_keys.clone()));
    });
    group.finish();
    let against_singles = rt.block_on(paired_ratio_sized(
        40,
        5,
        || users(&ids),
        || async {
            for &id in &ids {
                let _ = batch_user(id).await;
            }
        },
    ));
    let against_handwritten = rt.block_on(paired_ratio_sized(
        40,
        5,
        || users(&ids),
        || handwritten_batch(Arc::clone(&keys.client), raw_keys.clone()),
    ));
    json!({
        "ids": BATCH,
        "loads_during": BATCH_LOADS.get() - before,
        "against_single_calls": against_singles,
        "against_handwritten_batch": against_handwritten,
    })
}

fn main() {
    let rt = runtime();
    let cluster = cluster();
    let client = rt.block_on(async {
        init_cacheaside(&cluster.hosts, &cluster.namespace, Duration::from_secs(1)).await;
        Arc::new(raw_client(&cluster.hosts).await)
    });
    // `<side>:<tasks>:<seconds>`: that side alone.
    let only = std::env::var("CACHEASIDE_MANY_KEYS_ONLY").ok().map(|only| {
        let mut parts = only.split(':');
        let side = parts
            .next()
            .and_then(Side::parse)
            .expect("a side: raw_client, handwritten, cache_aside or handwritten_other_runtime");
        let tasks: usize = parts.next().and_then(|t| t.parse().ok()).unwrap_or(64);
        let seconds: u64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(10);
        (side, tasks, seconds)
    });
    let other = matches!(only, Some((Side::HandWrittenOtherRuntime, ..))).then(|| {
        let runtime = runtime();
        let other_client = Arc::new(runtime.block_on(raw_client(&cluster.hosts)));
        let handwritten = HandWritten::new(other_client, &cluster.namespace, "bench_many_hw");
        OtherRuntime {
            runtime,
            handwritten,
        }
    });
    let keys = Arc::new(Keys {
        base: run_unique_base() + 500_000_000,
        namespace: cluster.namespace.clone(),
        handwritten: HandWritten::new(Arc::clone(&client), &cluster.namespace, "bench_many_hw"),
        other,
        client,
    });
    rt.block_on(warm(&keys));
    let loads_before =
        json!({ "cache_aside": CACHED_LOADS.get(), "handwritten": HANDWRITTEN_LOADS.get() });

    if let Some((side, tasks, seconds)) = only {
        let rate = rt.block_on(window(&keys, side, tasks, Duration::from_secs(seconds)));
        eprintln!("{} with {tasks} tasks: {rate:.0} ops/s", side.name());
        return;
    }

    let mut criterion = common::criterion();
    let quick = common::quick_check();
    let window_time = if quick {
        Duration::from_millis(50)
    } else {
        Duration::from_secs(1)
    };
    let levels = rt.block_on(curve(&keys, window_time));
    let mut group = criterion.benchmark_group("many_keys");
    group.throughput(Throughput::Elements(64 * 16));
    for side in Side::ALL {
        let mut next = 0u64;
        group.bench_function(BenchmarkId::from_parameter(side.name()), |b| {
            b.to_async(&rt).iter(|| {
                next += 64 * 16;
                let (keys, start) = (Arc::clone(&keys), next);
                async move {
                    let mut tasks = tokio::task::JoinSet::new();
                    for task in 0..64u64 {
                        let keys = Arc::clone(&keys);
                        tasks.spawn(async move {
                            let policy = ReadPolicy::default();
                            for call in 0..16 {
                                keys.get(side, start + task * (KEYS / 64) + call, &policy)
                                    .await;
                            }
                        });
                    }
                    while let Some(done) = tasks.join_next().await {
                        done.expect("a throughput task panicked");
                    }
                }
            });
        });
    }
    group.finish();
    let batch = batch(&mut criterion, &rt, &keys);
    write_extra(
        "many_keys",
        &json!({
            "keys": KEYS,
            "window_ms": window_time.as_millis() as u64,
            "rounds": rounds(),
            "levels": levels,
            "batch": batch,
            "loads_before": loads_before,
            "loads_after": { "cache_aside": CACHED_LOADS.get(), "handwritten": HANDWRITTEN_LOADS.get() },
            "stats": set_stats("bench_many"),
        }),
    );
    criterion.final_summary();
}
