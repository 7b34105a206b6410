use std::collections::HashMap;

use cacheaside::cache_aside;

#[cache_aside(set = "users", ttl = 60, lease = 2)]
async fn seconds_as_a_number(id: u64) -> u64 {
    id
}

#[cache_aside(set = "users", ttl = 60, lease = "5ms")]
async fn too_short(id: u64) -> u64 {
    id
}

#[cache_aside(set = "users", ttl = 60, lease = "1h")]
async fn too_long(id: u64) -> u64 {
    id
}

#[cache_aside(set = "users", ttl = 60, batch, lease)]
async fn on_a_batch(ids: &[u64]) -> HashMap<u64, u64> {
    ids.iter().map(|&id| (id, id)).collect()
}

fn main() {}
