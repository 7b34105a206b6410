//! The get-or-load engine end to end, through the interface generated code calls, against the
//! testkit server (or the server of `AEROSPIKE_HOSTS`).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aerospike::Value;
use cacheaside_runtime::__private::{
    default_key, explicit_key, get_or_load, invalidate, refresh, CacheSpec, OptionKind, PlainKind,
    ResultKind,
};
use cacheaside_runtime::{ErrorKind, Ttl};
use common::{read_data, write_data, Backend};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

const SCOPE: &str = "app::repo";

/// One backend and one `init` for the whole file: `init` is process-wide.
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

fn user(id: u64, name: &str) -> User {
    User {
        id,
        name: name.to_owned(),
    }
}

const fn spec(set: &'static str, ttl: Ttl) -> CacheSpec {
    CacheSpec {
        cache: None,
        namespace: None,
        set,
        ttl,
        function: "get_user",
        codec: cacheaside_runtime::__private::Codec::MessagePack,
    }
}

/// Counts loader runs.
#[derive(Default)]
struct Loads(AtomicUsize);

impl Loads {
    fn run<T>(&self, value: T) -> T {
        self.0.fetch_add(1, Ordering::SeqCst);
        value
    }
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// `get_user(id, run)` of `spec`, returning `Result<User, String>`.
async fn get_user(
    spec: &'static CacheSpec,
    loads: &Loads,
    id: u64,
    run: &str,
) -> Result<User, String> {
    let key = default_key(spec, SCOPE, &(&id, &run));
    get_or_load(spec, key, ResultKind, async {
        loads.run(Ok(user(id, run)))
    })
    .await
}

fn key_of(id: u64, run: &str) -> Value {
    common::default_key_string(SCOPE, "get_user", &format!("({id},{run:?})"))
}

#[tokio::test]
async fn miss_then_hit() {
    static SPEC: CacheSpec = spec("rt_hit", Ttl::Seconds(3600));
    let backend = backend().await;
    let run = common::run_id();
    let loads = Loads::default();
    let before = cacheaside_runtime::stats().set("rt_hit");

    assert_eq!(get_user(&SPEC, &loads, 42, &run).await, Ok(user(42, &run)));
    assert_eq!(loads.count(), 1);
    assert_eq!(get_user(&SPEC, &loads, 42, &run).await, Ok(user(42, &run)));
    assert_eq!(loads.count(), 1, "the second call is served from the cache");
    assert_eq!(get_user(&SPEC, &loads, 43, &run).await, Ok(user(43, &run)));
    assert_eq!(loads.count(), 2, "another argument is another entry");

    let after = cacheaside_runtime::stats().set("rt_hit");
    assert_eq!(after.hits - before.hits, 1);
    assert_eq!(after.misses - before.misses, 2);
    assert_eq!(after.loads - before.loads, 2);
    assert_eq!(after.writes - before.writes, 2);
    assert_eq!(after.cache_errors, before.cache_errors);

    // The record is where the documented key format says, in the documented envelope.
    let raw = backend.raw_client().await;
    let (data, _) = read_data(&raw, "rt_hit", key_of(42, &run))
        .await
        .expect("record at the documented key");
    let Value::Blob(bytes) = data else {
        panic!("bin data is a blob, got {data:?}")
    };
    assert_eq!(
        &bytes[..3],
        &[1, 1, 0],
        "format 1, codec 1 (MessagePack named), empty schema tag"
    );
    let stored: User = rmp_serde::from_slice(&bytes[3..]).unwrap();
    assert_eq!(stored, user(42, &run));
}

#[tokio::test]
async fn ttl_is_written() {
    static SECONDS: CacheSpec = spec("rt_ttl_seconds", Ttl::Seconds(3600));
    static NEVER: CacheSpec = spec("rt_ttl_never", Ttl::Never);
    let backend = backend().await;
    let run = common::run_id();
    let loads = Loads::default();
    get_user(&SECONDS, &loads, 1, &run).await.unwrap();
    get_user(&NEVER, &loads, 1, &run).await.unwrap();

    let raw = backend.raw_client().await;
    let (_, ttl) = read_data(&raw, "rt_ttl_seconds", key_of(1, &run))
        .await
        .unwrap();
    let ttl = ttl.expect("a record written with ttl 3600 expires");
    assert!(
        ttl <= Duration::from_secs(3600) && ttl > Duration::from_secs(3000),
        "{ttl:?}"
    );
    let (_, ttl) = read_data(&raw, "rt_ttl_never", key_of(1, &run))
        .await
        .unwrap();
    assert_eq!(ttl, None, "a record written with ttl never does not expire");
}

#[tokio::test]
async fn entries_expire_with_their_ttl() {
    static SPEC: CacheSpec = spec("rt_expiry", Ttl::Seconds(60));
    let backend = backend().await;
    let Some(server) = backend.testkit("entries_expire_with_their_ttl") else {
        return;
    };
    let run = common::run_id();
    let loads = Loads::default();
    get_user(&SPEC, &loads, 7, &run).await.unwrap();
    server.clock().advance(Duration::from_secs(59));
    get_user(&SPEC, &loads, 7, &run).await.unwrap();
    assert_eq!(loads.count(), 1, "still cached before the TTL");
    server.clock().advance(Duration::from_secs(2));
    get_user(&SPEC, &loads, 7, &run).await.unwrap();
    assert_eq!(loads.count(), 2, "expired after the TTL, loaded again");
}

#[tokio::test]
async fn err_and_none_are_not_cached() {
    static RESULTS: CacheSpec = spec("rt_err", Ttl::Seconds(3600));
    static OPTIONS: CacheSpec = spec("rt_none", Ttl::Seconds(3600));
    let backend = backend().await;
    let run = common::run_id();
    let loads = Loads::default();
    let before = cacheaside_runtime::stats();

    for _ in 0..2 {
        let key = default_key(&RESULTS, SCOPE, &(&1u64, &run));
        let returned: Result<User, String> = get_or_load(&RESULTS, key, ResultKind, async {
            loads.run(Err("db down".to_owned()))
        })
        .await;
        assert_eq!(returned, Err("db down".to_owned()));
        let key = default_key(&OPTIONS, SCOPE, &(&1u64, &run));
        let returned: Option<User> =
            get_or_load(&OPTIONS, key, OptionKind, async { loads.run(None) }).await;
        assert_eq!(returned, None);
    }
    assert_eq!(loads.count(), 4, "nothing was cached, every call loaded");

    let raw = backend.raw_client().await;
    assert!(read_data(&raw, "rt_err", key_of(1, &run)).await.is_none());
    assert!(read_data(&raw, "rt_none", key_of(1, &run)).await.is_none());
    let after = cacheaside_runtime::stats();
    assert_eq!(
        after.set("rt_err").load_errors - before.set("rt_err").load_errors,
        2
    );
    assert_eq!(
        after.set("rt_none").load_errors - before.set("rt_none").load_errors,
        2
    );
    assert_eq!(after.set("rt_err").writes, before.set("rt_err").writes);

    // `Some` is cached.
    let key = default_key(&OPTIONS, SCOPE, &(&2u64, &run));
    let first: Option<User> = get_or_load(&OPTIONS, key, OptionKind, async {
        loads.run(Some(user(2, "s")))
    })
    .await;
    let key = default_key(&OPTIONS, SCOPE, &(&2u64, &run));
    let second: Option<User> =
        get_or_load(&OPTIONS, key, OptionKind, async { loads.run(None) }).await;
    assert_eq!((first, second), (Some(user(2, "s")), Some(user(2, "s"))));
}

#[tokio::test]
async fn plain_values_are_cached() {
    static SPEC: CacheSpec = spec("rt_plain", Ttl::Seconds(3600));
    backend().await;
    let run = common::run_id();
    let loads = Loads::default();
    for _ in 0..3 {
        let key = default_key(&SPEC, SCOPE, &(&run,));
        let value: Vec<u32> =
            get_or_load(&SPEC, key, PlainKind, async { loads.run(vec![1, 2, 3]) }).await;
        assert_eq!(value, vec![1, 2, 3]);
    }
    assert_eq!(loads.count(), 1);
}

#[tokio::test]
async fn undecodable_bytes_are_a_miss_and_are_overwritten() {
    static SPEC: CacheSpec = spec("rt_undecodable", Ttl::Seconds(3600));
    let backend = backend().await;
    let raw = backend.raw_client().await;
    let run = common::run_id();
    let before = cacheaside_runtime::stats().set("rt_undecodable");
    let garbage = [
        Value::Blob(vec![1, 1, 0, 0xdd, 0xff, 0xff, 0xff, 0xff]), // claims 4 billion elements
        Value::Blob(vec![9, 9, 9]),                               // another format
        Value::Blob(rmp_serde::to_vec_named(&("other", "shape")).unwrap()),
        Value::String("written by someone else".to_owned()),
    ];
    for (id, stored) in garbage.into_iter().enumerate() {
        let id = id as u64;
        let loads = Loads::default();
        write_data(&raw, "rt_undecodable", key_of(id, &run), stored).await;
        assert_eq!(get_user(&SPEC, &loads, id, &run).await, Ok(user(id, &run)));
        assert_eq!(loads.count(), 1, "undecodable bytes are a miss");
        let (data, _) = read_data(&raw, "rt_undecodable", key_of(id, &run))
            .await
            .unwrap();
        let Value::Blob(bytes) = data else {
            panic!("overwritten with a blob")
        };
        assert_eq!(
            rmp_serde::from_slice::<User>(&bytes[3..]).unwrap(),
            user(id, &run)
        );
        assert_eq!(get_user(&SPEC, &loads, id, &run).await, Ok(user(id, &run)));
        assert_eq!(loads.count(), 1, "the overwritten entry is a hit");
    }
    let after = cacheaside_runtime::stats().set("rt_undecodable");
    assert_eq!(after.undecodable - before.undecodable, 4);
    assert_eq!(after.hits - before.hits, 4);
}

#[tokio::test]
async fn invalidate_removes_the_entry() {
    static SPEC: CacheSpec = spec("rt_invalidate", Ttl::Seconds(3600));
    let backend = backend().await;
    let raw = backend.raw_client().await;
    let run = common::run_id();
    let loads = Loads::default();
    get_user(&SPEC, &loads, 5, &run).await.unwrap();
    assert!(read_data(&raw, "rt_invalidate", key_of(5, &run))
        .await
        .is_some());

    invalidate(&SPEC, default_key(&SPEC, SCOPE, &(&5u64, &run)))
        .await
        .unwrap();
    assert!(
        read_data(&raw, "rt_invalidate", key_of(5, &run))
            .await
            .is_none(),
        "no value left (an invalidation marker holds no bin `data`)"
    );
    get_user(&SPEC, &loads, 5, &run).await.unwrap();
    assert_eq!(loads.count(), 2, "loaded again after invalidation");

    // Invalidating an absent entry is fine.
    invalidate(&SPEC, default_key(&SPEC, SCOPE, &(&6u64, &run)))
        .await
        .unwrap();
}

#[tokio::test]
async fn refresh_always_loads_and_writes() {
    static SPEC: CacheSpec = spec("rt_refresh", Ttl::Seconds(3600));
    backend().await;
    let run = common::run_id();
    let loads = Loads::default();
    get_user(&SPEC, &loads, 9, &run).await.unwrap();

    let key = default_key(&SPEC, SCOPE, &(&9u64, &run));
    let refreshed: Result<User, String> = refresh(&SPEC, key, ResultKind, async {
        loads.run(Ok(user(9, "fresh")))
    })
    .await;
    assert_eq!(refreshed, Ok(user(9, "fresh")));
    assert_eq!(loads.count(), 2);
    assert_eq!(
        get_user(&SPEC, &loads, 9, &run).await,
        Ok(user(9, "fresh")),
        "the refreshed value is served"
    );
    assert_eq!(loads.count(), 2);

    // A refresh says the source changed: if its load fails, the old entry is not served again.
    let key = default_key(&SPEC, SCOPE, &(&9u64, &run));
    let failed: Result<User, String> =
        refresh(&SPEC, key, ResultKind, async { Err("db down".to_owned()) }).await;
    assert!(failed.is_err());
    assert_eq!(get_user(&SPEC, &loads, 9, &run).await, Ok(user(9, &run)));
    assert_eq!(loads.count(), 3, "loaded again after the failed refresh");
}

#[tokio::test]
async fn explicit_keys_address_the_exact_record() {
    static SPEC: CacheSpec = spec("rt_explicit", Ttl::Seconds(3600));
    let backend = backend().await;
    let raw = backend.raw_client().await;
    let run = common::run_id();
    let string_key = format!("user:{run}");
    let int_key = (run.len() as i64) * 1_000_003 + 17;
    let bytes_key = run.as_bytes().to_vec();

    let value: User = get_or_load(&SPEC, explicit_key(string_key.as_str()), PlainKind, async {
        user(1, "s")
    })
    .await;
    assert_eq!(value, user(1, "s"));
    let _: User = get_or_load(&SPEC, explicit_key(int_key), PlainKind, async {
        user(2, "i")
    })
    .await;
    let _: User = get_or_load(&SPEC, explicit_key(&bytes_key), PlainKind, async {
        user(3, "b")
    })
    .await;

    for (key, expected) in [
        (Value::String(string_key.clone()), user(1, "s")),
        (Value::Int(int_key), user(2, "i")),
        (Value::Blob(bytes_key.clone()), user(3, "b")),
    ] {
        let (data, _) = read_data(&raw, "rt_explicit", key.clone())
            .await
            .expect("record at the explicit key");
        let Value::Blob(bytes) = data else {
            panic!("a blob")
        };
        assert_eq!(
            rmp_serde::from_slice::<User>(&bytes[3..]).unwrap(),
            expected,
            "{key:?}"
        );
    }

    // Another service invalidates by deleting the record at the same key.
    common::delete(&raw, "rt_explicit", Value::String(string_key.clone())).await;
    let reloaded: User = get_or_load(&SPEC, explicit_key(string_key), PlainKind, async {
        user(1, "reloaded")
    })
    .await;
    assert_eq!(reloaded, user(1, "reloaded"));
}

#[tokio::test]
async fn keys_that_cannot_be_built_bypass_the_cache() {
    static SPEC: CacheSpec = spec("rt_bad_key", Ttl::Seconds(3600));
    backend().await;
    let loads = Loads::default();
    let before = cacheaside_runtime::stats().set("rt_bad_key");
    for _ in 0..2 {
        let value: u8 = get_or_load(&SPEC, explicit_key(u64::MAX), PlainKind, async {
            loads.run(1)
        })
        .await;
        assert_eq!(value, 1);
    }
    assert_eq!(loads.count(), 2);
    let after = cacheaside_runtime::stats().set("rt_bad_key");
    assert_eq!(after.cache_errors - before.cache_errors, 2);
    let error = invalidate(&SPEC, explicit_key(u64::MAX)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Key);
}

#[tokio::test]
async fn calls_from_many_runtimes_share_the_client() {
    static SPEC: CacheSpec = spec("rt_threads", Ttl::Seconds(3600));
    backend().await;
    let run = common::run_id();
    // Sequential runtimes, each gone before the next starts: the shared client must outlive them.
    let loads = std::sync::Arc::new(Loads::default());
    for _ in 0..3 {
        let loads = std::sync::Arc::clone(&loads);
        let run = run.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async { get_user(&SPEC, &loads, 1, &run).await.unwrap() })
        })
        .join()
        .unwrap();
    }
    assert_eq!(loads.count(), 1);
}

/// Users spawn annotated calls on multi-threaded runtimes: the engine's futures must be `Send`
/// whenever the loader's future and the value are.
#[test]
fn engine_futures_are_send() {
    fn assert_send<T: Send>(_: T) {}
    static SPEC: CacheSpec = spec("rt_send", Ttl::Never);
    let key = || default_key(&SPEC, SCOPE, &(&1u64,));
    assert_send(get_or_load(&SPEC, key(), ResultKind, async {
        Ok::<User, String>(user(1, "a"))
    }));
    assert_send(refresh(&SPEC, key(), OptionKind, async {
        Some(user(1, "a"))
    }));
    assert_send(invalidate(&SPEC, key()));
}
