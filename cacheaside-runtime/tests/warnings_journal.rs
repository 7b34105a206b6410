//! A write-behind journal that cannot be read (its cursor is not a cursor) is reported when a
//! queue starts without it, and like every warning at most once per interval: a service that
//! starts queues again and again does not log each start. Runs against the testkit or a real
//! server.

mod common;

use std::time::Duration;

use aerospike::Value;
use cacheaside_runtime::write_behind::{WriteBehind, DEFAULT_JOURNAL_SET};
use common::{logs, Backend};

#[tokio::test]
async fn an_unreadable_journal_is_reported_once_per_interval() {
    logs::capture();
    let backend = Backend::start().await;
    cacheaside_runtime::init(backend.config().build().unwrap())
        .await
        .unwrap();
    // The cursor record of the journal holds bytes that are not a cursor.
    let journal = format!("unreadable-{}", common::run_id());
    let client = backend.raw_client().await;
    let garbage = Value::Blob(vec![0xde, 0xad]);
    common::write_data(
        &client,
        DEFAULT_JOURNAL_SET,
        Value::from(journal.as_str()),
        garbage,
    )
    .await;

    for _ in 0..5 {
        let queue = WriteBehind::<String, u32>::builder("wb_unreadable_journal")
            .max_delay(Duration::from_secs(3600))
            .start_journaled(&journal, |_batch: Vec<(String, u32)>| async {
                Ok::<(), String>(())
            })
            .await
            .unwrap();
        assert!(
            !queue.is_journaled(),
            "the queue starts without the journal"
        );
    }
    let warnings = logs::matching(&["level=WARN", &journal, "cannot be read"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}
