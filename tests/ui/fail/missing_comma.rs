use cacheaside::cache_aside;

#[cache_aside(set = "users" ttl = 60)]
async fn get(id: u32) -> u32 {
    id
}

fn main() {}
