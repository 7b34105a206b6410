//! Which partitions a failing node holds, learned from the nodes that still answer: asked
//! `replicas`, each node lists the partitions it is master of, and what none of them masters
//! belongs to the failing node (or to another node that does not answer). Until the cluster
//! re-forms, the survivors keep the old map, so this is the map the client still routes by.

use std::sync::Arc;
use std::time::Duration;

use aerospike::{AdminPolicy, Client, Node};

use super::partitions::PARTITIONS;
use crate::error::node_hash;

/// The active nodes of `client` other than `failed` (a hash of its name, as errors give it).
pub(crate) fn other_nodes(client: &Client, failed: u64) -> impl Iterator<Item = Arc<Node>> {
    client
        .nodes()
        .into_iter()
        .filter(move |node| node.is_active() && node_hash(&node.to_string()) != failed)
}

/// For each partition, whether a node other than `failed` (a hash of its name) that answered
/// within `timeout` is its master in some namespace; `None` when no other node answered.
pub(crate) async fn mastered_elsewhere(
    client: &Client,
    failed: u64,
    timeout: Duration,
) -> Option<Vec<bool>> {
    let policy = AdminPolicy {
        timeout: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
    };
    let mut mastered = vec![false; PARTITIONS];
    let mut answered = false;
    for node in other_nodes(client, failed) {
        let Ok(Ok(answer)) = tokio::time::timeout(timeout, node.info(&policy, &["replicas"])).await
        else {
            continue;
        };
        if let Some(replicas) = answer.get("replicas") {
            answered |= mark_masters(replicas, &mut mastered);
        }
    }
    answered.then_some(mastered)
}

/// Marks in `mastered` the partitions of the first bitmap (the master's) of every namespace of
/// a `replicas` answer: `ns:regime,count,bitmap,…;…` (older servers: `ns:count,bitmap,…`).
/// Whether any namespace could be read.
fn mark_masters(replicas: &str, mastered: &mut [bool]) -> bool {
    let mut any = false;
    for namespace in replicas.split(';') {
        let Some((_, fields)) = namespace.split_once(':') else {
            continue;
        };
        // The bitmaps are the fields that are not numbers; the master's comes first.
        let master = fields
            .split(',')
            .find(|field| !field.is_empty() && field.parse::<u64>().is_err());
        let Some(bitmap) = master.and_then(base64) else {
            continue;
        };
        for (partition, flag) in mastered.iter_mut().enumerate() {
            let byte = bitmap.get(partition / 8).copied().unwrap_or(0);
            // Partition 0 is the high bit of the first byte.
            if byte & (0x80 >> (partition % 8)) != 0 {
                *flag = true;
            }
        }
        any = true;
    }
    any
}

/// Standard base64 with padding; `None` for anything else.
fn base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let text = text.trim().trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut count) = (0u32, 0);
    for c in text.bytes() {
        bits = bits << 6 | u32::from(value(c)?);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_the_standard_alphabet() {
        assert_eq!(base64("TWFu").as_deref(), Some(&b"Man"[..]));
        assert_eq!(base64("TWE=").as_deref(), Some(&b"Ma"[..]));
        assert_eq!(base64("//8=").as_deref(), Some(&[0xff, 0xff][..]));
        assert_eq!(base64("a*b"), None);
    }

    #[test]
    fn the_first_bitmap_of_each_namespace_is_the_masters() {
        let mut mastered = vec![false; PARTITIONS];
        // Partitions 0 and 9 mastered in `test`, partition 1 only as a replica; 2 in `other`.
        let answer = "test:0,2,gEA=,QAA=;other:0,1,IAA=";
        assert!(mark_masters(answer, &mut mastered));
        let marked: Vec<usize> = (0..PARTITIONS).filter(|&p| mastered[p]).collect();
        assert_eq!(marked, [0, 2, 9]);
    }

    #[test]
    fn answers_without_a_bitmap_mark_nothing() {
        let mut mastered = vec![false; PARTITIONS];
        assert!(!mark_masters("", &mut mastered));
        assert!(!mark_masters("ERROR::unrecognized command", &mut mastered));
        assert!(mastered.iter().all(|m| !m));
    }
}
