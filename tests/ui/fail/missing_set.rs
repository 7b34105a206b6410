use cacheaside::cache_aside;

#[cache_aside(ttl = 60)]
async fn get(id: u32) -> u32 {
    id
}

#[cache_aside]
async fn get_bare(id: u32) -> u32 {
    id
}

fn main() {}
