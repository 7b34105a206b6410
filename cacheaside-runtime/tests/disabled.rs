//! `disabled(true)` (or `CACHEASIDE_DISABLED=1`): every call runs its body and the cache is never
//! touched, not even connected to.

mod common;

use cacheaside_runtime::__private::{
    default_key, get_or_load, invalidate, refresh, CacheSpec, PlainKind,
};
use cacheaside_runtime::Ttl;
use common::Backend;

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_disabled",
    ttl: Ttl::Seconds(3600),
    function: "f",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

#[tokio::test]
async fn disabled_cache_runs_every_body_and_writes_nothing() {
    let backend = Backend::start().await;
    cacheaside_runtime::init(backend.config().disabled(true).build().unwrap())
        .await
        .unwrap();
    let run = common::run_id();
    let mut loads = 0;
    for value in 0..3u32 {
        let key = default_key(&SPEC, "app", &(&run,));
        let returned: u32 = get_or_load(&SPEC, key, PlainKind, async {
            loads += 1;
            value
        })
        .await;
        assert_eq!(returned, value, "the body's value, never a cached one");
    }
    assert_eq!(loads, 3);
    let key = default_key(&SPEC, "app", &(&run,));
    assert_eq!(refresh(&SPEC, key, PlainKind, async { 9u32 }).await, 9);
    invalidate(&SPEC, default_key(&SPEC, "app", &(&run,)))
        .await
        .expect("invalidating a disabled cache has nothing to do");

    let stats = cacheaside_runtime::stats().set("rt_disabled");
    assert_eq!((stats.hits, stats.misses, stats.loads), (0, 3, 4));
    assert_eq!(stats.cache_errors, 0, "disabled is not an error");
    assert_eq!(stats.writes, 0);

    let raw = backend.raw_client().await;
    let key = common::default_key_string("app", "f", &format!("({run:?})"));
    assert!(common::read_data(&raw, "rt_disabled", key).await.is_none());
    if let Some(server) = &backend.testkit {
        assert_eq!(server.keys(&common::namespace(), "rt_disabled").len(), 0);
    }
}
