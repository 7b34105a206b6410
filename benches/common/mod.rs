//! What every bench shares: the cluster (the testkit on loopback, or the one `AEROSPIKE_HOSTS`
//! names), the hand-written baseline, the values cached, criterion's settings and the files that
//! carry figures criterion does not measure (loader calls, per-call latencies) to the report.
#![allow(dead_code)] // each bench uses a different part of this module

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use aerospike::{
    Bin, Client, ClientPolicy, Expiration, Key, ReadPolicy, ResultCode, Value, WritePolicy,
};
use cacheaside_testkit::TestServer;
use criterion::Criterion;
use serde::{Deserialize, Serialize};

pub mod handwritten;

/// The bin both the annotated functions and the hand-written code store values in.
pub const DATA_BIN: &str = "data";
/// The TTL both sides write with.
pub const TTL_SECONDS: u32 = 3600;

/// Short measurements: the whole report must run in minutes on two cores. Command-line options
/// (`--measurement-time`, `--sample-size`) still override these.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40)
        .configure_from_args()
}

/// A runtime like a service's: multi-threaded, one worker per core of the test machines.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("start the bench runtime")
}

/// The cluster the benches run against.
pub struct Cluster {
    pub hosts: String,
    pub namespace: String,
    /// The in-process server, or `None` against a real cluster.
    pub server: Option<TestServer>,
}

/// The process's cluster: `AEROSPIKE_HOSTS` if set, else a testkit server started once.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let namespace = std::env::var("AEROSPIKE_NAMESPACE").unwrap_or_else(|_| "test".to_owned());
        match std::env::var("AEROSPIKE_HOSTS") {
            Ok(hosts) if !hosts.trim().is_empty() => Cluster {
                hosts,
                namespace,
                server: None,
            },
            _ => {
                let server = start_testkit();
                Cluster {
                    hosts: server.hosts(),
                    namespace,
                    server: Some(server),
                }
            }
        }
    })
}

/// A testkit server of its own, on its own thread.
pub fn start_testkit() -> TestServer {
    TestServer::builder()
        .start_blocking()
        .expect("start the testkit server")
}

/// Installs a `cacheaside` configuration for `hosts`, otherwise the defaults a service gets.
pub async fn init_cacheaside(hosts: &str, namespace: &str, reconnect_interval: Duration) {
    let config = cacheaside::Config::builder()
        .hosts(hosts)
        .namespace(namespace)
        .reconnect_interval(reconnect_interval)
        .tend_interval(tend_interval())
        .build()
        .expect("a valid bench configuration");
    cacheaside::init(config).await.expect("init");
}

/// A client of the official crate with its default policy, as the hand-written code uses it.
pub async fn raw_client(hosts: &str) -> Client {
    let mut policy = ClientPolicy::default();
    if instruction_count() {
        policy.tend_interval = u32::try_from(tend_interval().as_millis()).unwrap_or(u32::MAX);
    }
    Client::new(&policy, &hosts)
        .await
        .expect("the raw client connects")
}

/// Whether this run counts instructions per hit (`CACHEASIDE_HIT_LOOP`, under callgrind).
fn instruction_count() -> bool {
    std::env::var_os("CACHEASIDE_HIT_LOOP").is_some()
}

/// The clients' tend interval: the default, except when counting instructions per hit, where a
/// tend (which runs by the clock, and so more often per hit the slower the machine) would make
/// the count depend on the machine's load.
fn tend_interval() -> Duration {
    if instruction_count() {
        Duration::from_secs(3_600)
    } else {
        cacheaside::Config::builder()
            .build()
            .map_or(Duration::from_millis(250), |config| config.tend_interval())
    }
}

/// A base for record ids unique to this run, so a real cluster never serves an earlier run's records.
pub fn run_unique_base() -> u64 {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Ids stay far below i64::MAX, so they are valid integer user keys.
    (seconds % 1_000_000) * 1_000_000_000
}

/// An id never used before in this process (nor, against a real cluster, in earlier runs).
pub fn cold_id() -> u64 {
    static NEXT: OnceLock<AtomicU64> = OnceLock::new();
    NEXT.get_or_init(|| AtomicU64::new(run_unique_base()))
        .fetch_add(1, Ordering::Relaxed)
}

/// The small struct of the hit and miss paths: a typical row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub email: String,
    pub active: bool,
    pub score: f64,
}

impl User {
    pub fn sample(id: u64) -> User {
        User {
            id,
            name: "Ada Lovelace".to_owned(),
            email: "ada@example.com".to_owned(),
            active: true,
            score: 0.75,
        }
    }
}

/// One element of the 200-element list of the codec bench.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub customer: String,
    pub total_cents: i64,
    pub items: u32,
    pub paid: bool,
}

impl Order {
    pub fn list(len: u64) -> Vec<Order> {
        (0..len)
            .map(|id| Order {
                id,
                customer: format!("customer-{}", id % 37),
                total_cents: i64::try_from(id * 1_337 % 100_000).unwrap_or(0),
                items: u32::try_from(id % 9 + 1).unwrap_or(1),
                paid: id % 3 != 0,
            })
            .collect()
    }
}

/// The source of truth of every bench: answers at once, so only cache work is measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadError;

/// Counts calls of a loader.
pub struct LoadCounter(AtomicU64);

impl LoadCounter {
    pub const fn new() -> Self {
        LoadCounter(AtomicU64::new(0))
    }

    pub fn count(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The Aerospike key of `id` in `set`, as hand-written code builds it.
pub fn integer_key(namespace: &str, set: &str, id: u64) -> Key {
    let id = i64::try_from(id).expect("bench ids fit in i64");
    Key::new(namespace, set, Value::from(id)).expect("a valid key")
}

/// Writes a value the way hand-written code does: the MessagePack bytes alone in bin `data`.
pub async fn put_raw<T: Serialize>(client: &Client, key: &Key, value: &T) {
    let bytes = rmp_serde::to_vec_named(value).expect("encode");
    let policy = WritePolicy::new(0, Expiration::Seconds(TTL_SECONDS));
    client
        .put(&policy, key, &[Bin::new(DATA_BIN, Value::Blob(bytes))])
        .await
        .expect("put");
}

/// A raw get of bin `data`, the client's cost without any decoding.
pub async fn raw_get(client: &Client, policy: &ReadPolicy, key: &Key) -> bool {
    match client.get(policy, key, [DATA_BIN]).await {
        Ok(record) => record.bins.contains_key(DATA_BIN),
        Err(e) if e.matches(&[ResultCode::KeyNotFoundError]) => false,
        Err(e) => panic!("raw get failed: {e}"),
    }
}

/// Where figures for the report go: `CACHEASIDE_BENCH_OUT`, else `target/cacheaside-bench`.
pub fn extras_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CACHEASIDE_BENCH_OUT") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("cacheaside-bench")
}

/// Saves one figure file for the report (`<extras_dir>/<name>.json`).
pub fn write_extra(name: &str, value: &serde_json::Value) {
    let dir = extras_dir();
    std::fs::create_dir_all(&dir).expect("create the bench output directory");
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(value).expect("serialize figures");
    std::fs::write(&path, text).expect("write figures");
    eprintln!("figures written to {}", path.display());
}

/// Whether this run only checks that the benches work (`cargo bench -- --test`, or `cargo test
/// --benches`): then the extra measurements run once, briefly.
pub fn quick_check() -> bool {
    std::env::args().any(|arg| arg == "--test")
}

/// The `q`-quantile (0..=1) of sorted nanoseconds.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let last = sorted.len() - 1;
    let index = ((last as f64) * q).round() as usize;
    sorted[index.min(last)]
}

/// Nanoseconds of a duration, saturating.
pub fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The runtime's counters of one set, for the report's sanity checks.
pub fn set_stats(set: &str) -> serde_json::Value {
    let stats = cacheaside::stats().set(set);
    serde_json::json!({
        "hits": stats.hits,
        "misses": stats.misses,
        "loads": stats.loads,
        "cache_errors": stats.cache_errors,
        "undecodable": stats.undecodable,
        "writes": stats.writes,
    })
}

/// Blocks of calls per side and calls per block of a paired comparison.
pub const PAIRED_ROUNDS: usize = 120;
pub const PAIRED_BLOCK: usize = 25;

/// Times `PAIRED_ROUNDS` pairs of blocks of `PAIRED_BLOCK` calls, one block per side, the order
/// alternating, and returns the summary of the per-pair ratios `ours / baseline`. Both blocks of
/// a pair run within milliseconds of each other, so a machine that gets busier or quieter over
/// the run moves both alike; the median ratio is robust to the rest.
pub async fn paired_ratio<FO, FB, O, B>(ours: FO, baseline: FB) -> serde_json::Value
where
    FO: FnMut() -> O,
    FB: FnMut() -> B,
    O: std::future::Future,
    B: std::future::Future,
{
    paired_ratio_sized(PAIRED_ROUNDS, PAIRED_BLOCK, ours, baseline).await
}

/// [`paired_ratio`] with `rounds` pairs of blocks of `block` calls.
pub async fn paired_ratio_sized<FO, FB, O, B>(
    rounds: usize,
    block: usize,
    mut ours: FO,
    mut baseline: FB,
) -> serde_json::Value
where
    FO: FnMut() -> O,
    FB: FnMut() -> B,
    O: std::future::Future,
    B: std::future::Future,
{
    let rounds = if quick_check() { 2 } else { rounds };
    let mut ratios = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let (mut ours_time, mut baseline_time) = (Duration::ZERO, Duration::ZERO);
        for side in [round % 2, 1 - round % 2] {
            let start = std::time::Instant::now();
            for _ in 0..block {
                if side == 0 {
                    std::hint::black_box(ours().await);
                } else {
                    std::hint::black_box(baseline().await);
                }
            }
            let elapsed = start.elapsed();
            if side == 0 {
                ours_time = elapsed;
            } else {
                baseline_time = elapsed;
            }
        }
        ratios.push(ours_time.as_secs_f64() / baseline_time.as_secs_f64().max(f64::MIN_POSITIVE));
    }
    ratios.sort_unstable_by(f64::total_cmp);
    let at = |q: f64| {
        let last = ratios.len().saturating_sub(1);
        ratios
            .get(((last as f64) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    serde_json::json!({
        "rounds": rounds,
        "calls_per_block": block,
        "median": at(0.5),
        "q1": at(0.25),
        "q3": at(0.75),
    })
}
