use cacheaside::cache_aside;

// An `impl Trait` argument is part of the key unless skipped, so it must be `Serialize`.
#[cache_aside(set = "users", ttl = 60)]
async fn get(name: impl AsRef<str>) -> usize {
    name.as_ref().len()
}

fn main() {}
