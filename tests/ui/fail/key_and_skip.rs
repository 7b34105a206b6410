use cacheaside::cache_aside;

pub struct Pool;

#[cache_aside(set = "users", ttl = 60, key = id, skip(db))]
async fn get(db: &Pool, id: i64) -> i64 {
    let _ = db;
    id
}

fn main() {}
