//! Two tiers: `local(ttl, capacity)`, an in-process cache, in front of Aerospike.
//!
//! Run with `cargo run --example multi_tier`. It always starts the in-process Aerospike test server
//! from `cacheaside-testkit`, because it counts the commands the server receives.
//!
//! Two services ("A" and "B") read the same feature flags. In one process they are two annotated
//! functions with the same set and `key`, so they share one Aerospike record but each has its own
//! local tier, as two processes would. The example shows a local hit (no network), an Aerospike hit
//! (B's first read finds what A wrote), and the price of the local tier: after B changes the flags
//! and invalidates, A keeps serving its local copy until the local TTL (2 s here) runs out. The
//! local tier runs on the real clock, so the example really waits those 2 s.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cacheaside::cache_aside;
use cacheaside_testkit::{CommandKind, TestServer};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Flags {
    new_checkout: bool,
}

/// The source of truth: flags per tenant, and how often it was read.
static SOURCE: Mutex<(BTreeMap<u64, Flags>, u64)> = Mutex::new((BTreeMap::new(), 0));

fn load(tenant: u64) -> Flags {
    let mut source = SOURCE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    source.1 += 1;
    source.0.get(&tenant).cloned().unwrap_or(Flags {
        new_checkout: false,
    })
}

fn source_reads() -> u64 {
    SOURCE.lock().unwrap_or_else(|p| p.into_inner()).1
}

/// Service A's repository function.
#[cache_aside(
    set = "flags",
    ttl = "10m",
    key = format!("tenant:{tenant}"),
    local(ttl = "2s", capacity = 10_000)
)]
async fn flags_in_a(tenant: u64) -> Flags {
    load(tenant)
}

/// Service B's copy of the same function: the same record, its own local tier.
#[cache_aside(
    set = "flags",
    ttl = "10m",
    key = format!("tenant:{tenant}"),
    local(ttl = "2s", capacity = 10_000)
)]
async fn flags_in_b(tenant: u64) -> Flags {
    load(tenant)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start().await?;
    println!("Started the in-process Aerospike test server.");
    let config = cacheaside::Config::builder()
        .hosts(server.hosts())
        .build()?;
    cacheaside::init(config).await?;

    let reads = || server.counters().get(CommandKind::Read);
    let report = |step: &str, flags: &Flags, before: u64| {
        println!(
            "{step:<48} new_checkout={:<5}  Aerospike reads +{}  source reads {}",
            flags.new_checkout,
            reads() - before,
            source_reads()
        );
    };

    let before = reads();
    let flags = flags_in_a(7).await;
    report("A: first read (miss: source, then cached)", &flags, before);

    let before = reads();
    let flags = flags_in_a(7).await;
    report("A: second read (local hit, no network)", &flags, before);

    let before = reads();
    let flags = flags_in_b(7).await;
    report("B: first read (Aerospike hit: A's value)", &flags, before);

    // B turns the flag on and invalidates: its own local copy and the Aerospike record.
    SOURCE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .0
        .insert(7, Flags { new_checkout: true });
    flags_in_b_invalidate(7).await?;
    let changed = Instant::now();
    println!("B: sets new_checkout=true in the source and invalidates the entry");

    let before = reads();
    let flags = flags_in_b(7).await;
    report("B: reads again (miss: the new value)", &flags, before);

    let before = reads();
    let flags = flags_in_a(7).await;
    report(
        "A: reads again (local hit: still the OLD value)",
        &flags,
        before,
    );

    let wait = Duration::from_millis(2_500).saturating_sub(changed.elapsed());
    tokio::time::sleep(wait).await;
    println!("... 2.5 s after the change: A's local copy (ttl 2 s) has expired");

    let before = reads();
    let flags = flags_in_a(7).await;
    report(
        "A: reads again (Aerospike hit: the new value)",
        &flags,
        before,
    );

    let stats = cacheaside::stats().set("flags");
    println!(
        "\nstats(\"flags\"), both services: {} hits ({} of them local), {} misses, {} loads, {} writes",
        stats.hits, stats.local_hits, stats.misses, stats.loads, stats.writes
    );
    println!("Staleness across processes is bounded by the local ttl; within one process,");
    println!("<fn>_invalidate and <fn>_refresh clear the local copy at once.");
    Ok(())
}
