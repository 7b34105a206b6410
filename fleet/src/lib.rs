//! Multi-process tests of `cacheaside`: several processes against one cluster, as a service runs.
//!
//! - The `fleet-worker` binary is one process of the fleet. It installs the cache for the cluster
//!   given with `--hosts` (or from the `AEROSPIKE_*` variables without it), then answers commands
//!   line by line: it calls annotated functions (`src/bin/fleet-worker/functions.rs` lists them),
//!   their companions, and reads `cacheaside::stats()`. [`protocol`] describes the lines.
//! - [`harness`] is the test side: [`Fleet::start`] spawns workers, [`Worker::send`] and the
//!   typed helpers drive one, [`Fleet::send_all`] drives all at once.
//!
//! The tests in `tests/fleet/` start a testkit server per test and a fleet against it:
//!
//! ```no_run
//! # async fn run() {
//! use cacheaside_fleet::Fleet;
//!
//! let server = cacheaside_testkit::TestServer::start().await.unwrap();
//! # let worker_binary = "fleet-worker";
//! // In an integration test: env!("CARGO_BIN_EXE_fleet-worker").
//! let mut fleet = Fleet::start(worker_binary, 3, &server.hosts()).await;
//! let first = fleet[0].get("row", 7).await;
//! assert!(first.ran);
//! for got in fleet.get_all("row", 7).await {
//!     assert_eq!(got.value, first.value); // one load for the fleet
//! }
//! # }
//! ```
//!
//! # Extending
//!
//! - **A function** (say, one with a new attribute option): in the worker's `functions.rs`, write
//!   it with the body `source("<name>", id).await` and add one line to `FUNCTIONS`:
//!   `function!("<name>", "<set>", <fn>, <fn>_invalidate)`. Tests call it by name.
//! - **A configuration** (an interval, a timeout): [`Fleet::start_with_env`] sets `CACHEASIDE_*`
//!   variables in every worker, which reads them with `Config::from_env`.
//! - **A command**: a variant of [`protocol::Command`] (its parsing and printing, and the table of
//!   the module docs), its handling in the worker's `execute`, and a typed helper in [`harness`]
//!   if tests use it often.
//! - **A test**: a module in `tests/fleet/` and a `mod` line in its `main.rs`; `start(n)` there
//!   gives a testkit server of the test's own and `n` workers against it.
#![warn(missing_docs)]

pub mod harness;
pub mod protocol;

pub use harness::{Fleet, Worker};
pub use protocol::{Command, Got, Gots, Reply, Row, Served, Stats, Timed};
