//! The size guard: a value whose record would exceed the namespace's record size limit is not
//! written (the server would refuse it with RECORD_TOO_BIG after the bytes crossed the network).

use crate::namespace::NamespaceStatus;
use crate::{Config, UserKey};

/// Bytes a record takes besides the value of bin `data`, its set name and a stored key. Measured
/// on Aerospike 8.1: a record with one blob bin and no set fits if its value has at most
/// `max-record-size - 46` bytes less the bin name's length.
const RECORD_OVERHEAD: usize = 46 + crate::envelope::DATA_BIN.len();

/// What the set name adds to a record: its bytes and one more (measured likewise; no set, none).
fn set_cost(set: &str) -> usize {
    if set.is_empty() {
        0
    } else {
        set.len() + 1
    }
}

/// The record size limit: the smaller of the configured one and the namespace's reported
/// `max-record-size`.
pub(crate) fn limit(config: &Config, namespace: NamespaceStatus) -> usize {
    match namespace {
        NamespaceStatus::Present(info) => info
            .max_record_size
            .map_or(config.max_record_size(), |reported| {
                reported.min(config.max_record_size())
            }),
        NamespaceStatus::Unknown | NamespaceStatus::Missing => config.max_record_size(),
    }
}

/// What storing the user key adds to a record: its bytes and two more (measured likewise).
pub(crate) fn stored_key_cost(user_key: &UserKey, send_key: bool) -> usize {
    if !send_key {
        return 0;
    }
    let key_len = match user_key {
        UserKey::Str(string) => string.len(),
        UserKey::Int(_) => 8,
        UserKey::Bytes(bytes) => bytes.len(),
    };
    key_len + 2
}

/// Whether a record of `set` holding `value_len` bytes in bin `data` fits in `limit`.
pub(crate) fn fits(value_len: usize, set: &str, stored_key_cost: usize, limit: usize) -> bool {
    value_len
        .saturating_add(RECORD_OVERHEAD)
        .saturating_add(set_cost(set))
        .saturating_add(stored_key_cost)
        <= limit
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namespace::NamespaceInfo;

    const MIB: usize = 1024 * 1024;

    #[test]
    fn the_measured_boundary() {
        // Bin `b` in set `size-1` fits MIB - 54 (no set: MIB - 47); bin `data` three bytes less.
        assert!(fits(MIB - 57, "size-1", 0, MIB));
        assert!(!fits(MIB - 56, "size-1", 0, MIB));
        assert!(fits(MIB - 50, "", 0, MIB));
        assert!(!fits(MIB - 49, "", 0, MIB));
        let key = UserKey::Str("user:42".to_owned());
        assert_eq!(stored_key_cost(&key, false), 0);
        assert_eq!(stored_key_cost(&key, true), 9);
        assert!(fits(MIB - 57 - 9, "size-1", 9, MIB));
        assert!(!fits(MIB - 57 - 8, "size-1", 9, MIB));
        assert!(!fits(usize::MAX, "", 0, MIB), "no overflow");
    }

    #[test]
    fn the_smaller_limit_applies() {
        let config = Config::builder().max_record_size(MIB).build().unwrap();
        let reported = |size| {
            NamespaceStatus::Present(NamespaceInfo {
                ttl_forbidden: false,
                max_record_size: size,
            })
        };
        assert_eq!(limit(&config, NamespaceStatus::Unknown), MIB);
        assert_eq!(limit(&config, reported(Some(4096))), 4096);
        assert_eq!(limit(&config, reported(Some(8 * MIB))), MIB);
        assert_eq!(limit(&config, reported(None)), MIB);
    }
}
