use cacheaside::{cache_aside, cache_put};

#[cache_aside(set = "rows", ttl = 60, codec = "bincode")]
async fn bincode_without_the_feature(id: u32) -> u32 {
    id
}

#[cache_aside(set = "rows", ttl = 60, codec = "postcard")]
async fn postcard_without_the_feature(id: u32) -> u32 {
    id
}

#[cache_put(set = "rows", key = id, codec = "json")]
async fn json_without_the_feature(id: u32) -> u32 {
    id
}

fn main() {}
