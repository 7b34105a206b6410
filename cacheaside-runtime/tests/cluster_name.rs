//! Cluster name: a client configured with a cluster name connects only to nodes that report it;
//! against another cluster, or a node without a name, calls fail open with a warning that names
//! the expected cluster. Testkit only.

mod common;

use std::time::Duration;

use cacheaside_runtime::__private::CacheSpec;
use cacheaside_runtime::{Config, Ttl};
use cacheaside_testkit::TestServer;

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_cluster",
    ttl: Ttl::Seconds(3600),
    function: "f",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

async fn init(server: &TestServer, cluster_name: &str) {
    let config = Config::builder()
        .hosts(server.hosts())
        .operation_timeout(Duration::from_secs(1))
        .connect_timeout(Duration::from_secs(2))
        .reconnect_interval(Duration::from_secs(60))
        .cluster_name(cluster_name)
        .build()
        .unwrap();
    cacheaside_runtime::init(config).await.unwrap();
}

#[tokio::test]
async fn only_the_named_cluster_is_used() {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty()) {
        eprintln!("cluster_name: skipped, needs the testkit server");
        return;
    }
    common::logs::capture();
    let named = TestServer::builder()
        .cluster_name("cache-a")
        .start()
        .await
        .unwrap();
    let unnamed = TestServer::start().await.unwrap();

    init(&named, "cache-a").await;
    assert_eq!(
        common::loads_of_two_calls(&SPEC, "a").await,
        1,
        "a miss, then a hit"
    );
    assert_eq!(named.keys("test", "rt_cluster").len(), 1);

    init(&named, "cache-b").await;
    assert_eq!(
        common::loads_of_two_calls(&SPEC, "b").await,
        2,
        "fail open: both calls load"
    );
    let warnings = common::logs::matching(&[
        "cannot connect",
        "(cluster-name cache-b)",
        "Cluster name mismatch",
    ]);
    assert_eq!(warnings.len(), 1, "one warning naming the expected cluster");

    // A node that reports no cluster name is not the named cluster either.
    init(&unnamed, "cache-a").await;
    assert_eq!(
        common::loads_of_two_calls(&SPEC, "c").await,
        2,
        "fail open: both calls load"
    );
    assert_eq!(unnamed.counters().data_commands(), 0);
    assert_eq!(named.keys("test", "rt_cluster").len(), 1);
}
