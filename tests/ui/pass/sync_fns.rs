//! Plain `fn` items and `&self` methods: same companions, no `.await`.
use cacheaside::cache_aside;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct User {
    id: u64,
}

pub struct Pool;

#[cache_aside(set = "users", ttl = 60, skip(db))]
pub fn get_user(db: &Pool, id: u64) -> Result<User, String> {
    let _ = db;
    Ok(User { id })
}

#[cache_aside(set = "users", ttl = 60)]
fn find_name(id: u64) -> Option<String> {
    if id == 0 {
        return None;
    }
    Some(format!("user {id}"))
}

#[cache_aside(set = "users", ttl = 60)]
fn count(text: &str) -> usize {
    text.len()
}

pub struct Repo;

impl Repo {
    #[cache_aside(set = "users", ttl = 60, key = id)]
    pub fn user(&self, id: u64) -> Option<User> {
        Some(User { id })
    }
}

fn main() {
    let _: Result<User, String> = get_user(&Pool, 1);
    let _: Result<(), cacheaside::Error> = get_user_invalidate(1);
    let _: Result<User, String> = get_user_refresh(&Pool, 1);
    let _: Option<String> = find_name(1);
    let _: usize = count("abc");
    let _: Result<(), cacheaside::Error> = count_invalidate("abc");
    let _: Option<User> = Repo.user(1);
    let _: Result<(), cacheaside::Error> = Repo.user_invalidate(1);
    let _: Option<User> = Repo.user_refresh(1);
}
