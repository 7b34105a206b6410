//! Per-set policies: a set's own operation timeout (shown with the testkit's read latency) and
//! its TTL cap (shown with the TTLs the testkit stores). Testkit only.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cacheaside_runtime::__private::{default_key, get_or_load, CacheSpec, PlainKind};
use cacheaside_runtime::{stats, Config, SetPolicy, Ttl};
use cacheaside_testkit::{CommandKind, TestServer};

static FAST: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_sp_fast",
    ttl: Ttl::Seconds(3600),
    function: "fast",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};
static PATIENT: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_sp_patient",
    ttl: Ttl::Seconds(3600),
    function: "patient",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};
static CAPPED_HOUR: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_sp_capped",
    ttl: Ttl::Seconds(3600),
    function: "hour",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};
static CAPPED_SHORT: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_sp_capped",
    ttl: Ttl::Seconds(30),
    function: "short",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};
static CAPPED_NEVER: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_sp_capped",
    ttl: Ttl::Never,
    function: "never",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};
static UNCAPPED_NEVER: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_sp_uncapped",
    ttl: Ttl::Never,
    function: "never",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

static LOADS: AtomicU32 = AtomicU32::new(0);

async fn call(spec: &'static CacheSpec) -> u32 {
    get_or_load(spec, default_key(spec, "app", &(&"k",)), PlainKind, async {
        LOADS.fetch_add(1, Ordering::SeqCst);
        7
    })
    .await
}

/// How many of the calls ran the body.
async fn loads_of(spec: &'static CacheSpec) -> u32 {
    let before = LOADS.load(Ordering::SeqCst);
    assert_eq!(call(spec).await, 7);
    LOADS.load(Ordering::SeqCst) - before
}

/// The TTL left of the only record of `set`.
fn stored_ttl(server: &TestServer, set: &str, function: &str) -> Option<Duration> {
    let mut ttls = server.keys("test", set).into_iter().filter_map(|key| {
        let record = server.record_by_digest("test", &key.digest)?;
        record.bins.contains_key("data").then_some(record.ttl)
    });
    let found = ttls.next();
    assert!(found.is_some(), "{function} wrote a record in {set}");
    found.flatten()
}

fn testkit_only() -> bool {
    let real = std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty());
    if real {
        eprintln!("set_policy: skipped, needs the testkit server");
    }
    !real
}

#[tokio::test]
async fn a_set_timeout_and_a_set_ttl_cap_apply_to_their_set_only() {
    if !testkit_only() {
        return;
    }
    let server = TestServer::start().await.unwrap();
    let config = Config::builder()
        .hosts(server.hosts())
        .operation_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(2))
        .set_policy(
            "rt_sp_fast",
            SetPolicy::new().operation_timeout(Duration::from_millis(50)),
        )
        .set_policy(
            "rt_sp_capped",
            SetPolicy::new().max_ttl(Duration::from_secs(60)),
        )
        .build()
        .unwrap();
    cacheaside_runtime::init(config).await.unwrap();

    // TTL caps: an hour and "never" become 60 s in the capped set; 30 s stays; other sets keep theirs.
    for spec in [&CAPPED_HOUR, &CAPPED_SHORT, &CAPPED_NEVER, &UNCAPPED_NEVER] {
        assert_eq!(loads_of(spec).await, 1, "{} misses first", spec.function);
    }
    let capped = Some(Duration::from_secs(60));
    let mut ttls: Vec<_> = server
        .keys("test", "rt_sp_capped")
        .into_iter()
        .map(|key| server.record_by_digest("test", &key.digest).unwrap().ttl)
        .collect();
    ttls.sort();
    assert_eq!(ttls, [Some(Duration::from_secs(30)), capped, capped]);
    assert_eq!(stored_ttl(&server, "rt_sp_uncapped", "never"), None);

    // Timeouts: both sets have an entry; then every read takes 2 s.
    assert_eq!(loads_of(&FAST).await, 1);
    assert_eq!(loads_of(&PATIENT).await, 1);
    server
        .faults()
        .set_latency_for(CommandKind::Read, Duration::from_secs(2));
    let errors = |set: &str| stats().set(set).cache_errors;
    let (fast_errors, patient_errors) = (errors("rt_sp_fast"), errors("rt_sp_patient"));

    // The fast set gives up on its read (a cache error) and loads; the other set waits and hits.
    assert_eq!(loads_of(&FAST).await, 1, "the fast set's read timed out");
    assert_eq!(errors("rt_sp_fast"), fast_errors + 1);
    assert_eq!(loads_of(&PATIENT).await, 0, "the patient set's read waited");
    assert_eq!(errors("rt_sp_patient"), patient_errors);
}
