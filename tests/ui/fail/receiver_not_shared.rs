use cacheaside::cache_aside;

pub struct Repo;

impl Repo {
    #[cache_aside(set = "users", ttl = 60)]
    async fn by_mut(&mut self, id: u32) -> u32 {
        id
    }

    #[cache_aside(set = "users", ttl = 60)]
    async fn by_value(self, id: u32) -> u32 {
        id
    }
}

fn main() {}
