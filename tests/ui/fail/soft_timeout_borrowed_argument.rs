use cacheaside::cache_aside;

struct Pool;

#[cache_aside(set = "users", ttl = 60, stale_if_error = "10m", soft_timeout = "100ms", skip(db))]
async fn borrows(db: &Pool, id: u32) -> Result<u32, String> {
    let _ = db;
    Ok(id)
}

#[cache_aside(set = "users", ttl = 60, stale_if_error = "10m", soft_timeout = "100ms")]
fn borrows_sync(name: &str) -> Result<u32, String> {
    Ok(name.len() as u32)
}

struct Repo;

#[cache_aside]
impl Repo {
    #[cache_aside(set = "users", ttl = 60, stale_if_error = "10m", soft_timeout = "100ms")]
    async fn method(&self, id: u32) -> Result<u32, String> {
        Ok(id)
    }
}

fn main() {}
