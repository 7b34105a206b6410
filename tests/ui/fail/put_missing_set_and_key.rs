use cacheaside::{cache_evict, cache_put};

#[derive(serde::Serialize, serde::Deserialize)]
struct User {
    id: u64,
}

#[cache_put(ttl = 60)]
async fn save(user: User) -> Result<User, String> {
    Ok(user)
}

#[cache_evict(set = "users")]
async fn delete(id: u64) -> Result<(), String> {
    let _ = id;
    Ok(())
}

fn main() {}
