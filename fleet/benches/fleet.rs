//! What the fleet features cost, each against a baseline measured in the same run, with
//! `fleet-worker` processes against an in-process testkit server (a fresh one per measurement, so
//! that its command counters and backplane records start empty):
//!
//! 1. **Backplane, hit path**: a local-tier hit (`local_row`) in a worker with the backplane on
//!    (polling every 100 ms) against one with it off, both running at once; blocks of hits, the
//!    two workers alternating, the ratio per pair of blocks.
//! 2. **Backplane, background traffic**: the server's data commands per second of an idle worker
//!    with one local-tier set, on and off; then one worker invalidating 100 keys a second and
//!    one listening (on and off), and the invalidating worker alone with nobody listening. The
//!    listener sends the reads and batch reads, the writer the writes and operates: with the
//!    baseline's commands subtracted, each kind tells whose traffic it is.
//! 3. **Lease, miss path**: in one worker, misses (each on a key never read) of `leased` against
//!    `cold`, the same function without `lease`; blocks alternating, the ratio per pair.
//! 4. **Cold key, 4 processes × 50 callers**, body 500 ms: body runs in the fleet and caller
//!    latencies with `lease` (`leased`) and without (`cold`), rounds alternating, a fresh key each.
//!
//! `cargo bench -p cacheaside-fleet --bench fleet`; `-- --test` runs every part briefly.
//! The figures go to `fleet.json` in `CACHEASIDE_BENCH_OUT` (else `target/cacheaside-bench`),
//! where `cargo run -p xtask -- bench-report` reads them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cacheaside_fleet::{Fleet, Served};
use cacheaside_testkit::{Counters, TestServer};
use serde_json::{json, Value};

/// The worker binary cargo built for this bench.
const WORKER: &str = env!("CARGO_BIN_EXE_fleet-worker");

/// The backplane interval of the "on" side, the default.
const INTERVAL_MS: u64 = 100;

/// Changes per second of the write load.
const CHANGES_PER_SECOND: u64 = 100;

/// The body's time in the cold-key rounds, as in the acceptance test.
const BODY_MS: u64 = 500;

/// Processes and callers per process of the cold-key rounds.
const PROCESSES: usize = 4;
const CALLERS: usize = 50;

/// How much of each measurement runs: the full run, or a quick check that every part works.
struct Sizes {
    hit_rounds: usize,
    hits_per_block: u64,
    traffic_rounds: usize,
    traffic_window: Duration,
    miss_rounds: usize,
    misses_per_block: u64,
    misses_counted: u64,
    cold_rounds: usize,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                hit_rounds: 2,
                hits_per_block: 1_000,
                traffic_rounds: 1,
                traffic_window: Duration::from_millis(500),
                miss_rounds: 2,
                misses_per_block: 5,
                misses_counted: 10,
                cold_rounds: 1,
            }
        } else {
            Sizes {
                hit_rounds: 120,
                hits_per_block: 20_000,
                traffic_rounds: 3,
                traffic_window: Duration::from_secs(4),
                miss_rounds: 120,
                misses_per_block: 25,
                misses_counted: 200,
                cold_rounds: 8,
            }
        }
    }
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--test");
    let sizes = Sizes::new(quick);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("start the bench runtime");
    let figures = runtime.block_on(async {
        json!({
            "hit": hit_path(&sizes).await,
            "traffic": traffic(&sizes).await,
            "lease_miss": lease_miss(&sizes).await,
            "cold_key": cold_key(&sizes).await,
        })
    });
    write_figures(&figures);
}

async fn server() -> TestServer {
    TestServer::start().await.expect("start the testkit server")
}

/// `CACHEASIDE_BACKPLANE_INTERVAL_MS` for the backplane on or off.
fn backplane(on: bool) -> [(&'static str, &'static str); 1] {
    [(
        "CACHEASIDE_BACKPLANE_INTERVAL_MS",
        if on { "100" } else { "0" },
    )]
}

/// Reads `local_row(id)` in worker `index` until it answers from its local tier (its set heard
/// its first poll).
async fn fill_local(fleet: &mut Fleet, index: usize, id: u64) {
    let started = Instant::now();
    while fleet[index].get("local_row", id).await.served != Served::Local {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "worker {index} answers from its local tier"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// 1. A local-tier hit with the backplane on and off, in two workers running at once.
async fn hit_path(sizes: &Sizes) -> Value {
    let server = server().await;
    let mut on = Fleet::start_with_env(WORKER, 1, &server.hosts(), &backplane(true)).await;
    let mut off = Fleet::start_with_env(WORKER, 1, &server.hosts(), &backplane(false)).await;
    const ID: u64 = 7;
    fill_local(&mut on, 0, ID).await;
    fill_local(&mut off, 0, ID).await;
    let before = [
        on[0].stats("fleet_local").await,
        off[0].stats("fleet_local").await,
    ];
    // Warm-up: both processes' code and caches.
    for fleet in [&mut on, &mut off] {
        fleet[0].repeat("local_row", ID, sizes.hits_per_block).await;
    }
    let mut on_ns = Vec::new();
    let mut off_ns = Vec::new();
    let mut ratios = Vec::new();
    let mut ran = 0;
    for round in 0..sizes.hit_rounds {
        let mut pair = [0.0; 2];
        for side in [round % 2, 1 - round % 2] {
            let fleet = if side == 0 { &mut on } else { &mut off };
            let timed = fleet[0].repeat("local_row", ID, sizes.hits_per_block).await;
            ran += timed.ran;
            pair[side] = timed.nanos_per_call();
        }
        on_ns.push(pair[0]);
        off_ns.push(pair[1]);
        ratios.push(pair[0] / pair[1]);
    }
    let after = [
        on[0].stats("fleet_local").await,
        off[0].stats("fleet_local").await,
    ];
    let calls = (sizes.hit_rounds as u64 + 1) * sizes.hits_per_block;
    let local_hits: Vec<u64> = (0..2)
        .map(|side| after[side].local_hits - before[side].local_hits)
        .collect();
    let summary = json!({
        "interval_ms": INTERVAL_MS,
        "rounds": sizes.hit_rounds,
        "calls_per_block": sizes.hits_per_block,
        "on_ns_per_call": quartiles(on_ns),
        "off_ns_per_call": quartiles(off_ns),
        "ratio": quartiles(ratios),
        "calls_per_side": calls,
        "local_hits": { "on": local_hits[0], "off": local_hits[1] },
        "body_runs": ran,
    });
    eprintln!("backplane on / off, local-tier hit: {summary}");
    on.quit().await;
    off.quit().await;
    summary
}

/// The processes of one traffic measurement.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Traffic {
    /// One worker with one local-tier set, idle.
    Idle { on: bool },
    /// A listener (as `Idle`) and a writer invalidating [`CHANGES_PER_SECOND`] keys a second.
    Load { on: bool },
    /// The writer alone, the backplane on: nobody listens.
    Unheard,
}

impl Traffic {
    const ALL: [Traffic; 5] = [
        Traffic::Idle { on: true },
        Traffic::Idle { on: false },
        Traffic::Load { on: true },
        Traffic::Load { on: false },
        Traffic::Unheard,
    ];

    fn name(self) -> &'static str {
        match self {
            Traffic::Idle { on: true } => "idle_on",
            Traffic::Idle { on: false } => "idle_off",
            Traffic::Load { on: true } => "load_on",
            Traffic::Load { on: false } => "load_off",
            Traffic::Unheard => "load_unheard",
        }
    }
}

/// 2. The server's commands while workers idle or change keys, the backplane on and off.
async fn traffic(sizes: &Sizes) -> Value {
    let mut runs: Vec<(Traffic, Value)> = Vec::new();
    for round in 0..sizes.traffic_rounds {
        // Each round starts with another scenario, so that none always runs first.
        for offset in 0..Traffic::ALL.len() {
            let scenario = Traffic::ALL[(round + offset) % Traffic::ALL.len()];
            let run = traffic_run(scenario, sizes.traffic_window).await;
            eprintln!("traffic {}: {run}", scenario.name());
            runs.push((scenario, run));
        }
    }
    let mut scenarios = serde_json::Map::new();
    for scenario in Traffic::ALL {
        let of: Vec<&Value> = runs
            .iter()
            .filter(|(s, _)| *s == scenario)
            .map(|(_, run)| run)
            .collect();
        let median = |pointer: &str| {
            quartiles(
                of.iter()
                    .filter_map(|run| run.pointer(pointer)?.as_f64())
                    .collect(),
            )
        };
        scenarios.insert(
            scenario.name().to_owned(),
            json!({
                "runs": of,
                "listener_per_second": median("/listener_per_second"),
                "writer_per_change": median("/writer_per_change"),
                "changes_per_second": median("/changes_per_second"),
                "batch_keys_per_second": median("/batch_keys_per_second"),
                "info_per_second": median("/info_per_second"),
            }),
        );
    }
    json!({
        "interval_ms": INTERVAL_MS,
        "changes_per_second_target": CHANGES_PER_SECOND,
        "window_seconds": sizes.traffic_window.as_secs_f64(),
        "rounds": sizes.traffic_rounds,
        "scenarios": scenarios,
    })
}

/// One traffic measurement on a server of its own.
async fn traffic_run(scenario: Traffic, window: Duration) -> Value {
    let server = server().await;
    let (on, listener, writer) = match scenario {
        Traffic::Idle { on } => (on, true, false),
        Traffic::Load { on } => (on, true, true),
        Traffic::Unheard => (true, false, true),
    };
    let workers = usize::from(listener) + usize::from(writer);
    let mut fleet = Fleet::start_with_env(WORKER, workers, &server.hosts(), &backplane(on)).await;
    if listener {
        fill_local(&mut fleet, 0, 1).await;
    }
    // Past the first polls and connections.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.counters();
    let started = Instant::now();
    let mut changes = 0_u64;
    if writer {
        let writer = workers - 1;
        let mut tick = tokio::time::interval(Duration::from_secs(1) / CHANGES_PER_SECOND as u32);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while started.elapsed() < window {
            tick.tick().await;
            fleet[writer]
                .invalidate("local_row", 1_000 + changes)
                .await
                .expect("the invalidation lands");
            changes += 1;
        }
    } else {
        tokio::time::sleep(window).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let after = server.counters();
    fleet.quit().await;
    let diff = difference(&before, &after);
    let per = |value: u64, by: f64| if by > 0.0 { value as f64 / by } else { 0.0 };
    // The listener reads (its counter, its batches of notices); the writer writes (the marker,
    // the counter's increment, the notice).
    let listener_commands = diff.reads + diff.batch_reads + diff.exists;
    let writer_commands = diff.writes + diff.operates + diff.deletes + diff.touches;
    json!({
        "seconds": seconds,
        "changes": changes,
        "changes_per_second": per(changes, seconds),
        "commands": counters_json(&diff),
        "data_commands_per_second": per(diff.data_commands(), seconds),
        "listener_per_second": per(listener_commands, seconds),
        "writer_per_change": per(writer_commands, changes as f64),
        "batch_keys_per_second": per(diff.batch_keys, seconds),
        "info_per_second": per(diff.info, seconds),
    })
}

fn difference(before: &Counters, after: &Counters) -> Counters {
    Counters {
        reads: after.reads - before.reads,
        writes: after.writes - before.writes,
        deletes: after.deletes - before.deletes,
        touches: after.touches - before.touches,
        exists: after.exists - before.exists,
        operates: after.operates - before.operates,
        batch_reads: after.batch_reads - before.batch_reads,
        batch_keys: after.batch_keys - before.batch_keys,
        info: after.info - before.info,
        connections: after.connections - before.connections,
        served_as_replica: after.served_as_replica - before.served_as_replica,
        proxied: after.proxied - before.proxied,
    }
}

fn counters_json(counters: &Counters) -> Value {
    json!({
        "reads": counters.reads,
        "writes": counters.writes,
        "deletes": counters.deletes,
        "touches": counters.touches,
        "exists": counters.exists,
        "operates": counters.operates,
        "batch_reads": counters.batch_reads,
        "batch_keys": counters.batch_keys,
        "info": counters.info,
    })
}

/// 3. Misses of a function with `lease` against the same function without, in one worker.
async fn lease_miss(sizes: &Sizes) -> Value {
    let server = server().await;
    let mut fleet = Fleet::start(WORKER, 1, &server.hosts()).await;
    let worker = &mut fleet[0];
    // Each side has its set; the ids only grow, so every call is a miss.
    let mut next = 1_u64;
    // Warm-up, then the server's commands per miss of each side alone.
    sweep(worker, "cold", &mut next, sizes.misses_per_block).await;
    sweep(worker, "leased", &mut next, sizes.misses_per_block).await;
    let mut commands = serde_json::Map::new();
    for function in ["cold", "leased"] {
        let before = server.counters();
        sweep(worker, function, &mut next, sizes.misses_counted).await;
        let diff = difference(&before, &server.counters());
        let per_miss = diff.data_commands() as f64 / sizes.misses_counted as f64;
        commands.insert(
            function.to_owned(),
            json!({ "calls": sizes.misses_counted, "commands": counters_json(&diff), "per_miss": per_miss }),
        );
    }
    let mut leased_ns = Vec::new();
    let mut cold_ns = Vec::new();
    let mut ratios = Vec::new();
    for round in 0..sizes.miss_rounds {
        let mut pair = [0.0; 2];
        for side in [round % 2, 1 - round % 2] {
            let function = if side == 0 { "leased" } else { "cold" };
            pair[side] = sweep(worker, function, &mut next, sizes.misses_per_block)
                .await
                .nanos_per_call();
        }
        leased_ns.push(pair[0]);
        cold_ns.push(pair[1]);
        ratios.push(pair[0] / pair[1]);
    }
    let summary = json!({
        "rounds": sizes.miss_rounds,
        "calls_per_block": sizes.misses_per_block,
        "leased_ns_per_call": quartiles(leased_ns),
        "plain_ns_per_call": quartiles(cold_ns),
        "ratio": quartiles(ratios),
        "commands": commands,
    });
    eprintln!("lease / no lease, miss path: {summary}");
    fleet.quit().await;
    summary
}

/// `calls` misses of `function` in `worker`, on the ids from `next` on (which moves past them).
async fn sweep(
    worker: &mut cacheaside_fleet::Worker,
    function: &str,
    next: &mut u64,
    calls: u64,
) -> cacheaside_fleet::Timed {
    let timed = worker.sweep(function, *next, calls).await;
    *next += calls;
    assert_eq!(
        timed.ran, calls,
        "every call of {function} missed and loaded"
    );
    timed
}

/// 4. Rounds of [`PROCESSES`] × [`CALLERS`] callers of a cold key, with `lease` and without.
async fn cold_key(sizes: &Sizes) -> Value {
    let server = server().await;
    let mut fleet = Fleet::start(WORKER, PROCESSES, &server.hosts()).await;
    fleet.sleep_body(BODY_MS).await;
    let mut rounds: [Vec<Value>; 2] = [Vec::new(), Vec::new()];
    for round in 0..sizes.cold_rounds {
        for side in [round % 2, 1 - round % 2] {
            let function = if side == 0 { "leased" } else { "cold" };
            // A key no round used, in each function's own set.
            let id = 1 + round as u64;
            let before = server.counters();
            let gots = fleet.gets_all(function, id, CALLERS).await;
            let diff = difference(&before, &server.counters());
            let mut micros: Vec<u64> = gots.iter().flat_map(|g| g.micros.clone()).collect();
            micros.sort_unstable();
            let runs: u64 = gots.iter().map(|g| g.ran).sum();
            let failed: usize = gots.iter().map(|g| g.errors.len()).sum();
            let versions_ok = gots.iter().all(|g| g.versions == [1]);
            let run = json!({
                "body_runs": runs,
                "callers": micros.len(),
                "failed_callers": failed,
                "every_caller_got_the_row": versions_ok && failed == 0,
                "p50_ms": quantile(&micros, 0.5) as f64 / 1e3,
                "p99_ms": quantile(&micros, 0.99) as f64 / 1e3,
                "max_ms": quantile(&micros, 1.0) as f64 / 1e3,
                "data_commands": diff.data_commands(),
            });
            eprintln!("cold key, {function}: {run}");
            rounds[side].push(run);
            // Let the other side's round find a quiet fleet.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    fleet.quit().await;
    let side = |runs: &Vec<Value>| {
        let field = |name: &str| {
            quartiles(
                runs.iter()
                    .filter_map(|run| run.get(name)?.as_f64())
                    .collect(),
            )
        };
        json!({
            "rounds": runs,
            "body_runs": field("body_runs"),
            "p50_ms": field("p50_ms"),
            "p99_ms": field("p99_ms"),
            "max_ms": field("max_ms"),
            "data_commands": field("data_commands"),
            "failed_callers": runs.iter().filter_map(|run| run.get("failed_callers")?.as_u64()).sum::<u64>(),
        })
    };
    json!({
        "processes": PROCESSES,
        "callers_per_process": CALLERS,
        "body_ms": BODY_MS,
        "rounds": sizes.cold_rounds,
        "leased": side(&rounds[0]),
        "plain": side(&rounds[1]),
    })
}

/// Median, quartiles, minimum and maximum of `values`.
fn quartiles(mut values: Vec<f64>) -> Value {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let last = values.len().saturating_sub(1);
        values
            .get(((last as f64) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    json!({
        "median": at(0.5),
        "q1": at(0.25),
        "q3": at(0.75),
        "min": at(0.0),
        "max": at(1.0),
    })
}

/// The `q`-quantile (0..=1) of sorted values.
fn quantile(sorted: &[u64], q: f64) -> u64 {
    let last = sorted.len().saturating_sub(1);
    sorted
        .get(((last as f64) * q).round() as usize)
        .copied()
        .unwrap_or(0)
}

/// Saves the figures for the report: `fleet.json` in `CACHEASIDE_BENCH_OUT`, else in
/// `target/cacheaside-bench` (under `CARGO_TARGET_DIR` when set).
fn write_figures(figures: &Value) {
    let dir = std::env::var_os("CACHEASIDE_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
                .join("cacheaside-bench")
        });
    std::fs::create_dir_all(&dir).expect("create the bench output directory");
    let path = dir.join("fleet.json");
    let text = serde_json::to_string_pretty(figures).expect("serialize figures");
    std::fs::write(&path, text).expect("write figures");
    eprintln!("figures written to {}", path.display());
}
