use cacheaside::cache_aside;

#[cache_aside(set = "users", ttl = 60)]
struct User;

fn main() {}
