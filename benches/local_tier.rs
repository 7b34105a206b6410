//! A hit in the in-process tier of `local(…)` against a raw moka get of the same value, measured
//! in the same run: targets under 1 µs per hit and at most 1.5 times the raw get.
//!
//! `cargo bench --bench local_tier`. Both sides hold the same small struct ([`User`]) and clone
//! it on a hit; the annotated side also builds its key from the arguments, looks up its counters
//! and counts the hit. Figures for the report go to `<extras_dir>/local_tier.json`.

mod common;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use cacheaside::cache_aside;
use common::{cluster, init_cacheaside, paired_ratio, runtime, write_extra, LoadCounter, User};
use criterion::Criterion;
use serde_json::json;

static LOADS: LoadCounter = LoadCounter::new();

/// As most users write it: the default (readable) key.
#[cache_aside(set = "bench_local", ttl = 3600, local(ttl = "1h", capacity = 10_000))]
async fn user_local(id: u64) -> User {
    LOADS.count();
    User::sample(id)
}

/// With an integer key, as a hand-written moka cache would use.
#[cache_aside(set = "bench_local_keyed", ttl = 3600, key = id, local(ttl = "1h"))]
async fn user_local_keyed(id: u64) -> User {
    LOADS.count();
    User::sample(id)
}

/// A sync function: the local hit is the same code without a future.
#[cache_aside(set = "bench_local_sync", ttl = 3600, local(ttl = "1h"))]
fn user_local_sync(id: u64) -> User {
    LOADS.count();
    User::sample(id)
}

/// Polls a future that must be ready at once, as a local hit is (it never awaits).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut context) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a local hit does not wait"),
    }
}

fn bench(c: &mut Criterion) {
    let runtime = runtime();
    let cluster = cluster();
    runtime.block_on(init_cacheaside(
        &cluster.hosts,
        &cluster.namespace,
        Duration::from_secs(1),
    ));
    const ID: u64 = 7;
    // Misses that fill both tiers.
    runtime.block_on(async {
        user_local(ID).await;
        user_local_keyed(ID).await;
    });
    user_local_sync(ID);
    let loads = LOADS.get();

    let raw: moka::sync::Cache<u64, User> = moka::sync::Cache::builder()
        .max_capacity(10_000)
        .time_to_live(Duration::from_secs(3600))
        .build();
    raw.insert(ID, User::sample(ID));

    let mut group = c.benchmark_group("local_tier");
    group.bench_function("cache_aside_default_key", |b| {
        b.iter(|| ready(user_local(std::hint::black_box(ID))))
    });
    group.bench_function("cache_aside_key_id", |b| {
        b.iter(|| ready(user_local_keyed(std::hint::black_box(ID))))
    });
    group.bench_function("cache_aside_sync_fn", |b| {
        b.iter(|| user_local_sync(std::hint::black_box(ID)))
    });
    group.bench_function("raw_moka_get", |b| {
        b.iter(|| raw.get(&std::hint::black_box(ID)).expect("present"))
    });
    let erased: moka::sync::Cache<
        cacheaside::UserKey,
        std::sync::Arc<dyn std::any::Any + Send + Sync>,
    > = moka::sync::Cache::builder().max_capacity(10_000).build();
    erased.insert(
        cacheaside::UserKey::Int(7),
        std::sync::Arc::new(User::sample(ID)),
    );
    let erased_key = cacheaside::UserKey::Int(7);
    group.bench_function("raw_moka_get_type_erased", |b| {
        b.iter(|| {
            let entry = erased
                .get(std::hint::black_box(&erased_key))
                .expect("present");
            entry.downcast_ref::<User>().cloned().expect("a user")
        })
    });
    group.finish();

    let default_key = runtime.block_on(paired_ratio(
        || async { ready(user_local(std::hint::black_box(ID))) },
        || async { raw.get(&std::hint::black_box(ID)) },
    ));
    let integer_key = runtime.block_on(paired_ratio(
        || async { ready(user_local_keyed(std::hint::black_box(ID))) },
        || async { raw.get(&std::hint::black_box(ID)) },
    ));
    assert_eq!(LOADS.get(), loads, "every measured call was a local hit");
    let local_hits = cacheaside::stats().set("bench_local").local_hits;
    eprintln!(
        "local tier / raw moka, interleaved: default key {default_key}, integer key {integer_key}"
    );
    write_extra(
        "local_tier",
        &json!({
            "ratio_default_key": default_key,
            "ratio_integer_key": integer_key,
            "local_hits": local_hits,
        }),
    );
}

fn main() {
    let mut criterion = common::criterion();
    bench(&mut criterion);
    criterion.final_summary();
}
