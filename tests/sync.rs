//! Cached plain `fn`s and methods, called from a plain thread, from inside a current-thread
//! runtime, and from a multi-thread runtime (directly and in `spawn_blocking`): the same hit, miss
//! and invalidate behaviour as `async fn`, and no panic or deadlock inside a runtime.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use cacheaside::cache_aside;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

fn user(id: u64) -> User {
    User {
        id,
        name: format!("user-{id}"),
    }
}

/// A stand-in for a blocking database handle; never part of a key.
#[derive(Default)]
struct Db {
    loads: AtomicUsize,
}

impl Db {
    fn load(&self) -> usize {
        self.loads.fetch_add(1, Ordering::SeqCst) + 1
    }
    fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

#[cache_aside(set = "sync_users", ttl = 3600, skip(db))]
fn get_user(db: &Db, id: u64) -> Result<User, String> {
    if db.load() == 1 {
        return Err("database unavailable".to_owned());
    }
    Ok(user(id))
}

#[cache_aside(set = "sync_users", ttl = 3600, skip(db))]
fn find_name(db: &Db, id: u64) -> Option<String> {
    db.load();
    Some(format!("name {id}"))
}

struct Repo {
    db: Db,
}

impl Repo {
    #[cache_aside(set = "sync_users", ttl = 3600, key = format!("sync-repo:{id}"))]
    fn by_id(&self, id: u64) -> User {
        self.db.load();
        user(id)
    }
}

/// The whole behaviour, from whatever thread calls it: `Err` is not cached, `Ok` is, a hit skips
/// the body, `_invalidate` removes the entry and `_refresh` rewrites it.
fn exercise(id: u64) {
    let db = Db::default();
    assert_eq!(get_user(&db, id), Err("database unavailable".to_owned()));
    assert_eq!(get_user(&db, id), Ok(user(id)), "the error was not cached");
    assert_eq!(get_user(&db, id), Ok(user(id)));
    assert_eq!(db.loads(), 2, "the third call is a hit");
    get_user_invalidate(id).unwrap();
    assert_eq!(get_user(&db, id), Ok(user(id)));
    assert_eq!(db.loads(), 3, "invalidated: loads again");
    assert_eq!(get_user_refresh(&db, id), Ok(user(id)));
    assert_eq!(get_user(&db, id), Ok(user(id)));
    assert_eq!(db.loads(), 4, "refresh runs the body and stores the result");

    let db = Db::default();
    assert_eq!(find_name(&db, id), Some(format!("name {id}")));
    assert_eq!(find_name(&db, id), Some(format!("name {id}")));
    assert_eq!(db.loads(), 1);
    find_name_invalidate(id).unwrap();
    find_name(&db, id);
    assert_eq!(db.loads(), 2);

    let repo = Repo { db: Db::default() };
    assert_eq!(repo.by_id(id), user(id));
    assert_eq!(repo.by_id(id), user(id));
    assert_eq!(repo.db.loads(), 1);
    repo.by_id_invalidate(id).unwrap();
    repo.by_id(id);
    assert_eq!(repo.db.loads(), 2);
}

/// Installs the test configuration without keeping a runtime around.
fn init_outside_any_runtime() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the configuration")
        .block_on(common::init());
}

#[test]
fn from_a_plain_thread() {
    init_outside_any_runtime();
    let id = common::unique();
    std::thread::spawn(move || exercise(id))
        .join()
        .expect("no panic on a plain thread");
}

#[tokio::test(flavor = "current_thread")]
async fn inside_a_current_thread_runtime() {
    common::init().await;
    exercise(common::unique());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_a_multi_thread_runtime() {
    common::init().await;
    exercise(common::unique());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_spawn_blocking() {
    common::init().await;
    let id = common::unique();
    tokio::task::spawn_blocking(move || exercise(id))
        .await
        .expect("no panic in spawn_blocking");
}

#[tokio::test(flavor = "current_thread")]
async fn sync_calls_between_awaits_of_async_calls() {
    common::init().await;
    let id = common::unique();
    let db = Db::default();
    // The runtime's only thread is blocked during each call and keeps working after it.
    assert_eq!(find_name(&db, id), Some(format!("name {id}")));
    tokio::task::yield_now().await;
    assert_eq!(find_name(&db, id), Some(format!("name {id}")));
    assert_eq!(db.loads(), 1);
}
