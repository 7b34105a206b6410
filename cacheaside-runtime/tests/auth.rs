//! User and password: against a testkit server with security on, the configured credentials
//! log in and calls are cached; a wrong password or no credentials fail open, with a warning that
//! names the user and never the password. Testkit only.

mod common;

use std::time::Duration;

use cacheaside_runtime::__private::CacheSpec;
use cacheaside_runtime::{stats, Config, ConfigBuilder, Ttl};
use cacheaside_testkit::TestServer;

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_auth",
    ttl: Ttl::Seconds(3600),
    function: "f",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

fn config(server: &TestServer) -> ConfigBuilder {
    Config::builder()
        .hosts(server.hosts())
        .operation_timeout(Duration::from_secs(1))
        .connect_timeout(Duration::from_secs(5))
        .reconnect_interval(Duration::from_secs(60))
}

#[tokio::test]
async fn credentials_log_in_and_wrong_ones_fail_open() {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty()) {
        eprintln!("auth: skipped, needs the testkit server");
        return;
    }
    common::logs::capture();
    let server = TestServer::builder()
        .user("cache-app", "s3cret-pass")
        .start()
        .await
        .unwrap();

    let good = config(&server).credentials("cache-app", "s3cret-pass");
    cacheaside_runtime::init(good.build().unwrap())
        .await
        .unwrap();
    assert_eq!(
        common::loads_of_two_calls(&SPEC, "a").await,
        1,
        "a miss, then a hit"
    );
    assert_eq!(server.keys("test", "rt_auth").len(), 1);

    let wrong = config(&server).credentials("cache-app", "wrong-pass");
    cacheaside_runtime::init(wrong.build().unwrap())
        .await
        .unwrap();
    assert_eq!(
        common::loads_of_two_calls(&SPEC, "b").await,
        2,
        "fail open: both calls load"
    );
    let warnings = common::logs::matching(&[
        "cannot connect",
        "(as user cache-app)",
        "Invalid credential",
    ]);
    assert_eq!(
        warnings.len(),
        1,
        "one warning naming the user and the cause"
    );

    // No credentials: the client connects, but the server answers no data command.
    server.reset_counters();
    let errors = stats().set("rt_auth").cache_errors;
    cacheaside_runtime::init(config(&server).build().unwrap())
        .await
        .unwrap();
    assert_eq!(
        common::loads_of_two_calls(&SPEC, "c").await,
        2,
        "fail open: both calls load"
    );
    assert!(stats().set("rt_auth").cache_errors > errors);
    assert_eq!(server.keys("test", "rt_auth").len(), 1);

    let refused = common::logs::matching(&["rt_auth", "Not authenticated"]);
    assert!(!refused.is_empty(), "the refused reads are reported");

    let logged = common::logs::matching(&[]).join("\n");
    assert!(!logged.contains("s3cret-pass") && !logged.contains("wrong-pass"));
}
