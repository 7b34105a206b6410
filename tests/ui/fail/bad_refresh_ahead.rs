use cacheaside::cache_aside;

#[cache_aside(set = "users", refresh_ahead = 0.2)]
async fn without_ttl(id: u32) -> u32 {
    id
}

#[cache_aside(set = "users", ttl = never, refresh_ahead = 0.2)]
async fn never_expires(id: u32) -> u32 {
    id
}

#[cache_aside(set = "users", ttl = 60, refresh_ahead = 1.5)]
async fn above_one(id: u32) -> u32 {
    id
}

#[cache_aside(set = "users", ttl = 60, refresh_ahead = "20%")]
async fn not_a_number(id: u32) -> u32 {
    id
}

fn main() {}
