use cacheaside::cache_aside;

#[cache_aside(ttl = "soon", skip(nothing), refresh = true)]
const fn get(id: u32) -> u32 {
    id
}

fn main() {}
