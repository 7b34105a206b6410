//! Without `init`, the first call installs the configuration from the environment.

mod common;

use std::time::Duration;

use cacheaside_runtime::__private::{default_key, get_or_load, CacheSpec, PlainKind};
use cacheaside_runtime::Ttl;
use common::Backend;

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_env",
    ttl: Ttl::Seconds(3600),
    function: "f",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

#[tokio::test]
async fn first_call_connects_from_the_environment() {
    let backend = Backend::start().await;
    // The only test of this process: nothing else reads the environment concurrently.
    std::env::set_var("AEROSPIKE_HOSTS", &backend.hosts);
    std::env::set_var("CACHEASIDE_OPERATION_TIMEOUT_MS", "2000");
    let run = common::run_id();
    let call = |attempt: u32, value: u32| {
        let arg = format!("{run}-{attempt}");
        async move {
            let key = default_key(&SPEC, "app", &(&arg,));
            get_or_load(&SPEC, key, PlainKind, async move { value }).await
        }
    };
    // The first call may run before the background connection is made; it still succeeds.
    assert_eq!(call(0, 1).await, 1);
    let mut cached = false;
    for attempt in 1..100 {
        call(attempt, 1).await;
        if call(attempt, 0).await == 1 {
            cached = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        cached,
        "the configuration from the environment is used: {:?}",
        cacheaside_runtime::stats().set("rt_env")
    );
}
