use cacheaside::cache_aside;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct User {
    id: u64,
}

#[cache_aside(set = "users", ttl = 60, local(ttl = "5s"))]
async fn not_clone(id: u64) -> Result<User, String> {
    Ok(User { id })
}

fn main() {}
