//! The backplane: a change made in one process drops the key from every other process's local
//! tier (`local(ttl = "60s", …)`), within about the backplane's interval (100 ms by default).

use std::time::{Duration, Instant};

use cacheaside_fleet::Served;

use super::PATIENCE;

/// The acceptance: readers see a value invalidated by another process within this time.
/// Measured and printed; asserted only against [`PATIENCE`], as a loaded machine may stall the
/// processes.
const TARGET: Duration = Duration::from_secs(1);

#[tokio::test]
async fn readers_drop_a_local_copy_another_process_invalidated() {
    let (_server, mut fleet) = super::start_anywhere(3).await;
    let id = super::unique_id();
    // Workers 0 and 1 read the row and keep it in their local tiers.
    for reader in [0, 1] {
        fleet[reader].get("local_row", id).await;
        let mut local = false;
        let started = Instant::now();
        while !local && started.elapsed() < PATIENCE {
            local = fleet[reader].get("local_row", id).await.served == Served::Local;
        }
        assert!(local, "worker {reader} answers from its local tier");
    }

    // Worker 2 changes the source and invalidates.
    fleet.set_source(id, 2).await;
    let changed = Instant::now();
    fleet[2]
        .invalidate("local_row", id)
        .await
        .expect("the invalidation lands");

    let mut seen: [Option<Duration>; 2] = [None; 2];
    while seen.contains(&None) && changed.elapsed() < PATIENCE {
        for (reader, seen) in (0..).zip(seen.iter_mut()) {
            if seen.is_none() && fleet[reader].get("local_row", id).await.value.version == 2 {
                *seen = Some(changed.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for (reader, seen) in (0..).zip(seen) {
        let seen = seen.unwrap_or_else(|| {
            panic!("worker {reader} still serves version 1 {PATIENCE:?} after the invalidation")
        });
        eprintln!(
            "worker {reader} reads version 2 {:.0} ms after worker 2 invalidated (target: within \
             {TARGET:?}, the local ttl is 60 s)",
            seen.as_secs_f64() * 1000.0
        );
    }
    let heard = fleet[0].stats("fleet_local").await;
    assert!(heard.remote_changes >= 1, "counted: {heard:?}");
    fleet.quit().await;
}
