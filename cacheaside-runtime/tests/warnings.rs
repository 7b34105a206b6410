//! Warnings go through `tracing` once per cause, not once per call, and never carry values.
//! Needs the testkit's faults; skipped against a real server.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use cacheaside_runtime::__private::{default_key, get_or_load, CacheSpec, PlainKind};
use cacheaside_runtime::Ttl;
use cacheaside_testkit::TestServer;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Records every warning of the process.
struct Recorder;

fn warnings() -> &'static Mutex<Vec<String>> {
    static WARNINGS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    WARNINGS.get_or_init(Mutex::default)
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::WARN
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Id::from_u64(NEXT.fetch_add(1, Ordering::Relaxed))
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        if *event.metadata().level() == Level::WARN && event.metadata().target() == "cacheaside" {
            let mut fields = Fields(String::new());
            event.record(&mut fields);
            warnings().lock().unwrap().push(fields.0);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

static SPEC: CacheSpec = CacheSpec {
    namespace: None,
    set: "rt_warnings",
    ttl: Ttl::Seconds(60),
    function: "f",
};

const SECRET_ARGUMENT: &str = "secret-argument-4711";
const SECRET_PASSWORD: &str = "secret-password-0815";

async fn call(value: u32) -> u32 {
    let key = default_key(&SPEC, "app", &(&SECRET_ARGUMENT,));
    get_or_load(&SPEC, key, PlainKind, async move { value }).await
}

fn count(cause: &str) -> usize {
    let needle = format!("cause={cause}");
    warnings()
        .lock()
        .unwrap()
        .iter()
        .filter(|w| w.contains(&needle))
        .count()
}

#[tokio::test]
async fn each_cause_is_reported_once() {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty()) {
        eprintln!("each_cause_is_reported_once: skipped, it needs the testkit server");
        return;
    }
    tracing::subscriber::set_global_default(Recorder).unwrap();
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
    assert_eq!(count("Connect"), 1, "{:?}", warnings().lock().unwrap());
    assert_eq!(count("Disconnected"), 1, "{:?}", warnings().lock().unwrap());

    // The testkit has no authentication, so a login fails: the warning must not show the password.
    server.start_again().await.unwrap();
    let with_credentials = cacheaside_runtime::Config::builder()
        .hosts(server.hosts())
        .credentials("app", SECRET_PASSWORD)
        .build()
        .unwrap();
    cacheaside_runtime::init(with_credentials).await.unwrap();
    assert_eq!(call(1).await, 1);
    assert_eq!(count("Connect"), 2, "{:?}", warnings().lock().unwrap());

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
    assert_eq!(count("Read"), 1, "{:?}", warnings().lock().unwrap());
    assert_eq!(count("Write"), 1, "{:?}", warnings().lock().unwrap());

    for warning in warnings().lock().unwrap().iter() {
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
