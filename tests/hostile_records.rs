//! Records this library did not write, put into the cache with raw writes as an attacker or a
//! broken writer could: a bin `data` holding a list nested 5,000 or 100,000 deep, a nested map, a
//! string that is not UTF-8, an integer. Every call returns its body's value and lives, whether it
//! is an `async fn` awaited in a test, a spawned task on a worker thread, or a sync `fn` on a
//! thread with a 2 MiB stack; the record counts as undecodable (never as a cache error, never
//! towards the breaker) and is replaced, so the next call is a hit.
//!
//! Runs against the testkit server, or the server of `AEROSPIKE_HOSTS`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use cacheaside::cache_aside;
use cacheaside_testkit::raw::{particle, RawBin};

/// Loads of each test's function (tests run in parallel).
static ASYNC_LOADS: AtomicUsize = AtomicUsize::new(0);
static BATCH_LOADS: AtomicUsize = AtomicUsize::new(0);

fn label(id: u64, loads: &AtomicUsize) -> String {
    loads.fetch_add(1, Ordering::SeqCst);
    format!("label-{id}")
}

#[cache_aside(set = "hostile_async", ttl = 3600, key = id)]
async fn label_async(id: u64) -> String {
    label(id, &ASYNC_LOADS)
}

#[cache_aside(set = "hostile_sync", ttl = 3600, key = id)]
fn label_sync(id: u64) -> String {
    format!("label-{id}")
}

#[cache_aside(set = "hostile_batch", ttl = 3600, batch)]
async fn labels(ids: &[u64]) -> std::collections::HashMap<u64, String> {
    ids.iter()
        .map(|&id| (id, label(id, &BATCH_LOADS)))
        .collect()
}

/// A map nested `depth` deep: `{0: {0: ... nil}}`.
fn nested_map(depth: usize) -> Vec<u8> {
    let mut bytes = [0x81, 0x00].repeat(depth);
    bytes.push(0xc0);
    bytes
}

/// Every kind of bin `data` this library never writes.
fn hostile_bins() -> Vec<(&'static str, RawBin)> {
    vec![
        (
            "list 5,000 deep",
            RawBin::new("data", particle::LIST, common::nested_list(5_000)),
        ),
        (
            "list 100,000 deep",
            RawBin::new("data", particle::LIST, common::nested_list(100_000)),
        ),
        (
            "map 50,000 deep",
            RawBin::new("data", particle::MAP, nested_map(50_000)),
        ),
        (
            "string, not UTF-8",
            RawBin::new("data", particle::STRING, vec![0xff, 0xfe, b'x']),
        ),
        (
            "integer",
            RawBin::new("data", particle::INTEGER, 7i64.to_be_bytes()),
        ),
    ]
}

fn stats(set: &str) -> cacheaside::SetStats {
    cacheaside::stats().set(set)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_calls_and_spawned_tasks_survive_and_replace_hostile_records() {
    common::init().await;
    let before = stats("hostile_async");
    let mut planted = 0u64;
    for (what, bin) in hostile_bins() {
        for spawned in [false, true] {
            let id = common::unique();
            common::put_raw("hostile_async", id, bin.clone()).await;
            planted += 1;
            let value = if spawned {
                tokio::spawn(label_async(id)).await.expect("the task lives")
            } else {
                label_async(id).await
            };
            assert_eq!(value, format!("label-{id}"), "{what}: the body's value");
            let loads = ASYNC_LOADS.load(Ordering::SeqCst);
            assert_eq!(
                label_async(id).await,
                format!("label-{id}"),
                "{what}: replaced"
            );
            assert_eq!(
                ASYNC_LOADS.load(Ordering::SeqCst),
                loads,
                "{what}: the next call is a hit"
            );
        }
    }
    let after = stats("hostile_async");
    assert_eq!(after.undecodable - before.undecodable, planted);
    assert_eq!(
        after.cache_errors, before.cache_errors,
        "never a cache error"
    );
    assert_eq!(
        after.breaker_opens, before.breaker_opens,
        "never towards the breaker"
    );
    assert_eq!(
        after.writes - before.writes,
        planted,
        "every record is replaced"
    );
}

#[tokio::test]
async fn sync_calls_on_small_stacks_survive_and_replace_hostile_records() {
    common::init().await;
    let before = stats("hostile_sync");
    let mut ids = Vec::new();
    for (_, bin) in hostile_bins() {
        let id = common::unique();
        common::put_raw("hostile_sync", id, bin).await;
        ids.push(id);
    }
    let calls = ids.clone();
    // The default stack of a spawned thread, set explicitly so the test means it.
    let results = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            calls
                .iter()
                .map(|&id| (label_sync(id), label_sync(id)))
                .collect::<Vec<_>>()
        })
        .expect("thread starts")
        .join()
        .expect("the thread lives");
    for (id, (first, second)) in ids.iter().zip(results) {
        assert_eq!(first, format!("label-{id}"));
        assert_eq!(second, first);
    }
    let after = stats("hostile_sync");
    assert_eq!(after.undecodable - before.undecodable, ids.len() as u64);
    assert_eq!(
        after.hits - before.hits,
        ids.len() as u64,
        "replaced: the second call hits"
    );
    assert_eq!(after.cache_errors, before.cache_errors);
}

#[tokio::test]
async fn batch_reads_survive_and_replace_hostile_records() {
    common::init().await;
    let before = stats("hostile_batch");
    let mut ids = Vec::new();
    for (_, bin) in hostile_bins() {
        let id = common::unique();
        common::put_raw("hostile_batch", id, bin).await;
        ids.push(id);
    }
    let healthy = common::unique();
    ids.push(healthy);
    let first = labels(&ids).await;
    let loads = BATCH_LOADS.load(Ordering::SeqCst);
    let second = labels(&ids).await;
    assert_eq!(first, second);
    assert_eq!(first[&healthy], format!("label-{healthy}"));
    assert_eq!(
        BATCH_LOADS.load(Ordering::SeqCst),
        loads,
        "every entry was replaced"
    );
    let after = stats("hostile_batch");
    assert_eq!(after.undecodable - before.undecodable, ids.len() as u64 - 1);
    assert_eq!(after.cache_errors, before.cache_errors);
}

/// A record replaced by another writer between the read and the write-back is kept: the
/// replacement is only made while the record is still unusable.
#[tokio::test]
async fn a_hostile_record_fixed_meanwhile_is_not_overwritten() {
    common::init().await;
    let id = common::unique();
    let bin = RawBin::new("data", particle::LIST, common::nested_list(10));
    common::put_raw("hostile_race", id, bin).await;
    let before = stats("hostile_race");
    assert_eq!(slow_label(id).await, format!("loaded-{id}"));
    assert_eq!(
        read_label(id).await,
        format!("stored-{id}"),
        "the other writer's entry stays"
    );
    let after = stats("hostile_race");
    assert_eq!(
        after.stale_writes_prevented - before.stale_writes_prevented,
        1
    );
}

#[cache_aside(set = "hostile_race", ttl = 3600, key = id)]
async fn slow_label(id: u64) -> String {
    // Another writer stores a good entry while this body runs.
    store_label(id, format!("stored-{id}")).await;
    format!("loaded-{id}")
}

#[cache_aside(set = "hostile_race", ttl = 3600, key = id)]
async fn read_label(id: u64) -> String {
    format!("the body ran: no entry for {id}")
}

#[cacheaside::cache_put(set = "hostile_race", ttl = 3600, key = id)]
async fn store_label(id: u64, label: String) -> String {
    let _ = id;
    label
}
