//! The in-process tier of `local(ttl, capacity)` end to end: hits without a cache read,
//! invalidation and refresh in this process, and staleness across processes bounded by its TTL.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cacheaside::cache_aside;
use cacheaside_testkit::CommandKind;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    id: u64,
    version: usize,
}

static LOADS: AtomicUsize = AtomicUsize::new(0);

fn load(id: u64) -> Profile {
    let version = LOADS.fetch_add(1, Ordering::SeqCst) + 1;
    Profile { id, version }
}

#[cache_aside(
    set = "local_profiles",
    ttl = 3600,
    local(ttl = "1h", capacity = 1_000)
)]
async fn profile(id: u64) -> Result<Profile, String> {
    Ok(load(id))
}

/// The tests of this file one at a time: the first counts the test server's reads, which every
/// other test's calls move.
fn serial() -> &'static tokio::sync::Mutex<()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    &SERIAL
}

#[tokio::test]
async fn a_local_hit_reads_nothing_from_aerospike() {
    let _serial = serial().lock().await;
    common::init().await;
    let id = common::unique();
    let first = profile(id).await.expect("loads");
    let local_hits = || cacheaside::stats().set("local_profiles").local_hits;
    let before = local_hits();
    assert_eq!(profile(id).await, Ok(first.clone()));
    assert_eq!(profile(id).await, Ok(first.clone()));
    assert!(local_hits() >= before + 2, "answered by the local tier");
    assert_eq!(profile_peek(id).await, Some(first));

    if let Some(server) = common::testkit_only("a_local_hit_reads_nothing_from_aerospike (reads)") {
        let reads = server.counters().get(CommandKind::Read);
        profile(id).await.expect("hit");
        assert_eq!(
            server.counters().get(CommandKind::Read),
            reads,
            "no cache read for a local hit"
        );
    }
}

#[tokio::test]
async fn invalidate_and_refresh_clear_this_process_s_entry() {
    let _serial = serial().lock().await;
    common::init().await;
    let id = common::unique();
    let first = profile(id).await.expect("loads");
    profile_invalidate(id).await.expect("invalidates");
    assert_eq!(
        profile_peek(id).await,
        None,
        "gone locally and in Aerospike"
    );
    let second = profile(id).await.expect("loads again");
    assert_ne!(second.version, first.version);
    assert_eq!(profile(id).await, Ok(second.clone()));

    let refreshed = profile_refresh(id).await.expect("refreshes");
    assert_ne!(refreshed.version, second.version);
    assert_eq!(
        profile(id).await,
        Ok(refreshed),
        "the refresh replaced the local entry"
    );
}

#[cache_aside(set = "local_short", ttl = 3600, key = format!("short:{id}"), local(ttl = 1))]
async fn short_profile(id: u64) -> Result<Profile, String> {
    Ok(load(id))
}

/// Another process (here, a raw client) replaces the record: this process serves its local value
/// until the local TTL ends, then the new one.
#[tokio::test]
async fn staleness_across_processes_is_bounded_by_the_local_ttl() {
    let _serial = serial().lock().await;
    let cluster = common::init().await;
    let id = common::unique();
    // Connected before the first call: the local TTL (1 s) runs from there.
    let client = common::raw_client().await;
    let first = short_profile(id).await.expect("loads");
    let replacement = Profile { id, version: 0 };
    let key = aerospike::Key::new(
        cluster.namespace().to_owned(),
        "local_short".to_owned(),
        format!("short:{id}").into(),
    )
    .expect("key");
    let bytes = cacheaside::__private::encode_entry(&replacement).expect("encodes");
    let bin = aerospike::Bin::new("data", aerospike::Value::Blob(bytes));
    client
        .put(&aerospike::WritePolicy::default(), &key, &[bin])
        .await
        .expect("another process writes");
    assert_eq!(
        short_profile(id).await,
        Ok(first),
        "the local value, within its TTL"
    );
    let mut seen = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if short_profile(id).await == Ok(replacement.clone()) {
            seen = true;
            break;
        }
    }
    assert!(seen, "the other process's value after the local TTL");
    client.close().await.expect("closes");
}

struct Accounts;

#[cache_aside]
impl Accounts {
    #[cache_aside(set = "local_accounts", ttl = 3600, local(ttl = "1m"))]
    fn balance(&self, id: u64) -> u64 {
        load(id).version as u64
    }
}

#[test]
fn sync_methods_use_the_local_tier() {
    let _serial = serial().blocking_lock();
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(common::init());
    let accounts = Accounts;
    let id = common::unique();
    let first = accounts.balance(id);
    let local_hits = || cacheaside::stats().set("local_accounts").local_hits;
    let before = local_hits();
    assert_eq!(accounts.balance(id), first);
    assert_eq!(local_hits(), before + 1);
    accounts.balance_invalidate(id).expect("invalidates");
    assert_ne!(
        accounts.balance(id),
        first,
        "loads again after the invalidation"
    );
}

#[cache_aside(
    set = "local_written_behind",
    key = id,
    ttl = 3600,
    local(ttl = "1h", capacity = 1_000)
)]
async fn written_profile(id: u64) -> Result<Profile, String> {
    Ok(load(id))
}

#[tokio::test]
async fn a_write_behind_write_replaces_this_process_s_local_copy() {
    use cacheaside::write_behind::WriteBehind;

    let _serial = serial().lock().await;
    common::init().await;
    let id = common::unique();
    let first = written_profile(id).await.expect("loads");
    assert_eq!(written_profile(id).await, Ok(first.clone()), "a local hit");

    let writer = WriteBehind::<u64, Profile>::builder("local_written_behind")
        .ttl(cacheaside::Ttl::Seconds(3600))
        .start(|_batch: Vec<(u64, Profile)>| async { Ok::<(), String>(()) })
        .expect("starts");
    let newer = Profile {
        id,
        version: first.version + 1_000,
    };
    writer.write(id, newer.clone()).await.expect("queued");
    assert_eq!(
        written_profile(id).await,
        Ok(newer),
        "the local tier no longer answers with the value the write replaced"
    );
    writer.shutdown().await;
}
