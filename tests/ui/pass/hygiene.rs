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

/// Arguments named like the expansion's own variables and items.
#[cache_aside(set = "hygiene", ttl = 60)]
pub fn generated_names(
    key: u32,
    result: u32,
    value: u32,
    cache: u32,
    ttl: u32,
    self_: u32,
    __spec: u32,
    __cacheaside_key: u32,
    __cacheaside_load_generated_names: u32,
) -> ::std::option::Option<u32> {
    ::std::option::Option::Some(
        key + result
            + value
            + cache
            + ttl
            + self_
            + __spec
            + __cacheaside_key
            + __cacheaside_load_generated_names,
    )
}

/// The same names in an explicit key and a method of an annotated `impl` block.
pub struct Repo;

#[cache_aside]
impl Repo {
    /// Cached associated function.
    #[cache_aside(set = "hygiene", ttl = 60, key = format!("{key}:{value}"))]
    pub async fn associated(key: u32, value: u32, spec: u32) -> u32 {
        key + value + spec
    }
}

fn main() {
    drop(documented(1, "a"));
    drop(documented_invalidate(1, "a"));
    drop(Store.find(1));
    drop(Store.find_invalidate(1));
    let _ = generated_names(1, 2, 3, 4, 5, 6, 7, 8, 9);
    let _ = generated_names_invalidate(1, 2, 3, 4, 5, 6, 7, 8, 9);
    drop(Repo::associated(1, 2, 3));
    drop(Repo::associated_invalidate(1, 2));
}
