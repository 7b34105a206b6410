//! The expansion adds no warnings of its own, even under strict lints, for every shape.
#![deny(
    warnings,
    unused,
    unused_qualifications,
    missing_docs,
    unreachable_pub,
    unused_results
)]
#![deny(
    trivial_casts,
    unused_lifetimes,
    single_use_lifetimes,
    elided_lifetimes_in_paths
)]
//! Crate docs.

use cacheaside::cache_aside;

/// A pool that is never part of a key.
pub struct Pool;

/// Free function with a skipped argument.
#[cache_aside(set = "lints", ttl = "1h", skip(db))]
pub async fn free(db: &Pool, id: u32, name: String) -> Result<u32, String> {
    let _ = db;
    Ok(id + name.len() as u32)
}

/// Every freshness option at once.
#[cache_aside(
    set = "lints",
    ttl = "1h",
    none_ttl = "30s",
    refresh_ahead = 0.2,
    local(ttl = "5s", capacity = 100)
)]
pub async fn fresh(id: u32) -> Option<u32> {
    Some(id)
}

/// Serve-stale, sliding expiry and a sync local tier.
#[cache_aside(set = "lints", ttl = 60, stale_if_error = "10m", touch_on_read, local(ttl = 1))]
pub fn sessions(id: u32) -> Result<u32, String> {
    Ok(id)
}

/// The TTL of a value.
fn value_ttl(value: &u32) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(*value))
}

/// TTL from the value.
#[cache_aside(set = "lints", ttl_from = value_ttl)]
pub async fn own_ttl(id: u32) -> u32 {
    id
}

/// Private function whose companions are never called.
#[cache_aside(set = "lints", ttl = never)]
async fn private_unused_companions(id: u32) -> Option<u32> {
    Some(id)
}

/// Explicit key.
#[cache_aside(set = "lints", ttl = 60, key = format!("k:{id}"))]
pub async fn explicit(id: u32, verbose: bool) -> u32 {
    if verbose {
        id
    } else {
        0
    }
}

/// A repository.
pub struct Repo;

impl Repo {
    /// Cached method.
    #[cache_aside(set = "lints", ttl = namespace_default)]
    pub async fn method(&self, id: u32) -> u32 {
        id
    }
}

/// A trait.
pub trait Store {
    /// Loads.
    fn load(&self, id: u32) -> impl std::future::Future<Output = u32> + Send;
}

impl Store for Repo {
    #[cache_aside(set = "lints", ttl = 60, companions = false)]
    async fn load(&self, id: u32) -> u32 {
        id
    }
}

/// Another trait, implemented with its companions.
pub trait Names {
    /// Names.
    fn name(&self, id: u32) -> Option<String>;
}

/// Another repository.
pub struct Directory;

#[cache_aside]
impl Names for Directory {
    #[cache_aside(set = "lints", ttl = 60)]
    fn name(&self, id: u32) -> Option<String> {
        Some(id.to_string())
    }
}

/// An alias whose kind is given.
pub type Lookup = Result<u32, String>;

/// Sync function with a gated argument, a pattern and an alias return type.
#[cache_aside(set = "lints", ttl = 60, returns = result)]
pub fn sync_shapes((a, b): (u32, u32), #[cfg(test)] extra: u32, mut total: u32) -> Lookup {
    total += a + b;
    Ok(total)
}

fn main() {
    drop(free(&Pool, 1, String::new()));
    drop(free_invalidate(1, String::new()));
    drop(free_refresh(&Pool, 1, String::new()));
    drop(private_unused_companions(1));
    drop(explicit(1, true));
    drop(explicit_invalidate(1));
    drop(Repo.method(1));
    drop(Repo.method_invalidate(1));
    drop(Repo.load(1));
    drop(Directory.name(1));
    drop(Directory.name_invalidate(1));
    drop(sync_shapes((1, 2), 3));
    drop(sync_shapes_invalidate((1, 2), 3));
}
