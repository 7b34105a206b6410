//! Batch loaders with `&str` ids borrowed from the caller: slices, `Vec`s and sets of `&str`, the
//! values returned in a map by `String`.
#![deny(
    warnings,
    unused,
    unused_qualifications,
    missing_docs,
    unreachable_pub,
    unused_results
)]
#![deny(
    trivial_casts,
    unused_lifetimes,
    single_use_lifetimes,
    elided_lifetimes_in_paths
)]
//! Crate docs.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use cacheaside::cache_aside;

/// A pool, skipped.
pub struct Pool;

/// A slice of `&str`, a `Result`.
#[cache_aside(set = "batch", ttl = 60, batch, skip(db))]
pub async fn slice(db: &Pool, names: &[&str]) -> Result<HashMap<String, usize>, String> {
    let _ = db;
    Ok(names.iter().map(|name| ((*name).to_owned(), name.len())).collect())
}

/// A `Vec` of `&str`, an `Option` of a `BTreeMap`.
#[cache_aside(set = "batch", ttl = "1h", batch)]
pub async fn owned(names: Vec<&str>) -> Option<BTreeMap<String, u8>> {
    Some(names.into_iter().map(|name| (name.to_owned(), 1)).collect())
}

/// Sets of `&str`, sync.
#[cache_aside(set = "batch", ttl = never, batch)]
pub fn sets(names: &HashSet<&str>) -> HashMap<String, u16> {
    names.iter().map(|name| ((*name).to_owned(), 0)).collect()
}

/// A sorted set by value.
#[cache_aside(set = "batch", batch)]
pub fn sorted(names: BTreeSet<&'static str>) -> BTreeMap<String, bool> {
    names.into_iter().map(|name| (name.to_owned(), true)).collect()
}

/// A method.
pub struct Repo;

impl Repo {
    /// `&self` is skipped like any receiver.
    #[cache_aside(set = "batch", ttl = 60, batch)]
    pub async fn find(&self, names: &[&str]) -> HashMap<String, String> {
        names.iter().map(|name| ((*name).to_owned(), (*name).to_owned())).collect()
    }
}

async fn calls() {
    let names = vec!["a".to_owned(), "b".to_owned()];
    let borrowed: Vec<&str> = names.iter().map(String::as_str).collect();
    let _: Result<HashMap<String, usize>, String> = slice(&Pool, &borrowed).await;
    let _: Option<BTreeMap<String, u8>> = owned(borrowed.clone()).await;
    let _: HashMap<String, u16> = sets(&borrowed.iter().copied().collect());
    let _: BTreeMap<String, bool> = sorted(["x", "y"].into_iter().collect());
    let _: HashMap<String, String> = Repo.find(&borrowed).await;
    let _: Result<(), cacheaside::Error> = slice_invalidate(&borrowed).await;
    let _: Result<(), cacheaside::Error> = sets_invalidate(&HashSet::new());
    let _: HashMap<String, usize> = slice_uncached(&Pool, &["c"]).await.unwrap_or_default();
}

fn main() {
    drop(calls());
}
