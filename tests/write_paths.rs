//! The write paths end to end, with SQLite as the source of truth: `#[cache_put]` and
//! `#[cache_evict]` (sync and async, functions and methods, `value`, `before`, `all`),
//! `cacheaside::invalidate` for event consumers, local tiers (also against loads that were running
//! when an entry changed), the stale-set race, and a cache that fails during a write.
//!
//! The tests of this file run one at a time (they share the source, and fault injection and
//! `all = true` reach every test of the process).

mod common;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};

use cacheaside::{cache_aside, cache_evict, cache_put};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: i64,
    name: String,
}

/// The source of truth: an SQLite table, and how often each id was loaded from it.
struct Source {
    conn: Mutex<rusqlite::Connection>,
    loads: Mutex<HashMap<i64, usize>>,
}

fn source() -> &'static Source {
    static SOURCE: OnceLock<Source> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let conn = rusqlite::Connection::open_in_memory().expect("SQLite opens");
        conn.execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT);",
        )
        .expect("schema");
        Source {
            conn: Mutex::new(conn),
            loads: Mutex::default(),
        }
    })
}

fn conn() -> MutexGuard<'static, rusqlite::Connection> {
    source().conn.lock().unwrap_or_else(|p| p.into_inner())
}

/// A new row with an id no earlier run used (so the tests hold on a real cluster too).
fn insert(name: &str) -> User {
    let id = (common::unique() >> 2) as i64;
    let email = format!("{id}@example.com");
    conn()
        .execute(
            "INSERT INTO users (id, name, email) VALUES (?1, ?2, ?3)",
            rusqlite::params![id, name, email],
        )
        .expect("insert");
    User {
        id,
        name: name.to_owned(),
    }
}

/// Another service's write: plain SQL, not through any cached function.
fn rename_in_source(id: i64, name: &str) {
    conn()
        .execute(
            "UPDATE users SET name = ?2 WHERE id = ?1",
            rusqlite::params![id, name],
        )
        .expect("update");
}

fn query(id: i64) -> Option<User> {
    *source()
        .loads
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(id)
        .or_default() += 1;
    conn()
        .query_row("SELECT id, name FROM users WHERE id = ?1", [id], |row| {
            Ok(User {
                id: row.get(0)?,
                name: row.get(1)?,
            })
        })
        .ok()
}

fn loads(id: i64) -> usize {
    let loads = source().loads.lock().unwrap_or_else(|p| p.into_inner());
    loads.get(&id).copied().unwrap_or(0)
}

fn email_of(id: i64) -> String {
    format!("{id}@example.com")
}

/// One test at a time: see the module docs.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let guard = SERIAL.lock().await;
    common::init().await;
    guard
}

// --- async functions -----------------------------------------------------------------------

#[cache_aside(set = "wp_users", key = id, ttl = 3600)]
async fn get_user(id: i64) -> Result<User, String> {
    query(id).ok_or_else(|| format!("no user {id}"))
}

#[cache_put(set = "wp_users", key = user.id, ttl = 3600)]
async fn update_user(user: User) -> Result<User, String> {
    rename_in_source(user.id, &user.name);
    Ok(user)
}

#[cache_put(set = "wp_users", key = user.id, ttl = 3600, value = user)]
async fn save_user(user: User, fail: bool) -> Result<(), String> {
    if fail {
        return Err("constraint violated".to_owned());
    }
    rename_in_source(user.id, &user.name);
    Ok(())
}

#[cache_evict(set = "wp_users", key = id)]
async fn rename_user(id: i64, name: &str) -> Result<(), String> {
    rename_in_source(id, name);
    Ok(())
}

#[cache_evict(set = "wp_users", key = id)]
async fn failing_rename(id: i64) -> Result<(), String> {
    Err(format!("rename of {id} refused"))
}

#[cache_evict(set = "wp_users", key = id, before = true)]
async fn half_done_rename(id: i64, name: &str) -> Result<(), String> {
    rename_in_source(id, name);
    Err("the second statement failed".to_owned())
}

#[tokio::test]
async fn a_put_makes_the_next_read_a_hit_with_the_new_value() {
    let _serial = serial().await;
    let user = insert("Ada");
    assert_eq!(get_user(user.id).await, Ok(user.clone()));
    assert_eq!(get_user(user.id).await, Ok(user.clone()), "cached");
    assert_eq!(loads(user.id), 1);

    let renamed = User {
        name: "Ada Lovelace".to_owned(),
        ..user.clone()
    };
    assert_eq!(update_user(renamed.clone()).await, Ok(renamed.clone()));
    assert_eq!(
        get_user(user.id).await,
        Ok(renamed.clone()),
        "the new value at once"
    );
    assert_eq!(loads(user.id), 1, "without a load: written by the put");
    assert_eq!(get_user_peek(user.id).await, Some(renamed));
}

#[tokio::test]
async fn a_put_with_value_writes_it_only_after_success() {
    let _serial = serial().await;
    let user = insert("Grace");
    assert_eq!(get_user(user.id).await, Ok(user.clone()));
    let renamed = User {
        name: "Grace Hopper".to_owned(),
        ..user.clone()
    };
    assert!(save_user(renamed.clone(), true).await.is_err());
    assert_eq!(
        get_user(user.id).await,
        Ok(user.clone()),
        "a failed update writes nothing"
    );
    assert_eq!(save_user(renamed.clone(), false).await, Ok(()));
    assert_eq!(get_user(user.id).await, Ok(renamed));
    assert_eq!(loads(user.id), 1);
}

#[tokio::test]
async fn an_evict_makes_the_next_read_load_the_new_value() {
    let _serial = serial().await;
    let user = insert("Edsger");
    assert_eq!(get_user(user.id).await, Ok(user.clone()));
    assert_eq!(failing_rename(user.id).await.ok(), None);
    assert_eq!(
        get_user(user.id).await,
        Ok(user.clone()),
        "kept after a failure"
    );
    assert_eq!(loads(user.id), 1);

    assert_eq!(rename_user(user.id, "Dijkstra").await, Ok(()));
    assert_eq!(get_user_peek(user.id).await, None, "removed");
    let renamed = get_user(user.id).await.expect("loads");
    assert_eq!(renamed.name, "Dijkstra");
    assert_eq!(loads(user.id), 2);
}

#[tokio::test]
async fn before_true_removes_the_entry_even_when_the_call_fails() {
    let _serial = serial().await;
    let user = insert("Barbara");
    assert_eq!(get_user(user.id).await, Ok(user.clone()));
    assert!(half_done_rename(user.id, "Liskov").await.is_err());
    let after = get_user(user.id).await.expect("loads");
    assert_eq!(after.name, "Liskov", "the half-done change is visible");
    assert_eq!(loads(user.id), 2);
}

// --- sync functions --------------------------------------------------------------------------

#[cache_aside(set = "wp_sync", key = id, ttl = 3600)]
fn get_user_sync(id: i64) -> Option<User> {
    query(id)
}

#[cache_put(set = "wp_sync", key = user.id, ttl = 3600)]
fn update_user_sync(user: User) -> Option<User> {
    rename_in_source(user.id, &user.name);
    Some(user)
}

#[cache_evict(set = "wp_sync", key = id)]
fn rename_user_sync(id: i64, name: &str) -> bool {
    rename_in_source(id, name);
    true
}

#[tokio::test]
async fn sync_writers_work_like_async_ones() {
    let _serial = serial().await;
    let user = insert("Alan");
    let id = user.id;
    let renamed = User {
        name: "Alan Turing".to_owned(),
        ..user.clone()
    };
    let from_thread = renamed.clone();
    // A plain thread: no runtime at all.
    let (read, after_put, after_evict) = std::thread::spawn(move || {
        let read = get_user_sync(id);
        update_user_sync(from_thread);
        let after_put = get_user_sync(id);
        rename_user_sync(id, "A. M. Turing");
        (read, after_put, get_user_sync(id))
    })
    .join()
    .expect("no panic");
    assert_eq!(read, Some(user));
    assert_eq!(after_put, Some(renamed));
    assert_eq!(
        after_evict.map(|user| user.name).as_deref(),
        Some("A. M. Turing")
    );
    assert_eq!(loads(id), 2, "one load before the put, one after the evict");
    // Inside the runtime too.
    assert!(rename_user_sync(id, "Turing"));
    assert_eq!(
        get_user_sync(id).map(|user| user.name).as_deref(),
        Some("Turing")
    );
}

// --- methods -----------------------------------------------------------------------------------

struct Repo {
    writes: usize,
}

#[cache_aside]
impl Repo {
    #[cache_aside(set = "wp_repo", key = id, ttl = 3600)]
    async fn find(&self, id: i64) -> Option<User> {
        query(id)
    }

    #[cache_put(set = "wp_repo", key = user.id, ttl = 3600, value = &user)]
    async fn save(&mut self, user: User) -> Result<(), String> {
        self.writes += 1;
        rename_in_source(user.id, &user.name);
        Ok(())
    }

    #[cache_evict(set = "wp_repo", key = id)]
    fn forget(self, id: i64) -> usize {
        self.writes
    }
}

#[tokio::test]
async fn methods_with_any_receiver() {
    let _serial = serial().await;
    let user = insert("Barbara");
    let mut repo = Repo { writes: 0 };
    assert_eq!(repo.find(user.id).await, Some(user.clone()));
    let renamed = User {
        name: "Barbara Liskov".to_owned(),
        ..user.clone()
    };
    assert_eq!(repo.save(renamed.clone()).await, Ok(()));
    assert_eq!(repo.find(user.id).await, Some(renamed));
    assert_eq!(loads(user.id), 1);
    assert_eq!(repo.find_peek(user.id).await.map(|u| u.id), Some(user.id));
    assert_eq!(Repo { writes: 3 }.forget(user.id), 3);
    assert_eq!(repo.find_peek(user.id).await, None);
}

// --- the stale-set race ------------------------------------------------------------------------

type Gate = (
    tokio::sync::oneshot::Sender<()>,
    tokio::sync::oneshot::Receiver<()>,
);

/// Loads of an id with a gate read the source, say so, then wait before returning.
fn gates() -> &'static Mutex<HashMap<i64, Gate>> {
    static GATES: OnceLock<Mutex<HashMap<i64, Gate>>> = OnceLock::new();
    GATES.get_or_init(Mutex::default)
}

/// Where a load of an id with a gate waits, once it has read the source.
async fn pass_gate(id: i64) {
    let gate = gates()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    if let Some((started, go)) = gate {
        let _ = started.send(());
        let _ = go.await;
    }
}

#[cache_aside(set = "wp_race", key = id, ttl = 3600)]
async fn get_slowly(id: i64) -> Option<User> {
    let loaded = query(id);
    pass_gate(id).await;
    loaded
}

#[cache_put(set = "wp_race", key = user.id, ttl = 3600)]
async fn put_racing(user: User) -> Option<User> {
    rename_in_source(user.id, &user.name);
    Some(user)
}

#[cache_evict(set = "wp_race", key = id)]
async fn evict_racing(id: i64, name: &str) {
    rename_in_source(id, name);
}

/// Starts a load of `id` that has read the source and waits; returns its task and its release.
async fn load_in_flight(
    id: i64,
) -> (
    tokio::task::JoinHandle<Option<User>>,
    tokio::sync::oneshot::Sender<()>,
) {
    hold_load(id, get_slowly(id)).await
}

/// Runs `load`, a call of `id` that passes its gate, until it has read the source and waits.
async fn hold_load<T: Send + 'static>(
    id: i64,
    load: impl core::future::Future<Output = T> + Send + 'static,
) -> (tokio::task::JoinHandle<T>, tokio::sync::oneshot::Sender<()>) {
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel();
    gates()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, (started_tx, go_rx));
    let load = tokio::spawn(load);
    started_rx.await.expect("the load started");
    (load, go_tx)
}

#[tokio::test]
async fn a_load_that_started_before_a_put_does_not_overwrite_it() {
    let _serial = serial().await;
    let user = insert("old");
    let (load, go) = load_in_flight(user.id).await;
    let new = User {
        name: "new".to_owned(),
        ..user.clone()
    };
    assert_eq!(put_racing(new.clone()).await, Some(new.clone()));
    go.send(()).expect("the load waits");
    assert_eq!(
        load.await.expect("no panic"),
        Some(user.clone()),
        "it returns what it read"
    );
    assert_eq!(
        get_slowly_peek(user.id).await,
        Some(new.clone()),
        "but did not write it"
    );
    assert_eq!(get_slowly(user.id).await, Some(new));
    assert_eq!(loads(user.id), 1);
}

#[tokio::test]
async fn a_load_that_started_before_an_evict_does_not_write_its_value() {
    let _serial = serial().await;
    let user = insert("old");
    let (load, go) = load_in_flight(user.id).await;
    evict_racing(user.id, "new").await;
    go.send(()).expect("the load waits");
    assert_eq!(load.await.expect("no panic"), Some(user.clone()));
    assert_eq!(
        get_slowly_peek(user.id).await,
        None,
        "the stale value was not written"
    );
    assert_eq!(
        get_slowly(user.id).await.map(|u| u.name).as_deref(),
        Some("new")
    );
    assert_eq!(loads(user.id), 2);
}

// --- event-driven invalidation -------------------------------------------------------------

#[cache_aside(set = "wp_emails", key = email.as_str(), ttl = 3600)]
async fn user_by_email(email: String) -> Option<User> {
    let id: i64 = email.split('@').next()?.parse().ok()?;
    query(id)
}

#[tokio::test]
async fn invalidate_by_set_and_key_for_integer_and_string_keys() {
    let _serial = serial().await;
    let user = insert("Katherine");
    let email = email_of(user.id);
    assert_eq!(get_user(user.id).await, Ok(user.clone()));
    assert_eq!(user_by_email(email.clone()).await, Some(user.clone()));
    assert_eq!(loads(user.id), 2);

    rename_in_source(user.id, "Katherine Johnson");
    cacheaside::invalidate("wp_users", user.id)
        .await
        .expect("invalidated");
    cacheaside::invalidate("wp_emails", email.as_str())
        .await
        .expect("invalidated");
    assert_eq!(
        get_user(user.id).await.expect("loads").name,
        "Katherine Johnson"
    );
    assert_eq!(
        user_by_email(email.clone())
            .await
            .map(|u| u.name)
            .as_deref(),
        Some("Katherine Johnson")
    );
    assert_eq!(loads(user.id), 4);

    // The namespace variant and the blocking twins address the same records.
    let namespace = common::cluster().namespace();
    cacheaside::invalidate_in(namespace, "wp_users", user.id)
        .await
        .expect("invalidated");
    assert_eq!(get_user_peek(user.id).await, None);
    let id = user.id;
    std::thread::spawn(move || cacheaside::invalidate_blocking("wp_emails", email_of(id)))
        .join()
        .expect("no panic")
        .expect("invalidated");
    assert_eq!(user_by_email_peek(email).await, None);
}

#[tokio::test]
async fn invalidate_rejects_bad_names_and_keys() {
    let _serial = serial().await;
    let error = cacheaside::invalidate("", 1).await.expect_err("empty set");
    assert_eq!(error.kind(), cacheaside::ErrorKind::Key);
    let error = cacheaside::invalidate("wp_users", u64::MAX)
        .await
        .expect_err("outside i64");
    assert_eq!(error.kind(), cacheaside::ErrorKind::Key);
}

// --- local tiers -------------------------------------------------------------------------------

#[cache_aside(set = "wp_local", key = id, ttl = 3600, local(ttl = "1h"))]
async fn get_local(id: i64) -> Option<User> {
    query(id)
}

#[cache_put(set = "wp_local", key = user.id, ttl = 3600)]
async fn put_local(user: User) -> Option<User> {
    rename_in_source(user.id, &user.name);
    Some(user)
}

#[cache_evict(set = "wp_local", key = id)]
async fn evict_local(id: i64, name: &str) -> Option<()> {
    rename_in_source(id, name);
    Some(())
}

#[tokio::test]
async fn this_process_s_local_tier_drops_what_it_put_or_evicted() {
    let _serial = serial().await;
    let user = insert("Frances");
    let local_hits = || cacheaside::stats().set("wp_local").local_hits;
    assert_eq!(get_local(user.id).await, Some(user.clone()));
    let before = local_hits();
    assert_eq!(get_local(user.id).await, Some(user.clone()));
    assert_eq!(local_hits(), before + 1, "a local hit");

    let put = User {
        name: "Frances Allen".to_owned(),
        ..user.clone()
    };
    put_local(put.clone()).await;
    assert_eq!(
        get_local(user.id).await,
        Some(put.clone()),
        "not the local copy"
    );
    assert_eq!(
        loads(user.id),
        1,
        "read from Aerospike, where the put wrote it"
    );

    evict_local(user.id, "F. E. Allen").await;
    assert_eq!(
        get_local(user.id).await.map(|u| u.name).as_deref(),
        Some("F. E. Allen")
    );
    assert_eq!(loads(user.id), 2);

    rename_in_source(user.id, "Fran Allen");
    cacheaside::invalidate("wp_local", user.id)
        .await
        .expect("invalidated");
    assert_eq!(
        get_local(user.id).await.map(|u| u.name).as_deref(),
        Some("Fran Allen")
    );
    assert_eq!(loads(user.id), 3);
}

#[cache_aside(set = "wp_local_race", key = id, ttl = 3600, local(ttl = "1h"))]
async fn get_local_slowly(id: i64) -> Option<User> {
    let loaded = query(id);
    pass_gate(id).await;
    loaded
}

#[cache_aside(set = "wp_local_race", key = id, ttl = 3600, local(ttl = "1h"))]
fn get_local_slowly_sync(id: i64) -> Option<User> {
    let loaded = query(id);
    let gate = gates()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    if let Some((started, go)) = gate {
        let _ = started.send(());
        let _ = go.blocking_recv();
    }
    loaded
}

#[cache_put(set = "wp_local_race", key = user.id, ttl = 3600)]
async fn put_local_racing(user: User) -> Option<User> {
    rename_in_source(user.id, &user.name);
    Some(user)
}

#[cache_evict(set = "wp_local_race", key = id)]
async fn evict_local_racing(id: i64, name: &str) {
    rename_in_source(id, name);
}

/// How the source's change reaches the cache while a load of the old row waits.
#[derive(Debug, Clone, Copy)]
enum Removal {
    Companion,
    CompanionSync,
    Invalidate,
    Evict,
}

impl Removal {
    async fn run(self, id: i64) {
        match self {
            Removal::Companion => {
                rename_in_source(id, "new");
                get_local_slowly_invalidate(id).await.expect("invalidated");
            }
            Removal::CompanionSync => {
                rename_in_source(id, "new");
                tokio::task::spawn_blocking(move || get_local_slowly_sync_invalidate(id))
                    .await
                    .expect("no panic")
                    .expect("invalidated");
            }
            Removal::Invalidate => {
                rename_in_source(id, "new");
                cacheaside::invalidate("wp_local_race", id)
                    .await
                    .expect("invalidated");
            }
            Removal::Evict => evict_local_racing(id, "new").await,
        }
    }
}

/// A load that read the old row before an invalidation returns it, but neither Aerospike (the
/// marker refuses its write) nor this process's local tier keeps it: the next call loads the new
/// row instead of answering the old one from the local tier.
#[tokio::test]
async fn a_load_that_started_before_an_invalidation_is_not_kept_in_the_local_tier() {
    let _serial = serial().await;
    for removal in [
        Removal::Companion,
        Removal::CompanionSync,
        Removal::Invalidate,
        Removal::Evict,
    ] {
        let user = insert("old");
        let (load, go) = hold_load(user.id, get_local_slowly(user.id)).await;
        removal.run(user.id).await;
        go.send(()).expect("the load waits");
        assert_eq!(
            load.await.expect("no panic"),
            Some(user.clone()),
            "{removal:?}: it returns what it read"
        );
        assert_eq!(
            get_local_slowly(user.id).await.map(|u| u.name).as_deref(),
            Some("new"),
            "{removal:?}: not the old value from the local tier"
        );
        assert_eq!(loads(user.id), 2, "{removal:?}: loaded again");
        let local_hits = || cacheaside::stats().set("wp_local_race").local_hits;
        let before = local_hits();
        assert_eq!(
            get_local_slowly(user.id).await.map(|u| u.name).as_deref(),
            Some("new")
        );
        assert_eq!(
            local_hits(),
            before + 1,
            "{removal:?}: a later load is kept"
        );
    }
}

/// The same for a sync function: its load runs on a blocking thread.
#[tokio::test]
async fn a_sync_load_that_started_before_an_invalidation_is_not_kept_in_the_local_tier() {
    let _serial = serial().await;
    let user = insert("old");
    let id = user.id;
    let (load, go) = hold_load(id, async move {
        tokio::task::spawn_blocking(move || get_local_slowly_sync(id))
            .await
            .expect("no panic")
    })
    .await;
    Removal::CompanionSync.run(id).await;
    go.send(()).expect("the load waits");
    assert_eq!(load.await.expect("no panic"), Some(user));
    let again = tokio::task::spawn_blocking(move || get_local_slowly_sync(id))
        .await
        .expect("no panic");
    assert_eq!(again.map(|u| u.name).as_deref(), Some("new"));
    assert_eq!(loads(id), 2);
}

/// A load that read the old row before a put returns it, but the next call reads the put value
/// from Aerospike, not the old one from the local tier.
#[tokio::test]
async fn a_load_that_started_before_a_put_is_not_kept_in_the_local_tier() {
    let _serial = serial().await;
    let user = insert("old");
    let (load, go) = hold_load(user.id, get_local_slowly(user.id)).await;
    let new = User {
        name: "new".to_owned(),
        ..user.clone()
    };
    assert_eq!(put_local_racing(new.clone()).await, Some(new.clone()));
    go.send(()).expect("the load waits");
    assert_eq!(load.await.expect("no panic"), Some(user.clone()));
    assert_eq!(
        get_local_slowly(user.id).await,
        Some(new.clone()),
        "the put value, not the old one from the local tier"
    );
    assert_eq!(
        loads(user.id),
        1,
        "read from Aerospike, where the put wrote it"
    );
}

// --- all = true --------------------------------------------------------------------------------

#[cache_aside(set = "wp_all", key = id, ttl = 3600)]
async fn get_in_all(id: i64) -> Option<User> {
    query(id)
}

#[cache_evict(set = "wp_all", all = true)]
async fn reimport_all() -> Result<usize, String> {
    Ok(0)
}

#[cache_evict(set = "wp_all", all = true)]
fn reimport_all_sync() -> Result<usize, String> {
    Ok(0)
}

#[tokio::test]
async fn all_true_empties_the_set() {
    let _serial = serial().await;
    let (first, second) = (insert("one"), insert("two"));
    let other = insert("elsewhere");
    for user in [&first, &second] {
        assert_eq!(get_in_all(user.id).await, Some(user.clone()));
    }
    assert_eq!(get_user(other.id).await, Ok(other.clone()));
    assert_eq!(reimport_all().await, Ok(0));
    for user in [&first, &second] {
        assert_eq!(get_in_all_peek(user.id).await, None, "truncated");
        assert_eq!(get_in_all(user.id).await, Some(user.clone()));
        assert_eq!(loads(user.id), 2);
    }
    assert_eq!(
        get_user_peek(other.id).await,
        Some(other),
        "other sets stay"
    );
    if let Some(server) = common::testkit_only("all_true_empties_the_set (record count)") {
        assert_eq!(server.keys("test", "wp_all").len(), 2);
        assert_eq!(reimport_all_sync(), Ok(0));
        assert!(server.keys("test", "wp_all").is_empty());
    }
}

#[cache_aside(set = "wp_all", key = id, ttl = 3600)]
async fn get_in_all_slowly(id: i64) -> Option<User> {
    let loaded = query(id);
    pass_gate(id).await;
    loaded
}

#[cache_aside(set = "wp_all", key = id, ttl = 3600)]
fn get_in_all_slowly_sync(id: i64) -> Option<User> {
    let loaded = query(id);
    let gate = gates()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    if let Some((started, go)) = gate {
        let _ = started.send(());
        let _ = go.blocking_recv();
    }
    loaded
}

/// A truncate leaves no marker, so the create-only write of a load that found no entry before it
/// would succeed: the load's start is remembered instead.
#[tokio::test]
async fn a_load_that_found_no_entry_does_not_write_after_all_true() {
    let _serial = serial().await;
    let prevented = || cacheaside::stats().set("wp_all").stale_writes_prevented;
    let before = prevented();
    let user = insert("old");
    let (load, go) = hold_load(user.id, get_in_all_slowly(user.id)).await;
    rename_in_source(user.id, "new");
    assert_eq!(reimport_all().await, Ok(0));
    go.send(()).expect("the load waits");
    assert_eq!(
        load.await.expect("no panic"),
        Some(user.clone()),
        "it returns what it read"
    );
    assert_eq!(
        get_in_all_peek(user.id).await,
        None,
        "the old value was not written back"
    );
    assert_eq!(prevented(), before + 1, "counted");
    assert_eq!(
        get_in_all(user.id).await.map(|u| u.name).as_deref(),
        Some("new")
    );
    assert_eq!(loads(user.id), 2);
    // Loads that start after the truncate write as before.
    assert_eq!(
        get_in_all_peek(user.id).await.map(|u| u.name).as_deref(),
        Some("new")
    );
}

#[cache_aside(set = "wp_all", key = id, ttl = 3600, local(ttl = "1h"))]
async fn get_in_all_locally(id: i64) -> Option<User> {
    let loaded = query(id);
    pass_gate(id).await;
    loaded
}

#[tokio::test]
async fn a_load_that_started_before_all_true_is_not_kept_in_the_local_tier() {
    let _serial = serial().await;
    let user = insert("old");
    let (load, go) = hold_load(user.id, get_in_all_locally(user.id)).await;
    rename_in_source(user.id, "new");
    assert_eq!(reimport_all().await, Ok(0));
    go.send(()).expect("the load waits");
    assert_eq!(load.await.expect("no panic"), Some(user.clone()));
    assert_eq!(
        get_in_all_locally(user.id).await.map(|u| u.name).as_deref(),
        Some("new"),
        "neither this process nor the cache kept the old value"
    );
    assert_eq!(loads(user.id), 2);
    assert_eq!(
        get_in_all_locally(user.id).await.map(|u| u.name).as_deref(),
        Some("new")
    );
    assert_eq!(loads(user.id), 2, "a later load is kept as before");
}

#[cache_aside(set = "wp_all_ahead", key = id, ttl = 100, refresh_ahead = 0.2)]
async fn get_ahead(id: i64) -> Option<User> {
    let loaded = query(id);
    pass_gate(id).await;
    loaded
}

#[cache_evict(set = "wp_all_ahead", all = true)]
async fn reimport_ahead() {}

/// A refresh-ahead expects the generation it read; after a truncate a new entry may have that
/// generation again, so the generation alone would let the older refresh overwrite it.
#[tokio::test]
async fn a_refresh_ahead_that_started_before_all_true_does_not_write() {
    let _serial = serial().await;
    let Some(server) = common::testkit_only("a_refresh_ahead_that_started_before_all_true") else {
        return;
    };
    let counted = || {
        let stats = cacheaside::stats().set("wp_all_ahead");
        (stats.writes, stats.stale_writes_prevented)
    };
    let user = insert("old");
    assert_eq!(get_ahead(user.id).await, Some(user.clone()));
    server.clock().advance(std::time::Duration::from_secs(90));
    // A hit near expiry: the refresh reads the source in the background and waits at the gate.
    let (hit, go) = hold_load(user.id, get_ahead(user.id)).await;
    assert_eq!(hit.await.expect("no panic"), Some(user.clone()));
    rename_in_source(user.id, "new");
    reimport_ahead().await;
    // A new entry, with the generation of a new record.
    let new = get_ahead(user.id).await;
    assert_eq!(new.as_ref().map(|u| u.name.as_str()), Some("new"));
    let (writes, prevented) = counted();
    go.send(()).expect("the refresh waits");
    let mut done = false;
    for _ in 0..500 {
        if counted() != (writes, prevented) {
            done = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(done, "the refresh finished");
    assert_eq!(counted(), (writes, prevented + 1), "its write was skipped");
    assert_eq!(get_ahead_peek(user.id).await, new, "the new entry stays");
}

#[tokio::test]
async fn a_sync_load_that_found_no_entry_does_not_write_after_all_true() {
    let _serial = serial().await;
    let user = insert("old");
    let id = user.id;
    let (load, go) = hold_load(id, async move {
        tokio::task::spawn_blocking(move || get_in_all_slowly_sync(id))
            .await
            .expect("no panic")
    })
    .await;
    rename_in_source(id, "new");
    assert_eq!(reimport_all_sync(), Ok(0));
    go.send(()).expect("the load waits");
    assert_eq!(load.await.expect("no panic"), Some(user));
    assert_eq!(get_in_all_peek(id).await, None, "not written back");
    assert_eq!(get_in_all(id).await.map(|u| u.name).as_deref(), Some("new"));
    assert_eq!(loads(id), 2);
}

// --- a failing cache -----------------------------------------------------------------------------

#[tokio::test]
async fn a_cache_failure_during_a_put_or_an_evict_does_not_fail_the_call() {
    let _serial = serial().await;
    let Some(server) = common::testkit_only("a_cache_failure_during_a_put_or_an_evict") else {
        return;
    };
    let user = insert("Hedy");
    assert_eq!(get_user(user.id).await, Ok(user.clone()));
    let errors = || cacheaside::stats().set("wp_users").cache_errors;
    let before = errors();
    let renamed = User {
        name: "Hedy Lamarr".to_owned(),
        ..user.clone()
    };
    // Result code 1: a server error, for the put's first write.
    server.faults().fail_next(1, 1);
    assert_eq!(update_user(renamed.clone()).await, Ok(renamed.clone()));
    assert_eq!(errors(), before + 1, "counted");
    server.faults().fail_next(1, 1);
    assert_eq!(rename_user(user.id, "H. Lamarr").await, Ok(()));
    assert_eq!(errors(), before + 2, "counted");
    server.faults().clear();
    // The cache answers again: writes go through.
    assert_eq!(update_user(renamed.clone()).await, Ok(renamed.clone()));
    assert_eq!(get_user(user.id).await, Ok(renamed));
}
