//! An axum HTTP service whose repository function over SQLite is cached with `#[cache_aside]`.
//!
//! Run with `cargo run --example axum_service --features metrics`: it starts the service on a free
//! port, sends it a few requests itself (a plain HTTP/1.1 client over a TCP stream, no curl needed),
//! prints each response and exits. With `-- --serve [ADDR]` it keeps serving on ADDR (default
//! `127.0.0.1:8080`) for `curl`. Without `AEROSPIKE_HOSTS` it starts the in-process Aerospike test
//! server from `cacheaside-testkit`.
//!
//! Routes: `GET /users/{id}` (cached), `PUT /users/{id}` with the new name as the body (updates
//! SQLite, then invalidates the entry), `GET /stats` (JSON of `cacheaside::stats()`) and
//! `GET /metrics` (Prometheus text, through the `metrics` feature).

#[path = "support/mod.rs"]
mod support;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use cacheaside::cache_aside;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

#[derive(Debug)]
enum RepoError {
    NotFound(u64),
    Db(rusqlite::Error),
    /// Only from `rename_user`: reads never fail because of the cache.
    Cache(cacheaside::Error),
}

/// The source of truth, and how many queries it answered.
struct Db {
    conn: Mutex<rusqlite::Connection>,
    queries: AtomicU64,
}

impl Db {
    fn open() -> rusqlite::Result<Db> {
        let conn = rusqlite::Connection::open_in_memory()?;
        conn.execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             INSERT INTO users (id, name) VALUES
                (1, 'Ada Lovelace'), (2, 'Grace Hopper'), (3, 'Edsger Dijkstra');",
        )?;
        Ok(Db {
            conn: Mutex::new(conn),
            queries: AtomicU64::new(0),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

// ---- the repository: plain functions, one of them cached ----

/// Reads a user; cached for 10 minutes (`Err`s, such as not found, are not cached).
#[cache_aside(set = "users", ttl = "10m", skip(db))]
async fn find_user(db: &Db, id: u64) -> Result<User, RepoError> {
    let found = db
        .conn()
        .query_row("SELECT id, name FROM users WHERE id = ?1", [id], |row| {
            Ok(User {
                id: row.get(0)?,
                name: row.get(1)?,
            })
        });
    match found {
        Ok(user) => Ok(user),
        Err(rusqlite::Error::QueryReturnedNoRows) => Err(RepoError::NotFound(id)),
        Err(e) => Err(RepoError::Db(e)),
    }
}

/// Renames a user, then invalidates the cached entry so the next read loads the new name.
async fn rename_user(db: &Db, id: u64, name: &str) -> Result<(), RepoError> {
    let changed = db
        .conn()
        .execute("UPDATE users SET name = ?2 WHERE id = ?1", (id, name))
        .map_err(RepoError::Db)?;
    if changed == 0 {
        return Err(RepoError::NotFound(id));
    }
    // An invalidation the cache could not record is the one cache error a caller must see: the
    // old name could still be served until the entry's TTL.
    find_user_invalidate(id).await.map_err(RepoError::Cache)
}

// ---- the HTTP layer ----

struct App {
    db: Db,
    prometheus: PrometheusHandle,
}

type Reply<T> = Result<T, (StatusCode, String)>;

fn http_error(error: RepoError) -> (StatusCode, String) {
    match error {
        RepoError::NotFound(id) => (StatusCode::NOT_FOUND, format!("no user {id}")),
        RepoError::Db(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        RepoError::Cache(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn get_user(State(app): State<Arc<App>>, Path(id): Path<u64>) -> Reply<Json<User>> {
    find_user(&app.db, id).await.map(Json).map_err(http_error)
}

async fn put_user(
    State(app): State<Arc<App>>,
    Path(id): Path<u64>,
    name: String,
) -> Reply<StatusCode> {
    rename_user(&app.db, id, name.trim())
        .await
        .map_err(http_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every set's counters, as `{"users": {"hits": 1, …, "hit_ratio": 0.25}}`.
async fn get_stats() -> Json<serde_json::Value> {
    let stats = cacheaside::stats();
    let sets = stats.sets().map(|(set, s)| {
        let counters = serde_json::json!({
            "hits": s.hits,
            "misses": s.misses,
            "hit_ratio": s.hit_ratio(),
            "loads": s.loads,
            "load_errors": s.load_errors,
            "cache_errors": s.cache_errors,
            "undecodable": s.undecodable,
            "writes": s.writes,
            "coalesced": s.coalesced,
            "stale_writes_prevented": s.stale_writes_prevented,
            "breaker_opens": s.breaker_opens,
            "ttl_forbidden_skips": s.ttl_forbidden_skips,
            "oversize": s.oversize,
            "refreshes_ahead": s.refreshes_ahead,
            "stale_served": s.stale_served,
            "soft_timeouts": s.soft_timeouts,
            "local_hits": s.local_hits,
            "touches": s.touches,
        });
        (set.to_owned(), counters)
    });
    Json(serde_json::Value::Object(sets.collect()))
}

async fn get_metrics(State(app): State<Arc<App>>) -> String {
    app.prometheus.render()
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/users/{id}", get(get_user).put(put_user))
        .route("/stats", get(get_stats))
        .route("/metrics", get(get_metrics))
        .with_state(app)
}

/// One HTTP/1.1 request over a fresh connection: the status line's code and reason, and the body.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(String, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.lines().next().unwrap_or_default();
    let status = status.split_once(' ').map_or(status, |(_, rest)| rest);
    Ok((status.to_owned(), body.to_owned()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let serve_at = {
        let mut args = std::env::args().skip(1);
        match args.next().as_deref() {
            None => None,
            Some("--serve") => Some(args.next().unwrap_or_else(|| "127.0.0.1:8080".to_owned())),
            Some(other) => return Err(format!("unknown argument {other:?}; try --serve").into()),
        }
    };

    let prometheus = PrometheusBuilder::new().install_recorder()?;
    let (_server, config) = support::cluster().await?;
    cacheaside::init(config).await?;
    // A fresh run: nothing of an earlier run against the same cluster is cached.
    for id in 1..=3 {
        find_user_invalidate(id).await?;
    }

    let db = Db::open().map_err(|e| format!("opening SQLite: {e}"))?;
    let app = Arc::new(App { db, prometheus });

    if let Some(addr) = serve_at {
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|e| format!("listening on {addr}: {e}"))?;
        let addr = listener.local_addr()?;
        println!("Serving on http://{addr} until Ctrl-C. Try:");
        println!("  curl http://{addr}/users/1");
        println!("  curl -X PUT --data 'Ada King' http://{addr}/users/1");
        println!("  curl http://{addr}/stats");
        println!("  curl http://{addr}/metrics");
        axum::serve(listener, router(app)).await?;
        return Ok(());
    }

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let service = tokio::spawn(axum::serve(listener, router(app.clone())).into_future());
    println!("Service listening on a free port of 127.0.0.1.\n");

    let steps = [
        (
            "GET",
            "/users/1",
            "",
            "a miss: SQLite answers, the value is cached",
        ),
        ("GET", "/users/1", "", "a hit: Aerospike answers"),
        ("GET", "/users/7", "", "not found: an Err, never cached"),
        ("PUT", "/users/1", "Ada King", "rename, then invalidate"),
        ("GET", "/users/1", "", "a miss again: the new name"),
        ("GET", "/users/1", "", "a hit"),
    ];
    for (method, path, body, why) in steps {
        let (status, reply) = request(addr, method, path, body).await?;
        let queries = app.db.queries.load(Ordering::Relaxed);
        println!(
            "{method} {path:<9} -> {status:<15} {reply:<32} SQLite queries: {queries}  ({why})"
        );
    }

    let (status, stats) = request(addr, "GET", "/stats", "").await?;
    let stats: serde_json::Value = serde_json::from_str(&stats)?;
    println!(
        "\nGET /stats -> {status}\n{}",
        serde_json::to_string_pretty(&stats)?
    );

    let (status, metrics) = request(addr, "GET", "/metrics", "").await?;
    println!("\nGET /metrics -> {status} (counters; the duration histograms are left out here)");
    // Sorted: the exporter keeps its series in hash maps, in no particular order.
    let mut counters: Vec<&str> = metrics
        .lines()
        .filter(|line| line.starts_with("cacheaside_") && !line.contains("_duration_seconds"))
        .collect();
    counters.sort_unstable();
    for line in counters {
        println!("{line}");
    }
    service.abort();
    Ok(())
}
