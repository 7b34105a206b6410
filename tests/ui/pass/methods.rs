//! `&self` methods in inherent, generic and trait impl blocks; companions are methods.
use cacheaside::cache_aside;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct User {
    id: u64,
}

pub struct Repo {
    offset: u64,
}

impl Repo {
    /// Loads a user.
    #[cache_aside(set = "users", ttl = 60)]
    pub async fn get_user(&self, id: u64) -> Result<User, String> {
        Ok(User {
            id: id + self.offset,
        })
    }

    #[cache_aside(set = "users", ttl = 60, key = format!("user:{id}"))]
    async fn get_user_by_key(&self, id: u64, _trace: bool) -> Option<User> {
        self.get_user(id).await.ok()
    }

    async fn use_companions(&self) {
        drop(self.get_user_invalidate(1));
        drop(self.get_user_refresh(1));
        drop(self.get_user_by_key_invalidate(1));
        drop(self.get_user_by_key_refresh(1, true));
    }
}

pub struct TypedRepo<T> {
    items: Vec<T>,
}

impl<T: Clone + Serialize + serde::de::DeserializeOwned + Send + Sync> TypedRepo<T> {
    #[cache_aside(set = "items", ttl = "1h")]
    pub async fn item(&self, index: usize) -> Option<T> {
        self.items.get(index).cloned()
    }

    #[cache_aside(set = "items", ttl = "1h")]
    pub async fn convert<U: From<T> + Serialize + serde::de::DeserializeOwned>(
        &self,
        index: usize,
    ) -> Option<U> {
        self.items.get(index).cloned().map(U::from)
    }
}

// Users write `async fn` in their traits; the lint about public traits is theirs to weigh, not
// what this case checks.
#[allow(async_fn_in_trait)]
pub trait UserStore {
    async fn load(&self, id: u64) -> Result<User, String>;
}

impl UserStore for Repo {
    // A trait impl block may only hold the trait's items, so companions are turned off here.
    #[cache_aside(set = "users", ttl = 60, companions = false)]
    async fn load(&self, id: u64) -> Result<User, String> {
        if id == 0 {
            return Err("no user 0".to_owned());
        }
        Ok(User {
            id: id + self.offset,
        })
    }
}

impl<T: Serialize> UserStore for TypedRepo<T> {
    #[cache_aside(set = "users", ttl = 60, companions = false, key = id as i64)]
    async fn load(&self, id: u64) -> Result<User, String> {
        Ok(User {
            id: id + self.items.len() as u64,
        })
    }
}

fn main() {
    let repo = Repo { offset: 1 };
    drop(repo.get_user(1));
    drop(repo.use_companions());
    drop(repo.load(2));
    let typed = TypedRepo {
        items: vec![1u32, 2],
    };
    drop(typed.item(0));
    drop(typed.item_invalidate(0));
    drop(typed.item_refresh(0));
    drop(typed.convert::<u64>(0));
    // `U` is part of the key: the entry of `convert::<u64>` is the one removed.
    drop(typed.convert_invalidate::<u64>(0));
    drop(typed.convert_refresh::<u64>(0));
    drop(typed.load(3));
}
