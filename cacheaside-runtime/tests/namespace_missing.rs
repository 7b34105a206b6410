//! A namespace the cluster does not have: one clear error on first connect, calls bypass the
//! cache (their loaders' values, no commands), invalidation has nothing to do. Runs against a
//! real server too (the namespace does not exist there either).

mod common;

use cacheaside_runtime::__private::{default_key, get_or_load, invalidate, CacheSpec, PlainKind};
use cacheaside_runtime::Ttl;
use common::{logs, Backend};

const MISSING: &str = "cacheaside_no_such_ns";

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_ns_missing",
    ttl: Ttl::Seconds(60),
    function: "f",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

#[tokio::test]
async fn a_missing_namespace_is_reported_once_and_bypassed() {
    logs::capture();
    let backend = Backend::start().await;
    let config = backend.config().namespace(MISSING).build().unwrap();
    cacheaside_runtime::init(config).await.unwrap();
    let commands = backend
        .testkit
        .as_ref()
        .map(|s| s.counters().data_commands());

    for value in 0..5u32 {
        let key = default_key(&SPEC, "app", &(&"k",));
        assert_eq!(
            get_or_load(&SPEC, key, PlainKind, async move { value }).await,
            value
        );
    }
    invalidate(&SPEC, default_key(&SPEC, "app", &(&"k",)))
        .await
        .expect("nothing to invalidate in a missing namespace");

    let stats = cacheaside_runtime::stats().set(SPEC.set);
    assert_eq!((stats.loads, stats.hits, stats.writes), (5, 0, 0));
    assert_eq!(stats.cache_errors, 5, "each bypass is counted");
    if let (Some(server), Some(before)) = (&backend.testkit, commands) {
        assert_eq!(
            server.counters().data_commands(),
            before,
            "no command for a missing namespace"
        );
    }
    let errors = logs::matching(&["level=ERROR", MISSING, "does not exist"]);
    assert_eq!(errors.len(), 1, "one error: {errors:?}");
    assert!(errors[0].contains("Fix:"), "{errors:?}");
}
