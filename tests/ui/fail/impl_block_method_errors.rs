use cacheaside::cache_aside;

pub struct Repo;

// Each method's errors are reported; the other methods still expand.
#[cache_aside]
impl Repo {
    #[cache_aside(ttl = 60)]
    pub fn missing_set(&self, id: u32) -> u32 {
        id
    }

    #[cache_aside = "users"]
    pub fn not_a_list(&self, id: u32) -> u32 {
        id
    }

    #[cache_aside(set = "users", ttl = 60)]
    pub fn fine(&self, id: u32) -> u32 {
        id
    }
}

fn main() {
    let _ = Repo.missing_set(1);
    let _ = Repo.fine(1);
    let _ = Repo.fine_invalidate(1);
}
