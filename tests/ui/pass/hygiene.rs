//! Generated code names nothing the caller can shadow, and qualifies nothing needlessly.
#![deny(unused_qualifications, missing_docs)]
//! Crate docs.

mod core {}
struct Option;
struct Result;
struct Box;
struct String;
struct Vec;
#[allow(dead_code)]
fn module_path() {}
#[allow(dead_code)]
fn default_key() {}

use cacheaside::cache_aside;

/// Documented, so `missing_docs` is satisfied; the companions must document themselves.
#[cache_aside(set = "hygiene", ttl = 60)]
pub async fn documented(id: u32, name: &str) -> ::std::result::Result<u32, ::std::string::String> {
    let _unused: (Option, Result, Box, String, Vec) = (Option, Result, Box, String, Vec);
    Ok(id + name.len() as u32)
}

/// A method on a type in the same module.
pub struct Store;

impl Store {
    /// Cached method.
    #[cache_aside(set = "hygiene", ttl = "1h", key = id)]
    pub async fn find(&self, id: i64) -> ::std::option::Option<u32> {
        u32::try_from(id).ok()
    }
}

fn main() {
    drop(documented(1, "a"));
    drop(documented_invalidate(1, "a"));
    drop(Store.find(1));
    drop(Store.find_invalidate(1));
}
