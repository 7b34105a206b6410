//! `#[cache_aside]` on an `impl` block: generic impls, associated functions without `self`, and
//! trait impls whose companions land in an inherent impl block.
use cacheaside::cache_aside;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct User {
    id: u64,
}

pub struct Repo<T> {
    items: Vec<T>,
}

#[cache_aside]
impl<T: Clone + Serialize + DeserializeOwned> Repo<T> {
    #[cache_aside(set = "items", ttl = 60)]
    pub async fn item(&self, index: usize) -> Option<T> {
        self.items.get(index).cloned()
    }

    #[cache_aside(set = "items", ttl = 60)]
    pub fn count_for(name: &str) -> usize {
        name.len()
    }

    /// Not cached: left alone.
    pub fn len(&self) -> usize {
        self.items.len()
    }
}

// Users write `async fn` in their traits; the lint about public traits is theirs to weigh, not
// what this case checks.
#[allow(async_fn_in_trait)]
pub trait UserStore {
    async fn load(&self, id: u64) -> Result<User, String>;
    fn name(&self, id: u64) -> Option<String>;
}

#[cache_aside]
impl<T: Serialize> UserStore for Repo<T> {
    #[cache_aside(set = "users", ttl = 60)]
    async fn load(&self, id: u64) -> Result<User, String> {
        Ok(User { id })
    }

    #[cacheaside::cache_aside(set = "users", ttl = 60, key = id)]
    fn name(&self, id: u64) -> Option<String> {
        Some(format!("{id}:{}", self.items.len()))
    }
}

fn main() {
    let repo = Repo { items: vec![1u32] };
    drop(repo.item(0));
    drop(repo.item_invalidate(0));
    let _: usize = Repo::<u32>::count_for("a");
    let _ = Repo::<u32>::count_for_invalidate("a");
    let _: usize = repo.len();
    drop(repo.load(1));
    drop(repo.load_invalidate(1));
    drop(repo.load_refresh(1));
    let _: Option<String> = repo.name(1);
    let _ = repo.name_invalidate(1);
}
