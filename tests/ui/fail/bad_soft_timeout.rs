use std::collections::HashMap;

use cacheaside::cache_aside;

#[cache_aside(set = "users", ttl = 60, soft_timeout = "100ms")]
async fn without_stale_if_error(id: u32) -> Result<u32, String> {
    Ok(id)
}

#[cache_aside(set = "users", ttl = 60, soft_timeout = "100ms")]
async fn not_a_result(id: u32) -> Option<u32> {
    Some(id)
}

#[cache_aside(set = "users", ttl = 60, stale_if_error = "10m", soft_timeout = "0ms")]
async fn zero(id: u32) -> Result<u32, String> {
    Ok(id)
}

#[cache_aside(set = "users", ttl = 60, stale_if_error = "10m", soft_timeout = "100")]
async fn without_a_unit(id: u32) -> Result<u32, String> {
    Ok(id)
}

#[cache_aside(set = "users", ttl = 60, stale_if_error = "10m", soft_timeout = 0.1)]
async fn a_fraction(id: u32) -> Result<u32, String> {
    Ok(id)
}

#[cache_aside(set = "users", ttl = 60, stale_if_error = "10m", soft_timeout = "50d")]
async fn too_long(id: u32) -> Result<u32, String> {
    Ok(id)
}

#[cache_aside(set = "users", ttl = 60, batch, soft_timeout = "100ms")]
async fn batch(ids: Vec<u64>) -> Result<HashMap<u64, u32>, String> {
    Ok(ids.into_iter().map(|id| (id, 0)).collect())
}

fn main() {}
