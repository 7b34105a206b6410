//! `soft_timeout`: a slow source does not hold callers up while an expired entry is at hand.
//!
//! Run with `cargo run --example soft_timeout`. Without `AEROSPIKE_HOSTS` it starts the in-process
//! Aerospike test server from `cacheaside-testkit`; with it, it uses that cluster.
//!
//! The rates service takes 1.5 s to answer. An entry of `fx_rate` is fresh for 1 s (`ttl = 1`) and
//! kept 10 minutes longer (`stale_if_error = "10m"`). Past its ttl, a call waits for the service
//! at most 100 ms (`soft_timeout = "100ms"`), then answers with the old rate while the service's
//! answer is written back in the background. The program prints how long each call took.

#[path = "support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use cacheaside::cache_aside;

/// How long the rates service takes to answer.
const SERVICE_TIME: Duration = Duration::from_millis(1_500);

/// Queries the rates service answered; each answer is one cent above the one before.
static QUERIES: AtomicU32 = AtomicU32::new(0);

#[cache_aside(
    set = "fx_rates",
    ttl = 1,
    stale_if_error = "10m",
    soft_timeout = "100ms"
)]
async fn fx_rate(pair: String) -> Result<f64, String> {
    let _ = pair;
    tokio::time::sleep(SERVICE_TIME).await;
    let query = QUERIES.fetch_add(1, Ordering::SeqCst);
    Ok(1.08 + f64::from(query) / 100.0)
}

/// Calls `fx_rate` and prints what it returned and how long it took.
async fn call(step: &str, pair: &str) -> Result<f64, String> {
    let started = Instant::now();
    let rate = fx_rate(pair.to_owned()).await;
    let took = started.elapsed();
    let shown = rate
        .as_ref()
        .map_or_else(|error| error.clone(), |rate| format!("{rate:.2}"));
    println!(
        "{step:<68} {shown:>5} {:>9.1} ms",
        took.as_secs_f64() * 1000.0
    );
    rate
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (server, config) = support::cluster().await?;
    cacheaside::init(config).await?;
    // A key of its own per run, so that a real cluster holds no entry of an earlier one.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let pair = format!("EURUSD:{}", nanos.as_nanos());
    println!(
        "The rates service answers in {} ms; ttl = 1, stale_if_error = \"10m\", soft_timeout = \"100ms\".\n",
        SERVICE_TIME.as_millis()
    );
    println!("{:<68} {:>5} {:>12}", "call", "rate", "took");
    call(
        "1. a miss: nothing to answer with, the call waits for the service",
        &pair,
    )
    .await?;
    call("2. a hit", &pair).await?;

    // Past the 1 s ttl, inside the stale window.
    match &server {
        Some(server) => server.clock().advance(Duration::from_secs(2)),
        None => tokio::time::sleep(Duration::from_secs(2)).await,
    }
    let late = Instant::now();
    call(
        "3. expired: the old rate after 100 ms; the service answers later",
        &pair,
    )
    .await?;
    call(
        "4. again, while that answer is awaited: the old rate at once",
        &pair,
    )
    .await?;

    let fresh = Some(1.09);
    while fx_rate_peek(pair.clone()).await != fresh && late.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "   (the service's answer was written back {:.0} ms after call 3 started)",
        late.elapsed().as_secs_f64() * 1000.0
    );
    call("5. after the write-back: the new rate, a hit", &pair).await?;

    let stats = cacheaside::stats().set("fx_rates");
    println!(
        "\nService queries: {}. Soft timeouts: {}, stale values served: {}, writes: {}.",
        QUERIES.load(Ordering::SeqCst),
        stats.soft_timeouts,
        stats.stale_served,
        stats.writes
    );
    Ok(())
}
