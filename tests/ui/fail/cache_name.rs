use cacheaside::{cache_aside, cache_evict, cache_put};

#[cache_aside(set = "users", cache = "")]
async fn empty(id: u32) -> u32 {
    id
}

#[cache_aside(set = "users", cache = "analytics cluster")]
async fn spaced(id: u32) -> u32 {
    id
}

#[cache_aside(set = "users", cache = analytics)]
async fn unquoted(id: u32) -> u32 {
    id
}

#[cache_aside(set = "users", ttl = 60, batch, cache)]
async fn batch_without_value(ids: &[u32]) -> std::collections::HashMap<u32, u32> {
    ids.iter().map(|&id| (id, id)).collect()
}

#[cache_put(set = "users", key = id, cache = "a/b")]
async fn put(id: u32) -> u32 {
    id
}

#[cache_evict(set = "users", key = id, cache = "analytics", cache = "reports")]
async fn evict(id: u32) -> Option<()> {
    Some(()).filter(|_| id > 0)
}

fn main() {}
