//! Several clusters at once: functions with `cache = "<name>"` use the cluster that
//! `cacheaside::init_named` installed under that name, the others the default cluster of
//! `cacheaside::init`.
//!
//! Needs two servers whose records it can inspect, so it runs against two testkit servers and is
//! skipped when `AEROSPIKE_HOSTS` names a real cluster. The tests take turns (`serial`): one
//! re-installs a cluster, which resets the once-per-cause warnings another test counts.

/// The warnings capture of the runtime's tests: the same subscriber, not a copy.
#[path = "../cacheaside-runtime/tests/common/logs.rs"]
mod logs;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use cacheaside::write_behind::WriteBehind;
use cacheaside::{cache_aside, cache_evict, cache_put, Config, ErrorKind};
use cacheaside_testkit::TestServer;

const NAMESPACE: &str = "test";

/// The servers: `a` behind the default cluster, `b` behind the cluster named "analytics".
struct Servers {
    a: TestServer,
    b: TestServer,
}

fn skipped(test: &str) -> bool {
    let real = std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty());
    if real {
        eprintln!("{test}: skipped, it needs two testkit servers whose records it inspects");
    }
    real
}

fn config(server: &TestServer) -> Config {
    Config::builder()
        .hosts(server.hosts())
        .namespace(NAMESPACE)
        // Longer than `meet`'s safety net: a call that wrongly followed another cluster's load
        // would get that load's value rather than load for itself.
        .single_flight_wait(Duration::from_secs(120))
        .build()
        .expect("valid test configuration")
}

/// Starts both servers and installs the default and the "analytics" cluster, once.
async fn servers() -> &'static Servers {
    static SERVERS: tokio::sync::OnceCell<Servers> = tokio::sync::OnceCell::const_new();
    SERVERS
        .get_or_init(|| async {
            // Started on their own threads: they outlive each test's runtime.
            let (a, b) = std::thread::spawn(|| {
                let a = TestServer::builder().start_blocking().expect("server A");
                let b = TestServer::builder().start_blocking().expect("server B");
                (a, b)
            })
            .join()
            .expect("servers start");
            cacheaside::init(config(&a)).await.expect("init");
            cacheaside::init_named("analytics", config(&b))
                .await
                .expect("init_named");
            Servers { a, b }
        })
        .await
}

/// One test at a time.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

/// A key no other test uses.
fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Whether `server` holds a cached value for `key` in `set`.
fn holds_value(server: &TestServer, set: &str, key: u64) -> bool {
    let key = i64::try_from(key).expect("small key");
    server
        .record(NAMESPACE, set, key)
        .is_some_and(|record| record.bins.contains_key("data"))
}

/// Whether `server` has any record (a value or an invalidation marker) for `key` in `set`.
fn holds_record(server: &TestServer, set: &str, key: u64) -> bool {
    let key = i64::try_from(key).expect("small key");
    server.record(NAMESPACE, set, key).is_some()
}

static LOADS: AtomicUsize = AtomicUsize::new(0);

fn loads() -> usize {
    LOADS.load(Ordering::SeqCst)
}

#[cache_aside(set = "nc_users", ttl = 600, key = id)]
async fn default_user(id: u64) -> String {
    LOADS.fetch_add(1, Ordering::SeqCst);
    format!("default {id}")
}

#[cache_aside(set = "nc_users", ttl = 600, key = id, cache = "analytics")]
async fn analytics_user(id: u64) -> String {
    LOADS.fetch_add(1, Ordering::SeqCst);
    format!("analytics {id}")
}

#[cache_aside(set = "nc_sync", ttl = 600, key = id, cache = "analytics")]
fn analytics_user_sync(id: u64) -> String {
    LOADS.fetch_add(1, Ordering::SeqCst);
    format!("sync {id}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_named_function_uses_its_cluster_and_a_default_one_the_default() {
    if skipped("a_named_function_uses_its_cluster_and_a_default_one_the_default") {
        return;
    }
    let servers = servers().await;
    let _turn = serial().await;
    let id = unique();
    let before = loads();

    assert_eq!(default_user(id).await, format!("default {id}"));
    assert!(holds_value(&servers.a, "nc_users", id));
    assert!(!holds_record(&servers.b, "nc_users", id));

    // The same set and key in the other cluster: its own record, its own load (no sharing of
    // the default function's value, in the cache or in flight).
    assert_eq!(analytics_user(id).await, format!("analytics {id}"));
    assert!(holds_value(&servers.b, "nc_users", id));
    assert_eq!(loads() - before, 2);

    // Both are hits now, each from its own cluster.
    assert_eq!(default_user(id).await, format!("default {id}"));
    assert_eq!(analytics_user(id).await, format!("analytics {id}"));
    assert_eq!(loads() - before, 2);

    // A sync function reaches its cluster too.
    assert_eq!(analytics_user_sync(id), format!("sync {id}"));
    assert_eq!(analytics_user_sync(id), format!("sync {id}"));
    assert_eq!(loads() - before, 3);
    assert!(holds_value(&servers.b, "nc_sync", id));
    assert!(!holds_record(&servers.a, "nc_sync", id));
}

/// Both bodies of `concurrent_default` and `concurrent_analytics` wait here for each other: they
/// only get past it if both run, i.e. if the two calls did not share one load.
fn both_loading() -> &'static tokio::sync::Barrier {
    static BARRIER: OnceLock<tokio::sync::Barrier> = OnceLock::new();
    BARRIER.get_or_init(|| tokio::sync::Barrier::new(2))
}

async fn meet() -> bool {
    // A safety net against a hang, not a timing assertion: without the other body it never passes.
    tokio::time::timeout(Duration::from_secs(30), both_loading().wait())
        .await
        .is_ok()
}

#[cache_aside(set = "nc_concurrent", ttl = 600, key = id)]
async fn concurrent_default(id: u64) -> String {
    format!("default {id} met {}", meet().await)
}

#[cache_aside(set = "nc_concurrent", ttl = 600, key = id, cache = "analytics")]
async fn concurrent_analytics(id: u64) -> String {
    format!("analytics {id} met {}", meet().await)
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_calls_of_one_key_in_two_clusters_load_separately() {
    if skipped("concurrent_calls_of_one_key_in_two_clusters_load_separately") {
        return;
    }
    let servers = servers().await;
    let _turn = serial().await;
    let id = unique();
    let (default, analytics) = tokio::join!(concurrent_default(id), concurrent_analytics(id));
    assert_eq!(default, format!("default {id} met true"));
    assert_eq!(analytics, format!("analytics {id} met true"));
    assert!(holds_value(&servers.a, "nc_concurrent", id));
    assert!(holds_value(&servers.b, "nc_concurrent", id));
}

#[cache_aside(set = "nc_batch", ttl = 600, batch, cache = "analytics")]
async fn analytics_batch(ids: &[u64]) -> HashMap<u64, String> {
    LOADS.fetch_add(ids.len(), Ordering::SeqCst);
    ids.iter().map(|&id| (id, format!("batch {id}"))).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_function_uses_its_cluster() {
    if skipped("a_batch_function_uses_its_cluster") {
        return;
    }
    let servers = servers().await;
    let _turn = serial().await;
    let ids = [unique(), unique()];
    let before = loads();

    let first = analytics_batch(&ids).await;
    assert_eq!(first.len(), 2);
    assert_eq!(loads() - before, 2);
    for id in ids {
        assert!(holds_value(&servers.b, "nc_batch", id));
        assert!(!holds_record(&servers.a, "nc_batch", id));
    }
    assert_eq!(analytics_batch(&ids).await, first);
    assert_eq!(
        loads() - before,
        2,
        "the second call is answered by cluster B"
    );
}

/// What the source holds for the put/evict test.
fn names() -> &'static Mutex<HashMap<u64, String>> {
    static NAMES: OnceLock<Mutex<HashMap<u64, String>>> = OnceLock::new();
    NAMES.get_or_init(Mutex::default)
}

#[cache_aside(set = "nc_names", ttl = 600, key = id, cache = "analytics")]
async fn name_of(id: u64) -> Option<String> {
    LOADS.fetch_add(1, Ordering::SeqCst);
    names().lock().unwrap().get(&id).cloned()
}

#[cache_put(set = "nc_names", key = id, ttl = 600, cache = "analytics")]
async fn rename(id: u64, name: &str) -> Option<String> {
    names().lock().unwrap().insert(id, name.to_owned());
    Some(name.to_owned())
}

#[cache_evict(set = "nc_names", key = id, cache = "analytics")]
async fn forget(id: u64) -> Option<()> {
    names().lock().unwrap().remove(&id).map(|_| ())
}

#[tokio::test(flavor = "multi_thread")]
async fn put_and_evict_address_their_cluster() {
    if skipped("put_and_evict_address_their_cluster") {
        return;
    }
    let servers = servers().await;
    let _turn = serial().await;
    let id = unique();
    let before = loads();

    assert_eq!(rename(id, "Ada").await.as_deref(), Some("Ada"));
    assert!(holds_value(&servers.b, "nc_names", id));
    assert!(!holds_record(&servers.a, "nc_names", id));
    // The reader finds the put's value without loading.
    assert_eq!(name_of(id).await.as_deref(), Some("Ada"));
    assert_eq!(loads(), before);

    assert_eq!(forget(id).await, Some(()));
    assert!(!holds_value(&servers.b, "nc_names", id), "evicted in B");
    assert!(!holds_record(&servers.a, "nc_names", id));
    assert_eq!(name_of(id).await, None);
    assert_eq!(loads() - before, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_named_cache_handle_invalidates_in_its_cluster() {
    if skipped("a_named_cache_handle_invalidates_in_its_cluster") {
        return;
    }
    let servers = servers().await;
    let _turn = serial().await;
    let id = unique();

    assert_eq!(default_user(id).await, format!("default {id}"));
    assert_eq!(analytics_user(id).await, format!("analytics {id}"));
    let analytics = cacheaside::named("analytics");
    assert_eq!(analytics.name(), "analytics");
    analytics
        .invalidate("nc_users", id)
        .await
        .expect("invalidated");
    assert!(!holds_value(&servers.b, "nc_users", id), "invalidated in B");
    assert!(holds_value(&servers.a, "nc_users", id), "A keeps its entry");

    cacheaside::invalidate("nc_users", id)
        .await
        .expect("invalidated");
    assert!(!holds_value(&servers.a, "nc_users", id));

    // The companions of a named function address its cluster.
    assert_eq!(analytics_user(id).await, format!("analytics {id}"));
    assert_eq!(default_user(id).await, format!("default {id}"));
    assert!(holds_value(&servers.b, "nc_users", id));
    analytics_user_invalidate(id).await.expect("invalidated");
    assert!(!holds_value(&servers.b, "nc_users", id));
    assert!(holds_value(&servers.a, "nc_users", id));

    let error = cacheaside::named("no such name")
        .invalidate("nc_users", id)
        .await
        .expect_err("an invalid name");
    assert_eq!(error.kind(), ErrorKind::Config);
}

#[tokio::test(flavor = "multi_thread")]
async fn write_behind_writes_to_its_cluster() {
    if skipped("write_behind_writes_to_its_cluster") {
        return;
    }
    let servers = servers().await;
    let _turn = serial().await;
    let id = unique();
    let flushed = std::sync::Arc::new(Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&flushed);
    let users = WriteBehind::<u64, String>::builder("nc_users")
        .cache("analytics")
        .max_delay(Duration::from_millis(1))
        .start(move |batch: Vec<(u64, String)>| {
            let sink = std::sync::Arc::clone(&sink);
            async move {
                sink.lock().unwrap().extend(batch);
                Ok::<(), String>(())
            }
        })
        .expect("started");
    users
        .write(id, format!("written {id}"))
        .await
        .expect("open");
    users.shutdown().await;

    assert_eq!(*flushed.lock().unwrap(), [(id, format!("written {id}"))]);
    assert!(holds_value(&servers.b, "nc_users", id));
    assert!(!holds_record(&servers.a, "nc_users", id));
    let before = loads();
    assert_eq!(analytics_user(id).await, format!("written {id}"));
    assert_eq!(loads(), before);

    let refused = WriteBehind::<u64, String>::builder("nc_users")
        .cache("")
        .start(|_: Vec<(u64, String)>| async { Ok::<(), String>(()) })
        .expect_err("an empty cluster name");
    assert_eq!(refused.kind(), ErrorKind::Config);
}

#[cache_aside(set = "nc_missing", ttl = 600, key = id, cache = "nowhere")]
async fn uninstalled(id: u64) -> u64 {
    LOADS.fetch_add(1, Ordering::SeqCst);
    id * 2
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_never_installed_fails_open_with_one_warning() {
    if skipped("a_cluster_never_installed_fails_open_with_one_warning") {
        return;
    }
    logs::capture();
    let servers = servers().await;
    let _turn = serial().await;
    let before = loads();

    for id in [1, 2, 1] {
        assert_eq!(uninstalled(id).await, id * 2);
    }
    assert_eq!(loads() - before, 3, "every call runs its body");
    assert!(!holds_record(&servers.a, "nc_missing", 1));
    assert!(!holds_record(&servers.b, "nc_missing", 1));

    let warnings = logs::matching(&["level=WARN", "init_named(\"nowhere\", config)"]);
    assert_eq!(warnings.len(), 1, "{:#?}", logs::matching(&["level=WARN"]));
    assert!(
        warnings[0].contains("is not initialised"),
        "{}",
        warnings[0]
    );
}

#[cache_aside(
    set = "nc_missing_local",
    ttl = 600,
    cache = "nowhere_local",
    local(ttl = "10m")
)]
async fn uninstalled_with_local_tier(id: u64) -> u64 {
    LOADS.fetch_add(1, Ordering::SeqCst);
    id * 3
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_tier_of_a_cluster_never_installed_keeps_nothing() {
    if skipped("the_local_tier_of_a_cluster_never_installed_keeps_nothing") {
        return;
    }
    // The default cluster is installed and enabled; the function's own cluster is not.
    let _servers = servers().await;
    let _turn = serial().await;
    let before = loads();
    for _ in 0..3 {
        assert_eq!(uninstalled_with_local_tier(5).await, 15);
    }
    assert_eq!(loads() - before, 3, "no call is answered by the local tier");
}

#[cache_aside(set = "nc_swap", ttl = 600, key = id, cache = "swap")]
async fn swapped(id: u64) -> String {
    LOADS.fetch_add(1, Ordering::SeqCst);
    format!("swap {id}")
}

#[tokio::test(flavor = "multi_thread")]
async fn installing_a_name_again_replaces_its_cluster() {
    if skipped("installing_a_name_again_replaces_its_cluster") {
        return;
    }
    let servers = servers().await;
    let _turn = serial().await;

    cacheaside::init_named("swap", config(&servers.b))
        .await
        .expect("init_named");
    let first = unique();
    swapped(first).await;
    assert!(holds_value(&servers.b, "nc_swap", first));
    assert!(!holds_record(&servers.a, "nc_swap", first));

    cacheaside::init_named("swap", config(&servers.a))
        .await
        .expect("init_named again");
    let second = unique();
    swapped(second).await;
    assert!(holds_value(&servers.a, "nc_swap", second));
    assert!(!holds_record(&servers.b, "nc_swap", second));
    // The entry B holds is not reachable any more: the call loads and writes to A.
    let before = loads();
    swapped(first).await;
    assert_eq!(loads() - before, 1);
    assert!(holds_value(&servers.a, "nc_swap", first));
    // The analytics cluster is untouched by it.
    let id = unique();
    analytics_user(id).await;
    assert!(holds_value(&servers.b, "nc_users", id));
}

#[tokio::test]
async fn an_invalid_cluster_name_is_refused() {
    for name in ["", "two words", "a/b"] {
        let error = cacheaside::init_named(name, Config::default())
            .await
            .expect_err("an invalid name");
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(error.to_string().contains("cache cluster name"), "{error}");
    }
}
