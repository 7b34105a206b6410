//! Default keys against Aerospike (the testkit, or `AEROSPIKE_HOSTS`): two calls that differ in
//! anything that can change the value (type and const arguments, the concrete type of an `impl
//! Trait` argument, the enclosing function, the trait, a float's bits) never share an entry, and an
//! explicit key never reaches a default-key entry of its set.

mod common;

use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use cacheaside::cache_aside;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// A type argument that changes what a function returns.
trait Named {
    const NAME: &'static str;
}

struct Admin;
struct Guest;

impl Named for Admin {
    const NAME: &'static str = "admin";
}

impl Named for Guest {
    const NAME: &'static str = "guest";
}

#[cache_aside(set = "keys", ttl = 3600)]
async fn label<T: Named>(id: u64) -> String {
    format!("{}:{id}", T::NAME)
}

#[cache_aside(set = "keys", ttl = 3600, local(ttl = "1h", capacity = 1_000))]
async fn local_label<T: Named>(id: u64) -> String {
    format!("local {}:{id}", T::NAME)
}

#[cache_aside(set = "keys", ttl = 3600)]
fn scale<const N: u64>(x: u64) -> u64 {
    x.wrapping_mul(N)
}

/// Two record types of the same shape: each decodes the other's bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Product {
    id: u64,
    name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Customer {
    id: u64,
    name: String,
}

trait Record {
    fn load(id: u64) -> Self;
}

impl Record for Product {
    fn load(id: u64) -> Self {
        Product {
            id,
            name: format!("product {id}"),
        }
    }
}

impl Record for Customer {
    fn load(id: u64) -> Self {
        Customer {
            id,
            name: format!("customer {id}"),
        }
    }
}

#[cache_aside(set = "keys", ttl = 3600)]
async fn fetch<T: Record + Serialize + serde::de::DeserializeOwned>(id: u64) -> Result<T, String> {
    Ok(T::load(id))
}

/// `impl Trait` arguments: `5u8` and `5i64` serialize alike.
#[cache_aside(set = "keys", ttl = 3600)]
async fn show(value: impl Serialize + Debug) -> String {
    format!("{} {value:?}", std::any::type_name_of_val(&value))
}

/// A type parameter that only a skipped argument uses is not part of the key, so that
/// `audited_invalidate` (which takes only `id`) can name it.
trait Audit {
    fn note(&self);
}

struct Counter(AtomicUsize);

impl Audit for Counter {
    fn note(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[cache_aside(set = "keys", ttl = 3600, skip(audit))]
async fn audited<A: Audit>(audit: &A, id: u64) -> String {
    audit.note();
    format!("audited {id}")
}

/// Two functions named `helper`, each inside another function of this module.
async fn first_helper(id: u64) -> String {
    #[cache_aside(set = "keys", ttl = 3600)]
    async fn helper(id: u64) -> String {
        format!("first {id}")
    }
    helper(id).await
}

async fn second_helper(id: u64) -> String {
    #[cache_aside(set = "keys", ttl = 3600)]
    async fn helper(id: u64) -> String {
        format!("second {id}")
    }
    helper(id).await
}

/// Methods: a generic method, and the same method of two traits implemented without companions.
struct Repo;

impl Repo {
    #[cache_aside(set = "keys", ttl = 3600)]
    async fn named<T: Named>(&self, id: u64) -> String {
        format!("repo {}:{id}", T::NAME)
    }
}

trait Greeting {
    async fn greet(&self, id: u64) -> String;
}

trait Farewell {
    async fn greet(&self, id: u64) -> String;
}

impl Greeting for Repo {
    #[cache_aside(set = "keys", ttl = 3600, companions = false)]
    async fn greet(&self, id: u64) -> String {
        format!("hello {id}")
    }
}

impl Farewell for Repo {
    #[cache_aside(set = "keys", ttl = 3600, companions = false)]
    async fn greet(&self, id: u64) -> String {
        format!("goodbye {id}")
    }
}

/// Floats by their bits: NaNs of other signs and payloads, `-0.0` and `0.0` are other arguments.
#[cache_aside(set = "keys", ttl = 3600)]
async fn bits(x: f64) -> u64 {
    x.to_bits()
}

#[cache_aside(set = "keys", ttl = 3600)]
async fn bits32(x: f32) -> u32 {
    x.to_bits()
}

/// The case of the report: an explicit key next to a default key, in one set.
///
/// Body runs per name: tests run in parallel and each uses its own names, so a count per name is
/// not moved by another test.
fn runs_of(name: &str) -> usize {
    display_name_runs()
        .lock()
        .unwrap()
        .get(name)
        .copied()
        .unwrap_or(0)
}

fn count_run(name: &str) {
    *display_name_runs()
        .lock()
        .unwrap()
        .entry(name.to_owned())
        .or_default() += 1;
}

fn display_name_runs() -> &'static std::sync::Mutex<std::collections::HashMap<String, usize>> {
    static RUNS: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<String, usize>>> =
        std::sync::OnceLock::new();
    RUNS.get_or_init(Default::default)
}

#[cache_aside(set = "s", ttl = 3600)]
async fn api_token(user_id: u64) -> String {
    format!("secret-token-of-{user_id}")
}

#[cache_aside(set = "s", ttl = 3600, key = name.clone())]
async fn display_name(name: String) -> String {
    count_run(&name);
    format!("name {name}")
}

/// The key `api_token(user_id)` had before default keys were marked.
fn unmarked_api_token_key(user_id: u64) -> String {
    format!("{}::api_token({user_id})", module_path!())
}

/// The key `api_token(user_id)` has.
fn api_token_key(user_id: u64) -> String {
    format!("::{}::api_token({user_id})", module_path!())
}

#[tokio::test]
async fn type_arguments_are_part_of_the_key() {
    common::init().await;
    let id = common::unique();
    assert_eq!(label::<Admin>(id).await, format!("admin:{id}"));
    assert_eq!(label::<Guest>(id).await, format!("guest:{id}"));
    assert_eq!(label::<Admin>(id).await, format!("admin:{id}"));
    assert_eq!(local_label::<Admin>(id).await, format!("local admin:{id}"));
    assert_eq!(local_label::<Guest>(id).await, format!("local guest:{id}"));
    assert_eq!(
        fetch::<Product>(id).await,
        Ok(Product {
            id,
            name: format!("product {id}")
        })
    );
    assert_eq!(
        fetch::<Customer>(id).await,
        Ok(Customer {
            id,
            name: format!("customer {id}")
        })
    );
    assert_eq!(Repo.named::<Admin>(id).await, format!("repo admin:{id}"));
    assert_eq!(Repo.named::<Guest>(id).await, format!("repo guest:{id}"));
}

#[tokio::test]
async fn const_arguments_are_part_of_the_key() {
    common::init().await;
    let x = common::unique() % 1_000_000;
    tokio::task::spawn_blocking(move || {
        assert_eq!(scale::<2>(x), 2 * x);
        assert_eq!(scale::<3>(x), 3 * x);
        assert_eq!(scale::<2>(x), 2 * x);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn impl_trait_arguments_are_keyed_by_their_concrete_type() {
    common::init().await;
    let id = common::unique() % 100_000;
    assert_eq!(show(id as u8).await, format!("u8 {}", id as u8));
    assert_eq!(show(i64::from(id as u8)).await, format!("i64 {}", id as u8));
    assert_eq!(show(id as u8).await, format!("u8 {}", id as u8));
}

#[tokio::test]
async fn enclosing_functions_and_traits_are_part_of_the_key() {
    common::init().await;
    let id = common::unique();
    assert_eq!(first_helper(id).await, format!("first {id}"));
    assert_eq!(second_helper(id).await, format!("second {id}"));
    assert_eq!(Greeting::greet(&Repo, id).await, format!("hello {id}"));
    assert_eq!(Farewell::greet(&Repo, id).await, format!("goodbye {id}"));
}

#[tokio::test]
async fn invalidate_takes_the_type_arguments_of_the_key() {
    common::init().await;
    let id = common::unique();
    assert_eq!(label::<Admin>(id).await, format!("admin:{id}"));
    assert_eq!(label::<Guest>(id).await, format!("guest:{id}"));
    label_invalidate::<Admin>(id).await.expect("invalidates");
    // Peeks, not the set's counters: other tests of this file use the set at the same time.
    assert_eq!(
        label_peek::<Admin>(id).await,
        None,
        "the entry of `label::<Admin>` is gone"
    );
    assert_eq!(
        label_peek::<Guest>(id).await,
        Some(format!("guest:{id}")),
        "the entry of `label::<Guest>` stays"
    );
    assert_eq!(label::<Admin>(id).await, format!("admin:{id}"));
    assert_eq!(label_peek::<Guest>(id).await, Some(format!("guest:{id}")));
}

#[tokio::test]
async fn a_type_parameter_of_skipped_arguments_only_is_not_part_of_the_key() {
    common::init().await;
    let id = common::unique();
    let audit = Counter(AtomicUsize::new(0));
    assert_eq!(audited(&audit, id).await, format!("audited {id}"));
    assert_eq!(audited(&audit, id).await, format!("audited {id}"));
    assert_eq!(audit.0.load(Ordering::SeqCst), 1, "the second call hits");
    audited_invalidate(id).await.expect("invalidates");
    assert_eq!(audited(&audit, id).await, format!("audited {id}"));
    assert_eq!(audit.0.load(Ordering::SeqCst), 2, "invalidated");
}

#[tokio::test]
async fn nan_signs_and_payloads_and_zero_signs_are_other_arguments() {
    common::init().await;
    // A payload unique to this run, so that a real cluster holds no entry of an earlier one.
    let payload = common::unique() & 0x0007_ffff_ffff_ffff;
    let quiet = f64::from_bits(0x7ff8_0000_0000_0000 | payload);
    let negative = f64::from_bits(0xfff8_0000_0000_0000 | payload);
    let other_payload = f64::from_bits(0x7ff8_0000_0000_0000 | (payload ^ 1));
    for x in [quiet, negative, other_payload, quiet] {
        assert_eq!(bits(x).await, x.to_bits(), "{:#x}", x.to_bits());
    }
    let zero = (common::unique() % 1_000) as f64 * 0.0;
    assert_eq!(bits(zero).await, 0.0f64.to_bits());
    assert_eq!(bits(-zero).await, (-0.0f64).to_bits());
    let small = f32::from_bits(0x7fc0_0000 | (payload as u32 & 0x3f_ffff));
    assert_eq!(bits32(small).await, small.to_bits());
    assert_eq!(bits32(-small).await, (-small).to_bits());
}

#[tokio::test]
async fn an_explicit_key_never_reads_a_default_key_entry() {
    common::init().await;
    // The report used user 2633; a fresh id shows the same, and keeps the test repeatable
    // against a server that keeps the records of earlier runs.
    let user_id = common::unique();
    let token = api_token(user_id).await;
    assert_eq!(token, format!("secret-token-of-{user_id}"));
    assert_eq!(api_token_peek(user_id).await, Some(token.clone()));

    // The report's call: the old form of the default key, as an explicit key.
    let unmarked = unmarked_api_token_key(user_id);
    assert_eq!(
        display_name(unmarked.clone()).await,
        format!("name {unmarked}")
    );
    assert_eq!(runs_of(&unmarked), 1);

    // The default key as it is written now: refused, so the body runs and nothing is cached.
    let marked = api_token_key(user_id);
    let errors = cacheaside::stats().set("s").cache_errors;
    for _ in 0..2 {
        assert_eq!(display_name(marked.clone()).await, format!("name {marked}"));
    }
    assert_eq!(runs_of(&marked), 2);
    assert!(cacheaside::stats().set("s").cache_errors >= errors + 2);
    assert_eq!(display_name_peek(marked.clone()).await, None);
    assert_eq!(
        api_token(user_id).await,
        token,
        "the token's entry is untouched"
    );
    assert!(display_name_invalidate(marked).await.is_err());
}

#[tokio::test]
async fn explicit_keys_of_other_functions_still_share_their_entry() {
    common::init().await;
    let name = format!("shared-{}", common::unique());
    assert_eq!(display_name(name.clone()).await, format!("name {name}"));
    assert_eq!(other_reader(name.clone()).await, format!("name {name}"));
    assert_eq!(runs_of(&name), 1, "read from the entry");

    #[cache_aside(set = "s", ttl = 3600, key = name.clone())]
    async fn other_reader(name: String) -> String {
        count_run(&name);
        format!("other {name}")
    }
}

/// One call of a function of this file, and the value it must return.
#[derive(Debug, Clone)]
enum Call {
    Label(bool, u64),
    LocalLabel(bool, u64),
    Scale(bool, u64),
    Fetch(bool, u64),
    Show(bool, u8),
    Helper(bool, u64),
    Method(bool, u64),
    Greet(bool, u64),
    Bits(u64),
    Token(u64),
    DisplayName(bool, u64),
}

impl Call {
    /// What the call returns, as text.
    async fn run(&self) -> String {
        match *self {
            Call::Label(true, id) => label::<Admin>(id).await,
            Call::Label(false, id) => label::<Guest>(id).await,
            Call::LocalLabel(true, id) => local_label::<Admin>(id).await,
            Call::LocalLabel(false, id) => local_label::<Guest>(id).await,
            Call::Scale(two, x) => {
                tokio::task::spawn_blocking(move || if two { scale::<2>(x) } else { scale::<3>(x) })
                    .await
                    .unwrap()
                    .to_string()
            }
            Call::Fetch(true, id) => format!("{:?}", fetch::<Product>(id).await),
            Call::Fetch(false, id) => format!("{:?}", fetch::<Customer>(id).await),
            Call::Show(true, x) => show(x).await,
            Call::Show(false, x) => show(i64::from(x)).await,
            Call::Helper(true, id) => first_helper(id).await,
            Call::Helper(false, id) => second_helper(id).await,
            Call::Method(true, id) => Repo.named::<Admin>(id).await,
            Call::Method(false, id) => Repo.named::<Guest>(id).await,
            Call::Greet(true, id) => Greeting::greet(&Repo, id).await,
            Call::Greet(false, id) => Farewell::greet(&Repo, id).await,
            Call::Bits(bits_of) => bits(f64::from_bits(bits_of)).await.to_string(),
            Call::Token(id) => api_token(id).await,
            Call::DisplayName(marked, id) => display_name(key_like(marked, id)).await,
        }
    }

    /// What the call's body returns.
    fn expected(&self) -> String {
        match *self {
            Call::Label(admin, id) => format!("{}:{id}", if admin { "admin" } else { "guest" }),
            Call::LocalLabel(admin, id) => {
                format!("local {}:{id}", if admin { "admin" } else { "guest" })
            }
            Call::Scale(two, x) => (x * if two { 2 } else { 3 }).to_string(),
            Call::Fetch(true, id) => format!("{:?}", Ok::<_, String>(Product::load(id))),
            Call::Fetch(false, id) => format!("{:?}", Ok::<_, String>(Customer::load(id))),
            Call::Show(true, x) => format!("u8 {x}"),
            Call::Show(false, x) => format!("i64 {x}"),
            Call::Helper(first, id) => format!("{} {id}", if first { "first" } else { "second" }),
            Call::Method(admin, id) => {
                format!("repo {}:{id}", if admin { "admin" } else { "guest" })
            }
            Call::Greet(hello, id) => format!("{} {id}", if hello { "hello" } else { "goodbye" }),
            Call::Bits(bits_of) => bits_of.to_string(),
            Call::Token(id) => format!("secret-token-of-{id}"),
            Call::DisplayName(marked, id) => format!("name {}", key_like(marked, id)),
        }
    }
}

/// A name that is the key of `api_token(id)`, as it is written now or as it was written before.
fn key_like(marked: bool, id: u64) -> String {
    if marked {
        api_token_key(id)
    } else {
        unmarked_api_token_key(id)
    }
}

/// Floats whose keys are easy to confuse: NaNs of both signs with a few payloads, both zeros,
/// both infinities, and any other value.
fn float_bits() -> impl Strategy<Value = u64> {
    prop_oneof![
        (any::<bool>(), 0u64..4).prop_map(|(negative, payload)| {
            (u64::from(negative) << 63) | 0x7ff8_0000_0000_0000 | payload
        }),
        (any::<bool>(), 1u64..3).prop_map(|(negative, payload)| {
            // Signalling NaNs: the quiet bit clear, a payload set.
            (u64::from(negative) << 63) | 0x7ff0_0000_0000_0000 | payload
        }),
        prop::sample::select(vec![
            0.0f64.to_bits(),
            (-0.0f64).to_bits(),
            f64::INFINITY.to_bits(),
            f64::NEG_INFINITY.to_bits(),
        ]),
        any::<u64>(),
    ]
}

fn call() -> impl Strategy<Value = Call> {
    // Few ids, so that calls of different functions with equal arguments are frequent.
    let id = 0u64..4;
    prop_oneof![
        (any::<bool>(), id.clone()).prop_map(|(a, id)| Call::Label(a, id)),
        (any::<bool>(), id.clone()).prop_map(|(a, id)| Call::LocalLabel(a, id)),
        (any::<bool>(), id.clone()).prop_map(|(a, id)| Call::Scale(a, id)),
        (any::<bool>(), id.clone()).prop_map(|(a, id)| Call::Fetch(a, id)),
        (any::<bool>(), 0u8..4).prop_map(|(a, x)| Call::Show(a, x)),
        (any::<bool>(), id.clone()).prop_map(|(a, id)| Call::Helper(a, id)),
        (any::<bool>(), id.clone()).prop_map(|(a, id)| Call::Method(a, id)),
        (any::<bool>(), id.clone()).prop_map(|(a, id)| Call::Greet(a, id)),
        float_bits().prop_map(Call::Bits),
        id.clone().prop_map(Call::Token),
        (any::<bool>(), id).prop_map(|(marked, id)| Call::DisplayName(marked, id)),
    ]
}

/// The runtime the property test runs its calls on, with the cache installed.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(common::init());
        runtime
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// In any order, every call returns what its own body returns: no call is answered with the
    /// entry of a call to another function, another instantiation or another argument.
    #[test]
    fn no_call_gets_another_calls_value(calls in prop::collection::vec(call(), 1..12)) {
        let runtime = runtime();
        for call in &calls {
            let returned = runtime.block_on(call.run());
            prop_assert_eq!(returned, call.expected(), "{:?} in {:?}", call, calls);
        }
    }
}
