//! Write-behind while the cache is down: the source writes are queued and persisted all the
//! same, and the cache is written again once it answers. Needs the testkit server (it is
//! stopped and started); skipped against `AEROSPIKE_HOSTS`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cacheaside_runtime::write_behind::WriteBehind;
use cacheaside_runtime::Ttl;
use common::Backend;

type Batch = Vec<(u64, String)>;

#[tokio::test]
async fn writes_reach_the_source_while_the_cache_is_down() {
    let backend = Backend::start().await;
    let Some(server) = backend.testkit("writes_reach_the_source_while_the_cache_is_down") else {
        return;
    };
    let config = backend
        .config()
        .operation_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    cacheaside_runtime::init(config).await.unwrap();

    let persisted: Arc<Mutex<Vec<Batch>>> = Arc::default();
    let users = {
        let persisted = Arc::clone(&persisted);
        WriteBehind::<u64, String>::builder("wb_outage")
            .ttl(Ttl::Seconds(600))
            .max_delay(Duration::from_secs(3600))
            .start(move |batch: Batch| {
                persisted.lock().unwrap().push(batch);
                std::future::ready(Ok::<(), String>(()))
            })
            .unwrap()
    };

    users.write(1, "before".to_owned()).await.unwrap();
    assert!(server
        .record(&common::namespace(), "wb_outage", 1i64)
        .is_some());

    server.stop().await;
    let errors_before = cacheaside_runtime::stats().set("wb_outage").cache_errors;
    for id in 2..=4 {
        users.write(id, format!("during {id}")).await.unwrap();
    }
    assert!(
        cacheaside_runtime::stats().set("wb_outage").cache_errors > errors_before,
        "the failed cache writes are counted"
    );
    users.flush().await;
    let rows: Vec<(u64, String)> = persisted.lock().unwrap().concat();
    assert_eq!(
        rows,
        vec![
            (1, "before".to_owned()),
            (2, "during 2".to_owned()),
            (3, "during 3".to_owned()),
            (4, "during 4".to_owned()),
        ],
        "no write was lost to the outage"
    );

    // A journaled write-behind started during the outage cannot read its journal: it runs
    // without one, and still loses nothing.
    let journaled_rows: Arc<Mutex<Vec<Batch>>> = Arc::default();
    let journaled = {
        let rows = Arc::clone(&journaled_rows);
        WriteBehind::<u64, String>::builder("wb_outage_journaled")
            .start_journaled(
                format!("outage-{}", common::run_id()),
                move |batch: Batch| {
                    rows.lock().unwrap().push(batch);
                    std::future::ready(Ok::<(), String>(()))
                },
            )
            .await
            .unwrap()
    };
    assert!(!journaled.is_journaled());
    journaled.write(9, "unjournaled".to_owned()).await.unwrap();
    journaled.shutdown().await;
    assert_eq!(
        journaled_rows.lock().unwrap().concat(),
        vec![(9, "unjournaled".to_owned())]
    );

    // Back up: later writes are cached again (once the client has reconnected).
    server.start_again().await.unwrap();
    let mut cached = false;
    for attempt in 0..300 {
        users.write(5, format!("after {attempt}")).await.unwrap();
        if server
            .record(&common::namespace(), "wb_outage", 5i64)
            .is_some()
        {
            cached = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(cached, "the cache is written again after the outage");
    users.shutdown().await;
    let last = persisted.lock().unwrap().concat().pop();
    assert!(
        matches!(last, Some((5, ref v)) if v.starts_with("after")),
        "{last:?}"
    );
}
