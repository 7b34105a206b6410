use cacheaside::cache_put;

#[cache_put(set = "users", key = id)]
fn save(id: u64) -> Result<(), String> {
    let _ = id;
    Ok(())
}

#[cache_put(set = "users", key = id)]
async fn touch(id: u64) {
    let _ = id;
}

fn main() {}
