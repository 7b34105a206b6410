use cacheaside::cache_aside;

#[cache_aside(ttl = "soon", skip(nothing), refresh = true)]
fn get(id: u32) -> u32 {
    id
}

fn main() {}
