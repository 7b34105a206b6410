use cacheaside::cache_aside;

#[cache_aside(set = "users", ttl = "1y")]
async fn unknown_unit(id: u32) -> u32 {
    id
}

#[cache_aside(set = "users", ttl = "90")]
async fn no_unit(id: u32) -> u32 {
    id
}

#[cache_aside(set = "users", ttl = 0)]
async fn zero(id: u32) -> u32 {
    id
}

#[cache_aside(set = "users", ttl = -1)]
async fn negative(id: u32) -> u32 {
    id
}

#[cache_aside(set = "users", ttl = forever)]
async fn unknown_word(id: u32) -> u32 {
    id
}

#[cache_aside(set = "users", ttl = "3651d")]
async fn too_long(id: u32) -> u32 {
    id
}

fn main() {}
