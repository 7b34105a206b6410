//! One node of a three-node cluster dies under load: no call fails, the extra loads are the dead
//! node's keys alone (the rest of the cluster keeps serving hits, the cluster's breaker stays
//! closed), and once the client routes around the node, and again after it restarts, calls hit.
//! Testkit only (it kills and restarts a node). Its own test process.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cacheaside::cache_aside;

const SET: &str = "node_loss";
const KEYS: usize = 600;
const TASKS: usize = 8;
/// The node the test kills.
const VICTIM: usize = 1;

/// Loads per key.
static LOADS: [AtomicU64; KEYS] = [const { AtomicU64::new(0) }; KEYS];

#[cache_aside(set = "node_loss", ttl = 3600, key = id)]
async fn value(id: i64) -> Result<i64, String> {
    LOADS[id as usize].fetch_add(1, Ordering::Relaxed);
    Ok(id * 10)
}

fn loads() -> Vec<u64> {
    LOADS.iter().map(|l| l.load(Ordering::Relaxed)).collect()
}

/// Calls every key once; the number of keys that loaded.
async fn keys_that_load() -> usize {
    let before = loads();
    for id in 0..KEYS as i64 {
        assert_eq!(value(id).await, Ok(id * 10));
    }
    let after = loads();
    before.iter().zip(&after).filter(|(b, a)| a > b).count()
}

/// Calls every key until a whole pass runs no body (or the deadline passes); whether it did.
async fn all_keys_hit_within(deadline: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if keys_that_load().await == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// `TASKS` tasks calling every key in a loop until `stop`; counts wrong answers.
fn load_until(stop: Arc<AtomicBool>, wrong: Arc<AtomicU64>) -> Vec<tokio::task::JoinHandle<()>> {
    (0..TASKS)
        .map(|task| {
            let (stop, wrong) = (stop.clone(), wrong.clone());
            tokio::spawn(async move {
                let mut id = task * 97 % KEYS;
                while !stop.load(Ordering::Relaxed) {
                    id = (id + 211) % KEYS;
                    if value(id as i64).await != Ok(id as i64 * 10) {
                        wrong.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_node_costs_its_own_keys_only_and_caching_recovers() {
    let Some(server) = common::three_node_testkit(
        "a_dead_node_costs_its_own_keys_only",
        Duration::from_millis(500),
    )
    .await
    else {
        return;
    };
    assert_eq!(
        keys_that_load().await,
        KEYS,
        "the first pass loads every key"
    );
    assert!(
        all_keys_hit_within(Duration::from_secs(10)).await,
        "then every key is cached"
    );
    let victims: Vec<bool> = (0..KEYS as i64)
        .map(|id| server.owners(SET, id)[0] == VICTIM)
        .collect();
    assert!(
        victims.iter().any(|&v| v) && victims.iter().any(|&v| !v),
        "the victim holds some keys, not all"
    );

    let before = (loads(), cacheaside::stats().set(SET));
    let stop = Arc::new(AtomicBool::new(false));
    let wrong = Arc::new(AtomicU64::new(0));
    let tasks = load_until(stop.clone(), wrong.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill_node(VICTIM).await;
    // Under load until the survivors have re-formed and the client has followed them.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let after = (loads(), cacheaside::stats().set(SET));
    assert_eq!(
        wrong.load(Ordering::Relaxed),
        0,
        "no call failed or was wrong"
    );
    let extra = |victim: bool| -> u64 {
        (0..KEYS)
            .filter(|&id| victims[id] == victim)
            .map(|id| after.0[id] - before.0[id])
            .sum()
    };
    assert_eq!(
        extra(false),
        0,
        "the keys of the live nodes kept hitting: {:?}",
        after.1
    );
    assert!(
        extra(true) > 0,
        "the dead node's keys loaded: {:?}",
        after.1
    );
    assert_eq!(
        after.1.breaker_opens, before.1.breaker_opens,
        "no cluster-wide bypass: {:?}",
        after.1
    );
    assert!(
        all_keys_hit_within(Duration::from_secs(10)).await,
        "once the client routes around the dead node, every key hits"
    );

    server.restart_node(VICTIM).await.unwrap();
    assert!(
        all_keys_hit_within(Duration::from_secs(10)).await,
        "after the restart, every key hits again"
    );
    let settled = cacheaside::stats().set(SET);
    assert_eq!(settled.breaker_opens, before.1.breaker_opens, "{settled:?}");
}
