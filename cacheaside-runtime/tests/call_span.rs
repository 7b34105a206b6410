//! Every cached call is one DEBUG span (target `cacheaside`) with its set, function, outcome and,
//! when the loader ran, the load time in ms; never the key or the value.

mod common;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once, OnceLock};

use cacheaside_runtime::__private::{
    default_key, get_or_load, get_or_load_blocking, CacheSpec, PlainKind,
};
use cacheaside_runtime::Ttl;
use common::Backend;
use tokio::sync::OnceCell;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// The fields of every `cacheaside` span, by span id, in creation order.
fn spans() -> &'static Mutex<BTreeMap<u64, BTreeMap<String, String>>> {
    static SPANS: OnceLock<Mutex<BTreeMap<u64, BTreeMap<String, String>>>> = OnceLock::new();
    SPANS.get_or_init(Mutex::default)
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").replace('"', ""),
        );
    }
}

/// Records the spans of target `cacheaside` and their fields.
struct SpanRecorder;

impl Subscriber for SpanRecorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "cacheaside"
    }
    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        if attributes.metadata().is_span() {
            let mut fields = BTreeMap::new();
            fields.insert("name".to_owned(), attributes.metadata().name().to_owned());
            attributes.record(&mut Fields(&mut fields));
            spans().lock().unwrap().insert(id, fields);
        }
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(fields) = spans().lock().unwrap().get_mut(&span.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

async fn backend() -> &'static Backend {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| tracing::subscriber::set_global_default(SpanRecorder).unwrap());
    static BACKEND: OnceCell<Backend> = OnceCell::const_new();
    BACKEND
        .get_or_init(|| async {
            let backend = Backend::start().await;
            cacheaside_runtime::init(backend.config().build().unwrap())
                .await
                .unwrap();
            backend
        })
        .await
}

/// The spans of `set`, oldest first.
fn spans_of(set: &str) -> Vec<BTreeMap<String, String>> {
    (spans().lock().unwrap().values())
        .filter(|fields| fields.get("set").is_some_and(|name| name == set))
        .cloned()
        .collect()
}

const SECRET: &str = "secret-argument";

#[tokio::test]
async fn a_miss_then_a_hit_are_two_spans_with_their_outcomes() {
    static SPEC: CacheSpec = CacheSpec {
        cache: None,
        namespace: None,
        set: "rt_span_async",
        ttl: Ttl::Seconds(60),
        function: "load_profile",
        codec: cacheaside_runtime::__private::Codec::MessagePack,
    };
    backend().await;
    let id = common::run_id();
    for _ in 0..2 {
        let key = default_key(&SPEC, "app::spans", &(&id, SECRET));
        let value = get_or_load(&SPEC, key, PlainKind, async { "the value".to_owned() }).await;
        assert_eq!(value, "the value");
    }
    let spans = spans_of(SPEC.set);
    assert_eq!(spans.len(), 2, "one span per call: {spans:?}");
    let (miss, hit) = (&spans[0], &spans[1]);
    assert_eq!(miss["name"], "cached_call");
    assert_eq!(miss["function"], "load_profile");
    assert_eq!(miss["outcome"], "miss");
    let load_ms: f64 = miss["load_ms"].parse().expect("the load time in ms");
    assert!(load_ms >= 0.0);
    assert_eq!(hit["outcome"], "hit");
    assert!(!hit.contains_key("load_ms"), "no load on a hit: {hit:?}");
    for span in &spans {
        let text = format!("{span:?}");
        assert!(
            !text.contains(SECRET) && !text.contains(&id) && !text.contains("the value"),
            "no key or value in a span: {text}"
        );
    }
}

#[tokio::test]
async fn a_sync_call_has_its_span_too() {
    static SPEC: CacheSpec = CacheSpec {
        cache: None,
        namespace: None,
        set: "rt_span_sync",
        ttl: Ttl::Seconds(60),
        function: "load_sync",
        codec: cacheaside_runtime::__private::Codec::MessagePack,
    };
    backend().await;
    let id = common::run_id();
    let outcomes = tokio::task::spawn_blocking(move || {
        for _ in 0..2 {
            let key = default_key(&SPEC, "app::spans", &(&id,));
            assert_eq!(get_or_load_blocking(&SPEC, key, PlainKind, || 7_u32), 7);
        }
    });
    outcomes.await.unwrap();
    let outcomes: Vec<String> = (spans_of(SPEC.set).iter())
        .map(|fields| fields["outcome"].clone())
        .collect();
    assert_eq!(outcomes, ["miss", "hit"]);
}
