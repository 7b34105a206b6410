//! Write-behind: writes go to the cache at once and to SQLite later, in batches, retried when
//! SQLite fails, without losing or reordering any.
//!
//! Run with `cargo run --example write_behind`. Without `AEROSPIKE_HOSTS` it starts the in-process
//! Aerospike test server from `cacheaside-testkit`; with it, it uses that cluster.

#[path = "support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use cacheaside::cache_aside;
use cacheaside::write_behind::WriteBehind;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
    visits: u32,
}

/// The source of truth.
fn db() -> &'static Mutex<rusqlite::Connection> {
    static DB: OnceLock<Mutex<rusqlite::Connection>> = OnceLock::new();
    DB.get_or_init(|| {
        let conn = rusqlite::Connection::open_in_memory().expect("an in-memory SQLite database");
        conn.execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, visits INTEGER NOT NULL);
             INSERT INTO users VALUES (1, 'Ada', 0), (2, 'Grace', 0), (3, 'Edsger', 0);",
        )
        .expect("the schema");
        Mutex::new(conn)
    })
}

fn lock_db() -> std::sync::MutexGuard<'static, rusqlite::Connection> {
    db().lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn load_user(id: u64) -> Result<User, String> {
    lock_db()
        .query_row(
            "SELECT name, visits FROM users WHERE id = ?1",
            [id],
            |row| {
                Ok(User {
                    id,
                    name: row.get(0)?,
                    visits: row.get(1)?,
                })
            },
        )
        .map_err(|e| e.to_string())
}

/// The reader: `key = id` addresses the same record as the write-behind's key `id`.
#[cache_aside(set = "wb_users", ttl = 3600, key = id)]
async fn get_user(id: u64) -> Result<User, String> {
    load_user(id)
}

/// How many of the next flushes fail, as a database that is briefly locked would.
static FAILURES_TO_INJECT: AtomicU32 = AtomicU32::new(2);

/// Persists one batch in one transaction.
async fn save_users(batch: Vec<(u64, User)>) -> Result<(), String> {
    let ids: Vec<u64> = batch.iter().map(|(id, _)| *id).collect();
    if FAILURES_TO_INJECT
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        println!("  flush of users {ids:?}: failed (injected: database is locked), will retry");
        return Err("database is locked".to_owned());
    }
    let mut conn = lock_db();
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    for (id, user) in &batch {
        tx.execute(
            "UPDATE users SET name = ?2, visits = ?3 WHERE id = ?1",
            rusqlite::params![id, user.name, user.visits],
        )
        .map_err(|e| e.to_string())?;
    }
    tx.commit().map_err(|e| e.to_string())?;
    println!(
        "  flush of users {ids:?}: persisted {:?}",
        batch.iter().map(|(_, u)| u.visits).collect::<Vec<_>>()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (_server, config) = support::cluster().await?;
    cacheaside::init(config).await?;

    let users = WriteBehind::<u64, User>::builder("wb_users")
        .ttl(cacheaside::Ttl::Seconds(3600))
        .max_batch(2)
        .max_delay(Duration::from_millis(50))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .start(save_users)?;

    println!(
        "\nRead user 1 (cached from SQLite): {:?}",
        get_user(1).await?
    );

    println!("\nTen visits, queued (users 1, 2 and 3 in turn):");
    for visit in 1..=10u32 {
        let id = u64::from(visit % 3 + 1);
        let mut user = get_user(id).await?;
        user.visits += 1;
        users.write(id, user).await.ok();
    }
    let stats = users.stats();
    println!(
        "  {} writes accepted, {} of them coalesced into a queued write of the same user; {} \
         users still queued",
        stats.writes,
        stats.coalesced,
        users.pending()
    );
    println!(
        "  user 1 now: cache {:?} visits, SQLite {:?} visits",
        get_user(1).await?.visits,
        load_user(1)?.visits
    );

    println!("\nShutting down: every queued write reaches SQLite first.");
    users.shutdown().await;
    let stats = users.stats();
    println!(
        "  {} batches ({} users) persisted after {} failed attempts",
        stats.batches_flushed, stats.entries_flushed, stats.failed_flushes
    );

    println!("\nSQLite now:");
    for id in 1..=3 {
        let user = load_user(id)?;
        println!("  {} {:<7} {} visits", user.id, user.name, user.visits);
    }
    let total: u32 = (1..=3)
        .map(|id| load_user(id).map(|u| u.visits))
        .sum::<Result<u32, _>>()?;
    println!("  {total} visits in total: none lost.");
    Ok(())
}
