//! Every `ttl` form, an omitted `ttl`, an explicit `namespace`, and a named cluster (`cache`).
use cacheaside::cache_aside;

#[cache_aside(set = "s", ttl = 3600)]
async fn seconds(id: u32) -> u32 {
    id
}

#[cache_aside(set = "s", ttl = "90s")]
async fn ninety_seconds(id: u32) -> u32 {
    id
}

#[cache_aside(set = "s", ttl = "15m")]
async fn fifteen_minutes(id: u32) -> u32 {
    id
}

#[cache_aside(set = "s", ttl = "1h")]
async fn one_hour(id: u32) -> u32 {
    id
}

#[cache_aside(set = "s", ttl = "7d")]
async fn seven_days(id: u32) -> u32 {
    id
}

#[cache_aside(set = "s", ttl = never)]
async fn forever(id: u32) -> u32 {
    id
}

#[cache_aside(set = "s", ttl = namespace_default)]
async fn namespace_ttl(id: u32) -> u32 {
    id
}

#[cache_aside(set = "s")]
async fn ttl_omitted(id: u32) -> u32 {
    id
}

#[cache_aside(namespace = "cache", set = "s", ttl = 5)]
async fn in_namespace(id: u32) -> u32 {
    id
}

#[cache_aside(cache = "analytics-eu.2", namespace = "cache", set = "s", ttl = 5)]
async fn in_named_cluster(id: u32) -> u32 {
    id
}

#[cache_aside(set = "s", ttl = 5, batch, cache = "analytics")]
fn many_in_named_cluster(ids: Vec<u32>) -> std::collections::HashMap<u32, u32> {
    ids.into_iter().map(|id| (id, id)).collect()
}

#[cacheaside::cache_put(set = "s", key = id, cache = "analytics")]
fn put_in_named_cluster(id: u32) -> u32 {
    id
}

#[cacheaside::cache_evict(set = "s", key = id, cache = "analytics")]
fn evict_in_named_cluster(id: u32) -> Option<()> {
    let _ = id;
    Some(())
}

fn main() {
    drop(seconds(1));
    drop(ninety_seconds(1));
    drop(fifteen_minutes(1));
    drop(one_hour(1));
    drop(seven_days(1));
    drop(forever(1));
    drop(namespace_ttl(1));
    drop(ttl_omitted(1));
    drop(in_namespace(1));
    drop(in_namespace_invalidate(1));
    drop(in_named_cluster(1));
    drop(in_named_cluster_invalidate(1));
    let _ = (many_in_named_cluster, put_in_named_cluster, evict_in_named_cluster);
}
