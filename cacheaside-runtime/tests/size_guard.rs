//! The size guard with a configured limit: a value too large for a record is returned but not
//! written, counted, and logged once per function. Runs against a real server too.

mod common;

use cacheaside_runtime::__private::{default_key, get_or_load, CacheSpec, PlainKind};
use cacheaside_runtime::Ttl;
use common::{logs, read_data, Backend};

const LIMIT: usize = 2_000;

static BLOBS: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_size",
    ttl: Ttl::Seconds(600),
    function: "blob",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

static OTHER: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_size",
    ttl: Ttl::Seconds(600),
    function: "other_blob",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

async fn call(spec: &'static CacheSpec, id: &str, len: usize) -> String {
    let key = default_key(spec, "app", &(&id,));
    get_or_load(spec, key, PlainKind, async move { "x".repeat(len) }).await
}

#[tokio::test]
async fn oversize_values_are_returned_not_written_counted_and_logged_once_per_function() {
    logs::capture();
    let backend = Backend::start().await;
    let config = backend.config().max_record_size(LIMIT).build().unwrap();
    cacheaside_runtime::init(config).await.unwrap();
    let raw = backend.raw_client().await;
    let run = common::run_id();

    for _ in 0..3 {
        assert_eq!(call(&BLOBS, &run, 5_000).await.len(), 5_000, "returned");
    }
    assert_eq!(call(&OTHER, &run, 5_000).await.len(), 5_000);
    let stored = read_data(
        &raw,
        "rt_size",
        common::default_key_string("app", "blob", &format!("({run:?})")),
    )
    .await;
    assert!(stored.is_none(), "not written");
    let stats = cacheaside_runtime::stats().set("rt_size");
    assert_eq!(stats.oversize, 4);
    assert_eq!(stats.writes, 0);
    assert_eq!(stats.loads, 4);
    let logged = logs::matching(&["level=WARN", "too large"]);
    assert_eq!(logged.len(), 2, "once per function: {logged:?}");

    // Small values of the same function are cached.
    let small = format!("{run}-small");
    assert_eq!(call(&BLOBS, &small, 100).await.len(), 100);
    assert_eq!(call(&BLOBS, &small, 0).await.len(), 100, "cached");
}
