use cacheaside::cache_aside;

pub struct Repo;

#[cache_aside(set = "users")]
impl Repo {
    #[cache_aside(set = "users", ttl = 60)]
    pub fn get(&self, id: u32) -> u32 {
        id
    }
}

pub struct Other;

#[cache_aside]
impl Other {
    pub fn plain(&self) -> u32 {
        1
    }
}

fn main() {
    let _ = Repo.get(1);
    let _ = Other.plain();
}
