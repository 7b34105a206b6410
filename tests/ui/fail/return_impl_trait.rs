use cacheaside::cache_aside;

#[cache_aside(set = "users", ttl = 60)]
fn ids(count: u32) -> impl Iterator<Item = u32> {
    0..count
}

#[cache_aside(set = "users", ttl = 60)]
async fn names(count: u32) -> Vec<impl ToString> {
    (0..count).collect::<Vec<u32>>()
}

fn main() {
    // The functions are still emitted unchanged, so callers see no follow-on errors.
    let _ = ids(3).count();
    drop(names(3));
}
