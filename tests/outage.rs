//! Aerospike unreachable when the service starts: calls still succeed, and caching resumes by itself
//! once the cluster is up. Testkit only (it stops and restarts the server). Its own test process.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cacheaside::cache_aside;
use cacheaside_testkit::TestServer;

static LOADS: AtomicUsize = AtomicUsize::new(0);

#[cache_aside(set = "outage", ttl = 3600, key = id)]
async fn load(id: i64) -> Result<i64, String> {
    LOADS.fetch_add(1, Ordering::SeqCst);
    Ok(id)
}

#[tokio::test]
async fn calls_succeed_while_aerospike_is_down_and_caching_resumes_when_it_is_back() {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.trim().is_empty()) {
        eprintln!("skipped: stops and restarts the testkit server");
        return;
    }
    let server = TestServer::start().await.unwrap();
    server.stop().await;

    let config = cacheaside::Config::builder()
        .hosts(server.hosts())
        .reconnect_interval(Duration::from_millis(50))
        // Generous for a busy machine: the last read must not time out.
        .operation_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    cacheaside::init(config)
        .await
        .expect("init succeeds even when the cluster is down");

    for call in 1..=3 {
        assert_eq!(load(7).await, Ok(7));
        assert_eq!(
            LOADS.load(Ordering::SeqCst),
            call,
            "every call is answered by the source"
        );
    }

    server.start_again().await.unwrap();
    // The background reconnect runs every 50 ms; give it up to 10 s on a loaded machine.
    let mut cached = false;
    for _ in 0..200 {
        load(7).await.unwrap();
        if server.record("test", "outage", 7i64).is_some() {
            cached = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(cached, "caching resumed after the server came back");
    let loads = LOADS.load(Ordering::SeqCst);
    assert_eq!(load(7).await, Ok(7));
    assert_eq!(
        LOADS.load(Ordering::SeqCst),
        loads,
        "served from the cache again"
    );
}
