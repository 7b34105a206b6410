//! Before and after: the same SQLite repository function, plain and with `#[cache_aside]`.
//!
//! Run with `cargo run --example before_after`. Without `AEROSPIKE_HOSTS` it starts the in-process
//! Aerospike test server from `cacheaside-testkit`; with it, it uses that cluster.
//!
//! Both versions answer 1,000 requests whose customer ids follow a skewed (Zipf) distribution, as real
//! traffic does; the program prints how often each one queried SQLite and how long the calls took.

#[path = "support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cacheaside::cache_aside;
use serde::{Deserialize, Serialize};

const CUSTOMERS: u32 = 100;
const ORDERS: u32 = 200_000;
const CALLS: usize = 1_000;

/// The source of truth: an SQLite database and a count of the queries it answered.
struct Db {
    conn: Mutex<rusqlite::Connection>,
    queries: AtomicU64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OrderSummary {
    customer_id: u32,
    orders: u64,
    total_cents: i64,
    largest_cents: i64,
}

#[derive(Debug)]
struct DbError(rusqlite::Error);

impl Db {
    fn open() -> Result<Db, DbError> {
        let conn = rusqlite::Connection::open_in_memory().map_err(DbError)?;
        conn.execute_batch(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, amount_cents INTEGER NOT NULL);",
        )
        .map_err(DbError)?;
        // Deterministic rows; no index on customer_id, so a summary is a full scan: a slow query.
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
             INSERT INTO orders (customer_id, amount_cents) SELECT (i * 7919) % ?2, (i * 104729) % 50000 FROM n",
            rusqlite::params![ORDERS, CUSTOMERS],
        )
        .map_err(DbError)?;
        Ok(Db {
            conn: Mutex::new(conn),
            queries: AtomicU64::new(0),
        })
    }

    fn summarize(&self, customer_id: u32) -> Result<OrderSummary, DbError> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(amount_cents), 0), COALESCE(MAX(amount_cents), 0)
             FROM orders WHERE customer_id = ?1",
            [customer_id],
            |row| {
                Ok(OrderSummary {
                    customer_id,
                    orders: row.get(0)?,
                    total_cents: row.get(1)?,
                    largest_cents: row.get(2)?,
                })
            },
        )
        .map_err(DbError)
    }
}

// ---- before: the plain repository function ----
async fn order_summary_plain(db: &Db, customer_id: u32) -> Result<OrderSummary, DbError> {
    db.summarize(customer_id)
}

// ---- after: the same body, one attribute added ----
#[cache_aside(set = "order_summaries", ttl = "5m", skip(db))]
async fn order_summary(db: &Db, customer_id: u32) -> Result<OrderSummary, DbError> {
    db.summarize(customer_id)
}

/// Customer ids with a Zipf(1.1) distribution, from a fixed seed so every run asks the same things.
fn skewed_customer_ids(count: usize) -> Vec<u32> {
    let weights: Vec<f64> = (1..=CUSTOMERS)
        .map(|rank| 1.0 / f64::from(rank).powf(1.1))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..count)
        .map(|_| {
            // xorshift64*: a tiny deterministic generator is all a demo needs.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let uniform =
                (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
            let mut target = uniform * total;
            let mut rank = 0;
            while rank + 1 < weights.len() && target >= weights[rank] {
                target -= weights[rank];
                rank += 1;
            }
            rank as u32
        })
        .collect()
}

struct Run {
    queries: u64,
    latencies: Vec<Duration>,
}

impl Run {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index]
    }

    fn row(&self, name: &str, hit_ratio: &str) -> String {
        let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3);
        format!(
            "{name:<18} {:>14} {:>10} {:>11} {:>11} {:>11}",
            self.queries,
            hit_ratio,
            ms(self.percentile(0.50)),
            ms(self.percentile(0.95)),
            ms(self.percentile(0.99)),
        )
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Keep the server alive for the whole run; `None` when a real cluster is configured.
    let (_server, config) = support::cluster().await?;
    cacheaside::init(config).await?;

    let started = Instant::now();
    let db = Db::open().map_err(|e| format!("opening SQLite: {:?}", e.0))?;
    println!(
        "SQLite ready in {:.1} s: {ORDERS} orders of {CUSTOMERS} customers, each summary scans them all.",
        started.elapsed().as_secs_f64()
    );

    let ids = skewed_customer_ids(CALLS);
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    println!(
        "{CALLS} calls over {} distinct customers (Zipf-skewed).\n",
        distinct.len()
    );

    let mut plain = Run {
        queries: 0,
        latencies: Vec::with_capacity(CALLS),
    };
    for &id in &ids {
        let t = Instant::now();
        let summary = order_summary_plain(&db, id)
            .await
            .map_err(|e| format!("{:?}", e.0))?;
        plain.latencies.push(t.elapsed());
        debug_assert_eq!(summary.customer_id, id);
    }
    plain.queries = db.queries.swap(0, Ordering::Relaxed);

    let mut cached = Run {
        queries: 0,
        latencies: Vec::with_capacity(CALLS),
    };
    for &id in &ids {
        let t = Instant::now();
        let summary = order_summary(&db, id)
            .await
            .map_err(|e| format!("{:?}", e.0))?;
        cached.latencies.push(t.elapsed());
        debug_assert_eq!(summary.customer_id, id);
    }
    cached.queries = db.queries.load(Ordering::Relaxed);

    let stats = cacheaside::stats();
    let set = stats.set("order_summaries");
    let hit_ratio = set.hit_ratio() * 100.0;

    println!(
        "{:<18} {:>14} {:>10} {:>11} {:>11} {:>11}",
        "", "source queries", "hit ratio", "p50", "p95", "p99"
    );
    println!("{}", plain.row("plain function", "-"));
    println!(
        "{}",
        cached.row("#[cache_aside]", &format!("{hit_ratio:.1}%"))
    );
    println!(
        "\nThe annotated function queried SQLite {} times for {} distinct customers; the plain one {} times.",
        cached.queries,
        distinct.len(),
        plain.queries
    );
    if set.cache_errors > 0 {
        println!(
            "Cache errors: {} (calls were answered from SQLite).",
            set.cache_errors
        );
    }
    Ok(())
}
