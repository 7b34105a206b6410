use cacheaside::cache_aside;

type Count = u32;
type Found = Option<u32>;

#[cache_aside(set = "users", ttl = 60, returns = result)]
async fn count(id: u32) -> Count {
    id
}

#[cache_aside(set = "users", ttl = 60, returns = result)]
fn find(id: u32) -> Found {
    Some(id)
}

#[cache_aside(set = "users", ttl = 60, returns = option)]
fn lookup(id: u32) -> Result<u32, String> {
    Ok(id)
}

fn main() {}
