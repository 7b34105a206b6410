//! Sync calls against a stalled server, from inside a current-thread runtime: each returns its
//! loader's value after at most its operations' timeout (the background runtime times them out,
//! nothing waits on the caller's runtime), and once the breaker opens they no longer reach the
//! server. Testkit only (stall).

use std::time::Duration;

use cacheaside_runtime::__private::{default_key, get_or_load_blocking, CacheSpec, PlainKind};
use cacheaside_runtime::Ttl;
use cacheaside_testkit::TestServer;

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_sync_stall",
    ttl: Ttl::Seconds(60),
    function: "f",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

fn call(arg: u32) -> u32 {
    get_or_load_blocking(
        &SPEC,
        default_key(&SPEC, "app", &(&arg,)),
        PlainKind,
        || arg,
    )
}

#[tokio::test(flavor = "current_thread")]
async fn sync_calls_fail_open_against_a_stalled_server() {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty()) {
        eprintln!("sync_calls_fail_open_against_a_stalled_server: skipped, needs the testkit");
        return;
    }
    let server = TestServer::start().await.unwrap();
    let config = cacheaside_runtime::Config::builder()
        .hosts(server.hosts())
        .operation_timeout(Duration::from_millis(200))
        .connect_timeout(Duration::from_secs(5))
        .reconnect_interval(Duration::from_secs(60))
        .build()
        .unwrap();
    cacheaside_runtime::init(config).await.unwrap();
    assert_eq!(call(0), 0);

    server.faults().set_stall(true);
    for arg in 1..=5 {
        assert_eq!(
            call(arg),
            arg,
            "the loader's value while the read times out"
        );
    }
    assert_eq!(cacheaside_runtime::stats().set(SPEC.set).breaker_opens, 1);
    let commands = server.counters().data_commands();
    for arg in 10..40 {
        assert_eq!(call(arg), arg);
    }
    assert_eq!(
        server.counters().data_commands(),
        commands,
        "no commands while the breaker is open"
    );
}
