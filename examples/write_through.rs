//! Write-through: the reader is cached with `#[cache_aside]`, the update goes through
//! `#[cache_put]` (the new row is written to the cache at once) and the delete through
//! `#[cache_evict]` (the entry is removed), so reads never serve a row the program changed.
//!
//! Run with `cargo run --example write_through`. Without `AEROSPIKE_HOSTS` it starts the
//! in-process Aerospike test server from `cacheaside-testkit`; with it, it uses that cluster.

#[path = "support/mod.rs"]
mod support;

use std::sync::Mutex;

use cacheaside::{cache_aside, cache_evict, cache_put};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: i64,
    name: String,
}

#[derive(Debug)]
enum DbError {
    NotFound(i64),
    Sql(rusqlite::Error),
}

/// The source of truth: one SQLite connection.
struct Db {
    conn: Mutex<rusqlite::Connection>,
}

impl Db {
    fn open() -> Result<Db, rusqlite::Error> {
        let conn = rusqlite::Connection::open_in_memory()?;
        conn.execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             INSERT INTO users (id, name) VALUES (1, 'Ada'), (2, 'Grace');",
        )?;
        Ok(Db {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The reader: a hit never reaches SQLite.
#[cache_aside(set = "wt_users", key = id, ttl = "1h")]
fn get_user(db: &Db, id: i64) -> Result<User, DbError> {
    let row = db
        .conn()
        .query_row("SELECT id, name FROM users WHERE id = ?1", [id], |row| {
            Ok(User {
                id: row.get(0)?,
                name: row.get(1)?,
            })
        });
    match row {
        Ok(user) => Ok(user),
        Err(rusqlite::Error::QueryReturnedNoRows) => Err(DbError::NotFound(id)),
        Err(error) => Err(DbError::Sql(error)),
    }
}

/// The update: after the row is written, the returned `User` replaces the cache entry, under the
/// reader's key (`key = user.id` equals the reader's `key = id`).
#[cache_put(set = "wt_users", key = user.id, ttl = "1h")]
fn update_user(db: &Db, user: User) -> Result<User, DbError> {
    db.conn()
        .execute(
            "UPDATE users SET name = ?2 WHERE id = ?1",
            rusqlite::params![user.id, user.name],
        )
        .map_err(DbError::Sql)?;
    Ok(user)
}

/// The delete: after the row is gone, so is the cache entry.
#[cache_evict(set = "wt_users", key = id)]
fn delete_user(db: &Db, id: i64) -> Result<(), DbError> {
    db.conn()
        .execute("DELETE FROM users WHERE id = ?1", [id])
        .map_err(DbError::Sql)?;
    Ok(())
}

/// SQLite queries so far, as the cache counts them (`loads` of the set).
fn loads() -> u64 {
    cacheaside::stats().set("wt_users").loads
}

fn show(step: &str, read: &Result<User, DbError>) {
    let what = match read {
        Ok(user) => user.name.clone(),
        Err(DbError::NotFound(id)) => format!("no user {id}"),
        Err(DbError::Sql(error)) => format!("SQLite error: {error}"),
    };
    println!("{step:<34} {what:<14} SQLite queries so far: {}", loads());
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Keep the server alive for the whole run; `None` when a real cluster is configured.
    let (_server, config) = support::cluster().await?;
    cacheaside::init(config).await?;
    let db = Db::open()?;
    // A fresh start on a real cluster that holds entries of an earlier run.
    get_user_invalidate(1)?;

    show("1. get_user(1)", &get_user(&db, 1));
    show("2. get_user(1) again (a hit)", &get_user(&db, 1));
    let renamed = User {
        id: 1,
        name: "Ada Lovelace".to_owned(),
    };
    update_user(&db, renamed).map_err(|e| format!("update failed: {e:?}"))?;
    println!("3. update_user(Ada Lovelace)       #[cache_put] wrote the new row to the cache");
    show("4. get_user(1) (a hit, new value)", &get_user(&db, 1));
    delete_user(&db, 1).map_err(|e| format!("delete failed: {e:?}"))?;
    println!("5. delete_user(1)                  #[cache_evict] removed the entry");
    show("6. get_user(1) (a miss)", &get_user(&db, 1));

    let stats = cacheaside::stats().set("wt_users");
    println!(
        "Set wt_users: {} hits, {} misses, {} SQLite queries, {} cache writes.",
        stats.hits, stats.misses, stats.loads, stats.writes
    );
    Ok(())
}
