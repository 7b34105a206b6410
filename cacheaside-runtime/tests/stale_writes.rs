//! Stale-set protection: a load that read the cache before an invalidation (or a refresh) never
//! writes its value over it. Deterministic interleavings, then 1,000 random ones against a source
//! of truth.

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use aerospike::Value;
use cacheaside_runtime::__private::{
    default_key, get_or_load, invalidate, refresh, CacheSpec, KeyResult, PlainKind,
};
use cacheaside_runtime::Ttl;
use common::{read_data, write_data, Backend};
use tokio::sync::{watch, OnceCell};

const SCOPE: &str = "app::stale";

async fn backend() -> &'static Backend {
    static BACKEND: OnceCell<Backend> = OnceCell::const_new();
    BACKEND
        .get_or_init(|| async {
            let backend = Backend::start().await;
            cacheaside_runtime::init(backend.config().build().unwrap())
                .await
                .unwrap();
            backend
        })
        .await
}

const fn spec(set: &'static str) -> CacheSpec {
    CacheSpec {
        cache: None,
        namespace: None,
        set,
        ttl: Ttl::Seconds(3600),
        function: "version",
        codec: cacheaside_runtime::__private::Codec::MessagePack,
    }
}

fn key(spec: &'static CacheSpec, id: &str) -> KeyResult {
    default_key(spec, SCOPE, &(&id,))
}

fn record_key(id: &str) -> Value {
    common::default_key_string(SCOPE, "version", &format!("({id:?})"))
}

/// The cached value of `id`, read with a raw client (`None`: absent or invalidated).
async fn cached(backend: &Backend, set: &str, id: &str) -> Option<u64> {
    let raw = backend.raw_client().await;
    let (data, _) = read_data(&raw, set, record_key(id)).await?;
    let Value::Blob(bytes) = data else {
        panic!("bin data is a blob")
    };
    Some(rmp_serde::from_slice(&bytes[3..]).expect("a cached u64"))
}

/// A load of `id` that reads `version`, then waits at `gate` before returning it (the window in
/// which the source changes and the entry is invalidated). Returns once the load has started.
async fn held_load(
    spec: &'static CacheSpec,
    id: &str,
    version: u64,
    gate: &watch::Sender<bool>,
) -> tokio::task::JoinHandle<u64> {
    let loading = Arc::new(AtomicUsize::new(0));
    let task = {
        let (id, loading, mut open) = (id.to_owned(), loading.clone(), gate.subscribe());
        tokio::spawn(async move {
            get_or_load(spec, key(spec, &id), PlainKind, async move {
                loading.fetch_add(1, Ordering::SeqCst);
                let _ = open.wait_for(|open| *open).await;
                version
            })
            .await
        })
    };
    // Bounded: the load needs one cache read to get there.
    for _ in 0..30_000 {
        if loading.load(Ordering::SeqCst) > 0 {
            return task;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    panic!("the load did not start within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_that_missed_before_an_invalidation_does_not_write() {
    static SPEC: CacheSpec = spec("rt_stale_missed");
    let backend = backend().await;
    let id = common::run_id();
    let before = cacheaside_runtime::stats().set(SPEC.set);
    let gate = watch::Sender::new(false);

    let load = held_load(&SPEC, &id, 1, &gate).await; // read: absent; loads version 1
    invalidate(&SPEC, key(&SPEC, &id)).await.unwrap(); // version 2 is in the source now
    gate.send_replace(true);
    assert_eq!(load.await.unwrap(), 1, "the caller still gets its load");

    assert_eq!(
        cached(backend, SPEC.set, &id).await,
        None,
        "nothing written"
    );
    let after = cacheaside_runtime::stats().set(SPEC.set);
    assert_eq!(
        after.stale_writes_prevented - before.stale_writes_prevented,
        1
    );
    assert_eq!(after.writes, before.writes);
    let next = get_or_load(&SPEC, key(&SPEC, &id), PlainKind, async { 2u64 }).await;
    assert_eq!(next, 2, "the next call loads the new version");
    assert_eq!(cached(backend, SPEC.set, &id).await, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_that_replaces_an_entry_does_not_write_after_an_invalidation() {
    static SPEC: CacheSpec = spec("rt_stale_replace");
    let backend = backend().await;
    let id = common::run_id();
    // An entry that does not decode: the load replaces it (expecting its generation).
    let raw = backend.raw_client().await;
    write_data(&raw, SPEC.set, record_key(&id), Value::Blob(vec![9, 9, 9])).await;
    let gate = watch::Sender::new(false);

    let load = held_load(&SPEC, &id, 1, &gate).await;
    invalidate(&SPEC, key(&SPEC, &id)).await.unwrap();
    gate.send_replace(true);
    assert_eq!(load.await.unwrap(), 1);
    assert_eq!(
        cached(backend, SPEC.set, &id).await,
        None,
        "nothing written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_does_not_overwrite_a_refresh_that_came_after_its_read() {
    static SPEC: CacheSpec = spec("rt_stale_refresh");
    let backend = backend().await;
    let id = common::run_id();
    let gate = watch::Sender::new(false);

    let load = held_load(&SPEC, &id, 1, &gate).await;
    let refreshed = refresh(&SPEC, key(&SPEC, &id), PlainKind, async { 2u64 }).await;
    assert_eq!(refreshed, 2);
    gate.send_replace(true);
    assert_eq!(load.await.unwrap(), 1);
    assert_eq!(
        cached(backend, SPEC.set, &id).await,
        Some(2),
        "the refresh's value stays"
    );
}

/// A small deterministic random source (xorshift), so a failing interleaving can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn yields(count: u64) {
    for _ in 0..count {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_interleavings_never_leave_an_older_value_than_the_source() {
    static SPEC: CacheSpec = spec("rt_stale_random");
    backend().await;
    let run = common::run_id();
    let seed = std::env::var("STALE_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0x5eed_cafe_f00d_u64);
    let mut rng = Rng(seed);
    let before = cacheaside_runtime::stats().set(SPEC.set);

    for round in 0..1_000 {
        let id = format!("{run}-{round}");
        // The source of truth: a version that updates bump (then invalidate or refresh).
        let source = Arc::new(AtomicU64::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..1 + rng.below(3) {
            // A call that loads: reads the source, then takes a while.
            let (id, source, delay, start) =
                (id.clone(), source.clone(), rng.below(40), rng.below(20));
            tasks.spawn(async move {
                yields(start).await;
                get_or_load(&SPEC, key(&SPEC, &id), PlainKind, async move {
                    let version = source.load(Ordering::SeqCst);
                    yields(delay).await;
                    version
                })
                .await;
            });
        }
        for _ in 0..1 + rng.below(2) {
            let (id, source, start, with_refresh) =
                (id.clone(), source.clone(), rng.below(40), rng.below(3) == 0);
            tasks.spawn(async move {
                yields(start).await;
                source.fetch_add(1, Ordering::SeqCst);
                if with_refresh {
                    let reload = source.clone();
                    refresh(&SPEC, key(&SPEC, &id), PlainKind, async move {
                        reload.load(Ordering::SeqCst)
                    })
                    .await;
                } else {
                    invalidate(&SPEC, key(&SPEC, &id)).await.unwrap();
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        // Quiescent: whatever the cache serves now is the source's current version.
        let current = source.load(Ordering::SeqCst);
        let served = get_or_load(&SPEC, key(&SPEC, &id), PlainKind, async { current }).await;
        assert_eq!(
            served, current,
            "round {round} (seed {seed}): the cache served version {served} after version {current} was invalidated"
        );
    }
    let after = cacheaside_runtime::stats().set(SPEC.set);
    eprintln!(
        "stale writes prevented in 1,000 interleavings: {}",
        after.stale_writes_prevented - before.stale_writes_prevented
    );
}
