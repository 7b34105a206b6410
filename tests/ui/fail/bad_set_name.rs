use cacheaside::{cache_aside, cache_put};

// Aerospike refuses set and namespace names with `:`, `;` or a NUL: every write would fail.
#[cache_aside(set = "users:v2", ttl = 60)]
async fn get_user(id: u64) -> String {
    id.to_string()
}

#[cache_aside(set = "sessions", namespace = "cache;eu", ttl = 60)]
async fn get_session(id: u64) -> String {
    id.to_string()
}

#[cache_aside(set = "us\0ers", ttl = 60)]
async fn get_nul(id: u64) -> String {
    id.to_string()
}

#[cache_put(set = "users;v2", key = id)]
async fn save_user(id: u64) -> String {
    id.to_string()
}

fn main() {}
