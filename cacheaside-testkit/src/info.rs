//! Answers to info requests, as a node of an Aerospike 8.0 cluster gives them.

use crate::membership::{View, PARTITIONS};
use crate::store::Store;

const BUILD: &str = "8.0.0.0";
/// The port a real server names as the default in its peers lists (for hosts listed without one).
const DEFAULT_PORT: u16 = 3000;

/// The node id of node `node` (0-based): `BB9TESTKIT0001`, `BB9TESTKIT0002`, …
pub(crate) fn node_name(node: usize) -> String {
    format!("BB9TESTKIT{:04}", node + 1)
}

/// Everything an answer depends on: the node asked, the cluster as advertised now, the data.
pub(crate) struct Context<'a> {
    pub(crate) store: &'a Store,
    pub(crate) cluster_name: Option<&'a str>,
    /// The node asked (0-based).
    pub(crate) node: usize,
    /// The port of every node.
    pub(crate) ports: &'a [u16],
    pub(crate) view: &'a View,
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Base64 of the 512-byte bitmap of the partitions for which `node` holds copy `copy` (0 master).
fn ownership_bitmap(view: &View, node: Option<usize>, copy: usize) -> String {
    let mut bitmap = [0u8; PARTITIONS / 8];
    if let Some(node) = node {
        for partition in 0..PARTITIONS {
            if view.owners(partition).nth(copy) == Some(node) {
                bitmap[partition >> 3] |= 0x80 >> (partition & 7);
            }
        }
    }
    base64(&bitmap)
}

/// The reply body for a request body of newline-separated names.
pub(crate) fn answer(context: &Context<'_>, request: &[u8]) -> Vec<u8> {
    let request = String::from_utf8_lossy(request);
    let mut out = String::new();
    for name in request.split('\n').map(str::trim).filter(|n| !n.is_empty()) {
        out.push_str(name);
        out.push('\t');
        out.push_str(&value_of(context, name));
        out.push('\n');
    }
    out.into_bytes()
}

/// The other members of the asked node's cluster: none for a node outside it.
fn others<'a>(context: &'a Context<'_>) -> impl Iterator<Item = usize> + 'a {
    let member = context.view.has_joined(context.node);
    context
        .view
        .members()
        .iter()
        .copied()
        .filter(move |&peer| member && peer != context.node)
}

fn value_of(context: &Context<'_>, name: &str) -> String {
    let Context {
        store,
        cluster_name,
        node,
        ports,
        view,
    } = *context;
    // A node that runs but has not joined the cluster yet (restarted, within the re-cluster delay)
    // answers as a real one does then: no peers, generations 0 and -1, no partitions.
    let member = view.has_joined(node);
    let port = ports[node];
    match name {
        "node" => node_name(node),
        "cluster-name" => cluster_name.unwrap_or("null").to_owned(),
        "build" => BUILD.to_owned(),
        "edition" => "Aerospike Community Edition".to_owned(),
        "status" => "ok".to_owned(),
        "partition-generation" if member => view.partition_generation.to_string(),
        "partition-generation" => "-1".to_owned(),
        "peers-generation" if member => view.peers_generation.to_string(),
        "peers-generation" => "0".to_owned(),
        // A TLS client asks for the TLS variants; the answers are the same (one port per node).
        "peers-clear-std" | "peers-clear-alt" | "peers-tls-std" | "peers-tls-alt" => {
            let generation = if member { view.peers_generation } else { 0 };
            let peers = others(context)
                .map(|peer| format!("[{},,[127.0.0.1:{}]]", node_name(peer), ports[peer]))
                .collect::<Vec<_>>()
                .join(",");
            format!("{generation},{DEFAULT_PORT},[{peers}]")
        }
        "service-clear-std" | "service-clear-alt" | "service-tls-std" | "service-tls-alt"
        | "service" => format!("127.0.0.1:{port}"),
        "services" => others(context)
            .map(|peer| format!("127.0.0.1:{}", ports[peer]))
            .collect::<Vec<_>>()
            .join(";"),
        "replicas" => {
            // A member lists one bitmap per copy; a node outside the cluster one empty bitmap.
            let bitmaps = if member {
                (0..view.effective_replication_factor())
                    .map(|copy| ownership_bitmap(view, Some(node), copy))
                    .collect::<Vec<_>>()
            } else {
                vec![ownership_bitmap(view, None, 0)]
            };
            let bitmaps = format!("{},{}", bitmaps.len(), bitmaps.join(","));
            store
                .namespaces()
                .map(|ns| format!("{}:0,{bitmaps}", ns.config.name))
                .collect::<Vec<_>>()
                .join(";")
        }
        "namespaces" => store
            .namespaces()
            .map(|ns| ns.config.name.clone())
            .collect::<Vec<_>>()
            .join(";"),
        _ if name.starts_with("truncate") => store.truncate_command(name),
        _ if name.starts_with("sets/") => match name["sets/".len()..].split_once('/') {
            Some((ns_name, set)) => store
                .namespace(ns_name.as_bytes())
                .map_or_else(String::new, |ns| ns.set_info(set)),
            None => "ERROR::unrecognized command".to_owned(),
        },
        _ => match name.strip_prefix("namespace/") {
            Some(ns_name) => match store.namespace(ns_name.as_bytes()) {
                Some(ns) => format!(
                    "ns_cluster_size={};effective_replication_factor={};objects={};\
                     replication-factor={};strong-consistency=false;nsup-period={};default-ttl={};\
                     max-record-size={};allow-ttl-without-nsup={}",
                    if member { view.members().len() } else { 0 },
                    if member {
                        view.effective_replication_factor()
                    } else {
                        0
                    },
                    ns.object_count(),
                    view.replication_factor(),
                    ns.config.nsup_period_secs,
                    ns.config.default_ttl_secs,
                    ns.config.max_record_size,
                    ns.config.allow_ttl_without_nsup,
                ),
                None => "ERROR::namespace not found".to_owned(),
            },
            // What Aerospike 7.1 to 8.0 answer for a name they do not know.
            None => "ERROR::unrecognized command".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::membership::Membership;
    use std::time::Duration;

    #[test]
    fn base64_pads_like_the_standard_alphabet() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xFB, 0xFF]), "+/8=");
    }

    #[test]
    fn a_single_node_owns_every_partition() {
        let view = Membership::new(1, 1, Duration::ZERO).view();
        let bitmap = ownership_bitmap(&view, Some(0), 0);
        assert_eq!(bitmap.len(), 684); // ceil(512 / 3) * 4
        let mut all = "////".repeat(170);
        all.push_str("//8=");
        assert_eq!(bitmap, all);
    }
}
