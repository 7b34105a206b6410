//! A node dying under load: what it costs the cache and the source. `TASKS` tasks call
//! `#[cache_aside]` in a loop over `KEYS` cached keys; one node of a three-node cluster is killed,
//! then restarted. Each phase reports calls/s, the share of calls that ran the body (extra loads),
//! failed calls, cache errors, bypassed calls and breaker openings.
//!
//! `cargo bench --bench node_loss` runs on a three-node testkit cluster in this process. Against
//! a real cluster, set `AEROSPIKE_HOSTS` and the commands that kill and restart one of its nodes:
//! `CACHEASIDE_NODE_LOSS_KILL="kill-node.sh 2"`, `CACHEASIDE_NODE_LOSS_RESTART="start-node.sh 2"`.
//! `CACHEASIDE_NODE_LOSS_SECONDS=a,b,c` sets when the kill and the restart happen and when the run
//! ends (default `10,25,40`).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cacheaside::cache_aside;
use cacheaside_testkit::TestServer;
use common::{run_unique_base, runtime, write_extra, LoadCounter, LoadError};
use serde_json::json;

const KEYS: u64 = 2_000;
const TASKS: usize = 32;

static LOADS: LoadCounter = LoadCounter::new();

#[cache_aside(set = "bench_node_loss", ttl = 3600)]
async fn value(id: u64) -> Result<u64, LoadError> {
    LOADS.count();
    Ok(id * 2)
}

/// What happens to the cluster, and when (seconds from the start of the load).
struct Plan {
    kill_at: u64,
    restart_at: u64,
    end_at: u64,
}

impl Plan {
    fn from_env() -> Plan {
        let seconds: Vec<u64> = std::env::var("CACHEASIDE_NODE_LOSS_SECONDS")
            .ok()
            .filter(|s| !s.is_empty())
            .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .unwrap_or_default();
        match seconds[..] {
            [kill_at, restart_at, end_at] if kill_at < restart_at && restart_at < end_at => Plan {
                kill_at,
                restart_at,
                end_at,
            },
            _ => Plan {
                kill_at: 10,
                restart_at: 25,
                end_at: 40,
            },
        }
    }
}

/// The node killed and restarted in the testkit cluster.
const VICTIM: usize = 1;

/// The cluster under load, and how to kill and restart one of its nodes.
enum Cluster {
    /// A three-node testkit cluster in this process.
    Testkit(TestServer),
    /// A real cluster, with the shell commands that kill and restart a node.
    Real { kill: String, restart: String },
}

impl Cluster {
    async fn kill(&self) {
        match self {
            Cluster::Testkit(server) => server.kill_node(VICTIM).await,
            Cluster::Real { kill, .. } => shell(kill),
        }
    }

    async fn restart(&self) {
        match self {
            Cluster::Testkit(server) => {
                if let Err(error) = server.restart_node(VICTIM).await {
                    eprintln!("the testkit node did not restart: {error}");
                }
            }
            Cluster::Real { restart, .. } => shell(restart),
        }
    }
}

fn shell(command: &str) {
    if command.is_empty() {
        eprintln!(
            "no command to kill or restart a node: set CACHEASIDE_NODE_LOSS_KILL and _RESTART"
        );
        return;
    }
    match std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .status()
    {
        Ok(status) if status.success() => {}
        other => eprintln!("`{command}` failed: {other:?}"),
    }
}

/// The counters of the load, sampled at a phase's start and end.
#[derive(Clone, Copy, Default)]
struct Sample {
    calls: u64,
    failed: u64,
    loads: u64,
    cache_errors: u64,
    bypassed: u64,
    breaker_opens: u64,
}

fn sample(calls: &AtomicU64, failed: &AtomicU64) -> Sample {
    let stats = cacheaside::stats().set("bench_node_loss");
    Sample {
        calls: calls.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        loads: LOADS.get(),
        cache_errors: stats.cache_errors,
        bypassed: stats.bypassed,
        breaker_opens: stats.breaker_opens,
    }
}

fn phase(name: &str, from: Sample, to: Sample, seconds: f64) -> serde_json::Value {
    let calls = to.calls - from.calls;
    let loads = to.loads - from.loads;
    let share = if calls == 0 {
        0.0
    } else {
        loads as f64 / calls as f64
    };
    println!(
        "{name:<14} {:>9.0} calls/s  loads {:>6.2}% ({loads})  failed {}  cache errors {}  \
         bypassed {}  breaker opens {}",
        calls as f64 / seconds,
        share * 100.0,
        to.failed - from.failed,
        to.cache_errors - from.cache_errors,
        to.bypassed - from.bypassed,
        to.breaker_opens - from.breaker_opens,
    );
    json!({
        "phase": name,
        "seconds": seconds,
        "calls": calls,
        "calls_per_second": calls as f64 / seconds,
        "loads": loads,
        "load_share": share,
        "failed": to.failed - from.failed,
        "cache_errors": to.cache_errors - from.cache_errors,
        "bypassed": to.bypassed - from.bypassed,
        "breaker_opens": to.breaker_opens - from.breaker_opens,
    })
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        println!("node_loss: bench");
        return;
    }
    let plan = Plan::from_env();
    let runtime = runtime();
    let variable = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (cluster, hosts) = match variable("AEROSPIKE_HOSTS") {
        Some(_) if variable("CACHEASIDE_NODE_LOSS_KILL").is_none() => {
            let reason =
                "a real cluster, and no CACHEASIDE_NODE_LOSS_KILL to kill one of its nodes";
            eprintln!("node_loss: skipped: {reason}");
            write_extra("node_loss", &json!({ "skipped": reason }));
            return;
        }
        Some(hosts) => (
            Cluster::Real {
                kill: variable("CACHEASIDE_NODE_LOSS_KILL").unwrap_or_default(),
                restart: variable("CACHEASIDE_NODE_LOSS_RESTART").unwrap_or_default(),
            },
            hosts,
        ),
        None => {
            let server = TestServer::builder()
                .nodes(3)
                .start_blocking()
                .expect("a three-node testkit cluster starts");
            let hosts = server.hosts();
            (Cluster::Testkit(server), hosts)
        }
    };
    runtime.block_on(async {
        let namespace = std::env::var("AEROSPIKE_NAMESPACE").unwrap_or_else(|_| "test".to_owned());
        common::init_cacheaside(&hosts, &namespace, Duration::from_secs(1)).await;
        let base = run_unique_base();
        for id in base..base + KEYS {
            value(id).await.expect("warm");
        }
        let calls = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let (calls, failed, stop) = (calls.clone(), failed.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut id = base + (task as u64 * 7919) % KEYS;
                    while !stop.load(Ordering::Relaxed) {
                        id = base + (id - base + 104_729) % KEYS;
                        if value(id).await != Ok(id * 2) {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        let start = Instant::now();
        let at =
            |second: u64| tokio::time::sleep_until((start + Duration::from_secs(second)).into());
        let s0 = sample(&calls, &failed);
        // A line per quarter second around the kill and the restart: how long each lasts.
        let timeline = {
            let (calls, failed, stop) = (calls.clone(), failed.clone(), stop.clone());
            tokio::spawn(async move {
                let mut lines = Vec::new();
                let mut last = sample(&calls, &failed);
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                tick.tick().await;
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let now = sample(&calls, &failed);
                    lines.push(json!({
                        "at_ms": start.elapsed().as_millis() as u64,
                        "calls": now.calls - last.calls,
                        "loads": now.loads - last.loads,
                        "cache_errors": now.cache_errors - last.cache_errors,
                        "bypassed": now.bypassed - last.bypassed,
                        "breaker_opens": now.breaker_opens - last.breaker_opens,
                    }));
                    last = now;
                }
                lines
            })
        };
        at(plan.kill_at).await;
        let s1 = sample(&calls, &failed);
        cluster.kill().await;
        at(plan.restart_at).await;
        let s2 = sample(&calls, &failed);
        cluster.restart().await;
        at(plan.end_at).await;
        let s3 = sample(&calls, &failed);
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            let _ = task.await;
        }
        let timeline = timeline.await.unwrap_or_default();
        // The quarter seconds in which any call loaded, skipped the cache or saw an error.
        for line in &timeline {
            let busy = ["loads", "cache_errors", "bypassed", "breaker_opens"]
                .iter()
                .any(|field| line[field].as_u64() != Some(0));
            if busy {
                println!("  at {:>6} ms: {line}", line["at_ms"]);
            }
        }
        let phases = [
            phase("before", s0, s1, plan.kill_at as f64),
            phase("node down", s1, s2, (plan.restart_at - plan.kill_at) as f64),
            phase("restarted", s2, s3, (plan.end_at - plan.restart_at) as f64),
        ];
        write_extra(
            "node_loss",
            &json!({ "phases": phases, "timeline": timeline }),
        );
    });
}
