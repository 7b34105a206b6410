//! The `metrics` feature: cached calls counted and timed, rendered as Prometheus text.
//!
//! Run with `cargo run --example prometheus --features metrics`. Without `AEROSPIKE_HOSTS` it
//! starts the in-process Aerospike test server from `cacheaside-testkit`.
//!
//! The Prometheus recorder (`metrics-exporter-prometheus` without its HTTP listener) is installed
//! before the first cached call; a service would return `prometheus.render()` from its
//! `GET /metrics` handler (see the `axum_service` example).

#[path = "support/mod.rs"]
mod support;

use cacheaside::cache_aside;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// A user's display name; ids above 100 do not exist.
#[cache_aside(set = "users", ttl = "10m")]
async fn user_name(id: u64) -> Result<String, String> {
    if id > 100 {
        return Err(format!("no user {id}"));
    }
    Ok(format!("user {id}"))
}

/// A price in cents, also kept for 5 s in this process.
#[cache_aside(set = "prices", ttl = "1m", local(ttl = "5s", capacity = 1_000))]
async fn price_cents(sku: String) -> u64 {
    sku.len() as u64 * 125
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Histograms with buckets (Prometheus aggregates those across instances): 100 µs, the
    // boundary between a local hit and a network round trip, up to 100 ms.
    let prometheus = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_duration_seconds".to_owned()),
            &[0.0001, 0.001, 0.01, 0.1],
        )?
        .install_recorder()?;

    let (_server, config) = support::cluster().await?;
    cacheaside::init(config).await?;

    // A fresh run: nothing of an earlier run against the same cluster is cached.
    for id in [1, 2] {
        user_name_invalidate(id).await?;
    }
    price_cents_invalidate("apple".to_owned()).await?;

    println!("user_name(1)  -> {:?}", user_name(1).await); // miss: the body runs
    println!("user_name(1)  -> {:?}", user_name(1).await); // hit
    println!("user_name(2)  -> {:?}", user_name(2).await); // miss
    println!("user_name(404) -> {:?}", user_name(404).await); // miss, Err not cached
    for _ in 0..3 {
        // a miss, then two hits of the local tier
        println!(
            "price_cents(\"apple\") -> {}",
            price_cents("apple".to_owned()).await
        );
    }

    // What `GET /metrics` would return (durations, and so the buckets, vary from run to run).
    println!();
    let text = prometheus.render();
    for line in in_order(&text) {
        if line.contains("cacheaside_") {
            println!("{line}");
        }
    }
    Ok(())
}

/// The exporter's lines with families and series in a fixed order (it keeps them in hash maps, in
/// no particular order), so that every run prints them alike; a series' buckets keep their order.
fn in_order(text: &str) -> Vec<&str> {
    let mut lines: Vec<(&str, u8, String, &str)> = text
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            if let Some(comment) = line.strip_prefix("# ") {
                let mut words = comment.split(' ');
                let kind = u8::from(words.next() != Some("HELP"));
                (words.next().unwrap_or_default(), kind, String::new(), line)
            } else {
                let name_end = line.find(['{', ' ']).unwrap_or(line.len());
                let name = &line[..name_end];
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| name.strip_suffix(suffix))
                    .unwrap_or(name);
                let labels = line[name_end..].split_once('}').map_or("", |(l, _)| l);
                let series: Vec<&str> = labels
                    .trim_start_matches('{')
                    .split(',')
                    .filter(|label| !label.starts_with("le="))
                    .collect();
                (family, 2, series.join(","), line)
            }
        })
        .collect();
    // A stable sort: lines of one series stay in the exporter's order (buckets, sum, count).
    lines.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
    lines.into_iter().map(|(_, _, _, line)| line).collect()
}
