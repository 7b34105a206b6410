//! `CACHEASIDE_DISABLED=1`: every call goes to the source and nothing is written. This file is its own
//! test process, so the variable set here affects no other test.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use cacheaside::cache_aside;

static LOADS: AtomicUsize = AtomicUsize::new(0);

#[cache_aside(set = "disabled", ttl = 3600, key = id)]
async fn load(id: i64) -> Result<i64, String> {
    LOADS.fetch_add(1, Ordering::SeqCst);
    Ok(id)
}

#[tokio::test]
async fn disabled_cache_calls_the_source_every_time_and_writes_nothing() {
    let cluster = common::cluster();
    // No `init`: the first call configures itself from the environment, as an application would.
    std::env::set_var("AEROSPIKE_HOSTS", cluster.hosts());
    std::env::set_var("CACHEASIDE_DISABLED", "1");
    let id = common::unique() as i64 & i64::MAX;
    for _ in 0..3 {
        assert_eq!(load(id).await, Ok(id));
    }
    assert_eq!(LOADS.load(Ordering::SeqCst), 3);

    let client = common::raw_client().await;
    let key = aerospike::Key::new(
        cluster.namespace().to_owned(),
        "disabled".to_owned(),
        id.into(),
    )
    .unwrap();
    assert!(
        !client
            .exists(&aerospike::ReadPolicy::default(), &key)
            .await
            .unwrap(),
        "nothing was written"
    );
}
