use cacheaside::{cache_evict, cache_put};

#[cache_evict(set = "users", key = id, returns = option)]
fn delete(id: u64) -> Result<(), String> {
    let _ = id;
    Ok(())
}

type DbResult<T> = Result<T, String>;

#[cache_put(set = "users", key = id, value = id)]
fn save(id: u64) -> DbResult<()> {
    let _ = id;
    Ok(())
}

fn main() {}
