use cacheaside::cache_aside;

#[cache_aside(set = "users", ttl = 60, key = ratio)]
async fn get(ratio: f64) -> f64 {
    ratio
}

fn main() {}
