//! Single-flight: concurrent calls of one key share one read and one load; a cancelled or
//! panicking leader hands over to a follower; sync and async callers coalesce with each other.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cacheaside_runtime::__private::{
    default_key, get_or_load, get_or_load_blocking, CacheSpec, KeyResult, ResultKind,
};
use cacheaside_runtime::Ttl;
use common::Backend;
use tokio::sync::{watch, OnceCell};
use tokio::task::JoinSet;

const SCOPE: &str = "app::flights";

async fn backend() -> &'static Backend {
    static BACKEND: OnceCell<Backend> = OnceCell::const_new();
    BACKEND
        .get_or_init(|| async {
            let backend = Backend::start().await;
            let config = backend
                .config()
                .single_flight_wait(Duration::from_secs(60))
                .build()
                .unwrap();
            cacheaside_runtime::init(config).await.unwrap();
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
        function: "get",
        codec: cacheaside_runtime::__private::Codec::MessagePack,
    }
}

fn key(spec: &'static CacheSpec, id: &str) -> KeyResult {
    default_key(spec, SCOPE, &(&id,))
}

/// A gate loaders wait at until the test opens it.
#[derive(Clone)]
struct Gate(watch::Sender<bool>);

impl Gate {
    fn new() -> Self {
        Gate(watch::Sender::new(false))
    }
    fn open(&self) {
        self.0.send_replace(true);
    }
    async fn pass(&self) {
        let mut open = self.0.subscribe();
        let _ = open.wait_for(|open| *open).await;
    }
}

/// Waits until `counter` reaches `target`, at most 30 s.
async fn until(counter: &AtomicUsize, target: usize) {
    for _ in 0..30_000 {
        if counter.load(Ordering::SeqCst) >= target {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!(
        "counter stuck at {} of {target} after 30 s",
        counter.load(Ordering::SeqCst)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_callers_load_once() {
    static SPEC: CacheSpec = spec("rt_flight_stampede");
    backend().await;
    let id = common::run_id();
    let loads = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let gate = Gate::new();
    let before = cacheaside_runtime::stats().set(SPEC.set);

    let mut callers = JoinSet::new();
    for _ in 0..1_000 {
        let (id, loads, started, gate) = (id.clone(), loads.clone(), started.clone(), gate.clone());
        callers.spawn(async move {
            let call = get_or_load(&SPEC, key(&SPEC, &id), ResultKind, async {
                loads.fetch_add(1, Ordering::SeqCst);
                gate.pass().await;
                Ok::<_, String>(format!("value of {id}"))
            });
            // A call joins its key's flight when first polled, before any await.
            let mut call = std::pin::pin!(call);
            let first = futures_poll_once(call.as_mut()).await;
            started.fetch_add(1, Ordering::SeqCst);
            match first {
                Some(returned) => returned,
                None => call.await,
            }
        });
    }
    until(&started, 1_000).await;
    // Give callers that (without single-flight) would be reading the cache time to reach their
    // loaders before the first value is written.
    for _ in 0..1_000 {
        tokio::task::yield_now().await;
    }
    gate.open();
    while let Some(returned) = callers.join_next().await {
        assert_eq!(returned.unwrap(), Ok(format!("value of {id}")));
    }
    assert_eq!(
        loads.load(Ordering::SeqCst),
        1,
        "one load for 1,000 callers"
    );
    let after = cacheaside_runtime::stats().set(SPEC.set);
    assert_eq!(after.coalesced - before.coalesced, 999);
    assert_eq!(after.hits - before.hits, 999);
    assert_eq!(after.misses - before.misses, 1);
    assert_eq!(after.writes - before.writes, 1);
}

/// Polls a future once; `Some` if it finished.
async fn futures_poll_once<F: std::future::Future + Unpin>(future: F) -> Option<F::Output> {
    let mut future = future;
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut future).poll(cx) {
            std::task::Poll::Ready(output) => Some(output),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

/// Starts `followers` callers of `id` that load `"follower"`; returns them and their load count.
async fn spawn_followers(
    spec: &'static CacheSpec,
    id: &str,
    followers: usize,
) -> (JoinSet<Result<String, String>>, Arc<AtomicUsize>) {
    let loads = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    for _ in 0..followers {
        let (id, loads, started) = (id.to_owned(), loads.clone(), started.clone());
        set.spawn(async move {
            let call = get_or_load(spec, key(spec, &id), ResultKind, async {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>("follower".to_owned())
            });
            let mut call = std::pin::pin!(call);
            let first = futures_poll_once(call.as_mut()).await;
            started.fetch_add(1, Ordering::SeqCst);
            match first {
                Some(returned) => returned,
                None => call.await,
            }
        });
    }
    until(&started, followers).await;
    (set, loads)
}

/// Starts a leader whose loader waits at `gate`, then returns `then`; waits until it loads.
async fn spawn_leader(
    spec: &'static CacheSpec,
    id: &str,
    gate: &Gate,
    then: fn() -> Result<String, String>,
) -> tokio::task::JoinHandle<Result<String, String>> {
    let loading = Arc::new(AtomicUsize::new(0));
    let leader = {
        let (id, gate, loading) = (id.to_owned(), gate.clone(), loading.clone());
        tokio::spawn(async move {
            get_or_load(spec, key(spec, &id), ResultKind, async {
                loading.fetch_add(1, Ordering::SeqCst);
                gate.pass().await;
                then()
            })
            .await
        })
    };
    until(&loading, 1).await;
    leader
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_leader_hands_over_to_one_follower() {
    static SPEC: CacheSpec = spec("rt_flight_cancelled");
    backend().await;
    let id = common::run_id();
    let gate = Gate::new();
    let leader = spawn_leader(&SPEC, &id, &gate, || Ok("leader".to_owned())).await;
    let (mut followers, follower_loads) = spawn_followers(&SPEC, &id, 20).await;

    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    while let Some(returned) = followers.join_next().await {
        assert_eq!(returned.unwrap(), Ok("follower".to_owned()));
    }
    assert_eq!(
        follower_loads.load(Ordering::SeqCst),
        1,
        "one follower took over, the others followed it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_leader_hands_over_to_one_follower() {
    static SPEC: CacheSpec = spec("rt_flight_panic");
    backend().await;
    let id = common::run_id();
    let gate = Gate::new();
    let leader = spawn_leader(&SPEC, &id, &gate, || panic!("the loader panics")).await;
    let (mut followers, follower_loads) = spawn_followers(&SPEC, &id, 20).await;

    gate.open();
    assert!(leader.await.unwrap_err().is_panic());
    while let Some(returned) = followers.join_next().await {
        assert_eq!(returned.unwrap(), Ok("follower".to_owned()));
    }
    assert_eq!(follower_loads.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_of_a_failed_load_load_for_themselves() {
    static SPEC: CacheSpec = spec("rt_flight_err");
    backend().await;
    let id = common::run_id();
    let gate = Gate::new();
    let leader = spawn_leader(&SPEC, &id, &gate, || Err("db down".to_owned())).await;
    let (mut followers, follower_loads) = spawn_followers(&SPEC, &id, 5).await;

    gate.open();
    assert_eq!(leader.await.unwrap(), Err("db down".to_owned()));
    while let Some(returned) = followers.join_next().await {
        assert_eq!(
            returned.unwrap(),
            Ok("follower".to_owned()),
            "each follower got its own answer, not the leader's error"
        );
    }
    let follower_loads = follower_loads.load(Ordering::SeqCst);
    assert!(
        (1..=5).contains(&follower_loads),
        "followers loaded themselves (later ones may hit the entry an earlier one wrote): {follower_loads}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_follower_gets_an_async_leaders_value() {
    static SPEC: CacheSpec = spec("rt_flight_sync_follower");
    backend().await;
    let id = common::run_id();
    let gate = Gate::new();
    let leader = spawn_leader(&SPEC, &id, &gate, || Ok("leader".to_owned())).await;

    let before = cacheaside_runtime::stats().set(SPEC.set);
    let (calling_tx, calling) = std::sync::mpsc::channel::<()>();
    let follower = {
        let id = id.clone();
        std::thread::spawn(move || {
            calling_tx.send(()).unwrap();
            get_or_load_blocking(&SPEC, key(&SPEC, &id), ResultKind, || {
                Ok::<_, String>("follower".to_owned())
            })
        })
    };
    tokio::task::spawn_blocking(move || calling.recv().unwrap())
        .await
        .unwrap();
    // The thread is about to join the flight; a follower shows nothing until the landing, so
    // give it a generous moment (the assertion on `coalesced` below tells a late arrival apart;
    // one arriving while the leader writes is still answered by the landed flight).
    tokio::time::sleep(Duration::from_secs(1)).await;
    gate.open();
    assert_eq!(leader.await.unwrap(), Ok("leader".to_owned()));
    assert_eq!(follower.join().unwrap(), Ok("leader".to_owned()));
    let after = cacheaside_runtime::stats().set(SPEC.set);
    assert_eq!(
        after.coalesced - before.coalesced,
        1,
        "the thread waited for the leader"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_follower_gets_a_blocking_leaders_value() {
    static SPEC: CacheSpec = spec("rt_flight_async_follower");
    backend().await;
    let id = common::run_id();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (loading_tx, loading) = std::sync::mpsc::channel::<()>();
    let leader = {
        let id = id.clone();
        std::thread::spawn(move || {
            get_or_load_blocking(&SPEC, key(&SPEC, &id), ResultKind, || {
                loading_tx.send(()).unwrap();
                released.recv().unwrap();
                Ok::<_, String>("leader".to_owned())
            })
        })
    };
    tokio::task::spawn_blocking(move || loading.recv().unwrap())
        .await
        .unwrap();
    let (mut followers, follower_loads) = spawn_followers(&SPEC, &id, 3).await;
    release.send(()).unwrap();
    assert_eq!(leader.join().unwrap(), Ok("leader".to_owned()));
    while let Some(returned) = followers.join_next().await {
        assert_eq!(returned.unwrap(), Ok("leader".to_owned()));
    }
    assert_eq!(follower_loads.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_blocking_call_does_not_wait_for_an_async_leader_on_its_own_thread() {
    static SPEC: CacheSpec = spec("rt_flight_same_thread");
    backend().await;
    let id = common::run_id();
    let gate = Gate::new();
    let leader = spawn_leader(&SPEC, &id, &gate, || Ok("leader".to_owned())).await;
    // Waiting here would block the only thread, on which the leader runs: it loads instead.
    let returned = get_or_load_blocking(&SPEC, key(&SPEC, &id), ResultKind, || {
        Ok::<_, String>("own load".to_owned())
    });
    assert_eq!(returned, Ok("own load".to_owned()));
    gate.open();
    assert_eq!(leader.await.unwrap(), Ok("leader".to_owned()));
}
