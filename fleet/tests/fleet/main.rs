//! Several processes against one cluster, as a service runs: each test starts a testkit server and
//! a fleet of `fleet-worker` processes against it (testkit only: the tests stop the server and
//! read its records). One module per feature; a new one is a file here and a `mod` line below.

mod backplane;
mod lease;
mod recovery;
mod smoke;

use std::time::Duration;

use cacheaside_fleet::Fleet;
use cacheaside_testkit::TestServer;

/// The worker binary cargo built for these tests.
const WORKER: &str = env!("CARGO_BIN_EXE_fleet-worker");

/// How long a test waits for something the fleet should do within a second or two: generous,
/// since a loaded machine may stall processes for seconds. Tests print what they measured.
const PATIENCE: Duration = Duration::from_secs(20);

/// A testkit server of its own for the test, and `workers` workers against it.
async fn start(workers: usize) -> (TestServer, Fleet) {
    let server = TestServer::start().await.expect("the test server starts");
    let fleet = Fleet::start(WORKER, workers, &server.hosts()).await;
    (server, fleet)
}

/// `workers` workers against the cluster of `AEROSPIKE_HOSTS` when it is set (and not empty),
/// else against a testkit server of the test's own (returned, to keep it alive): for tests that
/// need not stop the server.
async fn start_anywhere(workers: usize) -> (Option<TestServer>, Fleet) {
    match std::env::var("AEROSPIKE_HOSTS") {
        Ok(hosts) if !hosts.trim().is_empty() => {
            let env = aerospike_env();
            let env: Vec<(&str, &str)> = env
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            let fleet = Fleet::start_with_env(WORKER, workers, &hosts, &env).await;
            (None, fleet)
        }
        _ => {
            let (server, fleet) = start(workers).await;
            (Some(server), fleet)
        }
    }
}

/// The test process's `AEROSPIKE_*` settings other than the hosts (namespace, credentials), for
/// workers against a real cluster.
fn aerospike_env() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(name, _)| name.starts_with("AEROSPIKE_") && name != "AEROSPIKE_HOSTS")
        .collect()
}

/// An id no earlier run used: a real cluster keeps the records of earlier runs.
fn unique_id() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as u64)
}

/// Every one of a worker's `callers` concurrent calls (`gets`) succeeded with version 1 of the row.
fn assert_every_caller_got_the_row(worker: usize, gots: &cacheaside_fleet::Gots, callers: usize) {
    assert_eq!(gots.callers, callers);
    assert!(gots.errors.is_empty(), "worker {worker}: {:?}", gots.errors);
    assert_eq!(
        gots.versions,
        [1],
        "worker {worker}: every caller got the row"
    );
}
