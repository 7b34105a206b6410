//! The write-behind journal: a process that stops without flushing (a crash, simulated by dropping
//! its runtime) leaves its pending writes in Aerospike, and the next process with the same journal
//! name flushes them, in order, before new writes. Runs against the testkit server or the server of
//! `AEROSPIKE_HOSTS`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aerospike::Value;
use cacheaside_runtime::write_behind::{WriteBehind, DEFAULT_JOURNAL_SET};
use common::Backend;
use tokio::sync::OnceCell;

type Batch = Vec<(String, u32)>;

async fn backend() -> &'static Backend {
    static BACKEND: OnceCell<Backend> = OnceCell::const_new();
    BACKEND
        .get_or_init(|| async {
            let backend = Backend::start().await;
            // A slow answer on a loaded machine is waited for, not turned into a cache miss
            // that these tests would read as a lost cache write.
            let config = backend
                .config()
                .operation_timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            cacheaside_runtime::init(config).await.unwrap();
            backend
        })
        .await
}

/// Runs a journaled write-behind on its own runtime: `writes` are accepted, the flush function
/// persists `batches_before_hang` batches into `persisted` and then never returns; once it hangs,
/// the runtime is dropped with the queue still full, as in a crash.
///
/// Batches are cut by size only (two keys each; `max_delay` never expires during the test), so
/// which writes share a batch does not depend on how fast the writes run; a final flush request
/// sends a last, smaller batch to the hanging flush function.
fn run_and_crash(
    journal: String,
    writes: Vec<(String, u32)>,
    batches_before_hang: usize,
    persisted: Arc<Mutex<Vec<Batch>>>,
) {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let (hung, mut hang_seen) = tokio::sync::mpsc::unbounded_channel::<()>();
            let flush = move |batch: Batch| {
                let (persisted, hung) = (Arc::clone(&persisted), hung.clone());
                async move {
                    let done = persisted.lock().unwrap().len();
                    if done < batches_before_hang {
                        persisted.lock().unwrap().push(batch);
                        return Ok::<(), String>(());
                    }
                    let _ = hung.send(());
                    std::future::pending::<()>().await;
                    Ok(())
                }
            };
            let users = WriteBehind::<String, u32>::builder("wb_journal_users")
                .max_batch(2)
                .max_delay(Duration::from_secs(3600))
                .start_journaled(journal, flush)
                .await
                .unwrap();
            assert!(users.is_journaled());
            for (key, value) in writes {
                users.write(key, value).await.unwrap();
            }
            // The flush cannot return: a batch hangs before everything is persisted.
            tokio::select! {
                _ = hang_seen.recv() => {}
                () = users.flush() => panic!("the flush function was to hang"),
            }
            // Dropped here with the runtime: no shutdown, no flush.
        });
        drop(runtime);
    })
    .join()
    .unwrap();
}

/// A journaled write-behind that records every batch; returns it with the record.
async fn recovering(
    journal: &str,
    max_batch: usize,
) -> (WriteBehind<String, u32>, Arc<Mutex<Vec<Batch>>>) {
    let persisted: Arc<Mutex<Vec<Batch>>> = Arc::default();
    let record = Arc::clone(&persisted);
    let users = WriteBehind::<String, u32>::builder("wb_journal_users")
        .max_batch(max_batch)
        .max_delay(Duration::from_secs(3600))
        .start_journaled(journal, move |batch: Batch| {
            record.lock().unwrap().push(batch);
            std::future::ready(Ok::<(), String>(()))
        })
        .await
        .unwrap();
    (users, persisted)
}

#[tokio::test]
async fn a_new_process_flushes_what_a_crashed_one_had_queued() {
    backend().await;
    let run = common::run_id();
    let journal = format!("orders-{run}");
    let key = |name: &str| format!("{run}:{name}");
    let writes = vec![
        (key("a"), 1),
        (key("b"), 1),
        (key("c"), 1),
        (key("d"), 1),
        (key("c"), 2),
        (key("e"), 1),
    ];
    let crashed: Arc<Mutex<Vec<Batch>>> = Arc::default();
    // The first batch is persisted, the second hangs, the rest is queued: then the crash.
    run_and_crash(journal.clone(), writes, 1, Arc::clone(&crashed));
    assert_eq!(
        crashed.lock().unwrap().clone(),
        vec![vec![(key("a"), 1), (key("b"), 1)]]
    );

    let (users, persisted) = recovering(&journal, 100).await;
    assert_eq!(users.stats().recovered, 4, "c, d, c again and e");
    users.write(key("f"), 1).await.unwrap();
    users.flush().await;
    assert_eq!(
        persisted.lock().unwrap().concat(),
        vec![(key("c"), 2), (key("d"), 1), (key("e"), 1), (key("f"), 1)],
        "the unpersisted writes, last value per key, in order, before the new one"
    );
    users.shutdown().await;

    // Every write record is gone (the first reservation covers them all).
    let raw = backend().await.raw_client().await;
    for seq in 0..64 {
        let record = format!("{journal}#{seq}");
        let found = common::read_data(&raw, DEFAULT_JOURNAL_SET, Value::String(record)).await;
        assert!(found.is_none(), "journal record {seq} was deleted");
    }

    // Everything is persisted: nothing left to recover.
    let (again, persisted) = recovering(&journal, 100).await;
    assert_eq!(again.stats().recovered, 0);
    again.shutdown().await;
    assert!(persisted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn journals_of_different_names_are_independent() {
    backend().await;
    let run = common::run_id();
    let crashed: Arc<Mutex<Vec<Batch>>> = Arc::default();
    run_and_crash(
        format!("left-{run}"),
        vec![(format!("{run}:x"), 7)],
        0,
        Arc::clone(&crashed),
    );
    let (other, _) = recovering(&format!("right-{run}"), 10).await;
    assert_eq!(other.stats().recovered, 0);
    other.shutdown().await;
    let (same, persisted) = recovering(&format!("left-{run}"), 10).await;
    assert_eq!(same.stats().recovered, 1);
    same.shutdown().await;
    assert_eq!(
        persisted.lock().unwrap().clone(),
        vec![vec![(format!("{run}:x"), 7)]]
    );
}
