use cacheaside::cache_put;

#[cache_put(set = "users", key = id, colour = 3, skip(db), local(ttl = 5), before = true, all = true)]
fn save(db: &str, id: u64) -> u64 {
    let _ = db;
    id
}

fn main() {}
