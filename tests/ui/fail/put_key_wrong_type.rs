use cacheaside::{cache_evict, cache_put};

struct Id(u64);

#[cache_put(set = "users", key = id, ttl = 60)]
fn save(id: Id) -> Option<u64> {
    Some(id.0)
}

#[cache_evict(set = "users", key = 1.5)]
fn delete() {}

fn main() {}
