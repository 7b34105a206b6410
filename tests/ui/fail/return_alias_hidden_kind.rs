use cacheaside::cache_aside;

// Names that do not say `Result` or `Option`: only the type check can tell.
type Lookup = Result<u32, String>;
type Found = Option<u32>;

#[cache_aside(set = "users", ttl = 60)]
async fn get(id: u32) -> Lookup {
    Ok(id)
}

#[cache_aside(set = "users", ttl = 60)]
fn find(id: u32) -> Found {
    Some(id)
}

fn main() {}
