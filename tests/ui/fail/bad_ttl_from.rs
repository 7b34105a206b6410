use std::time::Duration;

use cacheaside::cache_aside;

fn by_id(id: &u64) -> Duration {
    Duration::from_secs(*id)
}

fn seconds(_: &u32) -> u64 {
    60
}

#[cache_aside(set = "rows", ttl = 60, ttl_from = by_id)]
async fn wrong_value_type(id: u32) -> Result<u32, String> {
    Ok(id)
}

#[cache_aside(set = "rows", ttl = 60, ttl_from = seconds)]
async fn not_a_duration(id: u32) -> Result<u32, String> {
    Ok(id)
}

#[cache_aside(set = "rows", ttl = 60, ttl_from = by_id, refresh_ahead = 0.2)]
async fn with_refresh_ahead(id: u64) -> u64 {
    id
}

#[cache_aside(set = "rows", ttl = 60, ttl_from = "by_id")]
async fn a_string(id: u64) -> u64 {
    id
}

fn main() {}
