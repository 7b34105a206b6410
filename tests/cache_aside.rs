//! `#[cache_aside]` end to end against Aerospike (the testkit, or `AEROSPIKE_HOSTS`).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

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

/// A stand-in for a connection pool: not serializable, so it must be skipped.
struct Pool {
    loads: AtomicUsize,
}

impl Pool {
    fn new() -> Pool {
        Pool {
            loads: AtomicUsize::new(0),
        }
    }
    fn load(&self) -> usize {
        self.loads.fetch_add(1, Ordering::SeqCst) + 1
    }
    fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

#[cache_aside(set = "users", ttl = 3600, skip(db))]
async fn get_user(db: &Pool, id: u64) -> Result<User, String> {
    db.load();
    Ok(user(id))
}

#[tokio::test]
async fn miss_loads_then_hit_skips_the_source() {
    common::init().await;
    let db = Pool::new();
    let id = common::unique();
    assert_eq!(get_user(&db, id).await, Ok(user(id)));
    assert_eq!(get_user(&db, id).await, Ok(user(id)));
    assert_eq!(get_user(&db, id).await, Ok(user(id)));
    assert_eq!(db.loads(), 1, "only the first call reaches the source");

    let other = common::unique();
    assert_eq!(get_user(&db, other).await, Ok(user(other)));
    assert_eq!(db.loads(), 2, "another key is another entry");
}

#[tokio::test]
async fn skipped_arguments_do_not_change_the_key() {
    common::init().await;
    let id = common::unique();
    let first_pool = Pool::new();
    let second_pool = Pool::new();
    get_user(&first_pool, id).await.unwrap();
    get_user(&second_pool, id).await.unwrap();
    assert_eq!((first_pool.loads(), second_pool.loads()), (1, 0));
}

#[cache_aside(set = "users", ttl = 3600, skip(db))]
async fn find_user(db: &Pool, id: u64) -> Result<User, String> {
    if db.load() == 1 {
        Err("database unavailable".to_owned())
    } else {
        Ok(user(id))
    }
}

#[tokio::test]
async fn errors_are_returned_and_not_cached() {
    common::init().await;
    let db = Pool::new();
    let id = common::unique();
    assert_eq!(
        find_user(&db, id).await,
        Err("database unavailable".to_owned())
    );
    assert_eq!(
        find_user(&db, id).await,
        Ok(user(id)),
        "the error was not cached"
    );
    assert_eq!(find_user(&db, id).await, Ok(user(id)));
    assert_eq!(db.loads(), 2);
}

#[cache_aside(set = "users", ttl = 3600, skip(db))]
async fn lookup_user(db: &Pool, id: u64) -> Option<User> {
    (db.load() > 1).then(|| user(id))
}

#[tokio::test]
async fn none_is_returned_and_not_cached() {
    common::init().await;
    let db = Pool::new();
    let id = common::unique();
    assert_eq!(lookup_user(&db, id).await, None);
    assert_eq!(lookup_user(&db, id).await, Some(user(id)));
    assert_eq!(lookup_user(&db, id).await, Some(user(id)));
    assert_eq!(db.loads(), 2);
}

#[cache_aside(set = "counts", ttl = 3600, skip(db))]
async fn user_count(db: &Pool, tenant: String) -> u64 {
    db.load() as u64 + tenant.len() as u64
}

#[tokio::test]
async fn plain_values_are_cached() {
    common::init().await;
    let db = Pool::new();
    let tenant = format!("tenant-{}", common::unique());
    let first = user_count(&db, tenant.clone()).await;
    assert_eq!(user_count(&db, tenant.clone()).await, first);
    assert_eq!(db.loads(), 1);
}

struct UserRepo {
    db: Pool,
}

impl UserRepo {
    #[cache_aside(set = "users", ttl = 3600)]
    async fn by_id(&self, id: u64) -> Result<User, String> {
        self.db.load();
        Ok(user(id))
    }
}

#[tokio::test]
async fn methods_taking_self_are_cached_without_self_in_the_key() {
    common::init().await;
    let id = common::unique();
    let repo = UserRepo { db: Pool::new() };
    assert_eq!(repo.by_id(id).await, Ok(user(id)));
    assert_eq!(repo.by_id(id).await, Ok(user(id)));
    assert_eq!(repo.db.loads(), 1);
    let another_repo = UserRepo { db: Pool::new() };
    assert_eq!(another_repo.by_id(id).await, Ok(user(id)));
    assert_eq!(another_repo.db.loads(), 0, "self is not part of the key");
}

#[cache_aside(set = "profiles", ttl = 3600, key = format!("user:{id}"))]
async fn profile(db: &Pool, id: u64) -> Result<User, String> {
    db.load();
    Ok(user(id))
}

/// The record of `profile(_, id)`, addressed the way another service would: namespace, set and
/// the exact user key of `key = format!("user:{id}")`.
fn profile_record_key(cluster: &cacheaside_testkit::TestCluster, id: u64) -> aerospike::Key {
    aerospike::Key::new(
        cluster.namespace().to_owned(),
        "profiles".to_owned(),
        format!("user:{id}").into(),
    )
    .unwrap()
}

#[tokio::test]
async fn explicit_keys_address_records_other_services_can_read_and_delete() {
    let cluster = common::init().await;
    let db = Pool::new();
    let id = common::unique();
    profile(&db, id).await.unwrap();

    let client = common::raw_client().await;
    let key = profile_record_key(cluster, id);
    let record = common::raw_get(&client, &key).await;
    assert!(
        record.bins.contains_key("data"),
        "value in bin `data`: {:?}",
        record.bins.keys()
    );

    // Another service invalidates by deleting the record: the next call loads again.
    assert!(client
        .delete(&aerospike::WritePolicy::default(), &key)
        .await
        .unwrap());
    profile(&db, id).await.unwrap();
    assert_eq!(db.loads(), 2);
}

#[tokio::test]
async fn invalidate_removes_the_entry() {
    common::init().await;
    let db = Pool::new();
    let id = common::unique();
    get_user(&db, id).await.unwrap();
    get_user_invalidate(id).await.expect("invalidate succeeds");
    get_user(&db, id).await.unwrap();
    assert_eq!(db.loads(), 2, "the call after invalidate loads again");
    get_user(&db, id).await.unwrap();
    assert_eq!(db.loads(), 2);
}

#[cache_aside(set = "versions", ttl = 3600, skip(db))]
async fn version(db: &Pool, id: u64) -> Result<(u64, usize), String> {
    Ok((id, db.load()))
}

#[tokio::test]
async fn refresh_reloads_and_writes_back() {
    common::init().await;
    let db = Pool::new();
    let id = common::unique();
    assert_eq!(version(&db, id).await, Ok((id, 1)));
    assert_eq!(version(&db, id).await, Ok((id, 1)), "cached");
    assert_eq!(
        version_refresh(&db, id).await,
        Ok((id, 2)),
        "refresh runs the body"
    );
    assert_eq!(version(&db, id).await, Ok((id, 2)), "and writes its result");
    assert_eq!(db.loads(), 2);
}

#[cache_aside(set = "short_lived", ttl = 10, skip(db))]
async fn short_lived(db: &Pool, id: u64) -> Result<u64, String> {
    db.load();
    Ok(id)
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    let Some(server) = common::testkit_only("entries_expire_after_their_ttl") else {
        return;
    };
    common::init().await;
    let db = Pool::new();
    let id = common::unique();
    short_lived(&db, id).await.unwrap();
    server.clock().advance(Duration::from_secs(9));
    short_lived(&db, id).await.unwrap();
    assert_eq!(db.loads(), 1, "still cached after 9 s of a 10 s TTL");
    server.clock().advance(Duration::from_secs(2));
    short_lived(&db, id).await.unwrap();
    assert_eq!(db.loads(), 2, "expired after 11 s");
}

#[tokio::test]
async fn the_ttl_is_written_with_the_record() {
    let cluster = common::init().await;
    let db = Pool::new();
    let id = common::unique();
    profile(&db, id).await.unwrap();
    let client = common::raw_client().await;
    let key = profile_record_key(cluster, id);
    let record = client
        .get(
            &aerospike::ReadPolicy::default(),
            &key,
            aerospike::Bins::None,
        )
        .await
        .unwrap();
    let ttl = record.time_to_live().expect("the record expires");
    assert!(
        ttl <= Duration::from_secs(3600) && ttl > Duration::from_secs(3500),
        "ttl {ttl:?}"
    );
}

#[tokio::test]
async fn undecodable_bytes_are_a_miss_and_get_overwritten() {
    let cluster = common::init().await;
    let db = Pool::new();
    let id = common::unique();
    let client = common::raw_client().await;
    let key = profile_record_key(cluster, id);
    let garbage = aerospike::Bin::new("data", aerospike::Value::Blob(vec![0xff, 0x00, 0x13, 0x37]));
    client
        .put(&aerospike::WritePolicy::default(), &key, &[garbage])
        .await
        .unwrap();

    assert_eq!(
        profile(&db, id).await,
        Ok(user(id)),
        "garbage is never returned"
    );
    assert_eq!(db.loads(), 1, "garbage is a miss");
    assert_eq!(profile(&db, id).await, Ok(user(id)));
    assert_eq!(db.loads(), 1, "the load overwrote the garbage");
}

#[tokio::test]
async fn stats_count_hits_misses_and_loads_per_set() {
    common::init().await;
    let db = Pool::new();
    let id = common::unique();
    let before = cacheaside::stats().set("stats_probe");
    stats_probe(&db, id).await.unwrap();
    stats_probe(&db, id).await.unwrap();
    let after = cacheaside::stats().set("stats_probe");
    assert_eq!(after.misses - before.misses, 1);
    assert_eq!(after.hits - before.hits, 1);
    assert_eq!(after.loads - before.loads, 1);
}

#[cache_aside(set = "stats_probe", ttl = 3600, skip(db))]
async fn stats_probe(db: &Pool, id: u64) -> Result<u64, String> {
    db.load();
    Ok(id)
}
