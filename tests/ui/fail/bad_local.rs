use cacheaside::cache_aside;

#[cache_aside(set = "users", ttl = 60, local)]
async fn no_settings(id: u64) -> u64 {
    id
}

#[cache_aside(set = "users", ttl = 60, local(capacity = 100))]
async fn no_ttl(id: u64) -> u64 {
    id
}

#[cache_aside(set = "users", ttl = 60, local(ttl = "5s", entries = 100))]
async fn unknown_setting(id: u64) -> u64 {
    id
}

#[cache_aside(set = "users", ttl = 60, local(ttl = "5s", capacity = 0))]
async fn zero_capacity(id: u64) -> u64 {
    id
}

fn main() {}
