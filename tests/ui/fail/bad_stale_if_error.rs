use cacheaside::cache_aside;

#[cache_aside(set = "users", ttl = 60, stale_if_error = "10m")]
async fn not_a_result(id: u32) -> Option<u32> {
    Some(id)
}

#[cache_aside(set = "users", stale_if_error = "10m")]
async fn without_ttl(id: u32) -> Result<u32, String> {
    Ok(id)
}

#[cache_aside(set = "users", ttl = 60, stale_if_error = never)]
async fn not_a_duration(id: u32) -> Result<u32, String> {
    Ok(id)
}

#[cache_aside(set = "users", ttl = "3650d", stale_if_error = "1d")]
async fn too_long(id: u32) -> Result<u32, String> {
    Ok(id)
}

fn main() {}
