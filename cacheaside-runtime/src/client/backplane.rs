//! The backplane's records (see `backplane`): a counter per set and a ring of notices, in set
//! [`BACKPLANE_SET`] of the entries' namespace.
//!
//! A child of `client` so that these operations run on the same runtime, with the same timeout
//! and circuit breaker as the entries' operations.

use aerospike::{operations, Bin, Bins, Expiration, Key, RecordExistsAction, ResultCode, Value};

use super::Cache;
use crate::Error;

/// The set that holds every backplane record.
pub(crate) const BACKPLANE_SET: &str = "cacheaside_backplane";

/// Bin of the counter record: how many notices were published for the set.
const SEQUENCE_BIN: &str = "seq";
/// Bin of a notice: the user key whose entry changed.
const KEY_BIN: &str = "key";
/// Bin of a notice that names every entry of the set (a truncate).
const ALL_BIN: &str = "all";
/// Bin of a notice: the process that wrote it.
const ORIGIN_BIN: &str = "origin";

/// What a notice says changed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Changed {
    /// The entry of this user key.
    Key(Value),
    /// Every entry of the set.
    All,
}

/// One notice of the ring.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Notice {
    /// Its number.
    pub(crate) seq: u64,
    /// The process that wrote it.
    pub(crate) origin: i64,
    pub(crate) what: Changed,
}

impl Notice {
    /// Its number.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// The process that wrote it.
    pub(crate) fn origin(&self) -> i64 {
        self.origin
    }
}

impl Cache {
    /// Takes the next notice number of the set whose counter is at `counter`, or `None` when no
    /// process listens to the set (no counter record: nothing to tell anyone).
    pub(crate) async fn next_notice(&self, counter: Key) -> Result<Option<u64>, Error> {
        let mut policy = self.installation.policies.write.clone();
        policy.expiration = Expiration::Never;
        policy.record_exists_action = RecordExistsAction::UpdateOnly;
        self.run(None, move |client| async move {
            let one = Bin::new(SEQUENCE_BIN, Value::Int(1));
            let ops = [operations::add(&one), operations::get_bin(SEQUENCE_BIN)];
            match client.operate(&policy, &counter, &ops).await {
                Ok(record) => Ok(sequence(record.bins.get(SEQUENCE_BIN))),
                Err(e) if e.matches(&[ResultCode::KeyNotFoundError]) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Writes notice `notice` into its slot of the ring.
    pub(crate) async fn write_notice(&self, slot: Key, notice: Notice) -> Result<(), Error> {
        let mut policy = self.installation.policies.write.clone();
        policy.expiration = Expiration::Never;
        policy.record_exists_action = RecordExistsAction::Replace;
        self.run(None, move |client| async move {
            let seq = i64::try_from(notice.seq).unwrap_or(i64::MAX);
            let mut bins = vec![
                Bin::new(SEQUENCE_BIN, Value::Int(seq)),
                Bin::new(ORIGIN_BIN, Value::Int(notice.origin)),
            ];
            bins.push(match notice.what {
                Changed::Key(key) => Bin::new(KEY_BIN, key),
                Changed::All => Bin::new(ALL_BIN, Value::Int(1)),
            });
            client.put(&policy, &slot, &bins).await
        })
        .await
    }

    /// How many notices the set whose counter is at `counter` has had; creates the counter (at
    /// 0) when `create` and it does not exist, else answers 0 for a missing one.
    pub(crate) async fn notice_count(&self, counter: Key, create: bool) -> Result<u64, Error> {
        if create {
            let mut policy = self.installation.policies.write.clone();
            policy.expiration = Expiration::Never;
            return self
                .run(None, move |client| async move {
                    let zero = Bin::new(SEQUENCE_BIN, Value::Int(0));
                    let ops = [operations::add(&zero), operations::get_bin(SEQUENCE_BIN)];
                    let record = client.operate(&policy, &counter, &ops).await?;
                    Ok(sequence(record.bins.get(SEQUENCE_BIN)).unwrap_or(0))
                })
                .await;
        }
        let policy = self.installation.policies.read.clone();
        self.run(None, move |client| async move {
            let mut policy = policy;
            // Not an entry: the filter for bin `data` does not apply.
            policy.base_policy.filter_expression = None;
            match client.get(&policy, &counter, [SEQUENCE_BIN]).await {
                Ok(record) => Ok(sequence(record.bins.get(SEQUENCE_BIN)).unwrap_or(0)),
                Err(e) if e.matches(&[ResultCode::KeyNotFoundError]) => Ok(0),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// The notices in `slots`, in order: `None` for an empty slot.
    pub(crate) async fn read_notices(&self, slots: Vec<Key>) -> Result<Vec<Option<Notice>>, Error> {
        let read = self.installation.policies.read.clone();
        self.run(None, move |client| async move {
            let mut policy = aerospike::BatchPolicy::default();
            policy.base_policy.total_timeout = read.base_policy.total_timeout;
            policy.base_policy.socket_timeout = read.base_policy.socket_timeout;
            policy.base_policy.max_retries = read.base_policy.max_retries;
            let row_policy = aerospike::BatchReadPolicy::default();
            let bins = Bins::from([SEQUENCE_BIN, ORIGIN_BIN, KEY_BIN, ALL_BIN]);
            let mut ops: Vec<aerospike::BatchOperation> = slots
                .into_iter()
                .map(|slot| aerospike::BatchOperation::read(&row_policy, slot, bins.clone()))
                .collect();
            client.batch(&policy, &mut ops).await?;
            Ok(ops
                .iter_mut()
                .map(|op| {
                    let record = op.take_record()?;
                    let seq = sequence(record.bins.get(SEQUENCE_BIN))?;
                    let origin = match record.bins.get(ORIGIN_BIN) {
                        Some(Value::Int(origin)) => *origin,
                        _ => 0,
                    };
                    let what = if record.bins.contains_key(ALL_BIN) {
                        Changed::All
                    } else {
                        Changed::Key(record.bins.get(KEY_BIN)?.clone())
                    };
                    Some(Notice { seq, origin, what })
                })
                .collect())
        })
        .await
    }
}

/// The notice number a bin [`SEQUENCE_BIN`] holds, if it holds one. An operate that adds to the
/// bin and then reads it answers both ops under the bin's name: the read's value comes last.
fn sequence(bin: Option<&Value>) -> Option<u64> {
    match bin {
        Some(Value::Int(n)) => u64::try_from(*n).ok(),
        Some(Value::MultiResult(results)) => sequence(results.last()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_after_an_add_is_the_number() {
        assert_eq!(sequence(Some(&Value::Int(7))), Some(7));
        let both = Value::MultiResult(vec![Value::Nil, Value::Int(8)]);
        assert_eq!(sequence(Some(&both)), Some(8));
        assert_eq!(sequence(Some(&Value::Nil)), None);
        assert_eq!(sequence(None), None);
    }
}
