//! A batch loader: `#[cache_aside(…, batch)]` reads many ids with one Aerospike batch read and
//! asks the source (SQLite here) only for the ids that were not cached. A single-id reader of
//! the same set shares the entries.
//!
//! Run with `cargo run --example batch`. Without `AEROSPIKE_HOSTS` it starts the in-process
//! Aerospike test server from `cacheaside-testkit`; with it, it uses that cluster.

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use cacheaside::cache_aside;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

/// The source of truth: ten users.
fn db() -> std::sync::MutexGuard<'static, rusqlite::Connection> {
    static DB: OnceLock<Mutex<rusqlite::Connection>> = OnceLock::new();
    DB.get_or_init(|| {
        let conn = rusqlite::Connection::open_in_memory().expect("an in-memory SQLite database");
        conn.execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             INSERT INTO users VALUES (1, 'Ada'), (2, 'Grace'), (3, 'Edsger'), (4, 'Barbara'),
               (5, 'Donald'), (6, 'Frances'), (7, 'John'), (8, 'Niklaus'), (9, 'Tony'),
               (10, 'Margaret');",
        )
        .expect("the schema");
        Mutex::new(conn)
    })
    .lock()
    .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One query for all the ids asked: `WHERE id IN (…)`. Prints the ids, to show what the cache
/// left for the source.
fn query_users(ids: &[u64]) -> Result<HashMap<u64, User>, String> {
    println!("    SQLite queried for {ids:?}");
    let list = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let db = db();
    let mut statement = db
        .prepare(&format!("SELECT id, name FROM users WHERE id IN ({list})"))
        .map_err(|e| e.to_string())?;
    let rows = statement
        .query_map([], |row| {
            Ok(User {
                id: row.get(0)?,
                name: row.get(1)?,
            })
        })
        .map_err(|e| e.to_string())?;
    rows.map(|row| row.map(|user| (user.id, user)).map_err(|e| e.to_string()))
        .collect()
}

/// The batch loader: the body is the plain query; the attribute adds the cache.
#[cache_aside(set = "batch_example", ttl = 3600, batch)]
async fn get_users(ids: &[u64]) -> Result<HashMap<u64, User>, String> {
    query_users(ids)
}

/// A single-id reader of the same entries: `key = id` is how the batch keys each id.
#[cache_aside(set = "batch_example", ttl = 3600, key = id)]
async fn get_user(id: u64) -> Result<User, String> {
    query_users(&[id])?
        .remove(&id)
        .ok_or_else(|| format!("no user {id}"))
}

fn names(users: &HashMap<u64, User>) -> String {
    let mut users: Vec<&User> = users.values().collect();
    users.sort_by_key(|user| user.id);
    let names: Vec<&str> = users.iter().map(|user| user.name.as_str()).collect();
    names.join(", ")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (server, config) = support::cluster().await?;
    cacheaside::init(config).await?;
    let all: Vec<u64> = (1..=10).collect();
    // A cluster may hold entries of an earlier run: start from none.
    get_users_invalidate(&all).await?;

    println!("\nget_users([1, 2, 3, 4, 5]), nothing cached yet:");
    println!("    -> {}", names(&get_users(&[1, 2, 3, 4, 5]).await?));

    println!("\nget_user(7), the single-id reader:");
    println!("    -> {}", get_user(7).await?.name);

    println!("\nget_users([1, …, 10]), with 1 to 5 and 7 cached:");
    println!("    -> {}", names(&get_users(&all).await?));

    println!("\nget_users([1, …, 10]) again, all cached:");
    println!("    -> {}", names(&get_users(&all).await?));

    println!("\nget_users([3, 3, 11, 3]), repeated ids and one SQLite does not have:");
    println!("    -> {}", names(&get_users(&[3, 3, 11, 3]).await?));

    println!("\nget_users_invalidate([2, 4]), then get_users([1, 2, 3, 4, 5]):");
    get_users_invalidate(&[2, 4]).await?;
    println!("    -> {}", names(&get_users(&[1, 2, 3, 4, 5]).await?));

    let stats = cacheaside::stats().set("batch_example");
    println!(
        "\nCounters of set batch_example, per id: {} hits, {} misses, {} loads, {} writes.",
        stats.hits, stats.misses, stats.loads, stats.writes
    );
    if let Some(server) = server {
        let commands = server.counters();
        println!(
            "The test server answered {} batch reads for {} keys in all.",
            commands.batch_reads, commands.batch_keys
        );
    }
    Ok(())
}
