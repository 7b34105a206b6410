use cacheaside::cache_aside;

pub struct Pool;

#[cache_aside(set = "users", ttl = 60, skip = db)]
async fn needs_parentheses(db: &Pool, id: u32) -> u32 {
    let _ = db;
    id
}

#[cache_aside(set = "users", ttl = 60, skip(db, db))]
async fn skipped_twice(db: &Pool, id: u32) -> u32 {
    let _ = db;
    id
}

#[cache_aside(set = "users", ttl = 60, skip(point))]
async fn pattern_argument((a, b): (u32, u32)) -> u32 {
    a + b
}

fn main() {}
