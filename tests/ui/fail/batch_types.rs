use std::collections::{HashMap, VecDeque};

use cacheaside::cache_aside;

#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
struct UserId(u64);

#[cache_aside(set = "users", ttl = 60, batch)]
async fn returns_a_vec(ids: &[u64]) -> Result<Vec<u32>, String> {
    Ok(ids.iter().map(|_| 0).collect())
}

#[cache_aside(set = "users", ttl = 60, batch)]
async fn newtype_ids(ids: &[UserId]) -> HashMap<UserId, u32> {
    ids.iter().map(|id| (id.clone(), 0)).collect()
}

#[cache_aside(set = "users", ttl = 60, batch)]
async fn a_deque_of_ids(ids: &VecDeque<u64>) -> HashMap<u64, u32> {
    ids.iter().map(|id| (*id, 0)).collect()
}

#[cache_aside(set = "users", ttl = 60, batch)]
async fn other_key_type(ids: &[u32]) -> HashMap<u64, u32> {
    ids.iter().map(|id| (u64::from(*id), 0)).collect()
}

fn main() {}
