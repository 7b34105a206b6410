//! The harness itself: one load serves the fleet, concurrent callers, the local tier, and a worker
//! that answers bad lines with errors.

use cacheaside_fleet::{Fleet, Reply, Row, Served};
use cacheaside_testkit::TestServer;

#[tokio::test]
async fn one_load_serves_every_process() {
    let (_server, mut fleet) = super::start(3).await;
    let first = fleet[0].get("row", 7).await;
    assert_eq!(
        (first.value, first.served, first.ran),
        (
            Row {
                id: 7,
                version: 1,
                loaded_by: 0
            },
            Served::Body,
            true
        ),
        "a miss: worker 0 loads"
    );
    for (worker, got) in fleet.get_all("row", 7).await.into_iter().enumerate() {
        assert_eq!(
            got.value, first.value,
            "worker {worker} reads worker 0's load"
        );
        assert_eq!(got.served, Served::Cache, "worker {worker}");
        assert!(!got.ran, "worker {worker} did not run the body");
    }
    let loads: u64 = fleet
        .stats_all("fleet_rows")
        .await
        .iter()
        .map(|stats| stats.loads)
        .sum();
    assert_eq!(loads, 1, "one body run in the fleet");
    fleet.quit().await;
}

#[tokio::test]
async fn concurrent_callers_of_a_cold_key_load_at_most_once_per_process() {
    let (_server, mut fleet) = super::start(3).await;
    fleet.sleep_body(300).await;
    let callers = 20;
    let gots = fleet.gets_all("cold", 1, callers).await;
    for (worker, gots) in gots.iter().enumerate() {
        super::assert_every_caller_got_the_row(worker, gots, callers);
        assert!(
            gots.ran <= 1,
            "worker {worker}: single-flight inside the process, yet {} body runs",
            gots.ran
        );
    }
    for gots in &gots {
        assert_eq!(gots.micros.len(), callers, "every caller's time");
        assert!(gots.micros.is_sorted());
        assert_eq!(gots.micros.last(), Some(&gots.slowest_micros));
    }
    let runs: u64 = gots.iter().map(|gots| gots.ran).sum();
    assert!(runs >= 1, "someone loaded the cold key");
    let slowest = gots.iter().map(|gots| gots.slowest_micros).max();
    eprintln!(
        "{} processes x {callers} callers of a cold key: {runs} body runs, slowest call {} ms",
        fleet.len(),
        slowest.unwrap_or(0) / 1000
    );
}

#[tokio::test]
async fn the_local_tier_answers_repeated_calls_in_its_process() {
    let (_server, mut fleet) = super::start(2).await;
    assert_eq!(fleet[0].get("local_row", 5).await.served, Served::Body);
    assert_eq!(fleet[0].get("local_row", 5).await.served, Served::Local);
    let other = fleet[1].get("local_row", 5).await;
    assert_eq!(
        other.served,
        Served::Cache,
        "worker 1 finds worker 0's entry"
    );
    assert_eq!(other.value.loaded_by, 0);
    assert_eq!(fleet[1].get("local_row", 5).await.served, Served::Local);
    let stats = fleet.stats_all("fleet_local").await;
    assert_eq!((stats[0].loads, stats[0].local_hits), (1, 1));
    assert_eq!((stats[1].loads, stats[1].local_hits), (0, 1));
}

#[tokio::test]
async fn repeat_times_hits_and_sweep_times_misses() {
    let (_server, mut fleet) = super::start(1).await;
    let misses = fleet[0].sweep("cold", 100, 5).await;
    assert_eq!(
        (misses.calls, misses.ran),
        (5, 5),
        "ids 100 to 104: five misses"
    );
    let hits = fleet[0].sweep("cold", 100, 5).await;
    assert_eq!(hits.ran, 0, "the same ids again: five hits");
    fleet[0].get("local_row", 7).await;
    let local = fleet[0].repeat("local_row", 7, 1_000).await;
    assert_eq!((local.calls, local.ran), (1_000, 0));
    assert!(local.nanos > 0);
    let stats = fleet[0].stats("fleet_local").await;
    assert!(stats.local_hits + stats.hits >= 1_000, "{stats:?}");
    fleet.quit().await;
}

#[tokio::test]
async fn a_worker_answers_bad_lines_with_errors_and_goes_on() {
    let (_server, mut fleet) = super::start(1).await;
    for line in [
        "",
        "frobnicate",
        "get row",
        "get row x",
        "get nosuch 1",
        "gets row 1 0",
        "repeat row 1 0",
        "sweep row 1",
    ] {
        match fleet[0].send(line).await {
            Reply::Error(error) => eprintln!("{line:?} -> {error}"),
            other => panic!("{line:?} was answered with {other:?}"),
        }
    }
    assert_eq!(fleet[0].get("row", 3).await.value.id, 3, "still serving");
    fleet.quit().await;
}

#[tokio::test]
async fn configuration_variables_reach_every_worker() {
    let server = TestServer::start().await.expect("the test server starts");
    let env = [("CACHEASIDE_DISABLED", "1")];
    let mut fleet = Fleet::start_with_env(super::WORKER, 2, &server.hosts(), &env).await;
    fleet[0].get("row", 9).await;
    for (worker, got) in fleet.get_all("row", 9).await.into_iter().enumerate() {
        assert!(
            got.ran,
            "worker {worker}: the cache is disabled, every call loads"
        );
    }
    assert!(
        server.keys("test", "fleet_rows").is_empty(),
        "nothing written"
    );
}
