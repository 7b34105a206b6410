use cacheaside::cache_aside;

#[cache_aside(set = "users", ttl = 60, expire = 5)]
async fn get(id: u32) -> u32 {
    id
}

fn main() {}
