use cacheaside::cache_aside;

pub struct Pool;

#[cache_aside(set = "users", ttl = 60)]
async fn get(db: &Pool, id: u32) -> u32 {
    let _ = db;
    id
}

fn main() {}
