use cacheaside::cache_aside;

pub trait Store {
    async fn get(&self, id: u32) -> u32;
}

pub struct Repo;

impl Store for Repo {
    // A trait impl holds only the trait's items: annotate the block too, or use `companions = false`.
    #[cache_aside(set = "users", ttl = 60)]
    async fn get(&self, id: u32) -> u32 {
        id
    }
}

fn main() {}
