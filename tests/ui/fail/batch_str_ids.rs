use std::collections::{BTreeMap, HashMap};

use cacheaside::cache_aside;

#[cache_aside(set = "names", ttl = 60, batch)]
async fn borrowed_keys<'a>(names: &[&'a str]) -> HashMap<&'a str, u32> {
    names.iter().map(|name| (*name, 0)).collect()
}

#[cache_aside(set = "names", ttl = 60, batch)]
async fn borrowed_keys_in_a_result<'a>(names: Vec<&'a str>) -> Result<BTreeMap<&'a str, u32>, String> {
    Ok(names.into_iter().map(|name| (name, 0)).collect())
}

#[cache_aside(set = "names", ttl = 60, batch)]
async fn other_key_type(names: &[&str]) -> HashMap<u64, u32> {
    names.iter().map(|name| (name.len() as u64, 0)).collect()
}

fn main() {}
