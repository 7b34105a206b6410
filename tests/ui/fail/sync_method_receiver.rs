use cacheaside::cache_aside;

pub struct Repo;

impl Repo {
    #[cache_aside(set = "users", ttl = 60)]
    pub fn boxed(self: Box<Self>, id: u32) -> u32 {
        id
    }
}

fn main() {}
