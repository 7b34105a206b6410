//! A call dropped in the middle of a cache read (a timeout of the caller, a `select!` that went the
//! other way, a runtime that shut down) leaves nothing behind: the connection it was using never
//! answers another call with the dropped read's reply, its single-flight leadership is released,
//! and every later call is answered from the cache. Needs the testkit's latency fault.

mod common;

use std::time::Duration;

use cacheaside_runtime::__private::{default_key, get_or_load, CacheSpec, PlainKind};
use cacheaside_runtime::Ttl;
use cacheaside_testkit::CommandKind;
use common::Backend;
use tokio::sync::{Mutex, MutexGuard, OnceCell};

const SCOPE: &str = "app::cancel";
/// Long enough that no read in these tests times out: a call ends only when it is dropped.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

async fn backend() -> &'static Backend {
    static BACKEND: OnceCell<Backend> = OnceCell::const_new();
    BACKEND
        .get_or_init(|| async {
            let backend = Backend::start().await;
            let config = backend
                .config()
                .operation_timeout(OPERATION_TIMEOUT)
                .single_flight_wait(Duration::from_secs(60))
                .build()
                .unwrap();
            cacheaside_runtime::init(config).await.unwrap();
            backend
        })
        .await
}

/// The tests take turns: the latency fault is server-wide, and each compares the set's counters
/// before and after.
static TURN: Mutex<()> = Mutex::const_new(());

async fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().await
}

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_cancel",
    ttl: Ttl::Seconds(3600),
    function: "value_of",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

/// The cached value of `name`; its loader returns `loaded`.
async fn value_of(name: &str, loaded: String) -> String {
    let key = default_key(&SPEC, SCOPE, &(&name,));
    get_or_load(&SPEC, key, PlainKind, async { loaded }).await
}

/// Caches `name`'s value (`value of <name>`) and checks that the next call hits it.
async fn cache(name: &str) {
    let value = format!("value of {name}");
    assert_eq!(value_of(name, value.clone()).await, value);
    assert_eq!(value_of(name, "loaded again".to_owned()).await, value);
}

/// Starts calls of `names` whose reads the server answers only after `delay`, and drops each
/// call once its read is on the wire.
async fn drop_calls_mid_read(server: &cacheaside_testkit::TestServer, names: &[String]) {
    let reads = || server.counters().get(CommandKind::Read);
    server
        .faults()
        .set_latency_for(CommandKind::Read, Duration::from_secs(2));
    for name in names {
        let before = reads();
        let call = value_of(name, "loaded by a dropped call".to_owned());
        let mut call = std::pin::pin!(call);
        // Polled until the server has the read, then dropped with its reply still on the way.
        let wait_for_read = async {
            while reads() == before {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        tokio::select! {
            _ = call.as_mut() => panic!("the delayed read answered before the call was dropped"),
            () = wait_for_read => {}
        }
    }
    server.faults().clear();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_dropped_mid_read_do_not_disturb_later_calls() {
    let _turn = turn().await;
    let backend = backend().await;
    let Some(server) = backend.testkit("calls_dropped_mid_read_do_not_disturb_later_calls") else {
        return;
    };
    let id = common::run_id();
    let names: Vec<String> = (0..8).map(|n| format!("{id}-{n}")).collect();
    for name in &names {
        cache(name).await;
    }
    let before = cacheaside_runtime::stats().set(SPEC.set);

    drop_calls_mid_read(server, &names).await;

    // Each connection that carried a dropped read still has its reply coming: none of them may
    // answer a later call with it. Every call gets its own value, from the cache.
    for _ in 0..5 {
        for name in &names {
            let value = value_of(name, "loaded after the drops".to_owned()).await;
            assert_eq!(value, format!("value of {name}"));
        }
    }
    let after = cacheaside_runtime::stats().set(SPEC.set);
    assert_eq!(after.hits - before.hits, 5 * names.len() as u64);
    assert_eq!(after.loads, before.loads, "no call loaded");
    assert_eq!(after.cache_errors, before.cache_errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_dropped_mid_read_releases_its_key() {
    let _turn = turn().await;
    let backend = backend().await;
    let Some(server) = backend.testkit("a_leader_dropped_mid_read_releases_its_key") else {
        return;
    };
    let name = common::run_id();
    drop_calls_mid_read(server, std::slice::from_ref(&name)).await;
    // The dropped call led its key's flight; a later call leads a new one at once (it would
    // otherwise wait for the 60 s bound) and caches its value.
    let value = tokio::time::timeout(
        Duration::from_secs(30),
        value_of(&name, "loaded".to_owned()),
    )
    .await
    .expect("the key was released");
    assert_eq!(value, "loaded");
    assert_eq!(value_of(&name, "again".to_owned()).await, "loaded");
}

#[test]
fn calls_of_a_runtime_that_shut_down_leave_the_cache_usable() {
    let _turn = TURN.blocking_lock();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (server_hosts, names) = runtime.block_on(async {
        let backend = backend().await;
        let id = common::run_id();
        let names: Vec<String> = (0..4).map(|n| format!("{id}-rt-{n}")).collect();
        for name in &names {
            cache(name).await;
        }
        if let Some(server) = backend.testkit("calls_of_a_runtime_that_shut_down") {
            // Shut down with the reads in flight: the runtime drops the calls.
            server
                .faults()
                .set_latency_for(CommandKind::Read, Duration::from_millis(500));
            for name in &names {
                tokio::spawn(value_of_owned(name.clone()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (backend.hosts.clone(), names)
    });
    drop(runtime);

    // Another runtime: the pooled connections, made and driven by the cache's own runtime,
    // still work.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let backend = backend().await;
        assert_eq!(backend.hosts, server_hosts);
        if let Some(server) = backend.testkit.as_ref() {
            server.faults().clear();
        }
        for name in &names {
            let value = value_of(name, "loaded after the shutdown".to_owned()).await;
            assert_eq!(value, format!("value of {name}"));
        }
    });
}

async fn value_of_owned(name: String) -> String {
    value_of(&name, "loaded by a dropped call".to_owned()).await
}
