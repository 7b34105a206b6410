//! The lease of `lease` (see `engine::lease`): a process that is about to load a missing entry
//! marks its record with bin `lease`, the time (milliseconds since the Unix epoch) until which
//! the other processes leave the load to it and wait for its value.
//!
//! A child of `client` so that these operations run on the same runtime, with the same timeout
//! and circuit breaker as the entries' operations.

use std::borrow::Borrow;

use aerospike::{
    operations, Bin, Expiration, GenerationPolicy, Key, RecordExistsAction, ResultCode, Value,
};

use super::{data_filter, Cache, Expected, Stored};
use crate::envelope::DATA_BIN;
use crate::Error;

/// The bin of a record's lease.
pub(crate) const LEASE_BIN: &str = "lease";

/// What a read of a leased function's record found: the entry, and the lease on it, if any.
pub(crate) struct LeaseView {
    pub(crate) stored: Stored,
    /// Until when another process loads the entry (milliseconds since the Unix epoch).
    pub(crate) lease_until: Option<i64>,
}

impl Cache {
    /// Reads bin `data`, the lease and the generation of a record; `Ok(None)` when it does not
    /// exist. Filtered like [`read`](Cache::read).
    pub(crate) async fn read_lease(&self, key: &Key) -> Result<Option<LeaseView>, Error> {
        let policy = &self.installation.policies_for(key.set_name()).read;
        self.run(None, move |client| async move {
            match client.get(policy, key, [DATA_BIN, LEASE_BIN]).await {
                Ok(mut record) => {
                    let lease_until = match record.bins.swap_remove(LEASE_BIN) {
                        Some(Value::Int(until)) => Some(until),
                        _ => None,
                    };
                    Ok(Some(LeaseView {
                        stored: Stored::of(&mut record),
                        lease_until,
                    }))
                }
                Err(e) if e.matches(&[ResultCode::KeyNotFoundError]) => Ok(None),
                Err(e) if e.matches(&[ResultCode::FilteredOut]) => Ok(Some(LeaseView {
                    stored: Stored::UNUSABLE,
                    lease_until: None,
                })),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Turns the record into an invalidation marker leased until `until`, only if it is still as
    /// `expected` (none, or this generation); returns the leased record's generation. A record
    /// found otherwise answers a stale-write error (see `store::write::is_stale_write`).
    pub(crate) async fn take_lease(
        &self,
        key: impl Borrow<Key> + Send,
        until: i64,
        expiration: Expiration,
        expected: Expected,
    ) -> Result<u32, Error> {
        let mut policy = self
            .installation
            .policies_for(key.borrow().set_name())
            .write
            .clone();
        policy.expiration = expiration;
        match expected {
            Expected::Absent => policy.record_exists_action = RecordExistsAction::CreateOnly,
            Expected::Generation(generation) => {
                policy.generation_policy = GenerationPolicy::ExpectGenEqual;
                policy.generation = generation;
            }
            Expected::Unusable => {
                policy.record_exists_action = RecordExistsAction::ReplaceOnly;
                policy.base_policy.filter_expression = Some(data_filter::unusable().clone());
            }
        }
        let lease = Bin::new(LEASE_BIN, Value::Int(until));
        self.write_marker(None, policy, key, [lease]).await
    }

    /// Marks an entry that still has `generation`, and that no process marked, as being
    /// refreshed until `until` (its value and TTL stay); returns the new generation. Another
    /// process that marked it first makes this answer a stale-write error. The refresh's write
    /// replaces the whole record, mark included; a refresher that dies leaves the mark, and the
    /// entry then expires at its TTL like one without refresh-ahead.
    pub(crate) async fn claim_refresh(
        &self,
        key: Key,
        until: i64,
        generation: u32,
    ) -> Result<u32, Error> {
        let mut policy = self.installation.policies_for(key.set_name()).write.clone();
        policy.expiration = Expiration::DontUpdate;
        policy.record_exists_action = RecordExistsAction::UpdateOnly;
        policy.generation_policy = GenerationPolicy::ExpectGenEqual;
        policy.generation = generation;
        policy.base_policy.filter_expression = Some(data_filter::unleased().clone());
        self.run(None, move |client| async move {
            let lease = Bin::new(LEASE_BIN, Value::Int(until));
            let ops = [operations::put(&lease), operations::get_header()];
            client
                .operate(&policy, &key, &ops)
                .await
                .map(|record| record.generation)
        })
        .await
    }

    /// Removes the lease of a record that still has `generation` (its holder's load gave nothing
    /// to cache), so that the next caller in the fleet loads at once.
    pub(crate) async fn release_lease(&self, key: Key, generation: u32) -> Result<(), Error> {
        let mut policy = self.installation.policies_for(key.set_name()).write.clone();
        policy.expiration = Expiration::DontUpdate;
        policy.record_exists_action = RecordExistsAction::UpdateOnly;
        policy.generation_policy = GenerationPolicy::ExpectGenEqual;
        policy.generation = generation;
        self.run(None, move |client| async move {
            let no_lease = Bin::new(LEASE_BIN, Value::Nil);
            client
                .operate(&policy, &key, &[operations::put(&no_lease)])
                .await
                .map(|_| ())
        })
        .await
    }
}
