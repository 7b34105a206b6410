//! What the cluster says about a namespace, asked once per namespace (the configured one right
//! after connecting, others on first use) with the info commands `namespaces` and
//! `namespace/<ns>`: does it exist, may records carry a TTL, how large may a record be.

/// A namespace as far as the cache knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NamespaceStatus {
    /// Not checked yet, or the check failed: calls proceed, and the server's answers decide.
    Unknown,
    /// The cluster has no such namespace: calls bypass the cache.
    Missing,
    /// The namespace exists.
    Present(NamespaceInfo),
}

/// The settings of an existing namespace that change what the cache writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct NamespaceInfo {
    /// `nsup-period` is 0 and `allow-ttl-without-nsup` is not set: a write with a TTL is refused
    /// with FAIL_FORBIDDEN (22).
    pub(crate) ttl_forbidden: bool,
    /// `max-record-size` in bytes, when the server reports a non-zero one.
    pub(crate) max_record_size: Option<usize>,
}

/// Whether the answer to `namespaces` (names separated by `;`) lists `namespace`.
pub(crate) fn is_listed(namespaces: &str, namespace: &str) -> bool {
    namespaces.split(';').any(|name| name.trim() == namespace)
}

/// Reads the answer to `namespace/<ns>`: `name=value` pairs separated by `;`. Unknown or
/// malformed pairs are ignored; a missing `nsup-period` means TTLs are not known to be forbidden.
pub(crate) fn parse_details(details: &str) -> NamespaceInfo {
    let mut nsup_period = None;
    let mut allow_ttl_without_nsup = false;
    let mut max_record_size = None;
    for pair in details.split(';') {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match name.trim() {
            "nsup-period" => nsup_period = value.parse::<u64>().ok(),
            "allow-ttl-without-nsup" => allow_ttl_without_nsup = value == "true",
            "max-record-size" => {
                max_record_size = value.parse::<usize>().ok().filter(|size| *size > 0)
            }
            _ => {}
        }
    }
    NamespaceInfo {
        ttl_forbidden: nsup_period == Some(0) && !allow_ttl_without_nsup,
        max_record_size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_namespace_in_the_list() {
        assert!(is_listed("test;cache", "cache"));
        assert!(is_listed("test", "test"));
        assert!(!is_listed("test;cache", "cach"));
        assert!(!is_listed("", "test"));
    }

    #[test]
    fn reads_the_settings_that_matter() {
        let info = parse_details(
            "objects=3;nsup-period=0;default-ttl=0;max-record-size=1048576;\
             allow-ttl-without-nsup=false",
        );
        assert_eq!(
            info,
            NamespaceInfo {
                ttl_forbidden: true,
                max_record_size: Some(1_048_576)
            }
        );
        let allowed = parse_details("nsup-period=0;allow-ttl-without-nsup=true");
        assert!(!allowed.ttl_forbidden);
        let periodic = parse_details("nsup-period=120;max-record-size=0");
        assert_eq!(periodic, NamespaceInfo::default());
    }

    #[test]
    fn ignores_what_it_does_not_understand() {
        assert_eq!(parse_details(""), NamespaceInfo::default());
        assert_eq!(
            parse_details("ERROR::namespace not found"),
            NamespaceInfo::default()
        );
        assert_eq!(
            parse_details("nsup-period=x;=;;max-record-size=-1"),
            NamespaceInfo::default()
        );
    }
}
