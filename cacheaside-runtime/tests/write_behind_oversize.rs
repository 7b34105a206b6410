//! A write-behind value too large for a record is not cached: the entry is invalidated instead,
//! so readers load the source rather than keep the old cached value; the source still gets it.
//! Runs against the testkit server or the server of `AEROSPIKE_HOSTS`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cacheaside_runtime::__private::{explicit_key, get_or_load, CacheSpec, ResultKind};
use cacheaside_runtime::write_behind::WriteBehind;
use cacheaside_runtime::Ttl;
use common::Backend;

const LIMIT: usize = 4096;

#[tokio::test]
async fn an_oversize_value_invalidates_the_entry_and_still_reaches_the_source() {
    static READER: CacheSpec = CacheSpec {
        cache: None,
        namespace: None,
        set: "wb_oversize",
        ttl: Ttl::Seconds(3600),
        function: "get_blob",
        codec: cacheaside_runtime::__private::Codec::MessagePack,
    };
    let backend = Backend::start().await;
    let config = backend.config().max_record_size(LIMIT).build().unwrap();
    cacheaside_runtime::init(config).await.unwrap();
    let key = format!("{}:big", common::run_id());
    let loads = AtomicUsize::new(0);
    let read = |from_source: String| {
        let loads = &loads;
        get_or_load(
            &READER,
            explicit_key(key.as_str()),
            ResultKind,
            async move {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(from_source)
            },
        )
    };

    assert_eq!(read("small".to_owned()).await.unwrap(), "small");
    assert_eq!(read("unused".to_owned()).await.unwrap(), "small", "cached");
    assert_eq!(loads.load(Ordering::SeqCst), 1);

    let persisted: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let blobs = {
        let persisted = Arc::clone(&persisted);
        WriteBehind::<String, String>::builder("wb_oversize")
            .start(move |batch: Vec<(String, String)>| {
                persisted.lock().unwrap().extend(batch);
                std::future::ready(Ok::<(), String>(()))
            })
            .unwrap()
    };
    let oversize_before = cacheaside_runtime::stats().set("wb_oversize").oversize;
    let big = "x".repeat(2 * LIMIT);
    blobs.write(key.clone(), big.clone()).await.unwrap();
    assert_eq!(
        cacheaside_runtime::stats().set("wb_oversize").oversize,
        oversize_before + 1
    );

    // The old value is gone from the cache: the reader loads (here: the new row).
    assert_eq!(read(big.clone()).await.unwrap(), big);
    assert_eq!(loads.load(Ordering::SeqCst), 2, "a miss, not the old value");

    blobs.shutdown().await;
    assert_eq!(persisted.lock().unwrap().clone(), vec![(key, big)]);
}
