//! Answers to info requests, as a single-node Aerospike 8.0 cluster gives them.

use crate::store::Store;

/// The node id every testkit server reports.
pub(crate) const NODE_NAME: &str = "BB9TESTKIT0001";
const BUILD: &str = "8.0.0.0";
const PARTITION_GENERATION: &str = "1";
const PEERS_GENERATION: &str = "1";

/// Base64 of 512 bytes 0xFF: this node owns all 4096 partitions.
fn all_partitions_bitmap() -> String {
    let mut bitmap = "////".repeat(170);
    bitmap.push_str("//8=");
    bitmap
}

/// The reply body for a request body of newline-separated names.
pub(crate) fn answer(
    store: &Store,
    port: u16,
    cluster_name: Option<&str>,
    request: &[u8],
) -> Vec<u8> {
    let request = String::from_utf8_lossy(request);
    let mut out = String::new();
    for name in request.split('\n').map(str::trim).filter(|n| !n.is_empty()) {
        out.push_str(name);
        out.push('\t');
        out.push_str(&value_of(store, port, cluster_name, name));
        out.push('\n');
    }
    out.into_bytes()
}

fn value_of(store: &Store, port: u16, cluster_name: Option<&str>, name: &str) -> String {
    match name {
        "node" => NODE_NAME.to_owned(),
        "cluster-name" => cluster_name.unwrap_or("null").to_owned(),
        "build" => BUILD.to_owned(),
        "edition" => "Aerospike Community Edition".to_owned(),
        "status" => "ok".to_owned(),
        "partition-generation" => PARTITION_GENERATION.to_owned(),
        "peers-generation" => PEERS_GENERATION.to_owned(),
        // A TLS client asks for the TLS variants; the answers are the same (one node, one port).
        "peers-clear-std" | "peers-clear-alt" | "peers-tls-std" | "peers-tls-alt" => {
            format!("{PEERS_GENERATION},{port},[]")
        }
        "service-clear-std" | "service-clear-alt" | "service-tls-std" | "service-tls-alt"
        | "service" => format!("127.0.0.1:{port}"),
        "replicas" => {
            let bitmap = all_partitions_bitmap();
            store
                .namespaces()
                .map(|ns| format!("{}:0,1,{bitmap}", ns.config.name))
                .collect::<Vec<_>>()
                .join(";")
        }
        "namespaces" => store.namespaces().map(|ns| ns.config.name.clone()).collect::<Vec<_>>().join(";"),
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
                    "ns_cluster_size=1;effective_replication_factor=1;objects={};replication-factor=1;\
                     strong-consistency=false;nsup-period={};default-ttl={};max-record-size={};\
                     allow-ttl-without-nsup={}",
                    ns.object_count(),
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

    #[test]
    fn bitmap_is_512_bytes_of_ones_in_base64() {
        let bitmap = all_partitions_bitmap();
        assert_eq!(bitmap.len(), 684); // ceil(512 / 3) * 4
        assert!(bitmap.ends_with("//8="));
    }
}
