//! TLS trusting the platform's root certificates (`AEROSPIKE_TLS=true`, no CA file), read from the
//! environment. `SSL_CERT_FILE` stands in for the system's certificate store: pointed at the CA
//! that signed the testkit's certificate, calls are cached over TLS; pointed at another CA, they
//! fail open and the warning says which roots were trusted and why the server was refused.
//! Testkit only. The only test of this process: it sets environment variables.

mod common;

use std::path::PathBuf;

use cacheaside_runtime::__private::CacheSpec;
use cacheaside_runtime::{Config, ErrorKind, Ttl};
use cacheaside_testkit::TestServer;

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_tls_roots",
    ttl: Ttl::Seconds(3600),
    function: "f",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../cacheaside-testkit/tests/fixtures")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

/// `Config::from_env` with `SSL_CERT_FILE` (the platform's roots) set to `roots`.
fn from_env_trusting(roots: &str) -> Result<Config, cacheaside_runtime::Error> {
    std::env::set_var("SSL_CERT_FILE", roots);
    Config::from_env()
}

#[tokio::test]
async fn system_roots_from_the_environment() {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty()) {
        eprintln!("tls_system_roots: skipped, needs the testkit server");
        return;
    }
    common::logs::capture();
    let cert = std::fs::read(fixture("server.pem")).unwrap();
    let key = std::fs::read(fixture("server.key")).unwrap();
    let server = TestServer::builder().tls(cert, key).start().await.unwrap();

    // The only test of this process: nothing else reads the environment concurrently.
    // SSL_CERT_DIR would add the directory's roots to those of SSL_CERT_FILE.
    std::env::remove_var("SSL_CERT_DIR");
    std::env::remove_var("AEROSPIKE_TLS_CA_FILE");
    std::env::remove_var("AEROSPIKE_TLS_NAME");
    std::env::set_var("AEROSPIKE_HOSTS", server.hosts());
    std::env::set_var("CACHEASIDE_OPERATION_TIMEOUT_MS", "1000");
    std::env::set_var("CACHEASIDE_CONNECT_TIMEOUT_MS", "2000");
    // One attempt per configuration: the failing one must not be retried during the test.
    std::env::set_var("CACHEASIDE_RECONNECT_INTERVAL_MS", "60000");

    // Bad values name the variable.
    std::env::set_var("AEROSPIKE_TLS", "maybe");
    let error = from_env_trusting(&fixture("ca.pem")).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(
        error.to_string().starts_with("invalid AEROSPIKE_TLS: "),
        "{error}"
    );
    std::env::set_var("AEROSPIKE_TLS", "false");
    std::env::set_var("AEROSPIKE_TLS_CA_FILE", fixture("ca.pem"));
    let error = from_env_trusting(&fixture("ca.pem"))
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("AEROSPIKE_TLS=false turns TLS off, but AEROSPIKE_TLS_CA_FILE is set"),
        "{error}"
    );
    std::env::remove_var("AEROSPIKE_TLS_CA_FILE");

    std::env::set_var("AEROSPIKE_TLS", "true");
    // No usable root: an error naming the variable, what was read and what to do.
    let missing = std::env::temp_dir().join("cacheaside-no-such-roots.pem");
    let missing = missing.to_str().unwrap();
    for (roots, why) in [
        (missing, "No such file"),
        // PEM, but no certificate in it.
        (fixture("server.key").as_str(), "no certificate found"),
    ] {
        let error = from_env_trusting(roots).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!(
                "invalid AEROSPIKE_TLS: no usable root certificate in SSL_CERT_FILE={roots} ("
            )) && error.contains(why)
                && error.contains("or set AEROSPIKE_TLS_CA_FILE to the CA file of the cluster"),
            "{error}"
        );
    }

    // The roots include the CA that signed the server's certificate (which names 127.0.0.1): a
    // miss writes over TLS, the next call hits.
    let trusted = from_env_trusting(&fixture("ca.pem")).unwrap();
    assert!(trusted.tls_enabled());
    assert_eq!(trusted.tls_ca_file(), None);
    cacheaside_runtime::init(trusted).await.unwrap();
    assert_eq!(
        common::loads_of_two_calls(&SPEC, "a").await,
        1,
        "a miss, then a hit"
    );
    assert_eq!(server.keys("test", "rt_tls_roots").len(), 1);
    assert_eq!(server.counters().writes, 1);

    // A CA file replaces the platform's roots: they are not even read...
    std::env::set_var("AEROSPIKE_TLS_CA_FILE", fixture("ca.pem"));
    let with_ca_file = from_env_trusting(missing).unwrap();
    cacheaside_runtime::init(with_ca_file).await.unwrap();
    assert_eq!(
        common::loads_of_two_calls(&SPEC, "a").await,
        0,
        "hits of the entry above"
    );

    server.reset_counters();
    // ...and not trusted: roots that would do do not help a CA file that does not.
    let other_ca = fixture("other-ca.pem");
    std::env::set_var("AEROSPIKE_TLS_CA_FILE", &other_ca);
    let wrong_ca_file = from_env_trusting(&fixture("ca.pem")).unwrap();
    cacheaside_runtime::init(wrong_ca_file).await.unwrap();
    assert_eq!(
        common::loads_of_two_calls(&SPEC, "b").await,
        2,
        "fail open: both calls load"
    );
    let warnings = common::logs::matching(&[
        "cannot connect",
        &format!("over TLS (trusting the CA file {other_ca},"),
        "UnknownIssuer",
    ]);
    assert_eq!(warnings.len(), 1, "one warning naming the CA file");
    std::env::remove_var("AEROSPIKE_TLS_CA_FILE");

    // Roots without the server's CA: no connection, the body answers, nothing is cached.
    let other_ca = fixture("other-ca.pem");
    let untrusted = from_env_trusting(&other_ca).unwrap();
    cacheaside_runtime::init(untrusted).await.unwrap();
    assert_eq!(
        common::loads_of_two_calls(&SPEC, "b").await,
        2,
        "fail open: both calls load"
    );
    let warnings = common::logs::matching(&[
        "cannot connect",
        &format!("over TLS (trusting the root certificates of SSL_CERT_FILE={other_ca}"),
        "UnknownIssuer",
    ]);
    assert_eq!(
        warnings.len(),
        1,
        "one warning naming the roots and the cause"
    );
    assert_eq!(server.counters().data_commands(), 0);
    assert_eq!(server.keys("test", "rt_tls_roots").len(), 1);
}
