use cacheaside::{cache_evict, cache_put};

#[cache_put(set = users, key = id, ttl = "1y", namespace = "", key = id)]
const fn save(id: u64) -> u64 {
    id
}

#[cache_evict(set = "users", key = id, before = yes, all)]
fn delete(id: u64) {
    let _ = id;
}

fn main() {}
