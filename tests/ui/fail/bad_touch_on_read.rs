use cacheaside::cache_aside;

#[cache_aside(set = "sessions", touch_on_read)]
async fn without_ttl(id: u64) -> u64 {
    id
}

#[cache_aside(set = "sessions", ttl = 60, touch_on_read = 80)]
async fn a_percentage(id: u64) -> u64 {
    id
}

#[cache_aside(set = "sessions", ttl = 60, touch_on_read = true)]
async fn a_bool(id: u64) -> u64 {
    id
}

fn main() {}
