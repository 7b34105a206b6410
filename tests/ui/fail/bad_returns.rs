use cacheaside::cache_aside;

#[cache_aside(set = "users", ttl = 60, returns = ok)]
async fn unknown_kind(id: u32) -> Result<u32, String> {
    Ok(id)
}

#[cache_aside(set = "users", ttl = 60, returns = "result")]
async fn quoted_kind(id: u32) -> Result<u32, String> {
    Ok(id)
}

fn main() {}
