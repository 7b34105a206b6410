//! TLS through the facade (`cacheaside/tls`): an annotated function cached over a TLS-terminating
//! test server with a self-signed certificate; with a CA that did not sign it the function still
//! answers, from its body; with `tls(true)` and no CA file, the platform's root certificates
//! (here `SSL_CERT_FILE`) are trusted. Testkit only. Its own test process (it sets `SSL_CERT_FILE`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cacheaside::cache_aside;
use cacheaside_testkit::TestServer;

static LOADS: AtomicUsize = AtomicUsize::new(0);

#[cache_aside(set = "facade_tls", ttl = 3600, key = id)]
async fn load(id: i64) -> Result<i64, String> {
    LOADS.fetch_add(1, Ordering::SeqCst);
    Ok(id * 10)
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("cacheaside-testkit/tests/fixtures")
        .join(name)
}

fn builder(server: &TestServer) -> cacheaside::ConfigBuilder {
    cacheaside::Config::builder()
        .hosts(server.hosts())
        .tls_name("cacheaside-testkit")
        .operation_timeout(Duration::from_secs(1))
        .connect_timeout(Duration::from_secs(2))
        .reconnect_interval(Duration::from_secs(60))
}

fn config(server: &TestServer, ca: &str) -> cacheaside::Config {
    builder(server).tls_ca_file(fixture(ca)).build().unwrap()
}

#[tokio::test]
async fn annotated_functions_are_cached_over_tls() {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty()) {
        eprintln!("skipped: needs the TLS listener of the testkit server");
        return;
    }
    let cert = std::fs::read(fixture("server.pem")).unwrap();
    let key = std::fs::read(fixture("server.key")).unwrap();
    let server = TestServer::builder().tls(cert, key).start().await.unwrap();

    cacheaside::init(config(&server, "ca.pem")).await.unwrap();
    assert_eq!(load(4).await, Ok(40));
    assert_eq!(load(4).await, Ok(40));
    assert_eq!(LOADS.load(Ordering::SeqCst), 1, "a miss, then a hit");
    assert!(server.record("test", "facade_tls", 4i64).is_some());

    cacheaside::init(config(&server, "other-ca.pem"))
        .await
        .unwrap();
    assert_eq!(load(5).await, Ok(50));
    assert_eq!(load(5).await, Ok(50));
    assert_eq!(
        LOADS.load(Ordering::SeqCst),
        3,
        "untrusted: both calls load"
    );
    assert!(server.record("test", "facade_tls", 5i64).is_none());

    // No CA file: the platform's roots, which `SSL_CERT_FILE` replaces. The only test of this
    // process: nothing else reads the environment concurrently.
    std::env::remove_var("SSL_CERT_DIR");
    std::env::set_var("SSL_CERT_FILE", fixture("ca.pem"));
    cacheaside::init(builder(&server).tls(true).build().unwrap())
        .await
        .unwrap();
    assert_eq!(load(6).await, Ok(60));
    assert_eq!(load(6).await, Ok(60));
    assert_eq!(
        LOADS.load(Ordering::SeqCst),
        4,
        "system roots: a miss, then a hit"
    );
    assert!(server.record("test", "facade_tls", 6i64).is_some());
}
