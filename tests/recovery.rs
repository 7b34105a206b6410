//! Auto-recovery: an invalidation, evict, put or truncate that cannot reach the cluster is still
//! reported, and it is kept and retried until it lands. Meanwhile this process's calls of the key
//! leave the cache alone (they load, and neither read the old entry nor write back), and once it
//! has landed the old value is never served again.
//!
//! Testkit only (the server is stopped and stalled). Its own test process; the tests take turns,
//! since they stop the one server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cacheaside::{cache_aside, cache_evict};
use cacheaside_testkit::{CommandKind, TestServer};
use tokio::sync::{Mutex, OnceCell};

/// The source: the current version of every row.
static VERSION: AtomicU64 = AtomicU64::new(1);

#[cache_aside(set = "recovered", ttl = 3600, key = id)]
async fn row(id: i64) -> Result<(i64, u64), String> {
    Ok((id, VERSION.load(Ordering::SeqCst)))
}

#[cache_evict(set = "recovered_all", all = true)]
async fn clear_everything() -> Result<(), String> {
    Ok(())
}

#[cache_aside(set = "recovered_all", ttl = 3600, key = id)]
async fn listed(id: i64) -> Result<(i64, u64), String> {
    Ok((id, VERSION.load(Ordering::SeqCst)))
}

/// The server, started once with a configuration installed for it; `None` against a real
/// cluster, which a test cannot stop.
async fn server() -> Option<&'static TestServer> {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.trim().is_empty()) {
        eprintln!("skipped: stops and stalls the testkit server");
        return None;
    }
    static SERVER: OnceCell<TestServer> = OnceCell::const_new();
    let server = SERVER
        .get_or_init(|| async {
            let server = TestServer::start().await.expect("the test server starts");
            let config = cacheaside::Config::builder()
                .hosts(server.hosts())
                // Generous for a busy machine; also how long a stalled server keeps a call.
                .operation_timeout(Duration::from_millis(500))
                .build()
                .expect("valid configuration");
            cacheaside::init(config).await.expect("init");
            server
        })
        .await;
    Some(server)
}

fn turn() -> &'static Mutex<()> {
    static TURN: Mutex<()> = Mutex::const_new(());
    &TURN
}

/// Waits (at most 20 s, a loaded machine) until no invalidation of `set` waits; how long that took.
async fn until_landed(set: &str) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if cacheaside::stats().set(set).pending_invalidations == 0 {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

#[tokio::test]
async fn an_invalidation_made_while_the_cluster_is_down_lands_when_it_is_back() {
    let Some(server) = server().await else {
        return;
    };
    let _turn = turn().lock().await;
    let id = 1;
    let first = row(id).await.unwrap();
    assert_eq!(row(id).await, Ok(first), "cached");

    server.stop().await;
    VERSION.fetch_add(1, Ordering::SeqCst); // the source changes...
    let before = cacheaside::stats().set("recovered");
    assert!(
        row_invalidate(id).await.is_err(),
        "...and the invalidation reports that it did not reach the cluster"
    );
    let kept = cacheaside::stats().set("recovered");
    assert_eq!(kept.invalidations_kept - before.invalidations_kept, 1);
    assert_eq!(kept.pending_invalidations, 1);
    let newer = row(id).await.unwrap();
    assert_ne!(newer, first, "calls load meanwhile");

    server.start_again().await.unwrap();
    let took = until_landed("recovered")
        .await
        .expect("the kept invalidation lands once the server is back");
    eprintln!("the invalidation landed {took:?} after the server listened again");
    let landed = cacheaside::stats().set("recovered");
    assert_eq!(
        landed.invalidations_recovered - before.invalidations_recovered,
        1
    );
    let record = server
        .record("test", "recovered", id)
        .expect("the marker record");
    assert!(record.bin("data").is_none(), "the entry is invalidated");
    assert_eq!(
        row(id).await,
        Ok(newer),
        "the old value is never served again"
    );
}

#[tokio::test]
async fn while_an_invalidation_waits_calls_of_its_key_leave_the_cache_alone() {
    let Some(server) = server().await else {
        return;
    };
    let _turn = turn().lock().await;
    let (id, other) = (2, 3);
    let first = row(id).await.unwrap();
    row(other).await.unwrap();

    // Every data command stalls: the invalidation times out and is kept.
    server.faults().set_stall(true);
    VERSION.fetch_add(1, Ordering::SeqCst);
    assert!(row_invalidate(id).await.is_err());
    let reads = server.counters().get(CommandKind::Read);
    let writes = server.counters().get(CommandKind::Write);
    let before = cacheaside::stats().set("recovered");
    let newer = row(id).await.unwrap();
    assert_ne!(newer, first, "loaded, not read from the cache");
    assert_eq!(
        server.counters().get(CommandKind::Read),
        reads,
        "no read of the waiting key was sent"
    );
    assert_eq!(
        server.counters().get(CommandKind::Write),
        writes,
        "no write-back either"
    );
    assert!(cacheaside::stats().set("recovered").bypassed > before.bypassed);

    server.faults().set_stall(false);
    until_landed("recovered")
        .await
        .expect("the invalidation lands once the server answers");
    assert_eq!(
        row(id).await,
        Ok(newer),
        "loaded after the marker, then cached"
    );
    assert_eq!(row(id).await, Ok(newer));
}

#[tokio::test]
async fn a_truncate_made_while_the_cluster_is_down_lands_when_it_is_back() {
    let Some(server) = server().await else {
        return;
    };
    let _turn = turn().lock().await;
    let ids = [10, 11, 12];
    let mut first = Vec::new();
    for id in ids {
        first.push(listed(id).await.unwrap());
    }

    server.stop().await;
    VERSION.fetch_add(1, Ordering::SeqCst);
    clear_everything().await.unwrap(); // the attribute never fails its call
    let kept = cacheaside::stats().set("recovered_all");
    assert_eq!(kept.pending_invalidations, 1, "one truncate waits");

    server.start_again().await.unwrap();
    until_landed("recovered_all")
        .await
        .expect("the truncate lands once the server is back");
    for (id, old) in ids.into_iter().zip(first) {
        let now = listed(id).await.unwrap();
        assert_ne!(now, old, "every entry of the set was removed");
    }
}
