//! `crate = path` for crates that re-export cacheaside.
mod infra {
    pub use ::cacheaside as cache;
}

#[infra::cache::cache_aside(set = "paths", ttl = 60, crate = crate::infra::cache)]
async fn by_path(id: u32) -> u32 {
    id
}

#[infra::cache::cache_aside(set = "paths", ttl = 60, crate = "crate::infra::cache")]
fn by_string(id: u32) -> Option<u32> {
    Some(id)
}

fn main() {
    drop(by_path(1));
    drop(by_path_invalidate(1));
    let _ = by_string(1);
    let _ = by_string_invalidate(1);
}
