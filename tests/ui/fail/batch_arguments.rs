use std::collections::HashMap;

use cacheaside::cache_aside;

struct Db;

fn load(_db: &Db, ids: impl IntoIterator<Item = u64>) -> HashMap<u64, u32> {
    ids.into_iter().map(|id| (id, 0)).collect()
}

#[cache_aside(set = "users", ttl = 60, batch)]
async fn db_not_skipped(db: &Db, ids: &[u64]) -> HashMap<u64, u32> {
    load(db, ids.iter().copied())
}

#[cache_aside(set = "users", ttl = 60, batch)]
async fn two_candidates(tenant: u64, region: u64) -> HashMap<u64, u32> {
    load(&Db, [tenant, region])
}

#[cache_aside(set = "users", ttl = 60, batch, skip(ids))]
async fn ids_skipped(ids: &[u64]) -> HashMap<u64, u32> {
    load(&Db, ids.iter().copied())
}

#[cache_aside(set = "users", ttl = 60, batch)]
async fn ids_as_impl_trait(ids: impl IntoIterator<Item = u64>) -> HashMap<u64, u32> {
    load(&Db, ids)
}

#[cache_aside(set = "users", ttl = 60, batch)]
async fn ids_by_mut(ids: &mut Vec<u64>) -> HashMap<u64, u32> {
    load(&Db, ids.drain(..))
}

#[cache_aside(set = "users", ttl = 60, batch)]
async fn ids_in_an_array(ids: [u64; 3]) -> HashMap<u64, u32> {
    load(&Db, ids)
}

#[cache_aside(set = "users", ttl = 60, batch, skip(verbose))]
async fn gated(ids: &[u64], #[cfg(test)] verbose: bool) -> HashMap<u64, u32> {
    load(&Db, ids.iter().copied())
}

fn main() {}
