//! Opting in to entries without TTL in a namespace that refuses TTLs (what the Aerospike docs'
//! recipe does): values are cached and never expire. Testkit only.

mod common;

use std::time::Duration;

use aerospike::Value;
use cacheaside_runtime::__private::{default_key, get_or_load, CacheSpec, PlainKind};
use cacheaside_runtime::Ttl;
use cacheaside_testkit::{NamespaceConfig, TestServer};

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_nottl_opt_in",
    ttl: Ttl::Seconds(60),
    function: "f",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

async fn call(value: u32) -> u32 {
    let key = default_key(&SPEC, "app", &(&"k",));
    get_or_load(&SPEC, key, PlainKind, async move { value }).await
}

#[tokio::test]
async fn opted_in_entries_are_written_without_ttl() {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty()) {
        eprintln!("opted_in_entries_are_written_without_ttl: skipped, needs the testkit");
        return;
    }
    let server = TestServer::builder()
        .namespace(NamespaceConfig::new("nottl").nsup_period(Duration::ZERO))
        .start()
        .await
        .unwrap();
    let config = cacheaside_runtime::Config::builder()
        .hosts(server.hosts())
        .namespace("nottl")
        .operation_timeout(Duration::from_secs(2))
        .write_without_ttl_when_forbidden(true)
        .build()
        .unwrap();
    cacheaside_runtime::init(config).await.unwrap();

    assert_eq!(call(1).await, 1);
    assert_eq!(call(0).await, 1, "cached");
    let key = common::default_key_string("app", "f", "(\"k\")");
    let raw = common::Backend {
        hosts: server.hosts(),
        testkit: None,
    }
    .raw_client()
    .await;
    let aerospike_key = aerospike::Key::new("nottl", SPEC.set, key).unwrap();
    let record = raw
        .get(
            &aerospike::ReadPolicy::default(),
            &aerospike_key,
            aerospike::Bins::All,
        )
        .await
        .expect("the entry exists");
    assert!(matches!(record.bins.get("data"), Some(Value::Blob(_))));
    assert_eq!(record.time_to_live(), None, "written without a TTL");
    assert_eq!(
        cacheaside_runtime::stats()
            .set(SPEC.set)
            .ttl_forbidden_skips,
        0
    );
}
