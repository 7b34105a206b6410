//! The write-behind component end to end against the testkit server (or the server of
//! `AEROSPIKE_HOSTS`): values reach annotated readers through the cache at once, and the source
//! through batched, coalesced, retried flushes that lose nothing.

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cacheaside_runtime::__private::{explicit_key, get_or_load, CacheSpec, ResultKind};
use cacheaside_runtime::write_behind::{Closed, WriteBehind, WriteBehindBuilder};
use cacheaside_runtime::Ttl;
use common::Backend;
use serde::{Deserialize, Serialize};
use tokio::sync::{OnceCell, Semaphore};

/// One backend and one `init` for the whole file: `init` is process-wide.
async fn backend() -> &'static Backend {
    static BACKEND: OnceCell<Backend> = OnceCell::const_new();
    BACKEND
        .get_or_init(|| async {
            let backend = Backend::start().await;
            // A slow answer on a loaded machine is waited for, not turned into a cache miss
            // that these tests would read as a lost cache write.
            let config = backend
                .config()
                .operation_timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            cacheaside_runtime::init(config).await.unwrap();
            backend
        })
        .await
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    name: String,
    version: u32,
}

fn user(name: &str, version: u32) -> User {
    User {
        name: name.to_owned(),
        version,
    }
}

/// One call of the flush function.
type Batch = Vec<(String, User)>;

/// The source of truth: every batch it persisted, in order.
#[derive(Default, Clone)]
struct Source {
    batches: Arc<Mutex<Vec<Batch>>>,
}

impl Source {
    fn persist(&self, batch: Batch) {
        self.batches.lock().unwrap().push(batch);
    }

    fn batches(&self) -> Vec<Batch> {
        self.batches.lock().unwrap().clone()
    }

    /// The stored row of each key: the last value persisted.
    fn rows(&self) -> HashMap<String, User> {
        self.batches().into_iter().flatten().collect()
    }

    /// Every value persisted for `key`, in order.
    fn history(&self, key: &str) -> Vec<User> {
        self.batches()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v)
            .collect()
    }
}

/// A source whose flushes always succeed.
fn reliable(
    source: &Source,
) -> impl Fn(Vec<(String, User)>) -> std::future::Ready<Result<(), String>> {
    let source = source.clone();
    move |batch| {
        source.persist(batch);
        std::future::ready(Ok(()))
    }
}

fn builder(set: &'static str) -> WriteBehindBuilder<String, User> {
    WriteBehind::<String, User>::builder(set)
        .ttl(Ttl::Seconds(3600))
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(20))
}

/// Reads `key` as `#[cache_aside(set = <spec.set>, key = key)]` does; the loader answers
/// `from_source` and counts its runs.
async fn read_through(
    spec: &'static CacheSpec,
    key: &str,
    from_source: User,
    loads: &AtomicUsize,
) -> User {
    get_or_load(spec, explicit_key(key), ResultKind, async {
        loads.fetch_add(1, Ordering::SeqCst);
        Ok::<_, String>(from_source)
    })
    .await
    .unwrap()
}

const fn spec(set: &'static str) -> CacheSpec {
    CacheSpec {
        cache: None,
        namespace: None,
        set,
        ttl: Ttl::Seconds(3600),
        function: "get_user",
        codec: cacheaside_runtime::__private::Codec::MessagePack,
    }
}

/// Waits until `done` holds, checking every few milliseconds, at most 30 s of wall time (a bound
/// for a broken build, not a timing assertion).
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            std::time::Instant::now() < give_up,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_write_updates_the_cache_before_the_source() {
    static READER: CacheSpec = spec("wb_cache_first");
    backend().await;
    let key = format!("{}:ada", common::run_id());
    let source = Source::default();
    let users = builder("wb_cache_first")
        .max_delay(Duration::from_secs(3600))
        .start(reliable(&source))
        .unwrap();
    let loads = AtomicUsize::new(0);

    // A cached old value, as a reader left it.
    let cached = read_through(&READER, &key, user("Ada", 1), &loads).await;
    assert_eq!((cached, loads.load(Ordering::SeqCst)), (user("Ada", 1), 1));

    users.write(key.clone(), user("Ada", 2)).await.unwrap();
    let read = read_through(&READER, &key, user("Ada", 1), &loads).await;
    assert_eq!(
        read,
        user("Ada", 2),
        "the reader sees the new value at once"
    );
    assert_eq!(
        loads.load(Ordering::SeqCst),
        1,
        "from the cache: the loader did not run"
    );
    assert!(source.batches().is_empty(), "the source is written later");
    assert_eq!(users.pending(), 1);

    users.flush().await;
    assert_eq!(source.rows().get(&key), Some(&user("Ada", 2)));
    assert_eq!(users.pending(), 0);
    users.shutdown().await;
}

#[tokio::test]
async fn the_entry_is_in_the_readers_record_format() {
    let backend = backend().await;
    let key = format!("{}:grace", common::run_id());
    let users = builder("wb_format")
        .start(reliable(&Source::default()))
        .unwrap();
    users.write(key.clone(), user("Grace", 7)).await.unwrap();

    let raw = backend.raw_client().await;
    let (data, ttl) = common::read_data(&raw, "wb_format", aerospike::Value::String(key))
        .await
        .expect("the entry exists");
    let aerospike::Value::Blob(bytes) = data else {
        panic!("bin data is a blob, got {data:?}")
    };
    let decoded: Option<User> = cacheaside_runtime::__private::decode_entry(&bytes);
    assert_eq!(decoded, Some(user("Grace", 7)));
    let ttl = ttl.expect("the entry has the configured TTL");
    assert!(
        ttl > Duration::from_secs(3000) && ttl <= Duration::from_secs(3600),
        "{ttl:?}"
    );
    users.shutdown().await;
}

#[tokio::test]
async fn failed_flushes_are_retried_until_every_write_is_persisted_in_order() {
    backend().await;
    // The first attempts fail, and the first attempts of batches with final values: a dropped
    // final value shows in the checks below.
    const EARLY_FAILURES: usize = 3;
    const LATE_FAILURES: usize = 4;
    let run = common::run_id();
    let source = Source::default();
    let early_attempts = Arc::new(AtomicUsize::new(0));
    let late_attempts = Arc::new(AtomicUsize::new(0));
    let flush = {
        let source = source.clone();
        let (early_attempts, late_attempts) =
            (Arc::clone(&early_attempts), Arc::clone(&late_attempts));
        move |batch: Vec<(String, User)>| {
            let last = batch.iter().any(|(_, u)| u.version == 12);
            let fails = early_attempts.fetch_add(1, Ordering::SeqCst) < EARLY_FAILURES
                || (last && late_attempts.fetch_add(1, Ordering::SeqCst) < LATE_FAILURES);
            let result = if fails {
                Err("injected failure".to_owned())
            } else {
                source.persist(batch);
                Ok(())
            };
            std::future::ready(result)
        }
    };
    let users = builder("wb_retry")
        .max_batch(3)
        .max_delay(Duration::from_millis(1))
        .start(flush)
        .unwrap();

    let keys: Vec<String> = (0..5).map(|k| format!("{run}:{k}")).collect();
    for version in 1..=12 {
        for key in &keys {
            users.write(key.clone(), user(key, version)).await.unwrap();
        }
    }
    users.shutdown().await;

    assert_eq!(
        users.stats().failed_flushes,
        (EARLY_FAILURES + LATE_FAILURES) as u64
    );
    let rows = source.rows();
    for key in &keys {
        assert_eq!(
            rows.get(key),
            Some(&user(key, 12)),
            "the last value of {key}"
        );
        let versions: Vec<u32> = source.history(key).iter().map(|u| u.version).collect();
        assert!(
            versions.windows(2).all(|pair| pair[0] < pair[1]),
            "{key} was persisted in write order: {versions:?}"
        );
    }
    for batch in source.batches() {
        assert!(batch.len() <= 3, "batches respect max_batch");
    }
}

#[tokio::test]
async fn a_panicking_flush_is_retried_with_the_same_batch() {
    backend().await;
    let key = format!("{}:p", common::run_id());
    let source = Source::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let flush = {
        let (source, calls) = (source.clone(), Arc::clone(&calls));
        move |batch: Vec<(String, User)>| {
            let (source, calls) = (source.clone(), Arc::clone(&calls));
            async move {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("the source driver panicked");
                }
                source.persist(batch);
                Ok::<(), String>(())
            }
        }
    };
    let users = builder("wb_panic").start(flush).unwrap();
    users.write(key.clone(), user("P", 1)).await.unwrap();
    users.flush().await;
    assert_eq!(source.batches(), vec![vec![(key, user("P", 1))]]);
    assert_eq!(users.stats().failed_flushes, 1);
    users.shutdown().await;
}

#[tokio::test]
async fn a_full_queue_makes_writers_wait_and_drops_nothing() {
    backend().await;
    let run = common::run_id();
    let source = Source::default();
    // The source is stuck until the test adds permits.
    let gate = Arc::new(Semaphore::new(0));
    let flush = {
        let (source, gate) = (source.clone(), Arc::clone(&gate));
        move |batch: Vec<(String, User)>| {
            let (source, gate) = (source.clone(), Arc::clone(&gate));
            async move {
                gate.acquire().await.unwrap().forget();
                source.persist(batch);
                Ok::<(), String>(())
            }
        }
    };
    let users = Arc::new(
        builder("wb_backpressure")
            .capacity(2)
            .max_batch(1)
            .max_delay(Duration::from_millis(1))
            .start(flush)
            .unwrap(),
    );
    let key = |n: u32| format!("{run}:{n}");

    // One batch in flight (stuck), two queued: the queue is full.
    users.write(key(0), user("k0", 1)).await.unwrap();
    eventually("the first batch is taken", || users.pending() == 0).await;
    users.write(key(1), user("k1", 1)).await.unwrap();
    users.write(key(2), user("k2", 1)).await.unwrap();
    assert_eq!(users.pending(), 2);

    // A write of a queued key coalesces without waiting; a new key waits.
    users.write(key(1), user("k1", 2)).await.unwrap();
    let blocked = {
        let users = Arc::clone(&users);
        let k3 = key(3);
        tokio::spawn(async move { users.write(k3, user("k3", 1)).await })
    };
    eventually("the writer waits for room", || {
        users.stats().waited_for_room == 1
    })
    .await;
    assert!(
        !blocked.is_finished(),
        "nothing can leave a queue whose source is stuck"
    );
    assert_eq!(users.pending(), 2, "the queue never exceeds its capacity");

    gate.add_permits(usize::MAX >> 4);
    blocked.await.unwrap().unwrap();
    users.shutdown().await;
    let rows = source.rows();
    assert_eq!(rows.len(), 4, "every key reached the source: {rows:?}");
    assert_eq!(rows[&key(1)], user("k1", 2));
    assert_eq!(rows[&key(3)], user("k3", 1));
}

#[tokio::test]
async fn shutdown_persists_every_pending_write_and_refuses_new_ones() {
    backend().await;
    let run = common::run_id();
    let source = Source::default();
    let users = builder("wb_shutdown")
        .max_batch(8)
        .max_delay(Duration::from_secs(3600))
        .start(reliable(&source))
        .unwrap();
    for n in 0..20 {
        users
            .write(format!("{run}:{n}"), user("s", n))
            .await
            .unwrap();
    }
    assert!(
        source.rows().len() <= 16,
        "full batches may go out; the last four wait for max_delay"
    );
    users.shutdown().await;
    assert_eq!(source.rows().len(), 20, "shutdown flushed the rest");
    assert_eq!(users.pending(), 0);

    let refused = users.write(format!("{run}:late"), user("late", 1)).await;
    assert_eq!(
        refused,
        Err(Closed {
            key: format!("{run}:late"),
            value: user("late", 1)
        })
    );
    users.shutdown().await; // again: returns at once
}

#[tokio::test]
async fn repeated_writes_of_a_key_coalesce_to_the_last_value() {
    backend().await;
    let run = common::run_id();
    let source = Source::default();
    let users = builder("wb_coalesce")
        .max_delay(Duration::from_secs(3600))
        .start(reliable(&source))
        .unwrap();
    let (hot, cold) = (format!("{run}:hot"), format!("{run}:cold"));
    users.write(hot.clone(), user("h", 1)).await.unwrap();
    users.write(cold.clone(), user("c", 1)).await.unwrap();
    for version in 2..=10 {
        users.write(hot.clone(), user("h", version)).await.unwrap();
    }
    assert_eq!(users.pending(), 2);
    users.flush().await;
    assert_eq!(
        source.batches(),
        vec![vec![(hot, user("h", 10)), (cold, user("c", 1))]],
        "one batch, the hot key in its first place with its last value"
    );
    let stats = users.stats();
    assert_eq!((stats.writes, stats.coalesced), (11, 9));
    assert_eq!((stats.batches_flushed, stats.entries_flushed), (1, 2));
    users.shutdown().await;
}

#[tokio::test]
async fn a_write_is_flushed_after_max_delay_without_being_asked() {
    backend().await;
    let key = format!("{}:d", common::run_id());
    let source = Source::default();
    let users = builder("wb_delay")
        .max_batch(100)
        .max_delay(Duration::from_millis(20))
        .start(reliable(&source))
        .unwrap();
    users.write(key.clone(), user("D", 1)).await.unwrap();
    eventually("the delayed flush", || !source.batches().is_empty()).await;
    assert_eq!(source.batches(), vec![vec![(key, user("D", 1))]]);
    users.shutdown().await;
}

#[tokio::test]
async fn flush_waits_for_earlier_writes_only_and_writes_of_a_key_in_flight_follow_it() {
    backend().await;
    let key = format!("{}:f", common::run_id());
    let source = Source::default();
    let gate = Arc::new(Semaphore::new(0));
    let flush = {
        let (source, gate) = (source.clone(), Arc::clone(&gate));
        move |batch: Vec<(String, User)>| {
            let (source, gate) = (source.clone(), Arc::clone(&gate));
            async move {
                gate.acquire().await.unwrap().forget();
                source.persist(batch);
                Ok::<(), String>(())
            }
        }
    };
    let users = Arc::new(
        builder("wb_flush")
            .max_delay(Duration::from_secs(3600))
            .start(flush)
            .unwrap(),
    );
    users.write(key.clone(), user("F", 1)).await.unwrap();
    let first_flush = {
        let users = Arc::clone(&users);
        tokio::spawn(async move { users.flush().await })
    };
    eventually("the batch is in flight", || users.pending() == 0).await;
    users.write(key.clone(), user("F", 2)).await.unwrap();
    assert_eq!(
        users.pending(),
        1,
        "queued again behind the batch in flight"
    );
    gate.add_permits(1);
    first_flush.await.unwrap();
    assert_eq!(source.history(&key), vec![user("F", 1)]);
    gate.add_permits(1);
    users.flush().await;
    assert_eq!(source.history(&key), vec![user("F", 1), user("F", 2)]);
    users.shutdown().await;
}

#[tokio::test]
async fn a_load_that_read_before_the_write_cannot_cache_the_old_value() {
    static READER: CacheSpec = spec("wb_stale_load");
    backend().await;
    let key = format!("{}:s", common::run_id());
    let users = builder("wb_stale_load")
        .start(reliable(&Source::default()))
        .unwrap();

    // The reader misses, and while it loads the old row from the source, the write happens.
    let old = get_or_load(&READER, explicit_key(key.as_str()), ResultKind, async {
        users.write(key.clone(), user("S", 2)).await.unwrap();
        Ok::<_, String>(user("S", 1))
    })
    .await
    .unwrap();
    assert_eq!(old, user("S", 1), "the reader returns what it loaded");

    let loads = AtomicUsize::new(0);
    let read = read_through(&READER, &key, user("S", 1), &loads).await;
    assert_eq!(
        read,
        user("S", 2),
        "its write-back did not replace the newer value"
    );
    assert_eq!(loads.load(Ordering::SeqCst), 0);
    users.shutdown().await;
}

#[tokio::test]
async fn dropping_the_handle_still_drains_the_queue() {
    backend().await;
    let key = format!("{}:drop", common::run_id());
    let source = Source::default();
    let users = builder("wb_drop")
        .max_delay(Duration::from_secs(3600))
        .start(reliable(&source))
        .unwrap();
    users.write(key.clone(), user("Drop", 1)).await.unwrap();
    drop(users);
    eventually("the background task drains", || {
        !source.batches().is_empty()
    })
    .await;
    assert_eq!(source.rows().get(&key), Some(&user("Drop", 1)));
}

#[test]
fn starting_outside_a_runtime_or_with_zero_sizes_is_an_error() {
    let outside = builder("wb_config").start(reliable(&Source::default()));
    assert_eq!(
        outside.unwrap_err().kind(),
        cacheaside_runtime::ErrorKind::Config
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for zero in [
            builder("wb_config").max_batch(0),
            builder("wb_config").capacity(0),
        ] {
            let error = zero.start(reliable(&Source::default())).unwrap_err();
            assert_eq!(error.kind(), cacheaside_runtime::ErrorKind::Config);
        }
    });
}

#[tokio::test]
async fn a_write_whose_future_is_dropped_still_completes() {
    static READER: CacheSpec = spec("wb_cancelled");
    backend().await;
    let key = format!("{}:c", common::run_id());
    let source = Source::default();
    let users = builder("wb_cancelled")
        .max_delay(Duration::from_secs(3600))
        .start(reliable(&source))
        .unwrap();

    // Polled once (it starts), then dropped, as a cancelled request handler would be. On this
    // current-thread runtime nothing else runs during that poll, so it cannot have finished.
    {
        let mut write = std::pin::pin!(users.write(key.clone(), user("C", 1)));
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(write.as_mut().poll(&mut context).is_pending());
    }

    users.flush().await;
    assert_eq!(source.rows().get(&key), Some(&user("C", 1)));
    let loads = AtomicUsize::new(0);
    let read = read_through(&READER, &key, user("C", 0), &loads).await;
    assert_eq!(read, user("C", 1), "and the cache has it");
    users.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_with_a_small_queue_and_a_flaky_source_lose_nothing() {
    backend().await;
    const WRITERS: u32 = 6;
    const KEYS_PER_WRITER: u32 = 4;
    const VERSIONS: u32 = 15;
    let run = common::run_id();
    let source = Source::default();
    let attempts = Arc::new(AtomicUsize::new(0));
    let flush = {
        let (source, attempts) = (source.clone(), Arc::clone(&attempts));
        move |batch: Batch| {
            // Every third attempt fails.
            let result = if attempts.fetch_add(1, Ordering::SeqCst) % 3 == 2 {
                Err("injected".to_owned())
            } else {
                source.persist(batch);
                Ok(())
            };
            std::future::ready(result)
        }
    };
    let users = Arc::new(
        builder("wb_concurrent")
            .capacity(5)
            .max_batch(3)
            .max_delay(Duration::from_millis(1))
            .start(flush)
            .unwrap(),
    );
    let key = |writer: u32, k: u32| format!("{run}:{writer}:{k}");
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let users = Arc::clone(&users);
        let run = run.clone();
        tasks.push(tokio::spawn(async move {
            for version in 1..=VERSIONS {
                for k in 0..KEYS_PER_WRITER {
                    let name = format!("{run}:{writer}:{k}");
                    users
                        .write(name.clone(), user(&name, version))
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    users.shutdown().await;

    let rows = source.rows();
    assert_eq!(rows.len(), (WRITERS * KEYS_PER_WRITER) as usize);
    for writer in 0..WRITERS {
        for k in 0..KEYS_PER_WRITER {
            let name = key(writer, k);
            assert_eq!(rows[&name].version, VERSIONS, "the last value of {name}");
            let versions: Vec<u32> = source.history(&name).iter().map(|u| u.version).collect();
            assert!(
                versions.windows(2).all(|pair| pair[0] < pair[1]),
                "{name} in write order: {versions:?}"
            );
        }
    }
    let stats = users.stats();
    assert!(stats.failed_flushes > 0, "failures were injected");
    assert_eq!(
        stats.writes,
        u64::from(WRITERS * KEYS_PER_WRITER * VERSIONS)
    );
}
