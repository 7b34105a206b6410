//! `codec = "…"` end to end against Aerospike (the testkit, or `AEROSPIKE_HOSTS`): each codec
//! caches and reads back, a reader with another codec sees a miss (never an error, never a wrong
//! value), `#[cache_put]` and batch functions write in the codec they are given, and a JSON entry
//! is plain JSON after the envelope's header.
//!
//! Needs the `bincode`, `postcard` and `json` features (`cargo test --workspace --all-features`).

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use cacheaside::{cache_aside, cache_put};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
    tags: Vec<String>,
    manager: Option<u64>,
}

fn user(id: u64) -> User {
    User {
        id,
        name: format!("user {id}"),
        tags: vec!["admin".to_owned()],
        manager: Some(7),
    }
}

/// How often the bodies of this file ran.
static LOADS: AtomicUsize = AtomicUsize::new(0);

fn loaded(id: u64) -> User {
    LOADS.fetch_add(1, Ordering::SeqCst);
    user(id)
}

#[cache_aside(set = "codec_bincode", ttl = 3600, codec = "bincode")]
async fn bincode_user(id: u64) -> User {
    loaded(id)
}

#[cache_aside(set = "codec_postcard", ttl = 3600, codec = "postcard")]
async fn postcard_user(id: u64) -> User {
    loaded(id)
}

#[cache_aside(set = "codec_json", ttl = 3600, codec = "json", key = format!("user:{id}"))]
async fn json_user(id: u64) -> User {
    loaded(id)
}

#[cache_aside(set = "codec_msgpack", ttl = 3600, codec = "msgpack")]
fn msgpack_user(id: u64) -> User {
    loaded(id)
}

/// Whether calls of `call` come to be served from the cache: the first call loads (a new id), and
/// one of the next four is a hit. On a busy machine a write-back may time out, which costs one
/// more load, not a wrong answer; every call must return the loaded value.
async fn reads_back<F: std::future::Future<Output = User>>(
    mut call: impl FnMut() -> F,
    id: u64,
) -> bool {
    let _serial = serial().lock().await;
    let before = LOADS.load(Ordering::SeqCst);
    assert_eq!(call().await, user(id));
    assert_eq!(
        LOADS.load(Ordering::SeqCst) - before,
        1,
        "the first call loads"
    );
    for _ in 0..4 {
        let before = LOADS.load(Ordering::SeqCst);
        assert_eq!(call().await, user(id));
        if LOADS.load(Ordering::SeqCst) == before {
            return true;
        }
    }
    false
}

/// The tests count loads of one counter: one at a time.
fn serial() -> &'static tokio::sync::Mutex<()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    &SERIAL
}

#[tokio::test]
async fn every_codec_caches_and_reads_back() {
    common::init().await;
    let id = common::unique();
    assert!(reads_back(|| bincode_user(id), id).await, "bincode");
    assert!(reads_back(|| postcard_user(id), id).await, "postcard");
    assert!(reads_back(|| json_user(id), id).await, "json");
    assert!(
        reads_back(|| async { msgpack_user(id) }, id).await,
        "msgpack"
    );
    let stats = cacheaside::stats();
    for set in [
        "codec_bincode",
        "codec_postcard",
        "codec_json",
        "codec_msgpack",
    ] {
        assert_eq!(stats.set(set).undecodable, 0, "{set}");
    }
}

/// Four readers of the same entries (same set, same explicit key), each with its own codec.
#[cache_aside(set = "codec_shared", ttl = 3600, key = id, codec = "bincode")]
async fn shared_bincode(id: u64) -> User {
    loaded(id)
}

#[cache_aside(set = "codec_shared", ttl = 3600, key = id, codec = "postcard")]
async fn shared_postcard(id: u64) -> User {
    loaded(id)
}

#[cache_aside(set = "codec_shared", ttl = 3600, key = id, codec = "json")]
async fn shared_json(id: u64) -> User {
    loaded(id)
}

#[cache_aside(set = "codec_shared", ttl = 3600, key = id)]
async fn shared_msgpack(id: u64) -> User {
    loaded(id)
}

#[tokio::test]
async fn another_codec_is_a_miss_not_an_error() {
    common::init().await;
    let id = common::unique();
    let _serial = serial().lock().await;
    let before_stats = cacheaside::stats().set("codec_shared");
    let before = LOADS.load(Ordering::SeqCst);
    assert_eq!(shared_bincode(id).await, user(id));
    // Each reader finds the previous one's entry in another codec: a miss, so it loads and
    // writes over it (the entry's generation is what it read).
    assert_eq!(shared_postcard(id).await, user(id));
    assert_eq!(shared_json(id).await, user(id));
    assert_eq!(shared_msgpack(id).await, user(id));
    assert_eq!(shared_bincode(id).await, user(id));
    assert_eq!(
        LOADS.load(Ordering::SeqCst) - before,
        5,
        "every read was a miss"
    );
    let stats = cacheaside::stats().set("codec_shared");
    assert_eq!(stats.undecodable - before_stats.undecodable, 4);
    assert_eq!(stats.hits - before_stats.hits, 0);
    // The last writer's codec reads its own entry.
    assert_eq!(shared_bincode(id).await, user(id));
    assert_eq!(LOADS.load(Ordering::SeqCst) - before, 5, "a hit");
}

/// A writer in the reader's codec.
#[cache_put(set = "codec_shared", key = user.id, ttl = 3600, codec = "postcard")]
async fn save_postcard(user: User) -> User {
    user
}

/// A writer in another codec: its entries are misses for the postcard reader.
#[cache_put(set = "codec_shared", key = user.id, ttl = 3600, value = user, codec = "json")]
async fn save_json(user: User) -> Result<(), String> {
    let _ = user;
    Ok(())
}

#[tokio::test]
async fn cache_put_writes_in_its_codec() {
    common::init().await;
    let id = common::unique();
    let _serial = serial().lock().await;
    let before = LOADS.load(Ordering::SeqCst);
    let mut saved = user(id);
    saved.name = "saved".to_owned();
    save_postcard(saved.clone()).await;
    assert_eq!(
        shared_postcard(id).await,
        saved,
        "the written value is a hit"
    );
    assert_eq!(LOADS.load(Ordering::SeqCst) - before, 0);
    save_json(saved.clone()).await.unwrap();
    assert_eq!(shared_postcard(id).await, user(id), "another codec: loaded");
    assert_eq!(LOADS.load(Ordering::SeqCst) - before, 1);
    assert_eq!(
        shared_json(id).await,
        user(id),
        "overwritten by the postcard reader"
    );
    assert_eq!(LOADS.load(Ordering::SeqCst) - before, 2);
}

#[cache_aside(set = "codec_batch", ttl = 3600, batch, codec = "postcard")]
async fn batch_users(ids: &[u64]) -> HashMap<u64, User> {
    ids.iter().map(|&id| (id, loaded(id))).collect()
}

#[cache_aside(set = "codec_batch", ttl = 3600, key = id, codec = "postcard")]
async fn batch_user(id: u64) -> User {
    loaded(id)
}

#[tokio::test]
async fn batch_functions_use_their_codec() {
    common::init().await;
    let ids = [common::unique(), common::unique()];
    let _serial = serial().lock().await;
    let before = LOADS.load(Ordering::SeqCst);
    let loaded_users = batch_users(&ids).await;
    assert_eq!(loaded_users.len(), 2);
    assert_eq!(batch_users(&ids).await, loaded_users);
    assert_eq!(batch_user(ids[0]).await, user(ids[0]));
    assert_eq!(
        LOADS.load(Ordering::SeqCst) - before,
        2,
        "the second batch and the single read hit"
    );
}

#[tokio::test]
async fn json_entries_are_plain_json_after_the_header() {
    common::init().await;
    let id = common::unique();
    // Its load counts in LOADS, which the other tests compare: one at a time.
    let _serial = serial().lock().await;
    json_user(id).await;
    // At its explicit key.
    let bytes = common::raw_data("codec_json", format!("user:{id}").into()).await;
    // What another language does: skip the header (3 bytes and the schema tag), parse the rest.
    assert_eq!(
        &bytes[..3],
        &[1, 4, 0],
        "format 1, codec 4 (JSON), no schema tag"
    );
    let json = &bytes[3 + usize::from(bytes[2])..];
    let value: serde_json::Value = serde_json::from_slice(json).unwrap();
    assert_eq!(value, serde_json::to_value(user(id)).unwrap());
}
