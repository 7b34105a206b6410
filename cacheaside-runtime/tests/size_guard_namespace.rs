//! The size guard with the limit the namespace reports (`max-record-size`): the oversize write is
//! not even sent. Testkit only (the namespace's limit is configured there).

mod common;

use cacheaside_runtime::__private::{default_key, get_or_load, CacheSpec, PlainKind};
use cacheaside_runtime::Ttl;
use cacheaside_testkit::{NamespaceConfig, TestServer};

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_size_ns",
    ttl: Ttl::Seconds(600),
    function: "blob",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

async fn call(id: &str, len: usize) -> usize {
    let key = default_key(&SPEC, "app", &(&id,));
    get_or_load(&SPEC, key, PlainKind, async move { vec![7u8; len] })
        .await
        .len()
}

#[tokio::test]
async fn the_namespaces_reported_limit_applies() {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty()) {
        eprintln!("the_namespaces_reported_limit_applies: skipped, needs the testkit");
        return;
    }
    let server = TestServer::builder()
        .namespace(NamespaceConfig::new("small").max_record_size(4_096))
        .start()
        .await
        .unwrap();
    let config = cacheaside_runtime::Config::builder()
        .hosts(server.hosts())
        .namespace("small")
        .operation_timeout(std::time::Duration::from_secs(2))
        .build()
        .unwrap();
    cacheaside_runtime::init(config).await.unwrap();

    let writes = server.counters().writes;
    assert_eq!(call("big", 10_000).await, 10_000);
    assert_eq!(server.counters().writes, writes, "no write sent");
    assert_eq!(cacheaside_runtime::stats().set(SPEC.set).oversize, 1);
    assert_eq!(call("small", 1_000).await, 1_000);
    assert_eq!(call("small", 0).await, 1_000, "a value that fits is cached");
}
