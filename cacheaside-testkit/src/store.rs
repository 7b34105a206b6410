//! The server's records, per namespace, and what tests can read of them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::key::UserKey;
use crate::namespace::NamespaceConfig;
use crate::value::BinValue;

/// Record-size model calibrated on Aerospike CE 8.1 with blob and string bins: the largest blob
/// in bin `b` of a record without a set is `max-record-size - 47` bytes; a set name costs its
/// length and one byte, each further bin its name, its value and 6 bytes. (The server packs small
/// integers tighter than the 8 bytes counted here.)
const RECORD_OVERHEAD: usize = 40;
const BIN_OVERHEAD: usize = 6;

const SHARDS: usize = 16;

/// A record as stored.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StoredRecord {
    pub(crate) set: String,
    pub(crate) user_key: Option<UserKey>,
    pub(crate) bins: Vec<(String, BinValue)>,
    pub(crate) generation: u16,
    /// Seconds since 2010-01-01 on the virtual clock; 0 never expires.
    pub(crate) void_time: u32,
}

impl StoredRecord {
    pub(crate) fn is_expired(&self, now: u32) -> bool {
        self.void_time != 0 && self.void_time <= now
    }

    pub(crate) fn bin(&self, name: &[u8]) -> Option<&BinValue> {
        self.bins
            .iter()
            .find(|(n, _)| n.as_bytes() == name)
            .map(|(_, v)| v)
    }

    /// The size the record takes against the namespace's `max-record-size`.
    pub(crate) fn stored_size(&self) -> usize {
        let set = if self.set.is_empty() {
            0
        } else {
            self.set.len() + 1
        };
        RECORD_OVERHEAD
            + set
            + self.user_key.as_ref().map_or(0, UserKey::stored_size)
            + self
                .bins
                .iter()
                .map(|(name, value)| BIN_OVERHEAD + name.len() + value.wire_size())
                .sum::<usize>()
    }
}

/// One namespace: its configuration and its records, sharded by digest to keep lock contention low.
#[derive(Debug)]
pub(crate) struct NamespaceStore {
    pub(crate) config: NamespaceConfig,
    shards: Vec<Mutex<HashMap<[u8; 20], StoredRecord>>>,
    /// Each truncated set's cutoff (`truncate_lut`, milliseconds since 2010-01-01), as a real
    /// server reports it in `sets/<ns>/<set>`.
    truncate_luts: Mutex<HashMap<String, u64>>,
}

impl NamespaceStore {
    fn new(config: NamespaceConfig) -> Self {
        NamespaceStore {
            config,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            truncate_luts: Mutex::default(),
        }
    }

    /// Locks the shard holding `digest`.
    pub(crate) fn shard(
        &self,
        digest: &[u8; 20],
    ) -> MutexGuard<'_, HashMap<[u8; 20], StoredRecord>> {
        // The last digest byte, not the first: the client picks partitions from the first bytes.
        self.shards[usize::from(digest[19]) % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Number of records held (expired ones not yet removed included).
    pub(crate) fn object_count(&self) -> usize {
        self.all_shards().map(|shard| shard.len()).sum()
    }

    /// The answer to `sets/<ns>/<set>`: the set's record count and truncate cutoff, or nothing
    /// for a set the namespace has never seen (as a real server answers).
    pub(crate) fn set_info(&self, set: &str) -> String {
        let objects: usize = self
            .all_shards()
            .map(|shard| shard.values().filter(|record| record.set == set).count())
            .sum();
        let truncate_lut = self.truncate_luts().get(set).copied();
        if objects == 0 && truncate_lut.is_none() {
            return String::new();
        }
        format!(
            "objects={objects}:tombstones=0:truncate_lut={}:truncating=false;",
            truncate_lut.unwrap_or(0)
        )
    }

    /// Notes a truncate of `set` now: its cutoff moves forward, by at least a millisecond.
    fn note_truncate(&self, set: &str) {
        const EPOCH_2010: u64 = 1_262_304_000_000;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
        let mut luts = self.truncate_luts();
        let last = luts.get(set).copied().unwrap_or(0);
        luts.insert(set.to_owned(), now.saturating_sub(EPOCH_2010).max(last + 1));
    }

    fn truncate_luts(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        self.truncate_luts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn all_shards(&self) -> impl Iterator<Item = MutexGuard<'_, HashMap<[u8; 20], StoredRecord>>> {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// All namespaces.
#[derive(Debug)]
pub(crate) struct Store {
    namespaces: Vec<NamespaceStore>,
}

impl Store {
    pub(crate) fn new(configs: Vec<NamespaceConfig>) -> Self {
        Store {
            namespaces: configs.into_iter().map(NamespaceStore::new).collect(),
        }
    }

    pub(crate) fn namespace(&self, name: &[u8]) -> Option<&NamespaceStore> {
        self.namespaces
            .iter()
            .find(|ns| ns.config.name.as_bytes() == name)
    }

    pub(crate) fn namespaces(&self) -> impl Iterator<Item = &NamespaceStore> {
        self.namespaces.iter()
    }

    /// A live record by digest.
    pub(crate) fn view(
        &self,
        namespace: &str,
        digest: &[u8; 20],
        now: u32,
    ) -> Option<StoredRecord> {
        let ns = self.namespace(namespace.as_bytes())?;
        let shard = ns.shard(digest);
        shard.get(digest).filter(|r| !r.is_expired(now)).cloned()
    }

    /// Digests and user keys of the live records of a set.
    pub(crate) fn keys(&self, namespace: &str, set: &str, now: u32) -> Vec<KeyView> {
        let Some(ns) = self.namespace(namespace.as_bytes()) else {
            return Vec::new();
        };
        let mut keys: Vec<KeyView> = ns
            .all_shards()
            .flat_map(|shard| {
                shard
                    .iter()
                    .filter(|(_, r)| r.set == set && !r.is_expired(now))
                    .map(|(digest, r)| KeyView {
                        digest: *digest,
                        user_key: r.user_key.clone(),
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        keys.sort_by_key(|k| k.digest);
        keys
    }

    /// Answers the info commands `truncate:namespace=<ns>;set=<set>` and
    /// `truncate-namespace:namespace=<ns>`, as Aerospike does (`ok`), removing the records at
    /// once rather than in the background. A `lut` (keep records updated after it) is refused:
    /// records here carry no last-update time.
    pub(crate) fn truncate_command(&self, command: &str) -> String {
        let (whole_namespace, params) = match command.split_once(':') {
            Some(("truncate", params)) => (false, params),
            Some(("truncate-namespace", params)) => (true, params),
            _ => return "ERROR::unrecognized command".to_owned(),
        };
        let mut namespace = None;
        let mut set = None;
        for param in params.split(';').filter(|p| !p.is_empty()) {
            match param.split_once('=') {
                Some(("namespace", value)) => namespace = Some(value),
                Some(("set", value)) if !whole_namespace => set = Some(value),
                Some(("lut", _)) => {
                    return "ERROR:4:lut is not supported by the testkit".to_owned()
                }
                _ => return format!("ERROR:4:unknown truncate parameter {param}"),
            }
        }
        let Some(ns) = namespace.and_then(|name| self.namespace(name.as_bytes())) else {
            return "ERROR:20:namespace not found".to_owned();
        };
        if !whole_namespace && set.is_none_or(str::is_empty) {
            return "ERROR:4:set missing".to_owned();
        }
        for mut shard in ns.all_shards() {
            shard.retain(|_, record| set.is_some_and(|set| record.set != set));
        }
        if let Some(set) = set {
            ns.note_truncate(set);
        }
        "ok".to_owned()
    }

    /// Removes every record of every namespace.
    pub(crate) fn clear(&self) {
        for ns in &self.namespaces {
            for mut shard in ns.all_shards() {
                shard.clear();
            }
        }
    }
}

/// A record read straight from server state by [`TestServer::record`](crate::TestServer::record).
#[derive(Clone, Debug, PartialEq)]
pub struct RecordView {
    /// The record's bins.
    pub bins: BTreeMap<String, BinValue>,
    /// Number of writes since the record was created (touches count).
    pub generation: u32,
    /// Remaining time to live on the server's virtual clock; `None` never expires.
    pub ttl: Option<Duration>,
    /// The user key, if the client stored it (`send_key`).
    pub user_key: Option<UserKey>,
}

impl RecordView {
    pub(crate) fn from_stored(record: StoredRecord, now: u32) -> Self {
        RecordView {
            bins: record.bins.into_iter().collect(),
            generation: u32::from(record.generation),
            ttl: (record.void_time != 0)
                .then(|| Duration::from_secs(u64::from(record.void_time.saturating_sub(now)))),
            user_key: record.user_key,
        }
    }

    /// One bin's value.
    pub fn bin(&self, name: &str) -> Option<&BinValue> {
        self.bins.get(name)
    }
}

/// A key listed by [`TestServer::keys`](crate::TestServer::keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyView {
    /// The record's digest.
    pub digest: [u8; 20],
    /// The user key, if the client stored it (`send_key`).
    pub user_key: Option<UserKey>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namespace::DEFAULT_MAX_RECORD_SIZE;

    #[test]
    fn size_model_matches_the_measured_limit() {
        // Measured on Aerospike 8.1 with one blob bin `b`: without a set the largest blob is the
        // limit less 47 bytes; in set `size-1`, less 54; in set `size-123456789`, less 62.
        let record = |set: &str, len: usize| StoredRecord {
            set: set.to_owned(),
            user_key: None,
            bins: vec![("b".into(), BinValue::Blob(vec![0; len]))],
            generation: 1,
            void_time: 0,
        };
        for (set, overhead) in [("", 47), ("size-1", 54), ("size-123456789", 62)] {
            let largest = DEFAULT_MAX_RECORD_SIZE - overhead;
            assert_eq!(record(set, largest).stored_size(), DEFAULT_MAX_RECORD_SIZE);
            assert!(record(set, largest + 1).stored_size() > DEFAULT_MAX_RECORD_SIZE);
        }
    }

    #[test]
    fn truncate_removes_one_set_or_the_whole_namespace() {
        let store = Store::new(vec![
            NamespaceConfig::new("test"),
            NamespaceConfig::new("other"),
        ]);
        let put = |namespace: &str, set: &str, digest: u8| {
            let record = StoredRecord {
                set: set.to_owned(),
                user_key: None,
                bins: Vec::new(),
                generation: 1,
                void_time: 0,
            };
            let ns = store.namespace(namespace.as_bytes()).unwrap();
            ns.shard(&[digest; 20]).insert([digest; 20], record);
        };
        put("test", "users", 1);
        put("test", "users", 2);
        put("test", "orders", 3);
        put("other", "users", 4);
        assert_eq!(
            store.truncate_command("truncate:namespace=test;set=users"),
            "ok"
        );
        assert!(store.keys("test", "users", 0).is_empty());
        assert_eq!(store.keys("test", "orders", 0).len(), 1, "other sets stay");
        assert_eq!(
            store.keys("other", "users", 0).len(),
            1,
            "other namespaces stay"
        );
        assert_eq!(
            store.truncate_command("truncate-namespace:namespace=test"),
            "ok"
        );
        assert!(store.keys("test", "orders", 0).is_empty());
        assert_eq!(store.keys("other", "users", 0).len(), 1);
        for (command, answer) in [
            (
                "truncate:namespace=nope;set=users",
                "ERROR:20:namespace not found",
            ),
            ("truncate:namespace=test", "ERROR:4:set missing"),
            (
                "truncate:namespace=test;set=users;lut=5",
                "ERROR:4:lut is not supported by the testkit",
            ),
            ("truncate-all", "ERROR::unrecognized command"),
        ] {
            assert_eq!(store.truncate_command(command), answer, "{command}");
        }
    }
}
