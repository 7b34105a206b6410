//! Measures what the guide's "Capacity planning" chapter needs: client CPU per hit and per miss,
//! the connections a process opens, and the memory of a local-tier entry, for a value of about
//! 1 KB (a struct with an id and a 1,000-byte string).
//!
//! ```sh
//! cargo run --release -p cacheaside-inspect --example capacity -- miss 100000 64
//! cargo run --release -p cacheaside-inspect --example capacity -- hit 100000 64
//! cargo run --release -p cacheaside-inspect --example capacity -- local 100000 64
//! ```
//!
//! `miss N TASKS` calls the cached function for ids `FROM..FROM+N` (`FROM` from the environment,
//! default 0) with TASKS concurrent tasks on a two-thread runtime; on a set without those
//! entries every call misses, loads and writes. `hit` does the same over entries that exist (run
//! `miss` first). `local` fills two local tiers (`key = id` from Aerospike hits, the default key
//! through misses) and prints the heap their entries hold. CPU time is the process's own (Linux: `/proc/self/stat`); with `AEROSPIKE_SERVER_PID`
//! set to a server process on the same machine, that process's CPU time per call is printed too.
//! With `SEND_KEY` set, the records store their user key too (`send_key`).
//! The connections are this process's established TCP connections, at most, sampled every 50 ms.
//! The server is `AEROSPIKE_HOSTS` (default `127.0.0.1:3000`), namespace `AEROSPIKE_NAMESPACE`
//! (default `test`); the entries go to sets `capacity`, `capacity_id` and `capacity_local`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use cacheaside::cache_aside;
use serde::{Deserialize, Serialize};

/// The system allocator, counting the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's guarantees are passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's guarantees are passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: the caller's guarantees are passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    id: u64,
    body: String,
}

fn item_of(id: u64) -> Item {
    Item {
        id,
        body: "x".repeat(1_000),
    }
}

#[cache_aside(set = "capacity", ttl = "1h")]
async fn item(id: u64) -> Item {
    item_of(id)
}

#[cache_aside(set = "capacity_id", ttl = "1h", key = id)]
async fn item_by_id(id: u64) -> Item {
    item_of(id)
}

// The same entries as `item_by_id`, with a local tier in front.
#[cache_aside(set = "capacity_id", ttl = "1h", key = id, local(ttl = "10m", capacity = 1_000_000))]
async fn item_by_id_local(id: u64) -> Item {
    item_of(id)
}

#[cache_aside(
    set = "capacity_local",
    ttl = "1h",
    local(ttl = "10m", capacity = 1_000_000)
)]
async fn item_local(id: u64) -> Item {
    item_of(id)
}

/// CPU time of a process (user and system, all threads), in clock ticks of 10 ms.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which ends with the last ')': state is the first,
    // utime and stime the 12th and 13th.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Established TCP connections of this process: the clients' connections to the cluster.
fn connections() -> usize {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    let inodes: std::collections::HashSet<String> = fds
        .filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    ["/proc/self/net/tcp", "/proc/self/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .map(|line| {
                    line.split_whitespace()
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        })
        // state 01 is ESTABLISHED; the inode is the tenth column
        .filter(|columns| columns.get(3).is_some_and(|s| s == "01"))
        .filter(|columns| columns.get(9).is_some_and(|inode| inodes.contains(inode)))
        .count()
}

/// Calls `call` for ids `from..from + n`, `tasks` at a time, and prints the cost per call.
async fn measure<F, Fut>(label: &str, from: u64, n: u64, tasks: u64, call: F)
where
    F: Fn(u64) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = Item> + Send,
{
    let server = std::env::var("AEROSPIKE_SERVER_PID").ok();
    let server_ticks = || server.as_deref().and_then(cpu_ticks);
    let (own_before, server_before) = (cpu_ticks("self"), server_ticks());
    let started = Instant::now();
    let workers: Vec<_> = (0..tasks)
        .map(|task| {
            tokio::spawn(async move {
                for id in (from + task..from + n).step_by(tasks as usize) {
                    assert_eq!(call(id).await.id, id);
                }
            })
        })
        .collect();
    let mut peak_connections = 0;
    while !workers.iter().all(|worker| worker.is_finished()) {
        peak_connections = peak_connections.max(connections());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for worker in workers {
        worker.await.expect("the calls succeed");
    }
    let seconds = started.elapsed().as_secs_f64();
    let per_call = |before: Option<u64>, after: Option<u64>| {
        Some((after? - before?) as f64 * 10_000.0 / n as f64)
    };
    print!(
        "{label}: {n} calls, {tasks} tasks, {seconds:.2} s, {:.0} calls/s",
        n as f64 / seconds
    );
    if let Some(micros) = per_call(own_before, cpu_ticks("self")) {
        print!(
            ", client CPU {micros:.1} µs per call ({:.0} per core-second)",
            1e6 / micros
        );
    }
    if let Some(micros) = per_call(server_before, server_ticks()) {
        print!(", server CPU {micros:.1} µs per call");
    }
    println!(", connections {peak_connections} at most");
}

/// Fills a local tier through `call` for ids `from..from + n` and prints the heap the second half
/// of its entries holds: the tier's fixed costs come with its first entries.
async fn local_heap<F, Fut>(label: &str, from: u64, n: u64, tasks: u64, call: F)
where
    F: Fn(u64) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = Item> + Send,
{
    let half = n / 2;
    measure(label, from, half, tasks, call).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = LIVE.load(Ordering::SeqCst);
    measure(label, from + half, half, tasks, call).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bytes = LIVE.load(Ordering::SeqCst) - before;
    println!(
        "{label}: {bytes} bytes of heap for {half} more entries, {:.1} per entry (the value \
         itself: {} bytes)",
        bytes as f64 / half as f64,
        core::mem::size_of::<Item>() + 1_000
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: capacity <miss|hit|local> <N> [TASKS]";
    let (Some(phase), Some(n)) = (args.first(), args.get(1)) else {
        return Err(usage.into());
    };
    let n: u64 = n.parse()?;
    let tasks: u64 = args.get(2).map_or(Ok(64), |t| t.parse())?;
    let from: u64 = std::env::var("FROM").map_or(Ok(0), |from| from.parse())?;
    let env =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    cacheaside::init(
        cacheaside::Config::builder()
            .hosts(env("AEROSPIKE_HOSTS", "127.0.0.1:3000"))
            .namespace(env("AEROSPIKE_NAMESPACE", "test"))
            .operation_timeout(Duration::from_secs(2))
            .send_key(std::env::var_os("SEND_KEY").is_some())
            .build()?,
    )
    .await?;
    match phase.as_str() {
        "miss" => measure("miss", from, n, tasks, item).await,
        "hit" => measure("hit", from, n, tasks, item).await,
        "local" => {
            // Aerospike entries for both halves, and every connection the run needs, first.
            measure("aerospike", from, n, tasks, item_by_id).await;
            local_heap("local tier, key = id", from, n, tasks, item_by_id_local).await;
            local_heap("local tier, default key", from, n, tasks, item_local).await;
        }
        _ => return Err(usage.into()),
    }
    Ok(())
}
