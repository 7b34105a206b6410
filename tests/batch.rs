//! `#[cache_aside(…, batch)]` end to end against Aerospike (the testkit, or `AEROSPIKE_HOSTS`).
//!
//! The tests take turns (`serial`): some compare the set's counters or the server's command
//! counters before and after a call, or inject faults, which other tests' calls would disturb.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use cacheaside::{cache_aside, cache_evict};
use cacheaside_testkit::CommandKind;
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

/// A source that records the ids of every call, and can be told to fail or to know only some ids.
#[derive(Default)]
struct Db {
    calls: Mutex<Vec<Vec<u64>>>,
    failing: bool,
    /// Ids divisible by this are unknown to the source (0: every id is known).
    unknown_every: u64,
}

impl Db {
    fn load(&self, ids: impl IntoIterator<Item = u64>) -> HashMap<u64, User> {
        let ids: Vec<u64> = ids.into_iter().collect();
        self.calls.lock().unwrap().push(ids.clone());
        ids.into_iter()
            .filter(|id| self.unknown_every == 0 || id % self.unknown_every != 0)
            .map(|id| (id, user(id)))
            .collect()
    }

    /// The ids of each call so far, and forgets them.
    fn take_calls(&self) -> Vec<Vec<u64>> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

#[cache_aside(set = "batch_users", ttl = 3600, batch, skip(db))]
async fn get_users(db: &Db, ids: &[u64]) -> Result<HashMap<u64, User>, String> {
    if db.failing {
        db.load(ids.iter().copied());
        return Err("database unavailable".to_owned());
    }
    Ok(db.load(ids.iter().copied()))
}

/// The single-id reader of the same entries.
#[cache_aside(set = "batch_users", ttl = 3600, key = id)]
async fn get_user(db: &Db, id: u64) -> Result<User, String> {
    db.load([id])
        .remove(&id)
        .ok_or_else(|| "no such user".to_owned())
}

fn serial() -> &'static tokio::sync::Mutex<()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    &SERIAL
}

/// `count` ids no earlier run used, within Aerospike's integer key range.
fn fresh_ids(count: u64) -> Vec<u64> {
    let base = (common::unique() % (1 << 40)) * 1_000;
    (base..base + count).collect()
}

fn users(ids: &[u64]) -> HashMap<u64, User> {
    ids.iter().map(|&id| (id, user(id))).collect()
}

#[tokio::test]
async fn of_100_ids_with_60_cached_the_body_gets_exactly_the_40_missing() {
    let _turn = serial().lock().await;
    let cluster = common::init().await;
    let db = Db::default();
    let ids = fresh_ids(100);
    assert_eq!(get_users(&db, &ids[..60]).await, Ok(users(&ids[..60])));
    assert_eq!(db.take_calls(), [ids[..60].to_vec()]);

    let before = cacheaside::stats().set("batch_users");
    let commands = cluster.server().map(|server| server.counters());
    let all = get_users(&db, &ids).await;
    assert_eq!(
        db.take_calls(),
        [ids[60..].to_vec()],
        "one call of the body, with the 40 missing ids in order"
    );
    let stats = cacheaside::stats().set("batch_users");
    assert_eq!(stats.hits - before.hits, 60);
    assert_eq!(stats.misses - before.misses, 40);
    assert_eq!(stats.loads - before.loads, 40);
    assert_eq!(stats.writes - before.writes, 40);
    if let (Some(server), Some(before)) = (cluster.testkit_only("one batch read"), commands) {
        let after = server.counters();
        assert_eq!(after.get(CommandKind::BatchRead) - before.batch_reads, 1);
        assert_eq!(after.batch_keys - before.batch_keys, 100);
        assert_eq!(after.get(CommandKind::Read) - before.reads, 0);
    }

    let uncached = get_users_uncached(&db, &ids).await;
    assert_eq!(db.take_calls(), [ids.as_slice()], "the body with every id");
    assert_eq!(all, uncached, "the same result as the body alone");
    assert_eq!(all.unwrap().len(), 100);

    assert_eq!(get_users(&db, &ids).await, Ok(users(&ids)));
    assert!(db.take_calls().is_empty(), "all 100 cached now");
}

#[tokio::test]
async fn repeated_ids_are_read_and_loaded_once() {
    let _turn = serial().lock().await;
    let cluster = common::init().await;
    let db = Db::default();
    let [a, b, c] = fresh_ids(3)[..] else {
        unreachable!()
    };
    let commands = cluster.server().map(|server| server.counters());
    let found = get_users(&db, &[a, b, a, c, b]).await.unwrap();
    assert_eq!(db.take_calls(), [vec![a, b, c]]);
    assert_eq!(found, users(&[a, b, c]));
    if let (Some(server), Some(before)) = (cluster.testkit_only("batch keys"), commands) {
        assert_eq!(server.counters().batch_keys - before.batch_keys, 3);
    }
    assert_eq!(get_users(&db, &[c, c, a]).await, Ok(users(&[a, c])));
    assert!(db.take_calls().is_empty());
}

#[tokio::test]
async fn no_ids_touch_neither_aerospike_nor_the_body() {
    let _turn = serial().lock().await;
    let cluster = common::init().await;
    let db = Db::default();
    let commands = cluster.server().map(|server| server.counters());
    let before = cacheaside::stats().set("batch_users");
    assert_eq!(get_users(&db, &[]).await, Ok(HashMap::new()));
    assert!(db.take_calls().is_empty());
    assert_eq!(cacheaside::stats().set("batch_users"), before);
    get_users_invalidate(&[]).await.unwrap();
    if let (Some(server), Some(before)) = (cluster.testkit_only("no commands"), commands) {
        assert_eq!(server.counters().data_commands(), before.data_commands());
    }
}

#[tokio::test]
async fn an_error_of_the_body_is_returned_and_nothing_is_cached() {
    let _turn = serial().lock().await;
    common::init().await;
    let ids = fresh_ids(4);
    let db = Db::default();
    get_users(&db, &ids[..1]).await.unwrap();
    db.take_calls();
    let failing = Db {
        failing: true,
        ..Db::default()
    };
    assert_eq!(
        get_users(&failing, &ids).await,
        Err("database unavailable".to_owned())
    );
    assert_eq!(failing.take_calls(), [ids[1..].to_vec()]);
    assert_eq!(get_users(&db, &ids).await, Ok(users(&ids)));
    assert_eq!(db.take_calls(), [ids[1..].to_vec()], "nothing was cached");
}

#[tokio::test]
async fn ids_the_body_does_not_return_are_absent_and_not_cached() {
    let _turn = serial().lock().await;
    common::init().await;
    let ids = fresh_ids(6);
    let db = Db {
        unknown_every: 2,
        ..Db::default()
    };
    let known: Vec<u64> = ids.iter().copied().filter(|id| id % 2 != 0).collect();
    let unknown: Vec<u64> = ids.iter().copied().filter(|id| id % 2 == 0).collect();
    assert_eq!(get_users(&db, &ids).await, Ok(users(&known)));
    db.take_calls();
    assert_eq!(get_users(&db, &ids).await, Ok(users(&known)));
    assert_eq!(db.take_calls(), [unknown], "absent ids are asked again");
}

#[tokio::test]
async fn the_batch_and_the_single_reader_share_entries() {
    let _turn = serial().lock().await;
    common::init().await;
    let db = Db::default();
    let [first, second] = fresh_ids(2)[..] else {
        unreachable!()
    };
    assert_eq!(get_user(&db, first).await, Ok(user(first)));
    db.take_calls();
    assert_eq!(
        get_users(&db, &[first, second]).await,
        Ok(users(&[first, second]))
    );
    assert_eq!(
        db.take_calls(),
        [vec![second]],
        "the single reader's entry is a hit"
    );
    assert_eq!(get_user(&db, second).await, Ok(user(second)));
    assert!(db.take_calls().is_empty(), "the batch's entry is a hit");
}

#[tokio::test]
async fn invalidate_removes_the_entry_of_each_id() {
    let _turn = serial().lock().await;
    common::init().await;
    let db = Db::default();
    let ids = fresh_ids(5);
    get_users(&db, &ids).await.unwrap();
    db.take_calls();
    get_users_invalidate(&ids[1..3]).await.unwrap();
    assert_eq!(get_users(&db, &ids).await, Ok(users(&ids)));
    assert_eq!(db.take_calls(), [ids[1..3].to_vec()]);
    get_user_invalidate(ids[4]).await.unwrap();
    assert_eq!(get_users(&db, &ids).await, Ok(users(&ids)));
    assert_eq!(
        db.take_calls(),
        [vec![ids[4]]],
        "a single-id invalidation too"
    );
}

#[tokio::test]
async fn when_the_cache_does_not_answer_the_body_gets_every_id_and_the_call_succeeds() {
    let _turn = serial().lock().await;
    let cluster = common::init().await;
    let Some(server) = cluster.testkit_only("slow batch reads") else {
        return;
    };
    let db = Db::default();
    let ids = fresh_ids(10);
    get_users(&db, &ids[..5]).await.unwrap();
    db.take_calls();
    let before = cacheaside::stats().set("batch_users");
    // Beyond the operation timeout of the tests' configuration (2 s).
    server
        .faults()
        .set_latency_for(CommandKind::BatchRead, Duration::from_secs(4));
    let found = get_users(&db, &ids).await;
    server
        .faults()
        .set_latency_for(CommandKind::BatchRead, Duration::ZERO);
    assert_eq!(found, Ok(users(&ids)));
    assert_eq!(
        db.take_calls(),
        [ids.as_slice()],
        "every id, the cached ones too"
    );
    let stats = cacheaside::stats().set("batch_users");
    assert_eq!(stats.misses - before.misses, 10);
    assert_eq!(stats.cache_errors - before.cache_errors, 1);
    assert_eq!(
        stats.writes - before.writes,
        0,
        "no write-backs to a cluster that timed out"
    );
}

#[tokio::test]
async fn undecodable_entries_are_misses_and_overwritten() {
    let _turn = serial().lock().await;
    let cluster = common::init().await;
    let Some(server) = cluster.testkit_only("corrupt replies") else {
        return;
    };
    let db = Db::default();
    let ids = fresh_ids(3);
    get_users(&db, &ids).await.unwrap();
    db.take_calls();
    let before = cacheaside::stats().set("batch_users");
    server.faults().corrupt_next_reads(1);
    assert_eq!(get_users(&db, &ids).await, Ok(users(&ids)));
    assert_eq!(db.take_calls(), [ids.as_slice()]);
    let stats = cacheaside::stats().set("batch_users");
    assert_eq!(stats.undecodable - before.undecodable, 3);
    assert_eq!(stats.writes - before.writes, 3, "overwritten");
    assert_eq!(get_users(&db, &ids).await, Ok(users(&ids)));
    assert!(db.take_calls().is_empty());
}

/// Sync, owned ids, a plain map.
#[cache_aside(set = "batch_users", ttl = 3600, batch, skip(db))]
fn get_users_sync(db: &Db, ids: Vec<u64>) -> HashMap<u64, User> {
    db.load(ids)
}

/// A set of ids, an `Option` of a `BTreeMap`.
#[cache_aside(set = "batch_users", ttl = "1h", batch, skip(db))]
async fn get_users_by_set(db: &Db, ids: &HashSet<u64>) -> Option<BTreeMap<u64, User>> {
    Some(db.load(ids.iter().copied()).into_iter().collect())
}

#[tokio::test]
async fn sync_functions_and_other_collections_share_the_entries() {
    let _turn = serial().lock().await;
    common::init().await;
    let db = Db::default();
    let ids = fresh_ids(4);
    assert_eq!(get_users_sync(&db, ids[..2].to_vec()), users(&ids[..2]));
    assert_eq!(db.take_calls(), [ids[..2].to_vec()]);
    let set: HashSet<u64> = ids.iter().copied().collect();
    let found = get_users_by_set(&db, &set).await.expect("Some");
    assert_eq!(found, users(&ids).into_iter().collect::<BTreeMap<_, _>>());
    let mut asked = db.take_calls().concat();
    asked.sort_unstable();
    assert_eq!(asked, ids[2..], "only the ids the sync call did not cache");
    assert_eq!(get_users_sync(&db, ids.clone()), users(&ids));
    assert!(db.take_calls().is_empty());
    get_users_sync_invalidate(vec![ids[0]]).unwrap();
    assert_eq!(get_users_sync(&db, ids.clone()), users(&ids));
    assert_eq!(db.take_calls(), [vec![ids[0]]]);
}

/// String ids, as `key = name` on a single reader would key them.
#[cache_aside(set = "batch_names", ttl = 60, batch)]
async fn greetings(names: &[String]) -> HashMap<String, String> {
    CALLS.lock().unwrap().push(names.to_vec());
    names
        .iter()
        .map(|name| (name.clone(), format!("hello {name}")))
        .collect()
}

static CALLS: Mutex<Vec<Vec<String>>> = Mutex::new(Vec::new());

#[cache_aside(set = "batch_names", ttl = 60, key = name.as_str())]
async fn greeting(name: String) -> String {
    CALLS.lock().unwrap().push(vec![name.clone()]);
    format!("hello {name}")
}

#[tokio::test]
async fn string_ids_are_keyed_like_a_string_key() {
    let _turn = serial().lock().await;
    common::init().await;
    let unique = common::unique();
    let names = [format!("ada-{unique}"), format!("bob-{unique}")];
    assert_eq!(
        greeting(names[0].clone()).await,
        format!("hello {}", names[0])
    );
    CALLS.lock().unwrap().clear();
    let found = greetings(&names).await;
    assert_eq!(found.len(), 2);
    assert_eq!(found[&names[1]], format!("hello {}", names[1]));
    assert_eq!(*CALLS.lock().unwrap(), [vec![names[1].clone()]]);
}

/// `&str` ids borrowed from the caller, returned in a map by `String`.
#[cache_aside(set = "batch_names", ttl = 60, batch)]
async fn greetings_of(names: &[&str]) -> HashMap<String, String> {
    CALLS
        .lock()
        .unwrap()
        .push(names.iter().map(|name| (*name).to_owned()).collect());
    names
        .iter()
        .map(|name| ((*name).to_owned(), format!("hello {name}")))
        .collect()
}

/// `&str` ids in a `Vec`, for a sync function.
#[cache_aside(set = "batch_names", ttl = 60, batch)]
fn greetings_sync(names: Vec<&str>) -> BTreeMap<String, String> {
    CALLS
        .lock()
        .unwrap()
        .push(names.iter().map(|name| (*name).to_owned()).collect());
    names
        .into_iter()
        .map(|name| (name.to_owned(), format!("hello {name}")))
        .collect()
}

#[tokio::test]
async fn borrowed_str_ids_share_the_entries_of_string_ids() {
    let _turn = serial().lock().await;
    common::init().await;
    let unique = common::unique();
    let [ada, bob, cy] = [
        format!("ada-{unique}"),
        format!("bob-{unique}"),
        format!("cy-{unique}"),
    ];
    assert_eq!(greeting(ada.clone()).await, format!("hello {ada}"));
    CALLS.lock().unwrap().clear();
    let found = greetings_of(&[&ada, &bob, &ada]).await;
    assert_eq!(
        found,
        HashMap::from([
            (ada.clone(), format!("hello {ada}")),
            (bob.clone(), format!("hello {bob}")),
        ])
    );
    assert_eq!(
        *CALLS.lock().unwrap(),
        [vec![bob.clone()]],
        "only the missing id, once"
    );
    CALLS.lock().unwrap().clear();
    let names = [ada.as_str(), bob.as_str(), cy.as_str()];
    let found = greetings_sync(names.to_vec());
    assert_eq!(found.keys().collect::<Vec<_>>(), names);
    assert_eq!(found[cy.as_str()], format!("hello {cy}"));
    assert_eq!(*CALLS.lock().unwrap(), [vec![cy.clone()]]);
    CALLS.lock().unwrap().clear();
    // And the entries are those of the `String` ids.
    assert_eq!(greetings(std::slice::from_ref(&cy)).await.len(), 1);
    greetings_of_invalidate(&[&ada]).await.unwrap();
    assert_eq!(greetings(&[ada.clone(), cy]).await.len(), 2);
    assert_eq!(*CALLS.lock().unwrap(), [vec![ada]]);
}

type Gate = (
    tokio::sync::oneshot::Sender<()>,
    tokio::sync::oneshot::Receiver<()>,
);

/// Where the next load of `held_users` waits, once it has read the source.
static GATE: Mutex<Option<Gate>> = Mutex::new(None);

#[cache_aside(set = "batch_truncated", ttl = 3600, batch)]
async fn held_users(ids: &[u64]) -> HashMap<u64, User> {
    let loaded = users(ids);
    let gate = GATE.lock().unwrap().take();
    if let Some((started, go)) = gate {
        let _ = started.send(());
        let _ = go.await;
    }
    loaded
}

#[cache_evict(set = "batch_truncated", all = true)]
async fn reload_all_users() {}

#[tokio::test]
async fn a_batch_load_that_started_before_all_true_does_not_write_back() {
    let _turn = serial().lock().await;
    common::init().await;
    let ids = fresh_ids(2);
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel();
    *GATE.lock().unwrap() = Some((started_tx, go_rx));
    let load = tokio::spawn({
        let ids = ids.clone();
        async move { held_users(&ids).await }
    });
    started_rx.await.expect("the load started");
    let before = cacheaside::stats().set("batch_truncated");
    reload_all_users().await;
    go_tx.send(()).expect("the load waits");
    assert_eq!(load.await.expect("no panic"), users(&ids));
    let stats = cacheaside::stats().set("batch_truncated");
    assert_eq!(stats.writes - before.writes, 0, "nothing written back");
    assert_eq!(
        stats.stale_writes_prevented - before.stale_writes_prevented,
        2,
        "one per id"
    );
    assert_eq!(held_users(&ids).await, users(&ids));
    let after = cacheaside::stats().set("batch_truncated");
    assert_eq!(after.loads - stats.loads, 2, "both ids load again");
    assert_eq!(after.writes - stats.writes, 2, "and are written now");
}

#[tokio::test]
async fn an_id_that_is_no_aerospike_key_bypasses_the_cache_alone() {
    let _turn = serial().lock().await;
    common::init().await;
    let db = Db::default();
    let [id] = fresh_ids(1)[..] else {
        unreachable!()
    };
    // Aerospike integer keys are i64: this id has no key, so it is never cached.
    let too_big = u64::MAX;
    let before = cacheaside::stats().set("batch_users");
    assert_eq!(
        get_users(&db, &[too_big, id]).await,
        Ok(users(&[too_big, id]))
    );
    assert_eq!(db.take_calls(), [vec![too_big, id]]);
    assert_eq!(
        get_users(&db, &[too_big, id]).await,
        Ok(users(&[too_big, id]))
    );
    assert_eq!(db.take_calls(), [vec![too_big]], "the other id is cached");
    let stats = cacheaside::stats().set("batch_users");
    assert_eq!(stats.cache_errors - before.cache_errors, 2, "one per call");
    assert_eq!(stats.hits - before.hits, 1);
}
