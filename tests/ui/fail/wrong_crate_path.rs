use cacheaside::cache_aside;

mod infra {}

#[cache_aside(set = "users", ttl = 60, crate = crate::infra::cache)]
async fn get(id: u32) -> u32 {
    id
}

fn main() {}
