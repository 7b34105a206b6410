//! Batch loaders: every collection of ids, every return kind, sync and async, methods, generics.
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

/// A slice, a `Result`.
#[cache_aside(set = "batch", ttl = 60, batch, skip(db))]
pub async fn slice(db: &Pool, ids: &[u64]) -> Result<HashMap<u64, String>, String> {
    let _ = db;
    Ok(ids.iter().map(|id| (*id, id.to_string())).collect())
}

/// A `Vec` by value, an `Option`, a `BTreeMap`.
#[cache_aside(set = "batch", ttl = "1h", batch)]
pub async fn owned(ids: Vec<i32>) -> Option<BTreeMap<i32, u8>> {
    Some(ids.into_iter().map(|id| (id, 1)).collect())
}

/// A borrowed `Vec` of strings, a plain map.
#[cache_aside(set = "batch", batch)]
pub async fn strings(ids: &Vec<String>) -> HashMap<String, usize> {
    ids.iter().map(|id| (id.clone(), id.len())).collect()
}

/// Sets, sync.
#[cache_aside(set = "batch", ttl = never, batch, skip(_unused))]
pub fn sets(ids: HashSet<u16>, _unused: &BTreeSet<u16>) -> HashMap<u16, u16> {
    ids.into_iter().map(|id| (id, id)).collect()
}

/// A sorted set behind a reference, bytes ids.
#[cache_aside(set = "batch", ttl = 60, batch, namespace = "test")]
pub fn bytes(ids: &BTreeSet<Vec<u8>>) -> BTreeMap<Vec<u8>, u32> {
    ids.iter().map(|id| (id.clone(), 0)).collect()
}

/// A repository.
pub struct Repo<T>(T);

impl<T: Sync> Repo<T> {
    /// A method with a generic receiver type.
    #[cache_aside(set = "batch", ttl = 60, batch)]
    pub async fn names(&self, ids: &[u64]) -> Result<HashMap<u64, String>, std::io::Error> {
        let _ = &self.0;
        Ok(ids.iter().map(|id| (*id, String::new())).collect())
    }
}

/// A generic id type.
#[cache_aside(set = "batch", ttl = 60, batch)]
pub async fn generic<K>(ids: &[K]) -> HashMap<K, u32>
where
    K: Clone + Eq + std::hash::Hash + serde::Serialize + serde::de::DeserializeOwned + Sync,
    for<'a> &'a K: cacheaside::__private::IntoUserKey,
{
    ids.iter().map(|id| (id.clone(), 0)).collect()
}

fn main() {
    let _ = (slice, owned, strings, sets, bytes, generic::<u64>);
    let _ = Repo::<u8>::names;
    let _ = (
        slice_uncached,
        slice_invalidate,
        owned_invalidate,
        sets_invalidate,
        bytes_uncached,
    );
}
