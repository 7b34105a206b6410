use cacheaside::{cache_aside, cache_evict, cache_put};

#[cache_aside(set = "rows", ttl = 60, codec = "cbor")]
async fn unknown(id: u32) -> u32 {
    id
}

#[cache_aside(set = "rows", ttl = 60, codec = bincode)]
async fn not_a_string(id: u32) -> u32 {
    id
}

#[cache_put(set = "rows", key = id, codec = "messagepack")]
async fn unknown_in_put(id: u32) -> u32 {
    id
}

#[cache_evict(set = "rows", key = id, codec = "json")]
async fn evict_takes_none(id: u32) -> u32 {
    id
}

fn main() {}
