//! Free functions returning `Result`, `Option` and a plain value, with `skip`.
use cacheaside::cache_aside;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct User {
    id: u64,
    name: String,
}

#[derive(Debug)]
pub struct DbError;

pub struct Pool;

#[cache_aside(set = "users", ttl = 3600, skip(db))]
pub async fn get_user(db: &Pool, id: u64) -> Result<User, DbError> {
    let _ = db;
    if id == 0 {
        return Err(DbError);
    }
    let name = lookup(id).ok_or(DbError)?;
    Ok(User { id, name })
}

fn lookup(id: u64) -> Option<String> {
    Some(format!("user {id}"))
}

#[cache_aside(set = "names", ttl = 60)]
async fn find_name(first: String, last: &str) -> Option<String> {
    Some(format!("{first} {last}"))
}

#[cache_aside(set = "counts", ttl = 60)]
async fn count_words(text: &str) -> usize {
    text.split_whitespace().count()
}

fn main() {
    let pool = Pool;
    drop(get_user(&pool, 1));
    drop(get_user_invalidate(1));
    drop(get_user_refresh(&pool, 1));
    drop(find_name("a".to_owned(), "b"));
    drop(find_name_invalidate("a".to_owned(), "b"));
    drop(count_words("a b"));
    drop(count_words_refresh("a b"));
}
