use cacheaside::cache_aside;

pub struct Repo;

impl Repo {
    // Without `#[cache_aside]` on the `impl` block, a function without `self` is taken for a free
    // function.
    #[cache_aside(set = "users", ttl = 60)]
    pub fn count(name: &str) -> usize {
        name.len()
    }
}

fn main() {}
