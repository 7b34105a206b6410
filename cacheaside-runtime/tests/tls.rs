//! TLS: cached calls over a TLS-terminating testkit server, with the self-signed certificates of
//! the testkit's fixtures; a client that does not trust the server's certificate (wrong CA, wrong
//! name, or no TLS at all) never connects, and calls fail open. Testkit only.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use cacheaside_runtime::__private::CacheSpec;
use cacheaside_runtime::{Config, ConfigBuilder, Ttl};
use cacheaside_testkit::TestServer;

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_tls",
    ttl: Ttl::Seconds(3600),
    function: "f",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../cacheaside-testkit/tests/fixtures")
        .join(name)
}

fn config(server: &TestServer) -> ConfigBuilder {
    Config::builder()
        .hosts(server.hosts())
        .operation_timeout(Duration::from_millis(1_000))
        .connect_timeout(Duration::from_millis(2_000))
        // One attempt per configuration: the failing ones must not be retried during the test.
        .reconnect_interval(Duration::from_secs(60))
}

#[tokio::test]
async fn cached_calls_work_over_tls_and_untrusted_servers_fail_open() {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty()) {
        eprintln!("tls: skipped, needs the testkit server");
        return;
    }
    common::logs::capture();
    let cert = std::fs::read(fixture("server.pem")).unwrap();
    let key = std::fs::read(fixture("server.key")).unwrap();
    let server = TestServer::builder().tls(cert, key).start().await.unwrap();

    // Trusted CA, the certificate's DNS name: a miss writes over TLS, the next call hits.
    let trusted = config(&server)
        .tls_ca_file(fixture("ca.pem"))
        .tls_name("cacheaside-testkit")
        .build()
        .unwrap();
    cacheaside_runtime::init(trusted).await.unwrap();
    assert_eq!(
        common::loads_of_two_calls(&SPEC, "a").await,
        1,
        "a miss, then a hit"
    );
    assert_eq!(server.keys("test", "rt_tls").len(), 1);
    assert_eq!(server.counters().writes, 1);

    // Without a TLS name the host's own name is expected: the certificate names 127.0.0.1 too.
    let by_address = config(&server)
        .tls_ca_file(fixture("ca.pem"))
        .build()
        .unwrap();
    cacheaside_runtime::init(by_address).await.unwrap();
    assert_eq!(
        common::loads_of_two_calls(&SPEC, "a").await,
        0,
        "hits of the entry above"
    );

    server.reset_counters();
    // A CA that did not sign the server's certificate: no connection, the body answers.
    let wrong_ca = config(&server)
        .tls_ca_file(fixture("other-ca.pem"))
        .tls_name("cacheaside-testkit")
        .build()
        .unwrap();
    cacheaside_runtime::init(wrong_ca).await.unwrap();
    assert_eq!(
        common::loads_of_two_calls(&SPEC, "b").await,
        2,
        "fail open: both calls load"
    );
    let warnings = common::logs::matching(&[
        "cannot connect",
        "over TLS",
        "other-ca.pem",
        "UnknownIssuer",
    ]);
    assert_eq!(
        warnings.len(),
        1,
        "one warning naming the CA file and the cause"
    );

    // The right CA but a name the certificate does not carry.
    let wrong_name = config(&server)
        .tls_ca_file(fixture("ca.pem"))
        .tls_name("wrong.example")
        .build()
        .unwrap();
    cacheaside_runtime::init(wrong_name).await.unwrap();
    assert_eq!(
        common::loads_of_two_calls(&SPEC, "b").await,
        2,
        "fail open: both calls load"
    );
    let warnings = common::logs::matching(&[
        "cannot connect",
        "expecting the name wrong.example",
        "not valid for name",
    ]);
    assert_eq!(
        warnings.len(),
        1,
        "one warning naming the name and the cause"
    );

    // A plain TCP client cannot talk to a TLS server either.
    cacheaside_runtime::init(config(&server).build().unwrap())
        .await
        .unwrap();
    assert_eq!(
        common::loads_of_two_calls(&SPEC, "b").await,
        2,
        "fail open: both calls load"
    );

    assert_eq!(
        server.counters().data_commands(),
        0,
        "no failed configuration got a command through"
    );
    assert_eq!(server.keys("test", "rt_tls").len(), 1);
}
