//! An invalid environment without `init`: calls still run their bodies, and `invalidate` says why
//! the cache is unusable.

use cacheaside_runtime::__private::{default_key, get_or_load, invalidate, CacheSpec, PlainKind};
use cacheaside_runtime::{ErrorKind, Ttl};

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_bad_env",
    ttl: Ttl::Seconds(60),
    function: "f",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

#[tokio::test]
async fn invalid_environment_fails_open() {
    // The only test of this process: nothing else reads the environment concurrently.
    std::env::set_var("CACHEASIDE_DISABLED", "perhaps");
    for value in 0..3u32 {
        let key = default_key(&SPEC, "app", &(&"k",));
        assert_eq!(
            get_or_load(&SPEC, key, PlainKind, async { value }).await,
            value
        );
    }
    let stats = cacheaside_runtime::stats().set("rt_bad_env");
    assert_eq!((stats.loads, stats.hits, stats.cache_errors), (3, 0, 3));
    let error = invalidate(&SPEC, default_key(&SPEC, "app", &(&"k",)))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.to_string().contains("CACHEASIDE_DISABLED"), "{error}");
}
