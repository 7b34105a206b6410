use cacheaside::cache_aside;

pub trait Store {
    #[cache_aside(set = "users", ttl = 60)]
    fn get(&self, id: u32) -> u32;
}

fn main() {}
