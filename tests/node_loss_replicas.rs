//! Before the cluster re-forms without a dead node, the client still routes that node's keys to
//! it; the cache reads them from their replicas instead, so they keep hitting. Testkit only (it
//! kills a node of a testkit cluster that never re-forms during the test). Its own test process.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cacheaside::cache_aside;

const SET: &str = "node_loss_replicas";
const KEYS: i64 = 300;

static LOADS: AtomicU64 = AtomicU64::new(0);

#[cache_aside(set = "node_loss_replicas", ttl = 3600, key = id)]
async fn value(id: i64) -> Result<i64, String> {
    LOADS.fetch_add(1, Ordering::Relaxed);
    Ok(id * 10)
}

/// Calls every key once; how many loaded.
async fn pass() -> u64 {
    let before = LOADS.load(Ordering::Relaxed);
    for id in 0..KEYS {
        assert_eq!(value(id).await, Ok(id * 10));
    }
    LOADS.load(Ordering::Relaxed) - before
}

/// Whether a pass over every key hits them all before `deadline` has passed.
async fn all_keys_hit_within(deadline: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < deadline {
        if pass().await == 0 {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_keys_are_read_from_their_replicas_until_the_cluster_re_forms() {
    // The survivors keep the dead node in the cluster for longer than the test.
    let Some(server) = common::three_node_testkit(
        "a_dead_nodes_keys_are_read_from_their_replicas",
        Duration::from_secs(600),
    )
    .await
    else {
        return;
    };
    assert_eq!(pass().await, KEYS as u64, "the first pass loads every key");
    // A write-back that timed out on a busy machine costs one more load: then every key hits.
    assert!(
        all_keys_hit_within(Duration::from_secs(10)).await,
        "then every key hits"
    );
    let victim = 1;
    assert!((0..KEYS).any(|id| server.owners(SET, id)[0] == victim));

    server.kill_node(victim).await;
    assert!(
        all_keys_hit_within(Duration::from_secs(20)).await,
        "the dead node's keys hit again, read from their replicas: {:?}",
        cacheaside::stats().set(SET)
    );
    assert_eq!(
        server.cluster_nodes().len(),
        3,
        "the cluster has not re-formed: the client still routes to the dead node"
    );
    let stats = cacheaside::stats().set(SET);
    assert_eq!(stats.breaker_opens, 0, "{stats:?}");
    assert!(
        server.counters().served_as_replica > 0,
        "the replicas answered: {:?}",
        server.counters()
    );
}
