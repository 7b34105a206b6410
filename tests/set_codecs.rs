//! A set's codec (`SetPolicy::codec`, `CACHEASIDE_SET_<SET>_CODEC`) end to end against Aerospike
//! (the testkit, or `AEROSPIKE_HOSTS`): every function of the set writes and reads its entries in
//! that codec, whatever its attribute says: reads and write-backs, `#[cache_put]`, companions,
//! batch functions and write-behind.
//!
//! Its own test binary: the configuration, with its set policies, is installed once per process.
//! Needs the `json` feature (`cargo test --workspace --all-features`).

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cacheaside::write_behind::WriteBehind;
use cacheaside::{cache_aside, cache_put, Codec, SetPolicy};
use common::{user, User};

/// How often the bodies of this file ran.
static LOADS: AtomicUsize = AtomicUsize::new(0);

fn loaded(id: u64) -> User {
    LOADS.fetch_add(1, Ordering::SeqCst);
    user(id)
}

/// The tests count loads of one counter: one at a time.
fn serial() -> &'static tokio::sync::Mutex<()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    &SERIAL
}

/// The configuration of this file: JSON for the sets `set_json` and `set_json_batch`,
/// MessagePack for `set_msgpack`. A generous operation timeout, so that a busy machine does not
/// skip the write-backs whose records the tests read.
async fn init() {
    common::init_with(|config| {
        config
            .operation_timeout(Duration::from_secs(5))
            .set_policy("set_json", SetPolicy::new().codec(Codec::Json))
            .set_policy("set_json_batch", SetPolicy::new().codec(Codec::Json))
            .set_policy("set_msgpack", SetPolicy::new().codec(Codec::MessagePack))
    })
    .await;
}

/// A test's start: the configuration installed, an id of its own, and the file's turn at
/// [`LOADS`].
async fn start() -> (u64, tokio::sync::MutexGuard<'static, ()>) {
    init().await;
    let id = common::unique();
    (id, serial().lock().await)
}

/// Bin `data` of an entry of `set`: its envelope's header, and its payload.
async fn entry(set: &str, key: aerospike::Value) -> ([u8; 3], Vec<u8>) {
    let bytes = common::raw_data(set, key).await;
    let header = [bytes[0], bytes[1], bytes[2]];
    (header, bytes[3 + usize::from(bytes[2])..].to_vec())
}

/// The value of a JSON entry of `set`, checking its header: format 1, codec 4, no schema tag.
async fn json_entry(set: &str, key: aerospike::Value) -> User {
    let (header, payload) = entry(set, key).await;
    assert_eq!(header, [1, 4, 0], "format 1, codec 4 (JSON), no schema tag");
    serde_json::from_slice(&payload).expect("plain JSON")
}

/// The attribute names no codec: the set's decides.
#[cache_aside(set = "set_json", ttl = 3600, key = format!("user:{id}"))]
async fn json_user(id: u64) -> User {
    loaded(id)
}

/// The attribute's codec gives way to the set's.
#[cache_aside(set = "set_msgpack", ttl = 3600, key = id, codec = "json")]
fn msgpack_user(id: u64) -> User {
    loaded(id)
}

/// After `expected` was written to the entry of `json_user(id)`: the entry is JSON holding it,
/// which `json_user` and its `_peek` read back without a load.
async fn json_user_reads(id: u64, expected: &User) {
    let json = json_entry("set_json", format!("user:{id}").into()).await;
    assert_eq!(json, *expected);
    let before = LOADS.load(Ordering::SeqCst);
    assert_eq!(json_user(id).await, *expected, "a hit");
    assert_eq!(json_user_peek(id).await.as_ref(), Some(expected), "peeked");
    assert_eq!(LOADS.load(Ordering::SeqCst), before, "no load");
}

/// The user row of `id` under another name.
fn renamed(id: u64, name: &str) -> User {
    User {
        id,
        name: name.to_owned(),
    }
}

#[tokio::test]
async fn the_set_codec_applies_when_the_attribute_names_none() {
    let (id, _serial) = start().await;
    let before = LOADS.load(Ordering::SeqCst);
    assert_eq!(json_user(id).await, user(id));
    assert_eq!(LOADS.load(Ordering::SeqCst) - before, 1, "loaded");
    json_user_reads(id, &user(id)).await;
}

#[tokio::test]
async fn the_set_codec_wins_over_the_attribute() {
    let (id, _serial) = start().await;
    let before = LOADS.load(Ordering::SeqCst);
    assert_eq!(msgpack_user(id), user(id));
    let key = i64::try_from(id).unwrap();
    let (header, payload) = entry("set_msgpack", key.into()).await;
    assert_eq!(header, [1, 1, 0], "MessagePack with named fields, not JSON");
    assert_eq!(rmp_serde::from_slice::<User>(&payload).unwrap(), user(id));
    assert_eq!(msgpack_user(id), user(id), "read back");
    assert_eq!(
        LOADS.load(Ordering::SeqCst) - before,
        1,
        "one load, then a hit"
    );
}

/// A writer of `json_user`'s entries that names no codec either.
#[cache_put(set = "set_json", ttl = 3600, key = format!("user:{}", user.id), value = user)]
async fn save_user(user: User) -> Result<(), String> {
    let _ = user;
    Ok(())
}

#[tokio::test]
async fn cache_put_and_refresh_write_in_the_set_codec() {
    let (id, _serial) = start().await;
    let saved = renamed(id, "saved");
    save_user(saved.clone()).await.unwrap();
    json_user_reads(id, &saved).await;
    let before = LOADS.load(Ordering::SeqCst);
    assert_eq!(json_user_refresh(id).await, user(id));
    assert_eq!(LOADS.load(Ordering::SeqCst) - before, 1, "refreshed");
    json_user_reads(id, &user(id)).await;
}

#[cache_aside(set = "set_json_batch", ttl = 3600, batch)]
async fn batch_users(ids: &[u64]) -> HashMap<u64, User> {
    ids.iter().map(|&id| (id, loaded(id))).collect()
}

#[tokio::test]
async fn batch_functions_write_and_read_in_the_set_codec() {
    init().await;
    let ids = [common::unique(), common::unique()];
    let _serial = serial().lock().await;
    let before = LOADS.load(Ordering::SeqCst);
    let first = batch_users(&ids).await;
    assert_eq!(first.len(), 2);
    for id in ids {
        let key = i64::try_from(id).unwrap();
        assert_eq!(json_entry("set_json_batch", key.into()).await, user(id));
    }
    assert_eq!(batch_users(&ids).await, first, "read back");
    assert_eq!(
        LOADS.load(Ordering::SeqCst) - before,
        2,
        "the second batch hits"
    );
}

#[tokio::test]
async fn write_behind_caches_in_the_set_codec() {
    let (id, _serial) = start().await;
    let writer = WriteBehind::<String, User>::builder("set_json")
        .ttl(cacheaside::Ttl::Seconds(3600))
        .start(|_batch: Vec<(String, User)>| async { Ok::<(), String>(()) })
        .expect("starts");
    let written = renamed(id, "written behind");
    let queued = writer.write(format!("user:{id}"), written.clone()).await;
    queued.expect("queued");
    json_user_reads(id, &written).await;
    writer.shutdown().await;
}
