use cacheaside::cache_aside;

#[cache_aside(set = users, namespace = "", companions = "no", key)]
async fn get(id: u32) -> u32 {
    id
}

fn main() {}
