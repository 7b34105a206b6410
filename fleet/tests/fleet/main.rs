//! Several processes against one cluster, as a service runs: each test starts a testkit server and
//! a fleet of `fleet-worker` processes against it (testkit only: the tests stop the server and
//! read its records). One module per feature; a new one is a file here and a `mod` line below.

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
