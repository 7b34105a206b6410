use cacheaside::cache_aside;

pub struct User {
    pub id: u32,
}

#[cache_aside(set = "users", ttl = 60)]
async fn get(id: u32) -> Result<User, String> {
    Ok(User { id })
}

#[cache_aside(set = "users", ttl = 60)]
async fn get_plain(id: u32) -> User {
    User { id }
}

fn main() {}
