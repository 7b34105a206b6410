//! The sync bridge with Aerospike down: calls return their loader's result without waiting for a
//! runtime, and invalidation reports the outage. Testkit only (the server is stopped).

mod common;

use std::time::Duration;

use cacheaside_runtime::__private::{
    default_key, get_or_load_blocking, invalidate_blocking, refresh_blocking, CacheSpec, PlainKind,
};
use cacheaside_runtime::{ErrorKind, Ttl};
use cacheaside_testkit::TestServer;

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_sync_down",
    ttl: Ttl::Seconds(3600),
    function: "f",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

fn call(value: u32) -> u32 {
    get_or_load_blocking(
        &SPEC,
        default_key(&SPEC, "app", &(&"k",)),
        PlainKind,
        || value,
    )
}

#[tokio::test(flavor = "current_thread")]
async fn sync_calls_run_their_loaders_while_the_server_is_down() {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty()) {
        eprintln!(
            "sync_calls_run_their_loaders_while_the_server_is_down: skipped, needs the testkit"
        );
        return;
    }
    let server = TestServer::start().await.unwrap();
    server.stop().await;
    let config = cacheaside_runtime::Config::builder()
        .hosts(server.hosts())
        .operation_timeout(Duration::from_millis(1_000))
        .connect_timeout(Duration::from_millis(1_000))
        .reconnect_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    cacheaside_runtime::init(config).await.unwrap();

    for value in 1..=3 {
        assert_eq!(call(value), value);
    }
    assert_eq!(
        refresh_blocking(&SPEC, default_key(&SPEC, "app", &(&"k",)), PlainKind, || 9),
        9
    );
    let error = invalidate_blocking(&SPEC, default_key(&SPEC, "app", &(&"k",))).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    let stats = cacheaside_runtime::stats().set("rt_sync_down");
    assert_eq!((stats.hits, stats.loads, stats.writes), (0, 4, 0));
}
