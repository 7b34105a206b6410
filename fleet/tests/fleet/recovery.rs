//! Auto-recovery across processes: an invalidation made while the cluster is unreachable is kept
//! by its process and lands once the cluster is back, and then the other processes stop serving
//! the old value.

use std::time::{Duration, Instant};

use cacheaside_fleet::Served;

use super::PATIENCE;

/// The acceptance: the invalidation lands within this time of the cluster being
/// reachable again. Measured and printed; asserted only against [`PATIENCE`], as a loaded machine
/// may stall the processes.
const TARGET: Duration = Duration::from_secs(2);

#[tokio::test]
async fn an_invalidation_made_during_an_outage_reaches_the_other_processes_once_the_cluster_is_back(
) {
    let (server, mut fleet) = super::start(3).await;
    let id = 1;
    let first = fleet[0].get("row", id).await;
    for (worker, got) in fleet.get_all("row", id).await.into_iter().enumerate() {
        assert_eq!(got.value, first.value, "worker {worker}: cached");
    }
    let before = fleet[0].stats("fleet_rows").await;

    server.stop().await;
    fleet.set_source(id, 2).await; // the source changes...
    let error = fleet[0]
        .invalidate("row", id)
        .await
        .expect_err("...and worker 0's invalidation reports that it did not reach the cluster");
    eprintln!("worker 0's invalidation while the cluster is down: {error}");
    let kept = fleet[0].stats("fleet_rows").await;
    assert_eq!(kept.invalidations_kept - before.invalidations_kept, 1);
    assert_eq!(kept.pending_invalidations, 1);

    server
        .start_again()
        .await
        .expect("the server listens again");
    let back = Instant::now();
    // Workers 1 and 2 read the old entry until worker 0's retry lands. A read that could not
    // reach the cache returns the source's new version without saying anything about the cache:
    // only reads the cache answered count.
    let mut seen: [Option<Duration>; 2] = [None; 2];
    while seen.contains(&None) && back.elapsed() < PATIENCE {
        for (worker, seen) in (1..).zip(seen.iter_mut()) {
            if seen.is_none() {
                let got = fleet[worker].get("row", id).await;
                if got.value.version == 2 && got.served != Served::BodyCacheFailed {
                    *seen = Some(back.elapsed());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (worker, seen) in (1..).zip(seen) {
        let seen = seen.unwrap_or_else(|| {
            panic!("worker {worker} still serves version 1 {PATIENCE:?} after the cluster is back")
        });
        eprintln!(
            "worker {worker} reads version 2 from the cache {:.0} ms after the cluster is back \
             (target: within {TARGET:?})",
            seen.as_secs_f64() * 1000.0
        );
    }

    let mut landed = fleet[0].stats("fleet_rows").await;
    while landed.pending_invalidations > 0 && back.elapsed() < PATIENCE {
        tokio::time::sleep(Duration::from_millis(20)).await;
        landed = fleet[0].stats("fleet_rows").await;
    }
    assert_eq!(landed.pending_invalidations, 0, "nothing waits in worker 0");
    assert_eq!(
        landed.invalidations_recovered - before.invalidations_recovered,
        1,
        "worker 0's invalidation landed on a retry"
    );
    for (worker, got) in fleet.get_all("row", id).await.into_iter().enumerate() {
        assert_eq!(
            got.value.version, 2,
            "worker {worker}: never the old value again"
        );
    }
}
