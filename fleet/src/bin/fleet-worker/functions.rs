//! The annotated functions a worker serves, and the source their bodies read.
//!
//! To add a function: write it below with the body `source(NAME, id).await`, and add a line to
//! [`FUNCTIONS`] with its name, its set (as in its attribute) and the function and its
//! `<fn>_invalidate` companion. Tests then call it by name (`get <name> <id>`).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use cacheaside::cache_aside;
use cacheaside_fleet::Row;

/// A call of a function or companion, boxed so that every function fits one table.
pub type Call<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// One function the protocol calls by name.
pub struct Function {
    /// Its name in commands.
    pub name: &'static str,
    /// The `set` of its attribute: `get` tells from the set's counters how a call was served.
    pub set: &'static str,
    /// Calls the function.
    pub get: fn(u64) -> Call<Result<Row, String>>,
    /// Calls its `<fn>_invalidate` companion.
    pub invalidate: fn(u64) -> Call<Result<(), cacheaside::Error>>,
    /// `repeat`: calls the function with the same id the given number of times, one after
    /// another, awaiting each call in place (no future boxed per call); stops at the first `Err`.
    pub repeat: fn(u64, u64) -> Call<Result<(), String>>,
    /// `sweep`: calls it with the ids from the first given, one after another, as `repeat` does.
    pub sweep: fn(u64, u64) -> Call<Result<(), String>>,
}

/// A [`Function`] entry: name, set, the function and its `<fn>_invalidate` companion.
macro_rules! function {
    ($name:literal, $set:literal, $function:ident, $invalidate:ident) => {
        Function {
            name: $name,
            set: $set,
            get: |id| Box::pin($function(id)),
            invalidate: |id| Box::pin($invalidate(id)),
            repeat: |id, calls| {
                Box::pin(async move {
                    for _ in 0..calls {
                        std::hint::black_box($function(std::hint::black_box(id)).await?);
                    }
                    Ok(())
                })
            },
            sweep: |first, calls| {
                Box::pin(async move {
                    for id in first..first.saturating_add(calls) {
                        std::hint::black_box($function(id).await?);
                    }
                    Ok(())
                })
            },
        }
    };
}

/// Every function a worker serves.
pub const FUNCTIONS: &[Function] = &[
    function!("row", "fleet_rows", row, row_invalidate),
    function!("local_row", "fleet_local", local_row, local_row_invalidate),
    function!("cold", "fleet_cold", cold, cold_invalidate),
    function!("leased", "fleet_leased", leased, leased_invalidate),
];

/// The function named `name`, or an error listing the names.
pub fn find(name: &str) -> Result<&'static Function, String> {
    FUNCTIONS
        .iter()
        .find(|function| function.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = FUNCTIONS.iter().map(|function| function.name).collect();
            format!("unknown function `{name}`; functions: {}", names.join(", "))
        })
}

/// A plain function: Aerospike only.
#[cache_aside(set = "fleet_rows", ttl = 3600, key = id)]
async fn row(id: u64) -> Result<Row, String> {
    source("row", id).await
}

/// A local tier in front of Aerospike.
#[cache_aside(
    set = "fleet_local",
    ttl = 3600,
    key = id,
    local(ttl = "60s", capacity = 10_000)
)]
async fn local_row(id: u64) -> Result<Row, String> {
    source("local_row", id).await
}

/// For stampedes: its own set, so that each test's keys start cold (give the body time with
/// `sleep-body`).
#[cache_aside(set = "fleet_cold", ttl = 3600, key = id)]
async fn cold(id: u64) -> Result<Row, String> {
    source("cold", id).await
}

/// This worker's number (`--id`), in every row its bodies load.
static WORKER: AtomicU32 = AtomicU32::new(0);

/// The source: the version of each row that has one (others are at version 1).
static VERSIONS: Mutex<BTreeMap<u64, u64>> = Mutex::new(BTreeMap::new());

/// How long every body takes, in milliseconds.
static BODY_MILLIS: AtomicU64 = AtomicU64::new(0);

/// Body runs per function name.
static RUNS: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

/// The body of every function: counts the run, reads the row's version, then takes the
/// configured time (a query that sees the data as it was when it started).
async fn source(function: &'static str, id: u64) -> Result<Row, String> {
    *lock(&RUNS).entry(function).or_default() += 1;
    let version = lock(&VERSIONS).get(&id).copied().unwrap_or(1);
    let millis = BODY_MILLIS.load(Ordering::SeqCst);
    if millis > 0 {
        tokio::time::sleep(Duration::from_millis(millis)).await;
    }
    Ok(Row {
        id,
        version,
        loaded_by: WORKER.load(Ordering::SeqCst),
    })
}

/// Sets this worker's number.
pub fn set_worker(worker: u32) {
    WORKER.store(worker, Ordering::SeqCst);
}

/// Sets the version the bodies return for `id`.
pub fn set_version(id: u64, version: u64) {
    lock(&VERSIONS).insert(id, version);
}

/// Sets how long every body takes.
pub fn set_body_millis(millis: u64) {
    BODY_MILLIS.store(millis, Ordering::SeqCst);
}

/// How many times the body of `function` has run in this worker.
pub fn runs(function: &str) -> u64 {
    lock(&RUNS).get(function).copied().unwrap_or(0)
}

/// A lock that a panicking holder does not poison for the others (none panics while holding it).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `cold` with a lease: one load per key in the fleet, the other processes wait for it.
#[cache_aside(set = "fleet_leased", ttl = 3600, key = id, lease = "2s")]
async fn leased(id: u64) -> Result<Row, String> {
    source("leased", id).await
}
