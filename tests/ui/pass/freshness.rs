use std::sync::Arc;

use cacheaside::cache_aside;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
pub struct User {
    id: u64,
}

pub struct Pool;

#[cache_aside(set = "users", ttl = "1h", none_ttl = "30s")]
pub async fn find(id: u64) -> Option<User> {
    Some(User { id })
}

#[cache_aside(set = "users", ttl = 60, none_ttl = never, returns = option)]
fn find_sync(id: u64) -> Found {
    Some(User { id })
}

type Found = Option<User>;

#[cache_aside(set = "users", ttl = 600, refresh_ahead = 0.2, skip(db))]
pub async fn refreshed(db: Arc<Pool>, name: String, label: &'static str) -> Result<User, String> {
    let _ = (db, label);
    Ok(User { id: name.len() as u64 })
}

#[cache_aside(set = "users", ttl = 600, refresh_ahead = 0.05)]
pub fn refreshed_sync(id: u64) -> User {
    User { id }
}

#[cache_aside(set = "users", ttl = 600, refresh_ahead = 0.5)]
pub async fn generic<T: Serialize + DeserializeOwned + Send + 'static>(id: u64) -> Option<T> {
    let _ = id;
    None
}

#[cache_aside(set = "quotes", ttl = 60, stale_if_error = "10m", refresh_ahead = 0.1)]
pub async fn quote(symbol: String) -> Result<u64, String> {
    Ok(symbol.len() as u64)
}

#[cache_aside(set = "quotes", ttl = 60, stale_if_error = 600)]
pub fn quote_sync(symbol: &str) -> std::io::Result<u64> {
    Ok(symbol.len() as u64)
}

#[cache_aside(set = "quotes", ttl = 60, stale_if_error = "10m", soft_timeout = "100ms", skip(db))]
pub async fn quote_soon(db: Arc<Pool>, symbol: String) -> Result<u64, String> {
    let _ = db;
    Ok(symbol.len() as u64)
}

#[cache_aside(set = "quotes", ttl = 60, stale_if_error = 600, soft_timeout = 2)]
pub fn quote_soon_sync(symbol: String, label: &'static str) -> std::io::Result<u64> {
    Ok(symbol.len() as u64 + label.len() as u64)
}

#[cache_aside(
    set = "quotes",
    ttl = 60,
    refresh_ahead = 0.2,
    stale_if_error = "10m",
    soft_timeout = "250ms",
    local(ttl = "5s")
)]
pub async fn quote_everything(symbol: String) -> Result<u64, String> {
    Ok(symbol.len() as u64)
}

#[cache_aside(set = "quotes", ttl = 60, stale_if_error = "1m", soft_timeout = "1s", companions = false)]
pub async fn quote_inline(symbol: String) -> Result<u64, String> {
    Ok(symbol.len() as u64)
}

#[cache_aside(set = "users", ttl = 60, local(ttl = "5s", capacity = 100))]
pub async fn local_generic<T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static>(
    id: u64,
) -> Option<T> {
    let _ = id;
    None
}

#[cache_aside(set = "users", ttl = 60, companions = false, local(ttl = "5s"))]
pub fn local_inline(id: u64) -> User {
    User { id }
}

#[cache_aside(
    set = "users",
    ttl = 60,
    none_ttl = "5s",
    refresh_ahead = 0.2,
    local(ttl = "5s")
)]
pub async fn everything(id: u64) -> Option<User> {
    Some(User { id })
}

#[cache_aside(set = "sessions", ttl = "30m", touch_on_read)]
pub async fn session(token: String) -> Option<u64> {
    Some(token.len() as u64)
}

#[cache_aside(set = "sessions", ttl = "30m", touch_on_read = 0.5, stale_if_error = "1m")]
pub fn session_sync(token: &str) -> Result<u64, String> {
    Ok(token.len() as u64)
}

impl User {
    fn ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.id.max(1))
    }
}

#[cache_aside(set = "users", ttl = 60, ttl_from = User::ttl, stale_if_error = "1m")]
pub async fn user_with_own_ttl(id: u64) -> Result<User, String> {
    Ok(User { id })
}

#[cache_aside(set = "users", ttl_from = crate::User::ttl, local(ttl = "1s"))]
pub fn user_with_own_ttl_sync(id: u64) -> Option<User> {
    Some(User { id })
}

pub trait Directory {
    fn name(&self, id: u64) -> String;
}

#[cache_aside]
impl<T: Sync> Directory for Repo<T> {
    #[cache_aside(set = "names", ttl = 60, local(ttl = "5s"))]
    fn name(&self, id: u64) -> String {
        format!("{id}:{}", self.items.len())
    }
}

pub struct Repo<T> {
    items: Vec<T>,
}

#[cache_aside]
impl<T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static> Repo<T> {
    #[cache_aside(set = "items", ttl = 60)]
    pub async fn item(&self, index: usize) -> Option<T> {
        self.items.get(index).cloned()
    }

    #[cache_aside(set = "items", ttl = 60, refresh_ahead = 0.2, skip(repo))]
    pub async fn shared_item(repo: Arc<Self>, index: usize) -> Option<T> {
        repo.items.get(index).cloned()
    }

    #[cache_aside(set = "items", ttl = 60, stale_if_error = "1m", soft_timeout = "50ms", skip(repo))]
    pub fn soon_item(repo: Arc<Self>, index: usize) -> Result<T, String> {
        repo.items.get(index).cloned().ok_or_else(|| format!("no item {index}"))
    }
}

async fn use_companions(repo: Arc<Repo<u32>>) {
    let _: Option<Option<User>> = find_peek(1).await;
    let _: Option<User> = find_uncached(1).await;
    let _: Option<Option<User>> = find_sync_peek(1);
    let _: Option<User> = refreshed_peek(String::new(), "x").await;
    let _: Result<User, String> = refreshed_uncached(Arc::new(Pool), String::new(), "x").await;
    let _: Option<User> = refreshed_sync_peek(1);
    let _: User = refreshed_sync_uncached(1);
    let _: Option<String> = generic::<String>(1).await;
    let _: Option<u32> = repo.item_peek(0).await;
    let _: Option<u32> = repo.item_uncached(0).await;
    let _: Option<u32> = Repo::<u32>::shared_item(repo.clone(), 0).await;
    let _: Option<u32> = Repo::<u32>::shared_item_peek(0).await;
    let _: Option<u64> = quote_peek(String::new()).await;
    let _: Option<u64> = quote_sync_peek("x");
    let _: Result<u64, String> = quote_soon(Arc::new(Pool), String::new()).await;
    let _: Option<u64> = quote_soon_sync_peek(String::new(), "x");
    let _: Result<u64, String> = quote_everything(String::new()).await;
    let _: Result<u64, String> = quote_inline(String::new()).await;
    let _: Result<u32, String> = Repo::<u32>::soon_item(repo.clone(), 0);
    let _: Option<String> = local_generic::<String>(1).await;
    let _: Option<String> = local_generic_peek::<String>(1).await;
    let _: User = local_inline(1);
    let _: Option<Option<User>> = everything_peek(1).await;
    let _: Option<String> = repo.name_peek(1);
    let _ = repo.name_invalidate(1);
}

fn main() {
    let _ = use_companions;
}
