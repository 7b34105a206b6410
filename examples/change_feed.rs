//! Event-driven invalidation: a change feed of the source invalidates cache entries, so a write
//! that does not go through any cached function (another service, a migration, an admin's SQL)
//! becomes visible on the next read, without waiting for the TTL.
//!
//! The feed here is SQLite's update hook, which reports every row the connection inserts, updates
//! or deletes; a consumer task turns each event into `cacheaside::invalidate(set, key)`. In
//! production the feed would be the database's change data capture (Postgres logical replication,
//! MySQL binlog, Debezium on Kafka, DynamoDB streams…) or a message the writer publishes; the
//! consumer stays the same.
//!
//! Run with `cargo run --example change_feed`. Without `AEROSPIKE_HOSTS` it starts the in-process
//! Aerospike test server from `cacheaside-testkit`; with it, it uses that cluster.

#[path = "support/mod.rs"]
mod support;

use std::sync::Mutex;

use cacheaside::cache_aside;
use rusqlite::hooks::Action;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: i64,
    name: String,
}

/// One row change, as the feed reports it.
#[derive(Debug)]
struct Change {
    action: &'static str,
    table: String,
    rowid: i64,
}

/// The source of truth, whose connection reports its changes to `feed`.
struct Db {
    conn: Mutex<rusqlite::Connection>,
}

impl Db {
    fn open(feed: mpsc::UnboundedSender<Change>) -> Result<Db, rusqlite::Error> {
        let conn = rusqlite::Connection::open_in_memory()?;
        conn.execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             INSERT INTO users (id, name) VALUES (7, 'Ada');",
        )?;
        // `id INTEGER PRIMARY KEY` is the rowid, so the event names the reader's key.
        conn.update_hook(Some(
            move |action: Action, _db: &str, table: &str, rowid: i64| {
                let action = match action {
                    Action::SQLITE_INSERT => "INSERT",
                    Action::SQLITE_UPDATE => "UPDATE",
                    Action::SQLITE_DELETE => "DELETE",
                    _ => "CHANGE",
                };
                // The consumer only stops when the program ends.
                let _ = feed.send(Change {
                    action,
                    table: table.to_owned(),
                    rowid,
                });
            },
        ));
        Ok(Db {
            conn: Mutex::new(conn),
        })
    }

    /// Plain SQL, as another service would run it: no cached function is involved.
    fn execute(&self, sql: &str) -> Result<usize, rusqlite::Error> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .execute(sql, [])
    }
}

#[cache_aside(set = "cf_users", key = id, ttl = "1h")]
fn get_user(db: &Db, id: i64) -> Option<User> {
    let conn = db
        .conn
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    conn.query_row("SELECT id, name FROM users WHERE id = ?1", [id], |row| {
        Ok(User {
            id: row.get(0)?,
            name: row.get(1)?,
        })
    })
    .ok()
}

/// Turns each change of table `users` into an invalidation of its entry, and reports what it did
/// on `done` (so that the demo can print in order).
async fn consume(mut feed: mpsc::UnboundedReceiver<Change>, done: mpsc::UnboundedSender<String>) {
    while let Some(change) = feed.recv().await {
        if change.table != "users" {
            continue;
        }
        let outcome = match cacheaside::invalidate("cf_users", change.rowid).await {
            Ok(()) => format!(
                "change feed: {} of users row {} -> cacheaside::invalidate(\"cf_users\", {})",
                change.action, change.rowid, change.rowid
            ),
            // The entry may still be served until its TTL: a real consumer retries or alerts.
            Err(error) => format!("change feed: invalidation failed: {error}"),
        };
        if done.send(outcome).is_err() {
            return;
        }
    }
}

fn show(step: &str, read: Option<User>) {
    let what = read.map_or_else(|| "no user 7".to_owned(), |user| user.name);
    let loads = cacheaside::stats().set("cf_users").loads;
    println!("{step:<36} {what:<14} SQLite queries so far: {loads}");
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Keep the server alive for the whole run; `None` when a real cluster is configured.
    let (_server, config) = support::cluster().await?;
    cacheaside::init(config).await?;
    // A fresh start on a real cluster that holds an entry of an earlier run.
    cacheaside::invalidate("cf_users", 7).await?;

    let (feed, changes) = mpsc::unbounded_channel();
    let (done, mut reports) = mpsc::unbounded_channel();
    let db = Db::open(feed)?;
    tokio::spawn(consume(changes, done));

    show("1. get_user(7)", get_user(&db, 7));
    show("2. get_user(7) again (a hit)", get_user(&db, 7));

    let update = "UPDATE users SET name = 'Ada Lovelace' WHERE id = 7";
    db.execute(update)?;
    println!("3. another service: {update}");
    println!("   {}", reports.recv().await.unwrap_or_default());
    show("4. get_user(7) (a miss, new value)", get_user(&db, 7));
    show("5. get_user(7) again (a hit)", get_user(&db, 7));

    let delete = "DELETE FROM users WHERE id = 7";
    db.execute(delete)?;
    println!("6. another service: {delete}");
    println!("   {}", reports.recv().await.unwrap_or_default());
    show("7. get_user(7) (a miss)", get_user(&db, 7));
    Ok(())
}
