//! The main thread reading a record whose bin `data` is a list nested 100,000 deep (which, parsed
//! recursively, overflows even the main thread's stack): a sync call, and an async call driven by
//! a current-thread runtime on the main thread, both return their body's value. A plain `main`
//! (no test harness), so that the calls really run on the main thread.

mod common;

use cacheaside::cache_aside;
use cacheaside_testkit::raw::{particle, RawBin};

#[cache_aside(set = "hostile_main", ttl = 3600, key = id)]
fn label_sync(id: u64) -> String {
    format!("label-{id}")
}

#[cache_aside(set = "hostile_main", ttl = 3600, key = id)]
async fn label_async(id: u64) -> String {
    format!("label-{id}")
}

async fn plant_deep_list(id: u64) {
    let nested = common::nested_list(100_000);
    common::put_raw(
        "hostile_main",
        id,
        RawBin::new("data", particle::LIST, nested),
    )
    .await;
}

/// The one test's name, for test runners that list tests first (`--list`, as cargo-nextest does).
const TEST_NAME: &str = "main_thread_survives_hostile_records";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--list") {
        if !args.iter().any(|arg| arg == "--ignored") {
            println!("{TEST_NAME}: test");
        }
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (sync_id, async_id) = (common::unique(), common::unique());
    runtime.block_on(async {
        common::init().await;
        plant_deep_list(sync_id).await;
        plant_deep_list(async_id).await;
    });
    assert_eq!(label_sync(sync_id), format!("label-{sync_id}"));
    assert_eq!(
        runtime.block_on(label_async(async_id)),
        format!("label-{async_id}")
    );
    let stats = cacheaside::stats().set("hostile_main");
    assert_eq!(stats.undecodable, 2);
    assert_eq!(stats.cache_errors, 0);
    println!("{TEST_NAME}: both calls on the main thread returned their body's value");
}
