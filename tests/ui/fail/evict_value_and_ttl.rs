use cacheaside::cache_evict;

#[cache_evict(set = "users", key = id, ttl = 60, value = id)]
fn delete(id: u64) -> Result<(), String> {
    let _ = id;
    Ok(())
}

fn main() {}
