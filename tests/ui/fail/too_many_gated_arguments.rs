use cacheaside::cache_aside;

#[cache_aside(set = "users", ttl = 60)]
fn get(
    #[cfg(all())] a: u32,
    #[cfg(all())] b: u32,
    #[cfg(all())] c: u32,
    #[cfg(all())] d: u32,
    #[cfg(all())] e: u32,
) -> u32 {
    a + b + c + d + e
}

fn main() {}
