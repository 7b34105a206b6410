use cacheaside::cache_evict;

#[cache_evict(set = "users", key = id, all = true)]
fn clear(id: u64) -> Result<(), String> {
    let _ = id;
    Ok(())
}

fn main() {}
