use cacheaside::cache_aside;

#[cache_aside(set = "users", ttl = 60, crate = "not a path")]
async fn quoted(id: u32) -> u32 {
    id
}

#[cache_aside(set = "users", ttl = 60, crate = 3)]
async fn number(id: u32) -> u32 {
    id
}

fn main() {}
