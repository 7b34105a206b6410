//! Freshness options end to end: `none_ttl`, `refresh_ahead`, `stale_if_error`, `soft_timeout`,
//! `touch_on_read`, `ttl_from`, and the `<fn>_uncached` and `<fn>_peek` companions. Tests that move the test server's clock are skipped against a real
//! cluster, and hold [`CLOCK`] so that no other test of this file sees the clock jump meanwhile.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use cacheaside::cache_aside;
use cacheaside_testkit::TestServer;
use serde::{Deserialize, Serialize};
use tokio::sync::MutexGuard;

/// Held by every test that advances the test server's clock.
static CLOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits (bounded) until `done` holds; returns whether it did.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    eventually_async(|| core::future::ready(done())).await
}

/// Waits (bounded) until the future `done` makes holds; returns whether it did.
async fn eventually_async<F: Future<Output = bool>>(mut done: impl FnMut() -> F) -> bool {
    for _ in 0..500 {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done().await
}

/// The test server and [`CLOCK`], held, for a test that moves the clock (with the cache
/// configured); `None` against a real cluster, after saying so.
async fn clock_test(test: &str) -> Option<(&'static TestServer, MutexGuard<'static, ()>)> {
    let server = common::testkit_only(test)?;
    let clock = CLOCK.lock().await;
    common::init().await;
    Some((server, clock))
}

// ---- none_ttl ----

static NONE_LOADS: AtomicUsize = AtomicUsize::new(0);
static NONE_EXISTS: AtomicBool = AtomicBool::new(false);

#[cache_aside(set = "fresh_none", ttl = 3600, none_ttl = "30s", key = format!("none:{id}"))]
async fn find(id: u64) -> Option<u64> {
    NONE_LOADS.fetch_add(1, Ordering::SeqCst);
    NONE_EXISTS.load(Ordering::SeqCst).then_some(id)
}

#[tokio::test]
async fn none_is_cached_for_none_ttl_then_reloaded() {
    let Some(server) = common::testkit_only("none_is_cached_for_none_ttl_then_reloaded") else {
        return;
    };
    let _clock = CLOCK.lock().await;
    let cluster = common::init().await;
    let id = common::unique();
    assert_eq!(find(id).await, None);
    assert_eq!(find(id).await, None, "the cached None answers");
    assert_eq!(NONE_LOADS.load(Ordering::SeqCst), 1);
    assert_eq!(find_peek(id).await, Some(None), "peek sees the cached None");
    let record = server
        .record(cluster.namespace(), "fresh_none", format!("none:{id}"))
        .expect("the None is stored");
    let ttl = record.ttl.expect("with a TTL");
    assert!(ttl <= Duration::from_secs(30), "none_ttl, not ttl: {ttl:?}");

    NONE_EXISTS.store(true, Ordering::SeqCst);
    server.clock().advance(Duration::from_secs(29));
    assert_eq!(find(id).await, None, "still cached at 29 s of 30 s");
    server.clock().advance(Duration::from_secs(2));
    assert_eq!(find(id).await, Some(id), "expired: loads again");
    assert_eq!(find(id).await, Some(id));
    assert_eq!(NONE_LOADS.load(Ordering::SeqCst), 2);
    let record = server
        .record(cluster.namespace(), "fresh_none", format!("none:{id}"))
        .expect("the value is stored");
    assert!(
        record.ttl.expect("with a TTL") > Duration::from_secs(3000),
        "a Some gets the ttl"
    );
    NONE_EXISTS.store(false, Ordering::SeqCst);
}

static PLAIN_NONE_LOADS: AtomicUsize = AtomicUsize::new(0);

#[cache_aside(set = "fresh_none_off", ttl = 3600)]
async fn find_uncached_none(id: u64) -> Option<u64> {
    PLAIN_NONE_LOADS.fetch_add(1, Ordering::SeqCst);
    let _ = id;
    None
}

#[tokio::test]
async fn without_none_ttl_none_is_not_cached() {
    common::init().await;
    let id = common::unique();
    assert_eq!(find_uncached_none(id).await, None);
    assert_eq!(find_uncached_none(id).await, None);
    assert_eq!(PLAIN_NONE_LOADS.load(Ordering::SeqCst), 2);
    assert_eq!(find_uncached_none_peek(id).await, None);
}

// ---- <fn>_uncached and <fn>_peek ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Item {
    id: u64,
    version: usize,
}

struct Source {
    loads: AtomicUsize,
}

impl Source {
    fn new() -> Source {
        Source {
            loads: AtomicUsize::new(0),
        }
    }
    fn item(&self, id: u64) -> Item {
        let version = self.loads.fetch_add(1, Ordering::SeqCst) + 1;
        Item { id, version }
    }
}

#[cache_aside(set = "fresh_companions", ttl = 3600, skip(source))]
async fn item(source: &Source, id: u64) -> Result<Item, String> {
    Ok(source.item(id))
}

#[tokio::test]
async fn uncached_runs_the_body_and_leaves_the_cache_alone() {
    common::init().await;
    let source = Source::new();
    let id = common::unique();
    assert_eq!(item_uncached(&source, id).await.unwrap().version, 1);
    assert_eq!(item_uncached(&source, id).await.unwrap().version, 2);
    assert_eq!(item_peek(id).await, None, "uncached writes nothing");
    assert_eq!(item(&source, id).await.unwrap().version, 3);
    assert_eq!(item_uncached(&source, id).await.unwrap().version, 4);
    assert_eq!(
        item(&source, id).await.unwrap().version,
        3,
        "uncached did not replace the entry"
    );
}

#[tokio::test]
async fn peek_answers_from_the_cache_and_never_loads() {
    common::init().await;
    let source = Source::new();
    let id = common::unique();
    assert_eq!(item_peek(id).await, None);
    item(&source, id).await.unwrap();
    assert_eq!(item_peek(id).await, Some(Item { id, version: 1 }));
    item_invalidate(id).await.unwrap();
    assert_eq!(item_peek(id).await, None, "an invalidated entry is gone");
    assert_eq!(source.loads.load(Ordering::SeqCst), 1, "peek never loads");
}

struct Repo {
    source: Source,
}

#[cache_aside]
impl Repo {
    #[cache_aside(set = "fresh_methods", ttl = 3600)]
    fn version(&self, id: u64) -> usize {
        self.source.item(id).version
    }
}

#[test]
fn sync_methods_have_uncached_and_peek() {
    common::cluster();
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(common::init());
    let repo = Repo {
        source: Source::new(),
    };
    let id = common::unique();
    assert_eq!(repo.version_peek(id), None);
    assert_eq!(repo.version_uncached(id), 1);
    assert_eq!(repo.version(id), 2);
    assert_eq!(repo.version(id), 2);
    assert_eq!(repo.version_peek(id), Some(2));
    assert_eq!(repo.version_uncached(id), 3);
    assert_eq!(repo.version_peek(id), Some(2));
}

// ---- refresh_ahead ----

static AHEAD_LOADS: AtomicUsize = AtomicUsize::new(0);
/// Holds every load after the first until the test releases it.
static AHEAD_GATE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(0);

/// The body's arguments are owned, so its future can run in the background.
#[cache_aside(set = "fresh_ahead", ttl = 100, refresh_ahead = 0.2)]
async fn ahead(id: u64) -> Item {
    let version = AHEAD_LOADS.fetch_add(1, Ordering::SeqCst) + 1;
    if version > 1 {
        AHEAD_GATE.acquire().await.expect("gate open").forget();
    }
    Item { id, version }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_ahead_loads_once_in_the_background_under_100_concurrent_hits() {
    let Some(server) = common::testkit_only(
        "refresh_ahead_loads_once_in_the_background_under_100_concurrent_hits",
    ) else {
        return;
    };
    let _clock = CLOCK.lock().await;
    common::init().await;
    let id = common::unique();
    assert_eq!(ahead(id).await.version, 1);
    server.clock().advance(Duration::from_secs(70));
    assert_eq!(ahead(id).await.version, 1, "30 s of 100 s left: no refresh");
    assert_eq!(AHEAD_LOADS.load(Ordering::SeqCst), 1);

    server.clock().advance(Duration::from_secs(15));
    let calls: Vec<_> = (0..100).map(|_| tokio::spawn(ahead(id))).collect();
    // The refresh cannot finish before the gate opens: a caller that waited for it would time out.
    for call in calls {
        let returned = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("no caller waits for the refresh");
        assert_eq!(returned.expect("call").version, 1, "the cached value");
    }
    AHEAD_GATE.add_permits(1);
    assert!(
        eventually(|| AHEAD_LOADS.load(Ordering::SeqCst) >= 2).await,
        "the background refresh ran"
    );
    let refreshed = &Some(Item { id, version: 2 });
    assert!(
        eventually_async(|| async move { ahead_peek(id).await == *refreshed }).await,
        "the refreshed value was written"
    );
    assert_eq!(
        AHEAD_LOADS.load(Ordering::SeqCst),
        2,
        "exactly one background load"
    );
    assert_eq!(ahead(id).await.version, 2);
    assert_eq!(cacheaside::stats().set("fresh_ahead").refreshes_ahead, 1);

    server.clock().advance(Duration::from_secs(50));
    assert_eq!(
        ahead(id).await.version,
        2,
        "the refresh restored the full TTL"
    );
    assert_eq!(AHEAD_LOADS.load(Ordering::SeqCst), 2);
}

static AHEAD_SYNC_LOADS: AtomicUsize = AtomicUsize::new(0);
/// Lets loads after the first finish.
static AHEAD_SYNC_OPEN: AtomicBool = AtomicBool::new(false);

#[cache_aside(set = "fresh_ahead_sync", ttl = 100, refresh_ahead = 0.2)]
fn ahead_sync(id: u64) -> Item {
    let version = AHEAD_SYNC_LOADS.fetch_add(1, Ordering::SeqCst) + 1;
    for _ in 0..2_000 {
        if version == 1 || AHEAD_SYNC_OPEN.load(Ordering::SeqCst) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Item { id, version }
}

#[tokio::test]
async fn sync_refresh_ahead_runs_the_body_on_a_background_thread_once() {
    let Some(server) =
        common::testkit_only("sync_refresh_ahead_runs_the_body_on_a_background_thread_once")
    else {
        return;
    };
    let _clock = CLOCK.lock().await;
    common::init().await;
    let id = common::unique();
    assert_eq!(ahead_sync(id).version, 1);
    server.clock().advance(Duration::from_secs(90));
    let versions: Vec<usize> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..20)
            .map(|_| scope.spawn(|| ahead_sync(id).version))
            .collect();
        calls
            .into_iter()
            .map(|call| call.join().expect("call"))
            .collect()
    });
    assert!(
        versions.iter().all(|&version| version == 1),
        "the held refresh blocked no caller: {versions:?}"
    );
    AHEAD_SYNC_OPEN.store(true, Ordering::SeqCst);
    let refreshed = Some(Item { id, version: 2 });
    assert!(
        eventually(|| ahead_sync_peek(id) == refreshed).await,
        "the refreshed value was written"
    );
    assert_eq!(AHEAD_SYNC_LOADS.load(Ordering::SeqCst), 2);
}

// ---- stale_if_error ----

static STALE_LOADS: AtomicUsize = AtomicUsize::new(0);
static STALE_SOURCE_DOWN: AtomicBool = AtomicBool::new(false);

#[cache_aside(set = "fresh_stale", ttl = 60, stale_if_error = "10m", key = format!("stale:{id}"))]
async fn quote(id: u64) -> Result<Item, String> {
    failing_source(id, &STALE_LOADS, &STALE_SOURCE_DOWN)
}

/// The next answer of a source that counts its runs in `loads` and fails while `down` is set.
fn failing_source(id: u64, loads: &AtomicUsize, down: &AtomicBool) -> Result<Item, String> {
    let version = loads.fetch_add(1, Ordering::SeqCst) + 1;
    if down.load(Ordering::SeqCst) {
        return Err("source down".to_owned());
    }
    Ok(Item { id, version })
}

#[tokio::test]
async fn stale_if_error_serves_the_old_value_while_the_source_fails() {
    stale_while_the_source_fails(
        "stale_if_error_serves_the_old_value_while_the_source_fails",
        ("fresh_stale", "stale"),
        quote,
        (&STALE_LOADS, &STALE_SOURCE_DOWN),
    )
    .await;
}

/// The `stale_if_error` scenario: an entry lives ttl + window; past the ttl, a body that fails is
/// answered with the old value and one that succeeds replaces it. `call` is a function of `set`
/// whose keys are `<prefix>:<id>` and whose body counts its runs in `loads` and fails while
/// `source_down` is set.
async fn stale_while_the_source_fails<F: Future<Output = Result<Item, String>>>(
    test: &str,
    (set, prefix): (&str, &str),
    call: impl Fn(u64) -> F,
    (loads, source_down): (&AtomicUsize, &AtomicBool),
) {
    let Some((server, _clock)) = clock_test(test).await else {
        return;
    };
    let id = common::unique();
    let stats = || cacheaside::stats().set(set);
    assert_eq!(call(id).await, Ok(Item { id, version: 1 }));
    let record = server
        .record(common::cluster().namespace(), set, format!("{prefix}:{id}"))
        .expect("stored");
    let lifetime = record.ttl.expect("with a TTL");
    assert!(
        lifetime > Duration::from_secs(600) && lifetime <= Duration::from_secs(660),
        "the record lives ttl + the stale window: {lifetime:?}"
    );
    server.clock().advance(Duration::from_secs(30));
    assert_eq!(call(id).await, Ok(Item { id, version: 1 }), "fresh: a hit");
    assert_eq!(loads.load(Ordering::SeqCst), 1);

    source_down.store(true, Ordering::SeqCst);
    server.clock().advance(Duration::from_secs(40));
    assert_eq!(
        call(id).await,
        Ok(Item { id, version: 1 }),
        "past the ttl the body runs first; it fails, so the old value is served"
    );
    assert_eq!(loads.load(Ordering::SeqCst), 2);
    server.clock().advance(Duration::from_secs(300));
    assert_eq!(
        call(id).await,
        Ok(Item { id, version: 1 }),
        "still in the window"
    );
    assert_eq!(loads.load(Ordering::SeqCst), 3);
    assert_eq!((stats().stale_served, stats().soft_timeouts), (2, 0));

    source_down.store(false, Ordering::SeqCst);
    assert_eq!(
        call(id).await,
        Ok(Item { id, version: 4 }),
        "the source recovered: its value replaces the stale one"
    );
    assert_eq!(call(id).await, Ok(Item { id, version: 4 }), "and is cached");
    assert_eq!(loads.load(Ordering::SeqCst), 4);
    assert_eq!((stats().stale_served, stats().soft_timeouts), (2, 0));
}

static WINDOW_SOURCE_DOWN: AtomicBool = AtomicBool::new(false);

#[cache_aside(set = "fresh_stale_window", ttl = 60, stale_if_error = "10m")]
async fn windowed(id: u64) -> Result<u64, String> {
    if WINDOW_SOURCE_DOWN.load(Ordering::SeqCst) {
        return Err("source down".to_owned());
    }
    Ok(id)
}

#[tokio::test]
async fn stale_if_error_ends_with_the_window() {
    let Some(server) = common::testkit_only("stale_if_error_ends_with_the_window") else {
        return;
    };
    let _clock = CLOCK.lock().await;
    common::init().await;
    let id = common::unique();
    assert_eq!(windowed(id).await, Ok(id));
    WINDOW_SOURCE_DOWN.store(true, Ordering::SeqCst);
    server.clock().advance(Duration::from_secs(59));
    assert_eq!(windowed(id).await, Ok(id), "fresh: a hit");
    server.clock().advance(Duration::from_secs(60 + 600));
    assert_eq!(
        windowed(id).await,
        Err("source down".to_owned()),
        "past ttl + window the entry is gone: the error is returned"
    );
    assert_eq!(
        cacheaside::stats().set("fresh_stale_window").stale_served,
        0
    );
}

// ---- soft_timeout ----

static SOFT_LOADS: AtomicUsize = AtomicUsize::new(0);
/// Holds every load after the first until the test releases it.
static SOFT_GATE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(0);

#[cache_aside(
    set = "fresh_soft",
    ttl = 60,
    stale_if_error = "10m",
    soft_timeout = "100ms"
)]
async fn soft_quote(id: u64) -> Result<Item, String> {
    let version = SOFT_LOADS.fetch_add(1, Ordering::SeqCst) + 1;
    if version == 1 {
        // A miss has no old value to answer with: its caller waits, however long the body takes.
        tokio::time::sleep(Duration::from_millis(300)).await;
    } else {
        SOFT_GATE.acquire().await.expect("gate open").forget();
    }
    Ok(Item { id, version })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soft_timeout_answers_with_the_old_value_while_one_body_finishes_in_the_background() {
    let Some((server, _clock)) = clock_test(
        "soft_timeout_answers_with_the_old_value_while_one_body_finishes_in_the_background",
    )
    .await
    else {
        return;
    };
    let id = common::unique();
    let stats = || cacheaside::stats().set("fresh_soft");
    assert_eq!(soft_quote(id).await, Ok(Item { id, version: 1 }));
    server.clock().advance(Duration::from_secs(61));
    let before = stats();

    // Past the ttl, inside the window: the body is held until the calls have returned.
    let calls: Vec<_> = (0..20).map(|_| tokio::spawn(soft_quote(id))).collect();
    for call in calls {
        let returned = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("no caller waits for the held body");
        assert_eq!(
            returned.expect("call"),
            Ok(Item { id, version: 1 }),
            "the old value"
        );
    }
    assert_eq!(
        SOFT_LOADS.load(Ordering::SeqCst),
        2,
        "one body for every caller, still running"
    );
    let during = stats();
    let soft_timeouts = during.soft_timeouts - before.soft_timeouts;
    assert!(soft_timeouts >= 1, "{during:?}");
    assert_eq!(during.stale_served - before.stale_served, soft_timeouts);
    assert_eq!(
        soft_timeouts + (during.coalesced - before.coalesced),
        20,
        "each caller was late or followed a late caller: {during:?}"
    );
    assert_eq!(during.loads - before.loads, 1);
    assert_eq!(soft_quote_peek(id).await, Some(Item { id, version: 1 }));

    SOFT_GATE.add_permits(1);
    let loaded = &Some(Item { id, version: 2 });
    assert!(
        eventually_async(|| async move { soft_quote_peek(id).await == *loaded }).await,
        "the background body wrote its value"
    );
    assert_eq!(soft_quote(id).await, Ok(Item { id, version: 2 }));
    assert_eq!(SOFT_LOADS.load(Ordering::SeqCst), 2, "the body ran once");
    assert_eq!(stats().stale_writes_prevented, 0);
}

static PROMPT_LOADS: AtomicUsize = AtomicUsize::new(0);
static PROMPT_SOURCE_DOWN: AtomicBool = AtomicBool::new(false);

/// With a soft timeout none of its answers comes near.
#[cache_aside(
    set = "fresh_soft_prompt",
    ttl = 60,
    stale_if_error = "10m",
    soft_timeout = "10s",
    key = format!("prompt:{id}")
)]
async fn prompt_quote(id: u64) -> Result<Item, String> {
    failing_source(id, &PROMPT_LOADS, &PROMPT_SOURCE_DOWN)
}

#[tokio::test]
async fn a_body_that_answers_within_the_soft_timeout_is_taken_as_without_it() {
    stale_while_the_source_fails(
        "a_body_that_answers_within_the_soft_timeout_is_taken_as_without_it",
        ("fresh_soft_prompt", "prompt"),
        prompt_quote,
        (&PROMPT_LOADS, &PROMPT_SOURCE_DOWN),
    )
    .await;
}

static SOFT_SYNC_LOADS: AtomicUsize = AtomicUsize::new(0);
/// Lets loads after the first finish.
static SOFT_SYNC_OPEN: AtomicBool = AtomicBool::new(false);

#[cache_aside(
    set = "fresh_soft_sync",
    ttl = 60,
    stale_if_error = "10m",
    soft_timeout = "100ms"
)]
fn soft_quote_sync(id: u64) -> Result<Item, String> {
    let version = SOFT_SYNC_LOADS.fetch_add(1, Ordering::SeqCst) + 1;
    for _ in 0..2_000 {
        if version == 1 || SOFT_SYNC_OPEN.load(Ordering::SeqCst) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(Item { id, version })
}

#[tokio::test]
async fn a_sync_function_answers_with_the_old_value_while_its_body_runs_on_a_background_thread() {
    let Some((server, _clock)) = clock_test(
        "a_sync_function_answers_with_the_old_value_while_its_body_runs_on_a_background_thread",
    )
    .await
    else {
        return;
    };
    let id = common::unique();
    assert_eq!(soft_quote_sync(id), Ok(Item { id, version: 1 }));
    server.clock().advance(Duration::from_secs(61));
    assert_eq!(
        soft_quote_sync(id),
        Ok(Item { id, version: 1 }),
        "the body is held: the old value"
    );
    assert_eq!(
        soft_quote_sync(id),
        Ok(Item { id, version: 1 }),
        "its load still runs: the old value at once"
    );
    assert_eq!(SOFT_SYNC_LOADS.load(Ordering::SeqCst), 2);
    assert_eq!(cacheaside::stats().set("fresh_soft_sync").soft_timeouts, 2);

    SOFT_SYNC_OPEN.store(true, Ordering::SeqCst);
    let loaded = Some(Item { id, version: 2 });
    assert!(
        eventually(|| soft_quote_sync_peek(id) == loaded).await,
        "the background body wrote its value"
    );
    assert_eq!(soft_quote_sync(id), Ok(Item { id, version: 2 }));
    assert_eq!(SOFT_SYNC_LOADS.load(Ordering::SeqCst), 2);
}

static SOFT_LOCAL_LOADS: AtomicUsize = AtomicUsize::new(0);
static SOFT_LOCAL_GATE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(0);

#[cache_aside(
    set = "fresh_soft_local",
    ttl = 60,
    stale_if_error = "10m",
    soft_timeout = "100ms",
    local(ttl = "1h", capacity = 100)
)]
async fn soft_local_quote(id: u64) -> Result<Item, String> {
    let version = SOFT_LOCAL_LOADS.fetch_add(1, Ordering::SeqCst) + 1;
    if version > 1 {
        SOFT_LOCAL_GATE.acquire().await.expect("gate open").forget();
    }
    Ok(Item { id, version })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_tier_drops_the_old_value_once_the_background_body_wrote() {
    let Some((server, _clock)) =
        clock_test("the_local_tier_drops_the_old_value_once_the_background_body_wrote").await
    else {
        return;
    };
    let id = common::unique();
    // Written to Aerospike only: `_refresh` leaves the local tier empty.
    assert_eq!(
        soft_local_quote_refresh(id).await,
        Ok(Item { id, version: 1 })
    );
    server.clock().advance(Duration::from_secs(61));
    assert_eq!(
        soft_local_quote(id).await,
        Ok(Item { id, version: 1 }),
        "the old value, which the local tier keeps"
    );
    let local_hits = cacheaside::stats().set("fresh_soft_local").local_hits;
    assert_eq!(soft_local_quote(id).await, Ok(Item { id, version: 1 }));
    assert_eq!(
        cacheaside::stats().set("fresh_soft_local").local_hits,
        local_hits + 1
    );

    SOFT_LOCAL_GATE.add_permits(1);
    let loaded: &Result<Item, String> = &Ok(Item { id, version: 2 });
    assert!(
        eventually_async(|| async move { soft_local_quote(id).await == *loaded }).await,
        "the background body wrote its value, and the local tier let go of the old one"
    );
    assert_eq!(SOFT_LOCAL_LOADS.load(Ordering::SeqCst), 2);
}

// ---- touch_on_read ----

static SESSION_LOADS: AtomicUsize = AtomicUsize::new(0);

#[cache_aside(set = "fresh_sessions", ttl = 100, touch_on_read, key = format!("session:{id}"))]
async fn session(id: u64) -> Item {
    let version = SESSION_LOADS.fetch_add(1, Ordering::SeqCst) + 1;
    Item { id, version }
}

#[tokio::test]
async fn touch_on_read_slides_the_expiry_of_entries_in_use() {
    let Some(server) = common::testkit_only("touch_on_read_slides_the_expiry_of_entries_in_use")
    else {
        return;
    };
    let _clock = CLOCK.lock().await;
    let cluster = common::init().await;
    let id = common::unique();
    let ttl_left = || {
        server
            .record(
                cluster.namespace(),
                "fresh_sessions",
                format!("session:{id}"),
            )
            .and_then(|record| record.ttl)
            .unwrap_or_default()
    };
    assert_eq!(session(id).await.version, 1);
    server.clock().advance(Duration::from_secs(10));
    session(id).await;
    assert!(
        ttl_left() <= Duration::from_secs(90),
        "90 s of 100 s left: no touch yet"
    );

    server.clock().advance(Duration::from_secs(20));
    assert_eq!(session(id).await.version, 1, "a hit");
    assert!(
        eventually(|| ttl_left() > Duration::from_secs(90)).await,
        "70 s left, under 80%: the read reset the TTL"
    );
    let touches = || cacheaside::stats().set("fresh_sessions").touches;
    // Counted when the touch's answer arrives, just after the server applied it.
    assert!(eventually(|| touches() >= 1).await);
    assert_eq!(touches(), 1);

    server.clock().advance(Duration::from_secs(90));
    assert_eq!(
        session(id).await.version,
        1,
        "120 s after the write, still cached: the expiry slid"
    );
    assert_eq!(SESSION_LOADS.load(Ordering::SeqCst), 1);

    server.clock().advance(Duration::from_secs(101));
    assert_eq!(
        session(id).await.version,
        2,
        "unread for a whole TTL: expired"
    );
}

// ---- ttl_from ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Quote {
    symbol: String,
    volatile: bool,
}

impl Quote {
    /// Volatile rows live a minute, the others an hour.
    fn ttl(&self) -> Duration {
        if self.volatile {
            Duration::from_secs(60)
        } else {
            Duration::from_secs(3600)
        }
    }
}

#[cache_aside(set = "fresh_ttl_from", ttl = 600, ttl_from = Quote::ttl, key = format!("q:{symbol}"))]
async fn stock(symbol: String) -> Result<Quote, String> {
    let volatile = symbol.starts_with('v');
    Ok(Quote { symbol, volatile })
}

#[tokio::test]
async fn ttl_from_gives_each_entry_the_ttl_of_its_value() {
    // A clock moved by another test would expire the one-minute entry.
    let _clock = CLOCK.lock().await;
    let cluster = common::init().await;
    let run = common::unique();
    let (calm, volatile) = (format!("c{run}"), format!("v{run}"));
    stock(calm.clone()).await.expect("loads");
    stock(volatile.clone()).await.expect("loads");
    let client = common::raw_client().await;
    let ttl_of = |symbol: &str| {
        aerospike::Key::new(
            cluster.namespace().to_owned(),
            "fresh_ttl_from".to_owned(),
            format!("q:{symbol}").into(),
        )
        .expect("key")
    };
    let policy = aerospike::ReadPolicy::default();
    let calm_ttl = client
        .get(&policy, &ttl_of(&calm), aerospike::Bins::None)
        .await
        .expect("stored")
        .time_to_live()
        .expect("with a TTL");
    let volatile_ttl = client
        .get(&policy, &ttl_of(&volatile), aerospike::Bins::None)
        .await
        .expect("stored")
        .time_to_live()
        .expect("with a TTL");
    assert!(
        calm_ttl > Duration::from_secs(3000) && calm_ttl <= Duration::from_secs(3600),
        "{calm_ttl:?}"
    );
    assert!(volatile_ttl <= Duration::from_secs(60), "{volatile_ttl:?}");
    client.close().await.expect("closes");
}
