//! `lease` within one process, with another process's lease written by hand (a raw client, as
//! that process would leave it): a call waits for the holder's value instead of loading, takes
//! over a lease that expired, and a holder whose load fails releases its lease. The fleet test
//! (`cacheaside-fleet`, `lease`) runs the real thing across processes.
//!
//! Runs against the testkit, or the server of `AEROSPIKE_HOSTS`.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aerospike::{Bin, Bins, Key, ReadPolicy, Value, WritePolicy};
use cacheaside::cache_aside;

static LOADS: AtomicUsize = AtomicUsize::new(0);
static FAILING: AtomicBool = AtomicBool::new(false);

#[cache_aside(set = "leased", ttl = 3600, key = id, lease = "5s")]
async fn report(id: i64) -> Result<String, String> {
    LOADS.fetch_add(1, Ordering::SeqCst);
    if FAILING.load(Ordering::SeqCst) {
        return Err("the source failed".to_owned());
    }
    Ok(format!("report {id} by this process"))
}

/// The tests count loads of one counter: one at a time.
fn serial() -> &'static tokio::sync::Mutex<()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    &SERIAL
}

fn record_key(namespace: &str, id: i64) -> Key {
    Key::new(namespace.to_owned(), "leased".to_owned(), Value::Int(id)).unwrap()
}

fn millis_from_now(offset: i64) -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(now.as_millis()).unwrap() + offset
}

/// What another process holding the lease until `until` leaves in the record.
async fn lease_held_elsewhere(client: &aerospike::Client, key: &Key, until: i64) {
    let bins = [
        Bin::new("invalidated", Value::Int(1)),
        Bin::new("lease", Value::Int(until)),
    ];
    client
        .put(&WritePolicy::default(), key, &bins)
        .await
        .expect("the other process's lease");
}

#[tokio::test]
async fn a_call_waits_for_the_process_that_holds_the_lease() {
    let cluster = common::init().await;
    let _serial = serial().lock().await;
    let client = common::raw_client().await;
    let id = common::unique() as i64;
    let key = record_key(cluster.namespace(), id);
    lease_held_elsewhere(&client, &key, millis_from_now(5_000)).await;
    let before = (
        LOADS.load(Ordering::SeqCst),
        cacheaside::stats().set("leased"),
    );

    let call = tokio::spawn(report(id));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!call.is_finished(), "the call waits for the holder");
    // The holder's write-back: the value replaces the lease.
    let theirs = "report by the other process".to_owned();
    let bytes = cacheaside::__private::encode_entry(&theirs).unwrap();
    let replace = WritePolicy {
        record_exists_action: aerospike::RecordExistsAction::Replace,
        ..WritePolicy::default()
    };
    client
        .put(&replace, &key, &[Bin::new("data", Value::Blob(bytes))])
        .await
        .unwrap();

    assert_eq!(call.await.unwrap(), Ok(theirs), "the holder's value");
    assert_eq!(LOADS.load(Ordering::SeqCst), before.0, "no load here");
    let after = cacheaside::stats().set("leased");
    assert_eq!(after.lease_waits - before.1.lease_waits, 1);
    assert_eq!(after.misses - before.1.misses, 1, "the read missed");
    assert_eq!(after.loads, before.1.loads);
}

#[tokio::test]
async fn an_expired_lease_is_taken_over() {
    let cluster = common::init().await;
    let _serial = serial().lock().await;
    let client = common::raw_client().await;
    let id = common::unique() as i64;
    let key = record_key(cluster.namespace(), id);
    // Its holder died a second ago.
    lease_held_elsewhere(&client, &key, millis_from_now(-1_000)).await;
    let loads = LOADS.load(Ordering::SeqCst);
    assert_eq!(report(id).await, Ok(format!("report {id} by this process")));
    assert_eq!(
        LOADS.load(Ordering::SeqCst),
        loads + 1,
        "this process loads"
    );
    let record = client
        .get(&ReadPolicy::default(), &key, Bins::All)
        .await
        .unwrap();
    assert!(record.bins.contains_key("data"), "its value is written");
    assert!(!record.bins.contains_key("lease"), "over the lease");
}

#[tokio::test]
async fn a_holder_whose_load_fails_releases_the_lease() {
    let cluster = common::init().await;
    let _serial = serial().lock().await;
    let client = common::raw_client().await;
    let id = common::unique() as i64;
    let key = record_key(cluster.namespace(), id);
    FAILING.store(true, Ordering::SeqCst);
    let failed = report(id).await;
    FAILING.store(false, Ordering::SeqCst);
    assert!(failed.is_err());
    let record = client
        .get(&ReadPolicy::default(), &key, Bins::All)
        .await
        .expect("the lease record");
    assert!(
        !record.bins.contains_key("lease"),
        "released: {:?}",
        record.bins
    );
    let loads = LOADS.load(Ordering::SeqCst);
    assert_eq!(report(id).await, Ok(format!("report {id} by this process")));
    assert_eq!(
        LOADS.load(Ordering::SeqCst),
        loads + 1,
        "the next call loads at once"
    );
}
