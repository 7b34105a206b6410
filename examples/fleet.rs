//! A fleet: three processes of one service against one cluster, and what cacheaside does for them
//! together.
//!
//! Run with `cargo run --example fleet`. Without `AEROSPIKE_HOSTS` it starts the in-process
//! Aerospike test server from `cacheaside-testkit`; with it, it uses that cluster (and skips the
//! sections that stop the cluster).
//!
//! The example runs itself three more times: processes A, B and C of a service that reads
//! products through one annotated function. Each holds its own copy of the source, as each
//! process of a real service would query the one database; when the example changes a product, it
//! changes it in every copy. The first process (this one) sends each of them commands on its
//! stdin, reads one answer line from its stdout, and prints what happens, section by section:
//!
//! 1. One cache for the fleet: a product one process loaded is served to the others from the
//!    cache.
//! 2. The backplane: A and B keep a price in their local tiers (`local(ttl = "60s", …)`); C
//!    changes it and invalidates; A and B drop their copy within about 100 ms, not 60 s.
//! 3. `lease`: 20 concurrent callers in each process ask for one cold report whose query takes
//!    300 ms; the query runs once in the whole fleet, and every caller gets its value.
//! 4. `soft_timeout`: a rate past its ttl (in its `stale_if_error` window) whose service takes
//!    600 ms is answered with the old rate in about 100 ms; with `lease`, one process in the fleet
//!    reloads it in the background, and then every process reads the new rate.
//! 5. Auto-recovery: an invalidation made while the cluster is unreachable fails, is kept by its
//!    process, and lands once the cluster is back, after which no process serves the old value.

#[path = "support/mod.rs"]
mod support;

use std::error::Error;
use std::time::{Duration, Instant};

use cacheaside_testkit::TestServer;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

type Result<T, E = Box<dyn Error>> = std::result::Result<T, E>;

/// The argument that makes a run of this example one process of the fleet.
const PROCESS: &str = "--fleet-process";

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, name] = args.as_slice() {
        if flag == PROCESS {
            return process::serve(name).await;
        }
    }
    let (server, _) = support::cluster().await?;
    let mut fleet = Fleet::start(&["A", "B", "C"], server.as_ref()).await?;

    // One function per section, each printing its own story.
    one_cache(&mut fleet).await?;
    backplane(&mut fleet).await?;
    lease(&mut fleet).await?;
    soft_timeout(&mut fleet, server.as_ref()).await?;
    auto_recovery(&mut fleet, server.as_ref()).await?;
    fleet.quit().await
}

/// A product that one process loaded is served to the others from the cache.
async fn one_cache(fleet: &mut Fleet) -> Result<()> {
    section("1. One cache for the fleet");
    let answer = fleet.ask(0, "invalidate 1").await?;
    show(
        "A",
        "product_invalidate(1)",
        &format!("{answer} (start from a cold key)"),
    );
    for process in 0..fleet.len() {
        let answer = fleet.ask(process, "read 1").await?;
        show(fleet.name(process), "product(1)", &answer);
    }
    Ok(())
}

/// A change made in one process drops the key from the others' local tiers.
async fn backplane(fleet: &mut Fleet) -> Result<()> {
    section("2. The backplane: local tiers (ttl 60 s) follow another process's invalidation");
    for process in 0..2 {
        for _ in 0..3 {
            let answer = fleet.ask(process, "price 1").await?;
            show(fleet.name(process), "price(1)", &answer);
            if answer.contains("local tier") {
                break;
            }
        }
    }
    for process in 0..fleet.len() {
        fleet.ask(process, "price-source 1 2").await?;
    }
    println!("The source changes: price 1 is now v2 (in every process's copy).");
    let changed = Instant::now();
    show(
        "C",
        "price_invalidate(1)",
        &fleet.ask(2, "invalidate-price 1").await?,
    );
    for process in 0..2 {
        let name = fleet.name(process).to_owned();
        loop {
            let answer = fleet.ask(process, "price 1").await?;
            if answer.starts_with("v2") {
                let after = changed.elapsed().as_secs_f64() * 1000.0;
                show(&name, "price(1)", &format!("{answer}  [{after:.0} ms]"));
                break;
            }
            if changed.elapsed() > Duration::from_secs(30) {
                return Err(format!("{name} still reads {answer} 30 s after the change").into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    println!(
        "[ms]: since C invalidated. Without the backplane A and B would serve v1 from memory for \
         up to 60 s."
    );
    Ok(())
}

/// Many callers in every process, one cold key: one query in the fleet.
async fn lease(fleet: &mut Fleet) -> Result<()> {
    section("3. `lease`: 3 processes x 20 callers of a cold report whose query takes 300 ms");
    // A report no earlier run cached (a real cluster keeps what earlier runs wrote).
    let id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |since| since.as_secs());
    let command = format!("reports {id} 20");
    let started = Instant::now();
    let mut runs = 0;
    // Sent to every process before any answer is read: the calls run at the same time.
    for process in 0..fleet.len() {
        fleet.send(process, &command).await?;
    }
    for process in 0..fleet.len() {
        let answer = fleet.answer(process, &command).await?;
        runs += answer
            .split_whitespace()
            .next()
            .and_then(|ran| ran.parse::<u64>().ok())
            .unwrap_or(0);
        show(fleet.name(process), "20 x report(id)", &answer);
    }
    println!(
        "The query ran {runs} time(s) in the fleet; every caller had its value after {:.0} ms.",
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}

/// An expired rate is answered with the old one while one process reloads it.
async fn soft_timeout(fleet: &mut Fleet, server: Option<&TestServer>) -> Result<()> {
    section("4. `soft_timeout`: an expired rate, a rates service that takes 600 ms");
    // A rate no earlier run cached (a real cluster keeps what earlier runs wrote).
    let id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(3, |since| since.as_secs());
    show("A", "rate(id)", &fleet.ask(0, &format!("rate {id}")).await?);
    for process in 0..fleet.len() {
        fleet.ask(process, &format!("rate-source {id} 2")).await?;
    }
    println!("The service's rate changes to v2. The entry's ttl (1 s) passes:");
    match server {
        Some(server) => server.clock().advance(Duration::from_secs(2)),
        None => tokio::time::sleep(Duration::from_secs(2)).await,
    }
    for process in 1..fleet.len() {
        let answer = fleet.ask(process, &format!("rate {id}")).await?;
        show(fleet.name(process), "rate(id)", &answer);
    }
    let waiting = Instant::now();
    loop {
        let answer = fleet.ask(0, &format!("rate {id}")).await?;
        if answer.starts_with("v2") {
            show("A", "rate(id)", &answer);
            break;
        }
        if waiting.elapsed() > Duration::from_secs(30) {
            return Err(format!("A still reads {answer} 30 s after the ttl passed").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut queries = Vec::new();
    for process in 0..fleet.len() {
        queries.push(fleet.ask(process, "rate-queries").await?);
    }
    println!(
        "Queries of the rates service by A, B, C: {}. B's and C's calls took about 100 ms or less: \
         the one background reload ran in one process of the fleet (`lease`), and wrote v2 back.",
        queries.join(", ")
    );
    Ok(())
}

/// An invalidation made while the cluster is unreachable lands once it is back.
async fn auto_recovery(fleet: &mut Fleet, server: Option<&TestServer>) -> Result<()> {
    section(
        "5. Auto-recovery: an invalidation made during an outage lands when the cluster is back",
    );
    let Some(server) = server else {
        println!("Skipped: it stops the cluster, which only the in-process test server allows.");
        return Ok(());
    };
    server.stop().await;
    println!("The cluster is stopped (connections refused).");
    for process in 0..fleet.len() {
        fleet.ask(process, "source 1 2").await?;
    }
    println!("The source changes: product 1 is now v2 (in every process's copy).");
    show(
        "A",
        "product_invalidate(1)",
        &fleet.ask(0, "invalidate 1").await?,
    );
    show("A", "stats", &fleet.ask(0, "stats").await?);

    server.start_again().await?;
    let back = Instant::now();
    println!("The cluster is back. B and C read product 1 until the cache has v2 for them:");
    for process in 1..fleet.len() {
        let name = fleet.name(process).to_owned();
        let mut last = String::new();
        loop {
            let answer = fleet.ask(process, "read 1").await?;
            if answer != last {
                let after = back.elapsed().as_secs_f64();
                show(&name, "product(1)", &format!("{answer}  [{after:.2} s]"));
            }
            // A read the cache could not answer says nothing about what it holds.
            if answer.starts_with("v2") && !answer.contains("unreachable") {
                break;
            }
            if back.elapsed() > Duration::from_secs(30) {
                return Err(format!("{name} still reads {answer} 30 s after the outage").into());
            }
            last = answer;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    show("A", "stats", &fleet.ask(0, "stats").await?);
    println!(
        "[s]: seconds since the cluster came back. A's invalidation waited in A and landed on a \
         retry:\nuntil then B and C read the old entry from the cache; after it, a miss loads v2."
    );
    Ok(())
}

fn section(title: &str) {
    println!("\n== {title}");
}

/// One line of what a process did and answered.
fn show(process: &str, call: &str, answer: &str) {
    println!("{process}: {call:<22} -> {answer}");
}

/// The processes, and the lines to and from each.
struct Fleet {
    processes: Vec<Process>,
}

struct Process {
    name: String,
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Fleet {
    /// Starts one process per name against the test server, or the cluster of `AEROSPIKE_HOSTS`
    /// (which they inherit), and waits until each is ready.
    async fn start(names: &[&str], server: Option<&TestServer>) -> Result<Fleet> {
        let program = std::env::current_exe()?;
        let mut processes = Vec::new();
        for &name in names {
            let mut command = Command::new(&program);
            command
                .args([PROCESS, name])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .kill_on_drop(true);
            if let Some(server) = server {
                command.env("AEROSPIKE_HOSTS", server.hosts());
            }
            let mut child = command.spawn()?;
            let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                return Err(format!("process {name} started without pipes").into());
            };
            let stdout = BufReader::new(stdout).lines();
            processes.push(Process {
                name: name.to_owned(),
                child,
                stdin,
                stdout,
            });
        }
        let mut fleet = Fleet { processes };
        for process in 0..fleet.len() {
            let ready = fleet.answer(process, "(start)").await?;
            if ready != "ready" {
                let name = fleet.name(process);
                return Err(format!("process {name} started with `{ready}`").into());
            }
        }
        println!(
            "Started processes {} (pids {}).",
            names.join(", "),
            fleet.pids()
        );
        Ok(fleet)
    }

    fn len(&self) -> usize {
        self.processes.len()
    }

    fn name(&self, process: usize) -> &str {
        &self.processes[process].name
    }

    fn pids(&self) -> String {
        let pids: Vec<String> = self
            .processes
            .iter()
            .filter_map(|process| process.child.id())
            .map(|pid| pid.to_string())
            .collect();
        pids.join(", ")
    }

    /// Sends one command to a process and returns its answer.
    async fn ask(&mut self, process: usize, command: &str) -> Result<String> {
        self.send(process, command).await?;
        self.answer(process, command).await
    }

    /// Sends a command without waiting for its answer (see [`answer`](Self::answer)).
    async fn send(&mut self, process: usize, command: &str) -> Result<()> {
        let stdin = &mut self.processes[process].stdin;
        stdin.write_all(format!("{command}\n").as_bytes()).await?;
        stdin.flush().await?;
        Ok(())
    }

    async fn answer(&mut self, process: usize, command: &str) -> Result<String> {
        let Process { name, stdout, .. } = &mut self.processes[process];
        match tokio::time::timeout(Duration::from_secs(30), stdout.next_line()).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => {
                Err(format!("process {name} exited before answering `{command}`").into())
            }
            Ok(Err(error)) => Err(error.into()),
            Err(_) => Err(format!("process {name} did not answer `{command}` in 30 s").into()),
        }
    }

    /// Asks every process to quit and waits for it.
    async fn quit(mut self) -> Result<()> {
        for process in 0..self.len() {
            self.ask(process, "quit").await?;
        }
        for process in &mut self.processes {
            process.child.wait().await?;
        }
        Ok(())
    }
}

/// One process of the fleet: a service that reads products through one annotated function, and
/// answers the commands of the first process.
mod process {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Mutex, OnceLock};

    use cacheaside::{cache_aside, Config};
    use serde::{Deserialize, Serialize};
    use tokio::io::{AsyncBufReadExt, BufReader};

    use super::Result;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Product {
        id: u64,
        version: u64,
        loaded_by: String,
    }

    /// This process's name.
    static NAME: OnceLock<String> = OnceLock::new();
    /// This process's copy of the source: the version of each product (1 until changed).
    static SOURCE: Mutex<BTreeMap<u64, u64>> = Mutex::new(BTreeMap::new());
    /// Runs of the body in this process.
    static LOADS: AtomicU64 = AtomicU64::new(0);
    /// The source of prices: the version of each (1 until changed).
    static PRICES: Mutex<BTreeMap<u64, u64>> = Mutex::new(BTreeMap::new());
    /// Runs of the report query in this process.
    static REPORTS: AtomicU64 = AtomicU64::new(0);
    /// The rates service: the version of each rate (1 until changed), and its queries here.
    static RATES: Mutex<BTreeMap<u64, u64>> = Mutex::new(BTreeMap::new());
    static RATE_QUERIES: AtomicU64 = AtomicU64::new(0);

    /// A rate fresh for a second and kept ten minutes longer; past its ttl a caller waits for
    /// the service at most 100 ms, and one process in the fleet reloads it.
    #[cache_aside(
        set = "fleet_rates",
        ttl = 1,
        key = id,
        stale_if_error = "10m",
        soft_timeout = "100ms",
        lease = "2s"
    )]
    async fn rate(id: u64) -> Result<u64, String> {
        RATE_QUERIES.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        let rates = RATES.lock().unwrap_or_else(|p| p.into_inner());
        Ok(rates.get(&id).copied().unwrap_or(1))
    }

    /// A price, kept for a minute in this process's memory too.
    #[cache_aside(set = "fleet_prices", ttl = "1h", key = id, local(ttl = "60s", capacity = 1_000))]
    async fn price(id: u64) -> Result<u64, String> {
        let prices = PRICES.lock().unwrap_or_else(|p| p.into_inner());
        Ok(prices.get(&id).copied().unwrap_or(1))
    }

    /// A report whose query takes 300 ms: one process in the fleet runs it, the others wait.
    #[cache_aside(set = "fleet_reports", ttl = "1h", key = id, lease = "2s")]
    async fn report(id: u64) -> Result<String, String> {
        REPORTS.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        Ok(format!(
            "report {id} by {}",
            NAME.get().cloned().unwrap_or_default()
        ))
    }

    #[cache_aside(set = "fleet_products", ttl = "1h", key = id)]
    async fn product(id: u64) -> Result<Product, String> {
        LOADS.fetch_add(1, Ordering::SeqCst);
        let source = SOURCE.lock().unwrap_or_else(|p| p.into_inner());
        Ok(Product {
            id,
            version: source.get(&id).copied().unwrap_or(1),
            loaded_by: NAME.get().cloned().unwrap_or_default(),
        })
    }

    /// Installs the cache from the environment, says so, then answers one line per command
    /// until `quit` or the end of stdin.
    pub async fn serve(name: &str) -> Result<()> {
        NAME.get_or_init(|| name.to_owned());
        cacheaside::init(Config::from_env()?).await?;
        println!("ready");
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Some(line) = lines.next_line().await? {
            let quit = line.trim() == "quit";
            println!("{}", answer(&line).await.unwrap_or_else(|error| error));
            if quit {
                break;
            }
        }
        Ok(())
    }

    /// The answer to one command line; `Err` for a line it does not understand.
    async fn answer(line: &str) -> Result<String, String> {
        let number = |word: &str| {
            word.parse::<u64>()
                .map_err(|_| format!("`{word}` is not a number"))
        };
        Ok(
            match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["read", id] => read(number(id)?).await,
                ["invalidate", id] => match product_invalidate(number(id)?).await {
                    Ok(()) => "Ok".to_owned(),
                    Err(error) => format!("Err: {error}"),
                },
                ["source", id, version] => {
                    let mut source = SOURCE.lock().unwrap_or_else(|p| p.into_inner());
                    source.insert(number(id)?, number(version)?);
                    "ok".to_owned()
                }
                ["stats"] => {
                    let stats = cacheaside::stats().set("fleet_products");
                    format!(
                        "invalidations: {} kept, {} recovered, {} pending",
                        stats.invalidations_kept,
                        stats.invalidations_recovered,
                        stats.pending_invalidations
                    )
                }
                ["price", id] => {
                    let before = cacheaside::stats().set("fleet_prices").local_hits;
                    let answer = price(number(id)?).await;
                    let local = cacheaside::stats().set("fleet_prices").local_hits > before;
                    let from = if local {
                        "from the local tier"
                    } else {
                        "from Aerospike or the source"
                    };
                    match answer {
                        Ok(version) => format!("v{version} ({from})"),
                        Err(error) => format!("Err: {error}"),
                    }
                }
                ["price-source", id, version] => {
                    let mut prices = PRICES.lock().unwrap_or_else(|p| p.into_inner());
                    prices.insert(number(id)?, number(version)?);
                    "ok".to_owned()
                }
                ["invalidate-price", id] => match price_invalidate(number(id)?).await {
                    Ok(()) => "Ok".to_owned(),
                    Err(error) => format!("Err: {error}"),
                },
                ["reports", id, callers] => {
                    let (id, callers) = (number(id)?, number(callers)?);
                    let runs = REPORTS.load(Ordering::SeqCst);
                    let mut calls = tokio::task::JoinSet::new();
                    for _ in 0..callers {
                        calls.spawn(report(id));
                    }
                    let mut got = Vec::new();
                    while let Some(answer) = calls.join_next().await {
                        let answer = answer.map_err(|error| error.to_string())?;
                        got.push(answer.unwrap_or_else(|error| error));
                    }
                    got.sort();
                    got.dedup();
                    let ran = REPORTS.load(Ordering::SeqCst) - runs;
                    format!("{ran} query run(s) here; its callers got {got:?}")
                }
                ["rate", id] => {
                    let started = std::time::Instant::now();
                    let answer = rate(number(id)?).await;
                    let took = started.elapsed().as_secs_f64() * 1000.0;
                    match answer {
                        Ok(version) => format!("v{version} in {took:.0} ms"),
                        Err(error) => format!("Err: {error}"),
                    }
                }
                ["rate-source", id, version] => {
                    let mut rates = RATES.lock().unwrap_or_else(|p| p.into_inner());
                    rates.insert(number(id)?, number(version)?);
                    "ok".to_owned()
                }
                ["rate-queries"] => RATE_QUERIES.load(Ordering::SeqCst).to_string(),
                ["quit"] => "bye".to_owned(),
                _ => return Err(format!("unknown command `{line}`")),
            },
        )
    }

    /// Reads a product and says where it came from.
    async fn read(id: u64) -> String {
        let before = cacheaside::stats().set("fleet_products");
        let loads = LOADS.load(Ordering::SeqCst);
        let answer = product(id).await;
        let after = cacheaside::stats().set("fleet_products");
        let from = if LOADS.load(Ordering::SeqCst) == loads {
            "from the cache"
        } else if after.cache_errors + after.bypassed > before.cache_errors + before.bypassed {
            "the cache is unreachable: its source answered"
        } else {
            "a miss: its source answered, the cache keeps it"
        };
        match answer {
            Ok(product) => format!(
                "v{}, loaded by {} ({from})",
                product.version, product.loaded_by
            ),
            Err(error) => format!("Err: {error}"),
        }
    }
}
