//! Warnings go through `tracing` once per cause, not once per call, and never carry values.
//! Needs the testkit's faults; skipped against a real server.

mod common;

use std::time::Duration;

use cacheaside_runtime::__private::{default_key, get_or_load, CacheSpec, PlainKind};
use cacheaside_runtime::Ttl;
use cacheaside_testkit::TestServer;
use common::logs;

/// Every warning captured so far.
fn warnings() -> Vec<String> {
    logs::matching(&["level=WARN"])
}

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_warnings",
    ttl: Ttl::Seconds(60),
    function: "f",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

const SECRET_ARGUMENT: &str = "secret-argument-4711";
const SECRET_PASSWORD: &str = "secret-password-0815";

async fn call(value: u32) -> u32 {
    let key = default_key(&SPEC, "app", &(&SECRET_ARGUMENT,));
    get_or_load(&SPEC, key, PlainKind, async move { value }).await
}

fn count(cause: &str) -> usize {
    logs::matching(&["level=WARN", &format!("cause={cause}")]).len()
}

#[tokio::test]
async fn each_cause_is_reported_once() {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty()) {
        eprintln!("each_cause_is_reported_once: skipped, it needs the testkit server");
        return;
    }
    logs::capture();
    let server = TestServer::start().await.unwrap();

    // Unreachable at start: one warning, however many reconnect attempts and calls.
    server.stop().await;
    let config = cacheaside_runtime::Config::builder()
        .hosts(server.hosts())
        .operation_timeout(Duration::from_millis(1_000))
        .reconnect_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    cacheaside_runtime::init(config).await.unwrap();
    for value in 0..5 {
        assert_eq!(call(value).await, value);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(count("Connect"), 1, "{:?}", warnings());
    assert_eq!(count("Disconnected"), 1, "{:?}", warnings());

    // A server that knows the user under another password refuses the login: the warning must
    // not show the password.
    server.start_again().await.unwrap();
    let secured = TestServer::builder()
        .user("app", "the-right-password")
        .start()
        .await
        .unwrap();
    let with_credentials = cacheaside_runtime::Config::builder()
        .hosts(secured.hosts())
        .credentials("app", SECRET_PASSWORD)
        .build()
        .unwrap();
    cacheaside_runtime::init(with_credentials).await.unwrap();
    assert_eq!(call(1).await, 1);
    // The refused login is reported when the attempt ends, which a busy machine may delay past
    // the call.
    for _ in 0..200 {
        if count("Connect") == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(count("Connect"), 2, "{:?}", warnings());

    // Connected, with failing reads and writes: one warning each.
    let config = cacheaside_runtime::Config::builder()
        .hosts(server.hosts())
        .operation_timeout(Duration::from_millis(1_000))
        .reconnect_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    cacheaside_runtime::init(config).await.unwrap();
    let mut connected = false;
    for value in 100..300 {
        call(value).await;
        if call(0).await == value {
            connected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(connected, "caching works after the restart");
    // Each call now fails its read and its write (code 4, a parameter error: an answer about
    // the request, not about the server's health, so the write-back is still tried).
    server.faults().fail_next(10, 4);
    for value in 0..5 {
        assert_eq!(call(value).await, value);
    }
    assert_eq!(count("Read"), 1, "{:?}", warnings());
    assert_eq!(count("Write"), 1, "{:?}", warnings());

    for warning in warnings() {
        assert!(
            !warning.contains(SECRET_ARGUMENT),
            "a key argument was logged: {warning}"
        );
        assert!(
            !warning.contains(SECRET_PASSWORD),
            "the password was logged: {warning}"
        );
    }
}
