//! The sync bridge (`*_blocking`): the same cache-aside behaviour for sync functions, called from a
//! plain thread, from inside a current-thread runtime and from inside a multi-thread runtime.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use cacheaside_runtime::__private::{
    default_key, get_or_load_blocking, invalidate_blocking, refresh_blocking, CacheSpec,
    OptionKind, ResultKind,
};
use cacheaside_runtime::Ttl;
use common::Backend;

const SCOPE: &str = "app::sync_repo";

/// One backend and one `init` for the whole file, made on a thread of their own so that any
/// test (inside a runtime or not) can ask for them.
fn backend() -> &'static Backend {
    static BACKEND: OnceLock<Backend> = OnceLock::new();
    BACKEND.get_or_init(|| {
        std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let backend = Backend::start().await;
                cacheaside_runtime::init(backend.config().build().unwrap())
                    .await
                    .unwrap();
                backend
            })
        })
        .join()
        .expect("the backend starts")
    })
}

const fn spec(set: &'static str) -> CacheSpec {
    CacheSpec {
        cache: None,
        namespace: None,
        set,
        ttl: Ttl::Seconds(3600),
        function: "load_sync",
        codec: cacheaside_runtime::__private::Codec::MessagePack,
    }
}

/// `load_sync(id)`: a sync function returning `Result<String, String>`; counts its loads.
fn load_sync(spec: &'static CacheSpec, loads: &AtomicUsize, id: &str) -> Result<String, String> {
    get_or_load_blocking(spec, default_key(spec, SCOPE, &(&id,)), ResultKind, || {
        loads.fetch_add(1, Ordering::SeqCst);
        Ok(format!("value of {id}"))
    })
}

/// Miss, hit, refresh, invalidate, miss again: the whole life of one entry.
fn exercise(spec: &'static CacheSpec) {
    let id = common::run_id();
    let loads = AtomicUsize::new(0);
    let before = cacheaside_runtime::stats().set(spec.set);

    assert_eq!(load_sync(spec, &loads, &id), Ok(format!("value of {id}")));
    assert_eq!(load_sync(spec, &loads, &id), Ok(format!("value of {id}")));
    assert_eq!(loads.load(Ordering::SeqCst), 1, "the second call is a hit");

    let refreshed: Result<String, String> =
        refresh_blocking(spec, default_key(spec, SCOPE, &(&id,)), ResultKind, || {
            Ok("refreshed".to_owned())
        });
    assert_eq!(refreshed, Ok("refreshed".to_owned()));
    assert_eq!(
        load_sync(spec, &loads, &id),
        Ok("refreshed".to_owned()),
        "refresh wrote its value"
    );

    invalidate_blocking(spec, default_key(spec, SCOPE, &(&id,))).expect("invalidate");
    assert_eq!(load_sync(spec, &loads, &id), Ok(format!("value of {id}")));
    assert_eq!(
        loads.load(Ordering::SeqCst),
        2,
        "loaded again after invalidate"
    );

    let after = cacheaside_runtime::stats().set(spec.set);
    assert_eq!(after.hits - before.hits, 2);
    assert_eq!(after.misses - before.misses, 2);
    assert_eq!(after.cache_errors, before.cache_errors);
}

#[test]
fn from_a_plain_thread() {
    static SPEC: CacheSpec = spec("rt_sync_plain");
    backend();
    exercise(&SPEC);
}

#[tokio::test(flavor = "current_thread")]
async fn from_inside_a_current_thread_runtime() {
    static SPEC: CacheSpec = spec("rt_sync_current");
    backend();
    // Called directly on the runtime's only thread, as a sync function called from async code is.
    exercise(&SPEC);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_inside_a_multi_thread_runtime() {
    static SPEC: CacheSpec = spec("rt_sync_multi");
    backend();
    exercise(&SPEC);
}

#[tokio::test(flavor = "current_thread")]
async fn none_is_not_cached_and_the_loader_runs_on_the_callers_thread() {
    static SPEC: CacheSpec = spec("rt_sync_none");
    backend();
    let id = common::run_id();
    let caller = std::thread::current().id();
    for _ in 0..2 {
        let returned: Option<u32> = get_or_load_blocking(
            &SPEC,
            default_key(&SPEC, SCOPE, &(&id,)),
            OptionKind,
            || {
                assert_eq!(std::thread::current().id(), caller);
                None
            },
        );
        assert_eq!(returned, None);
    }
    assert_eq!(cacheaside_runtime::stats().set("rt_sync_none").loads, 2);
}
