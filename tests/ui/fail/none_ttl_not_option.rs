use cacheaside::cache_aside;

#[cache_aside(set = "users", ttl = 60, none_ttl = "30s")]
async fn not_an_option(id: u32) -> Result<u32, String> {
    Ok(id)
}

#[cache_aside(set = "users", ttl = 60, none_ttl = "1y")]
async fn bad_none_ttl(id: u32) -> Option<u32> {
    Some(id)
}

fn main() {}
