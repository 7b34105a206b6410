use cacheaside::cache_aside;

struct Pool;

#[cache_aside(set = "users", ttl = 60, refresh_ahead = 0.2, skip(db))]
async fn borrows(db: &Pool, id: u32) -> u32 {
    let _ = db;
    id
}

#[cache_aside(set = "users", ttl = 60, refresh_ahead = 0.2, skip(db))]
fn borrows_sync(db: &Pool, id: u32) -> u32 {
    let _ = db;
    id
}

#[cache_aside(set = "users", ttl = 60, refresh_ahead = 0.2)]
async fn borrows_a_str(name: &str, tags: Vec<std::borrow::Cow<'_, str>>) -> u32 {
    name.len() as u32 + tags.len() as u32
}

#[cache_aside(set = "users", ttl = 60, refresh_ahead = 0.2)]
async fn owned_and_static(name: String, label: &'static str) -> u32 {
    name.len() as u32 + label.len() as u32
}

/// Not `Send`: caught by the runtime's bound.
#[cache_aside(set = "users", ttl = 60, refresh_ahead = 0.2, skip(shared))]
async fn not_send(shared: std::rc::Rc<u32>, id: u32) -> u32 {
    *shared + id
}

struct Repo;

#[cache_aside]
impl Repo {
    #[cache_aside(set = "users", ttl = 60, refresh_ahead = 0.2)]
    async fn method(&self, id: u32) -> u32 {
        id
    }
}

fn main() {}
