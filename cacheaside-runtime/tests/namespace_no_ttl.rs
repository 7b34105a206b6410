//! A namespace that refuses TTLs (nsup-period 0), checked on first connect. By default, values of
//! functions with a TTL are not written there (no refused write is even sent), counted, and the
//! fix is logged once; functions with `ttl = never` are cached. Testkit only (the namespace is
//! configured there).

mod common;

use std::time::Duration;

use cacheaside_runtime::__private::{default_key, get_or_load, invalidate, CacheSpec, PlainKind};
use cacheaside_runtime::Ttl;
use cacheaside_testkit::{NamespaceConfig, TestServer};
use common::logs;

static WITH_TTL: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_nottl_ttl",
    ttl: Ttl::Seconds(60),
    function: "with_ttl",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

static NEVER: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_nottl_never",
    ttl: Ttl::Never,
    function: "never",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

async fn call(spec: &'static CacheSpec, value: u32) -> u32 {
    let key = default_key(spec, "app", &(&"k",));
    get_or_load(spec, key, PlainKind, async move { value }).await
}

#[tokio::test]
async fn ttl_records_are_not_written_by_default_and_the_fix_is_logged_once() {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty()) {
        eprintln!("ttl_records_are_not_written_by_default: skipped, needs the testkit");
        return;
    }
    logs::capture();
    let server = TestServer::builder()
        .namespace(NamespaceConfig::new("nottl").nsup_period(Duration::ZERO))
        .start()
        .await
        .unwrap();
    let config = cacheaside_runtime::Config::builder()
        .hosts(server.hosts())
        .namespace("nottl")
        .operation_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    cacheaside_runtime::init(config).await.unwrap();

    let writes = server.counters().writes;
    for value in 1..=3 {
        assert_eq!(call(&WITH_TTL, value).await, value, "loaded every time");
    }
    assert_eq!(
        server.counters().writes,
        writes,
        "no write is sent that the namespace would refuse"
    );
    assert!(server.keys("nottl", WITH_TTL.set).is_empty());
    let stats = cacheaside_runtime::stats().set(WITH_TTL.set);
    assert_eq!(stats.ttl_forbidden_skips, 3);
    assert_eq!(stats.cache_errors, 0, "a policy, not an error");
    let logged = logs::matching(&["level=WARN", "nottl", "nsup-period"]);
    assert_eq!(logged.len(), 1, "logged once: {logged:?}");
    assert!(
        logged[0].contains("write_without_ttl_when_forbidden"),
        "{logged:?}"
    );

    // Invalidation has nothing to protect there: a plain delete, no marker left behind.
    invalidate(&WITH_TTL, default_key(&WITH_TTL, "app", &(&"k",)))
        .await
        .unwrap();
    assert!(server.keys("nottl", WITH_TTL.set).is_empty());

    // `ttl = never` is accepted there and cached.
    assert_eq!(call(&NEVER, 5).await, 5);
    assert_eq!(call(&NEVER, 0).await, 5);
    // Its invalidation marker cannot expire either; the next load replaces it.
    invalidate(&NEVER, default_key(&NEVER, "app", &(&"k",)))
        .await
        .unwrap();
    assert_eq!(call(&NEVER, 6).await, 6);
    assert_eq!(call(&NEVER, 0).await, 6);
}
