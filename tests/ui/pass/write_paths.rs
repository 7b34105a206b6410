//! `#[cache_put]` and `#[cache_evict]` on every shape, warning-free, with nothing the caller can
//! shadow and nothing qualified needlessly.
#![deny(warnings, unused_qualifications, missing_docs)]
//! Crate docs.

mod core {}
struct Option;
struct Result;
#[allow(dead_code)]
fn explicit_key() {}

use cacheaside::{cache_aside, cache_evict, cache_put};
use serde::{Deserialize, Serialize};

/// A row.
#[derive(Clone, Serialize, Deserialize)]
pub struct User {
    id: u64,
    email: ::std::string::String,
}

/// A source error.
#[derive(Debug)]
pub struct DbError;

/// The reader.
#[cache_aside(set = "users", key = id, ttl = "1h")]
pub async fn get_user(id: u64) -> ::std::result::Result<User, DbError> {
    let _shadowed: (Option, Result) = (Option, Result);
    Ok(User { id, email: ::std::string::String::new() })
}

/// Returns the written value.
#[cache_put(set = "users", key = user.id, ttl = "1h")]
pub async fn update(user: User) -> ::std::result::Result<User, DbError> {
    if user.id == 0 {
        return Err(DbError);
    }
    Ok(user)
}

/// Writes `value`; the body consumes the argument.
#[cache_put(set = "users", key = user.id, ttl = 3600, value = user, namespace = "test")]
pub fn save(user: User) -> ::std::option::Option<usize> {
    let consumed = user;
    Some(consumed.email.len())
}

/// A plain return: every call is a success.
#[cache_put(set = "emails", key = user.email.as_str(), ttl = never, value = &user.id)]
pub fn index(user: &User) -> usize {
    user.email.len()
}

/// Evicts after success.
#[cache_evict(set = "users", key = id)]
pub async fn delete(id: u64) -> ::std::result::Result<(), DbError> {
    let _ = id;
    Ok(())
}

/// Evicts before and after.
#[cache_evict(set = "users", key = format!("{tenant}:{id}"), before = true)]
pub fn delete_in(tenant: &str, id: u64) {
    let _ = (tenant, id);
}

/// Empties the set.
#[cache_evict(set = "users", all = true, returns = value)]
pub async fn reload_all() -> ::std::result::Result<(), DbError> {
    Ok(())
}

/// A repository.
pub struct Repo {
    writes: u64,
}

#[cache_aside]
impl Repo {
    /// Cached reader.
    #[cache_aside(set = "repo", key = id, ttl = 60)]
    pub async fn find(&self, id: u64) -> ::std::option::Option<u64> {
        Some(id + self.writes)
    }

    /// `&mut self` writer.
    #[cache_put(set = "repo", key = id, ttl = 60)]
    pub async fn bump(&mut self, id: u64) -> ::std::option::Option<u64> {
        self.writes += 1;
        Some(id + self.writes)
    }

    /// Consuming evict.
    #[cache_evict(set = "repo", key = id)]
    pub fn close(self, id: u64) -> u64 {
        self.writes + id
    }

    /// Associated function.
    #[cache_evict(set = "repo", key = id, crate = ::cacheaside)]
    pub fn forget(id: u64) {
        let _ = id;
    }
}

/// Generic writer.
#[cache_put(set = "generic", key = id, ttl = 60, value = item)]
pub async fn store<T: Serialize + Send>(id: u64, item: T) -> ::std::result::Result<(), DbError> {
    drop(item);
    let _ = id;
    Ok(())
}

fn main() {}
