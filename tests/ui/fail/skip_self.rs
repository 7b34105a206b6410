use cacheaside::cache_aside;

pub struct Repo;

impl Repo {
    #[cache_aside(set = "users", ttl = 60, skip(self))]
    async fn get(&self, id: u32) -> u32 {
        id
    }
}

fn main() {}
