use std::collections::HashMap;

use cacheaside::cache_aside;

fn ttl_of(_: &HashMap<u64, u32>) -> std::time::Duration {
    std::time::Duration::from_secs(5)
}

fn load(ids: &[u64]) -> HashMap<u64, u32> {
    ids.iter().map(|id| (*id, 0)).collect()
}

#[cache_aside(set = "users", ttl = 60, batch, key = ids)]
async fn with_key(ids: &[u64]) -> HashMap<u64, u32> {
    load(ids)
}

#[cache_aside(set = "users", ttl = 60, batch, refresh_ahead = 0.2, touch_on_read, local(ttl = "5s"))]
async fn with_freshness(ids: &[u64]) -> HashMap<u64, u32> {
    load(ids)
}

#[cache_aside(set = "users", ttl = 60, batch, stale_if_error = "1m", ttl_from = ttl_of)]
async fn with_stale(ids: &[u64]) -> Result<HashMap<u64, u32>, String> {
    Ok(load(ids))
}

#[cache_aside(set = "users", ttl = 60, batch, none_ttl = "5s")]
async fn with_none_ttl(ids: &[u64]) -> Option<HashMap<u64, u32>> {
    Some(load(ids))
}

#[cache_aside(set = "users", ttl = 60, batch, companions = false)]
async fn without_companions(ids: &[u64]) -> HashMap<u64, u32> {
    load(ids)
}

#[cache_aside(set = "users", ttl = 60, batch = true)]
async fn with_a_value(ids: &[u64]) -> HashMap<u64, u32> {
    load(ids)
}

fn main() {}
