//! Every function shape `#[cache_aside]` supports, run against Aerospike (the testkit, or
//! `AEROSPIKE_HOSTS`): a miss runs the body, a hit does not, and the companion `…_invalidate`
//! removes the entry so that the next call runs the body again.

mod common;

use std::borrow::Cow;
use std::fmt::Display;
use std::sync::atomic::{AtomicUsize, Ordering};

use cacheaside::cache_aside;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Counts how often a body runs; never part of a key.
#[derive(Default)]
struct Loads(AtomicUsize);

impl Loads {
    fn record(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[cache_aside(set = "shapes", ttl = 3600, skip(loads))]
async fn generic_key<K: Serialize + Display>(loads: &Loads, id: K) -> String {
    loads.record();
    format!("id {id}")
}

#[tokio::test]
async fn generic_arguments() {
    common::init().await;
    let loads = Loads::default();
    let id = common::unique();
    assert_eq!(generic_key(&loads, id).await, format!("id {id}"));
    assert_eq!(generic_key(&loads, id).await, format!("id {id}"));
    assert_eq!(loads.count(), 1, "the second call is a hit");
    // The key holds the serialized argument, so another type with the same text is another key.
    assert_eq!(
        generic_key(&loads, id.to_string()).await,
        format!("id {id}")
    );
    assert_eq!(loads.count(), 2);
    generic_key_invalidate(id).await.unwrap();
    generic_key(&loads, id).await;
    assert_eq!(loads.count(), 3, "invalidated: loads again");
}

#[cache_aside(set = "shapes", ttl = 3600, skip(loads))]
fn generic_return<T: Serialize + DeserializeOwned + From<u32>>(
    loads: &Loads,
    id: u32,
) -> Option<T> {
    loads.record();
    Some(T::from(id))
}

#[tokio::test]
async fn generic_return_types() {
    common::init().await;
    let loads = Loads::default();
    let id = (common::unique() % 1_000_000) as u32;
    assert_eq!(generic_return::<u64>(&loads, id), Some(u64::from(id)));
    assert_eq!(generic_return::<u64>(&loads, id), Some(u64::from(id)));
    assert_eq!(loads.count(), 1);
    // Each instantiation has its own entry: `u32`'s is loaded, and removing it leaves `u64`'s.
    assert_eq!(generic_return::<u32>(&loads, id), Some(id));
    assert_eq!(loads.count(), 2);
    generic_return_invalidate::<u32>(id).unwrap();
    assert_eq!(generic_return::<u64>(&loads, id), Some(u64::from(id)));
    assert_eq!(loads.count(), 2);
    generic_return_invalidate::<u64>(id).unwrap();
    assert_eq!(generic_return::<u64>(&loads, id), Some(u64::from(id)));
    assert_eq!(loads.count(), 3);
}

#[cache_aside(set = "shapes", ttl = 3600, skip(loads))]
#[allow(clippy::needless_lifetimes)] // a named lifetime is one of the shapes under test
async fn borrowed<'a>(loads: &Loads, name: &'a str, ids: &[u64], label: Cow<'_, str>) -> String {
    loads.record();
    format!("{label}:{name}:{}", ids.len())
}

#[tokio::test]
async fn borrowed_arguments() {
    common::init().await;
    let loads = Loads::default();
    let name = format!("n{}", common::unique());
    let expected = format!("l:{name}:2");
    assert_eq!(
        borrowed(&loads, &name, &[1, 2], Cow::Borrowed("l")).await,
        expected
    );
    // A `Cow` serializes as its contents: borrowed and owned are one key.
    let owned: Cow<'_, str> = Cow::Owned("l".to_owned());
    assert_eq!(borrowed(&loads, &name, &[1, 2], owned).await, expected);
    assert_eq!(loads.count(), 1);
    borrowed_invalidate(&name, &[1, 2], Cow::Borrowed("l"))
        .await
        .unwrap();
    borrowed(&loads, &name, &[1, 2], Cow::Borrowed("l")).await;
    assert_eq!(loads.count(), 2);
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Point {
    x: i64,
    y: i64,
}

#[cache_aside(set = "shapes", ttl = 3600, skip(loads))]
fn destructured(loads: &Loads, (a, b): (u64, u64), Point { x, y }: Point, mut total: i64) -> i64 {
    loads.record();
    total += (a + b) as i64 + x + y;
    total
}

#[tokio::test]
async fn destructuring_patterns_and_mut() {
    common::init().await;
    let loads = Loads::default();
    let seed = (common::unique() % 1_000_000) as i64;
    let point = Point { x: 1, y: 2 };
    assert_eq!(destructured(&loads, (3, 4), point, seed), seed + 10);
    assert_eq!(destructured(&loads, (3, 4), point, seed), seed + 10);
    assert_eq!(loads.count(), 1);
    assert_eq!(destructured(&loads, (4, 3), point, seed), seed + 10);
    assert_eq!(loads.count(), 2, "a different tuple is a different key");
    destructured_invalidate((3, 4), point, seed).unwrap();
    destructured(&loads, (3, 4), point, seed);
    assert_eq!(loads.count(), 3);
}

#[cache_aside(set = "shapes", ttl = 3600, skip(loads))]
async fn gated(loads: &Loads, id: u64, #[cfg(any())] never: u64, #[cfg(test)] always: u64) -> u64 {
    loads.record();
    id + always
}

#[tokio::test]
async fn cfg_on_arguments() {
    common::init().await;
    let loads = Loads::default();
    let id = common::unique() % 1_000_000;
    assert_eq!(gated(&loads, id, 1).await, id + 1);
    assert_eq!(gated(&loads, id, 1).await, id + 1);
    assert_eq!(gated(&loads, id, 2).await, id + 2);
    assert_eq!(
        loads.count(),
        2,
        "the compiled-in argument is part of the key"
    );
    gated_invalidate(id, 1).await.unwrap();
    gated(&loads, id, 1).await;
    assert_eq!(loads.count(), 3);
}

#[cache_aside(set = "shapes", ttl = 3600, skip(loads, log))]
async fn impl_trait(loads: &Loads, name: impl AsRef<str> + Serialize, log: impl Fn(&str)) -> usize {
    loads.record();
    log(name.as_ref());
    name.as_ref().len()
}

#[tokio::test]
async fn impl_trait_arguments() {
    common::init().await;
    let loads = Loads::default();
    let name = format!("name-{}", common::unique());
    let logged = AtomicUsize::new(0);
    let log = |_: &str| {
        logged.fetch_add(1, Ordering::SeqCst);
    };
    assert_eq!(impl_trait(&loads, name.as_str(), log).await, name.len());
    assert_eq!(impl_trait(&loads, name.as_str(), log).await, name.len());
    assert_eq!((loads.count(), logged.load(Ordering::SeqCst)), (1, 1));
    // The concrete type of a key argument's `impl Trait` is part of the key (two types may
    // serialize alike and return different values): a `String` has an entry of its own.
    assert_eq!(impl_trait(&loads, name.clone(), log).await, name.len());
    assert_eq!(loads.count(), 2);
    impl_trait_invalidate(name.as_str()).await.unwrap();
    impl_trait(&loads, name.as_str(), log).await;
    assert_eq!(loads.count(), 3, "the `&str` entry was removed");
    impl_trait(&loads, name.clone(), log).await;
    assert_eq!(loads.count(), 3, "the `String` entry stays");
}

mod nested {
    use super::Loads;
    use cacheaside::cache_aside;

    /// Documented, and `must_use` is kept.
    #[cache_aside(set = "shapes", ttl = 3600, skip(loads))]
    #[must_use]
    pub(super) fn visible_to_parent(loads: &Loads, id: u64) -> u64 {
        loads.record();
        id * 2
    }

    #[cache_aside(set = "shapes", ttl = 3600, skip(loads))]
    pub(crate) async fn visible_in_crate(loads: &Loads, id: u64) -> u64 {
        loads.record();
        id * 3
    }
}

#[tokio::test]
async fn restricted_visibility_reaches_the_companions() {
    common::init().await;
    let loads = Loads::default();
    let id = common::unique() % 1_000_000;
    assert_eq!(nested::visible_to_parent(&loads, id), id * 2);
    assert_eq!(nested::visible_to_parent(&loads, id), id * 2);
    assert_eq!(nested::visible_in_crate(&loads, id).await, id * 3);
    assert_eq!(nested::visible_in_crate(&loads, id).await, id * 3);
    assert_eq!(loads.count(), 2);
    nested::visible_to_parent_invalidate(id).unwrap();
    nested::visible_in_crate_invalidate(id).await.unwrap();
    assert_eq!(nested::visible_to_parent_refresh(&loads, id), id * 2);
    nested::visible_in_crate(&loads, id).await;
    assert_eq!(loads.count(), 4);
}

struct Repo<T> {
    items: Vec<T>,
    loads: Loads,
}

#[cache_aside]
impl<T: Clone + Serialize + DeserializeOwned> Repo<T> {
    #[cache_aside(set = "shapes", ttl = 3600)]
    async fn item(&self, index: usize, salt: u64) -> Option<T> {
        self.loads.record();
        let _ = salt;
        self.items.get(index).cloned()
    }

    #[cache_aside(set = "shapes", ttl = 3600, skip(loads))]
    fn label(loads: &Loads, salt: u64) -> String {
        loads.record();
        format!("label {salt}")
    }
}

#[tokio::test]
async fn generic_impl_blocks_and_associated_functions() {
    common::init().await;
    let salt = common::unique();
    let repo = Repo {
        items: vec!["a".to_owned(), "b".to_owned()],
        loads: Loads::default(),
    };
    assert_eq!(repo.item(1, salt).await, Some("b".to_owned()));
    assert_eq!(repo.item(1, salt).await, Some("b".to_owned()));
    assert_eq!(repo.item(9, salt).await, None);
    assert_eq!(repo.item(9, salt).await, None);
    assert_eq!(repo.loads.count(), 3, "`None` is not cached");
    repo.item_invalidate(1, salt).await.unwrap();
    repo.item(1, salt).await;
    assert_eq!(repo.loads.count(), 4);

    let loads = Loads::default();
    assert_eq!(Repo::<String>::label(&loads, salt), format!("label {salt}"));
    assert_eq!(Repo::<String>::label(&loads, salt), format!("label {salt}"));
    assert_eq!(loads.count(), 1);
    Repo::<String>::label_invalidate(salt).unwrap();
    Repo::<String>::label(&loads, salt);
    assert_eq!(loads.count(), 2);
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
}

trait UserStore {
    async fn load(&self, id: u64) -> Result<User, String>;
    fn name(&self, id: u64) -> Option<String>;
}

#[cache_aside]
impl<T: Serialize> UserStore for Repo<T> {
    #[cache_aside(set = "shapes", ttl = 3600)]
    async fn load(&self, id: u64) -> Result<User, String> {
        self.loads.record();
        Ok(User { id })
    }

    #[cache_aside(set = "shapes", ttl = 3600, key = format!("trait-name:{id}"))]
    fn name(&self, id: u64) -> Option<String> {
        self.loads.record();
        Some(format!("user {id}"))
    }
}

#[tokio::test]
async fn trait_impls_keep_their_companions() {
    common::init().await;
    let id = common::unique();
    let repo = Repo::<u8> {
        items: Vec::new(),
        loads: Loads::default(),
    };
    assert_eq!(repo.load(id).await, Ok(User { id }));
    assert_eq!(repo.load(id).await, Ok(User { id }));
    assert_eq!(repo.name(id), Some(format!("user {id}")));
    assert_eq!(repo.name(id), Some(format!("user {id}")));
    assert_eq!(repo.loads.count(), 2);
    repo.load_invalidate(id).await.unwrap();
    repo.name_invalidate(id).unwrap();
    repo.load(id).await.unwrap();
    repo.name(id);
    assert_eq!(repo.loads.count(), 4);
}

struct Plain {
    loads: Loads,
}

impl UserStore for Plain {
    #[cache_aside(set = "shapes", ttl = 3600, companions = false)]
    async fn load(&self, id: u64) -> Result<User, String> {
        self.loads.record();
        Ok(User { id })
    }

    #[cache_aside(set = "shapes", ttl = 3600, companions = false)]
    fn name(&self, id: u64) -> Option<String> {
        self.loads.record();
        Some(format!("plain {id}"))
    }
}

#[tokio::test]
async fn trait_impls_without_companions() {
    common::init().await;
    let id = common::unique();
    let plain = Plain {
        loads: Loads::default(),
    };
    assert_eq!(plain.load(id).await, Ok(User { id }));
    assert_eq!(plain.load(id).await, Ok(User { id }));
    assert_eq!(plain.name(id), Some(format!("plain {id}")));
    assert_eq!(plain.name(id), Some(format!("plain {id}")));
    assert_eq!(plain.loads.count(), 2);
}

#[derive(Debug, PartialEq)]
struct DbError;

type DbResult<T> = Result<T, DbError>;
type Lookup = Option<u64>;

/// Stands in for the `anyhow` crate: `anyhow::Result<T>` is `Result<T, anyhow::Error>`.
mod anyhow {
    #[derive(Debug, PartialEq)]
    pub struct Error;
    pub type Result<T, E = Error> = core::result::Result<T, E>;
}

#[cache_aside(set = "shapes", ttl = 3600, skip(loads), returns = result)]
async fn db_result(loads: &Loads, id: u64) -> DbResult<u64> {
    loads.record();
    if loads.count() == 1 {
        return Err(DbError);
    }
    Ok(id)
}

#[cache_aside(set = "shapes", ttl = 3600, skip(loads), returns = option)]
fn lookup(loads: &Loads, id: u64) -> Lookup {
    loads.record();
    (loads.count() > 1).then_some(id)
}

#[cache_aside(set = "shapes", ttl = 3600, skip(loads))]
async fn with_anyhow(loads: &Loads, id: u64) -> anyhow::Result<u64> {
    loads.record();
    if loads.count() == 1 {
        return Err(anyhow::Error);
    }
    Ok(id)
}

#[cache_aside(set = "shapes", ttl = 3600, skip(loads), returns = value)]
fn whole(loads: &Loads, id: u64) -> Result<u64, String> {
    loads.record();
    Err(format!("no {id}"))
}

#[tokio::test]
async fn return_aliases_cache_only_what_they_should() {
    common::init().await;
    let id = common::unique();

    let loads = Loads::default();
    assert_eq!(db_result(&loads, id).await, Err(DbError));
    assert_eq!(db_result(&loads, id).await, Ok(id), "`Err` was not cached");
    assert_eq!(db_result(&loads, id).await, Ok(id));
    assert_eq!(loads.count(), 2);
    db_result_invalidate(id).await.unwrap();
    db_result(&loads, id).await.unwrap();
    assert_eq!(loads.count(), 3);

    let loads = Loads::default();
    assert_eq!(lookup(&loads, id), None);
    assert_eq!(lookup(&loads, id), Some(id), "`None` was not cached");
    assert_eq!(lookup(&loads, id), Some(id));
    assert_eq!(loads.count(), 2);
    lookup_invalidate(id).unwrap();
    lookup(&loads, id);
    assert_eq!(loads.count(), 3);

    let loads = Loads::default();
    assert_eq!(with_anyhow(&loads, id).await, Err(anyhow::Error));
    assert_eq!(with_anyhow(&loads, id).await, Ok(id));
    assert_eq!(with_anyhow(&loads, id).await, Ok(id));
    assert_eq!(loads.count(), 2);
    with_anyhow_invalidate(id).await.unwrap();
    with_anyhow(&loads, id).await.unwrap();
    assert_eq!(loads.count(), 3);

    let loads = Loads::default();
    assert_eq!(whole(&loads, id), Err(format!("no {id}")));
    assert_eq!(whole(&loads, id), Err(format!("no {id}")));
    assert_eq!(loads.count(), 1, "`returns = value` caches `Err` too");
    whole_invalidate(id).unwrap();
    whole(&loads, id).unwrap_err();
    assert_eq!(loads.count(), 2);
}

mod infra {
    pub use ::cacheaside as cache;
}

#[infra::cache::cache_aside(set = "shapes", ttl = 3600, skip(loads), crate = crate::infra::cache)]
async fn through_reexport(loads: &Loads, id: u64) -> u64 {
    loads.record();
    id + 1
}

#[tokio::test]
async fn crate_path_of_a_reexport() {
    common::init().await;
    let loads = Loads::default();
    let id = common::unique() % 1_000_000;
    assert_eq!(through_reexport(&loads, id).await, id + 1);
    assert_eq!(through_reexport(&loads, id).await, id + 1);
    assert_eq!(loads.count(), 1);
    through_reexport_invalidate(id).await.unwrap();
    through_reexport(&loads, id).await;
    assert_eq!(loads.count(), 2);
}

#[cache_aside(set = "shapes", ttl = 3600, skip(cache))]
#[allow(clippy::too_many_arguments)]
fn generated_names(
    cache: &Loads,
    key: u64,
    result: u64,
    value: u64,
    ttl: u64,
    self_: u64,
    __spec: u64,
    __cacheaside_key: u64,
) -> u64 {
    cache.record();
    key + result + value + ttl + self_ + __spec + __cacheaside_key
}

#[tokio::test]
async fn arguments_named_like_generated_variables() {
    common::init().await;
    let loads = Loads::default();
    let key = common::unique() % 1_000_000;
    assert_eq!(generated_names(&loads, key, 1, 2, 3, 4, 5, 6), key + 21);
    assert_eq!(generated_names(&loads, key, 1, 2, 3, 4, 5, 6), key + 21);
    assert_eq!(generated_names(&loads, key, 6, 5, 4, 3, 2, 1), key + 21);
    assert_eq!(loads.count(), 2, "every argument is part of the key");
    generated_names_invalidate(key, 1, 2, 3, 4, 5, 6).unwrap();
    generated_names(&loads, key, 1, 2, 3, 4, 5, 6);
    assert_eq!(loads.count(), 3);
}

#[cache_aside(set = "shapes", ttl = 3600, skip(loads))]
fn r#type(loads: &Loads, _: &Loads, id: u64) -> u64 {
    loads.record();
    id
}

#[cache_aside(set = "shapes", ttl = 3600, skip(loads))]
async fn without_key_arguments<L>(loads: L) -> u64
where
    L: AsRef<Loads>,
{
    loads.as_ref().record();
    7
}

impl AsRef<Loads> for Loads {
    fn as_ref(&self) -> &Loads {
        self
    }
}

#[cache_aside(set = "shapes", ttl = 3600, skip(loads))]
#[cfg(test)]
fn returns_unit(loads: &Loads, id: u64) {
    let _ = id;
    loads.record();
}

#[tokio::test]
async fn raw_names_ignored_arguments_where_clauses_and_unit() {
    common::init().await;
    let id = common::unique();
    let (loads, ignored) = (Loads::default(), Loads::default());
    assert_eq!(r#type(&loads, &ignored, id), id);
    assert_eq!(r#type(&loads, &Loads::default(), id), id);
    assert_eq!(loads.count(), 1, "`_` arguments are not part of the key");
    type_invalidate(id).unwrap();
    r#type(&loads, &ignored, id);
    assert_eq!(loads.count(), 2);

    // The key of a function without key arguments is the function itself: invalidate it first,
    // since another run against a real cluster may have stored it.
    let loads = Loads::default();
    without_key_arguments_invalidate().await.unwrap();
    assert_eq!(without_key_arguments(&loads).await, 7);
    assert_eq!(without_key_arguments(&loads).await, 7);
    assert_eq!(loads.count(), 1);
    without_key_arguments_invalidate().await.unwrap();
    without_key_arguments(&loads).await;
    assert_eq!(loads.count(), 2);

    let loads = Loads::default();
    returns_unit(&loads, id);
    returns_unit(&loads, id);
    assert_eq!(loads.count(), 1, "`()` is a value like any other");
    returns_unit_invalidate(id).unwrap();
    returns_unit(&loads, id);
    assert_eq!(loads.count(), 2);
}
