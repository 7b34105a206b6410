//! The partitions' breakers: an operation that fails pauses its key's partition, reads and
//! writes apart (a read can still be answered by a replica when the master is down; a write
//! cannot), so that a failing node costs only the keys it holds.
//!
//! Only operations that are safe to skip are kept out: reads (the call loads instead) and
//! write-backs (the next call misses). Invalidations are always sent: skipping one would leave
//! an entry to be served that the caller asked to remove.

use aerospike::Key;

use std::time::Duration;

use super::{millis, now_millis, Admission, Pause};

/// Aerospike's partitions per namespace.
pub(crate) const PARTITIONS: usize = 4096;

/// What an operation does to its record: reads and writes are paused apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// A read: skipped while the partition's reads are paused.
    Read,
    /// A write-back or a touch: skipped while the partition's writes are paused.
    Write,
    /// An invalidation or a delete: never skipped; its failure pauses the writes.
    Invalidate,
}

/// The partition of a key's record, and whether the operation reads or writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route {
    partition: u16,
    access: Access,
}

impl Route {
    /// The route of an operation on `key`: its partition is the digest's first two bytes, as the
    /// client and the server compute it.
    pub(crate) fn of(key: &Key, access: Access) -> Route {
        let digest = key.digest();
        let partition = u16::from_le_bytes([digest[0], digest[1]]) % PARTITIONS as u16;
        Route { partition, access }
    }

    pub(crate) fn partition(self) -> u16 {
        self.partition
    }
}

/// A [`Pause`] per partition, for reads and for writes (128 KiB, allocated once per
/// configuration). Namespaces share them: a node holds the same partitions of every namespace.
#[derive(Debug)]
pub(crate) struct PartitionGates {
    reads: Box<[Pause]>,
    writes: Box<[Pause]>,
}

impl Default for PartitionGates {
    fn default() -> Self {
        let pauses = || (0..PARTITIONS).map(|_| Pause::default()).collect();
        PartitionGates {
            reads: pauses(),
            writes: pauses(),
        }
    }
}

impl PartitionGates {
    fn pause(&self, route: Route) -> &Pause {
        let pauses = match route.access {
            Access::Read => &self.reads,
            Access::Write | Access::Invalidate => &self.writes,
        };
        &pauses[usize::from(route.partition)]
    }

    /// Whether an operation on `route` may go now (see [`Pause::admits`]).
    #[inline]
    pub(crate) fn admits(
        &self,
        route: Route,
        clock: impl FnOnce() -> (u64, u64),
    ) -> Option<Admission> {
        if route.access == Access::Invalidate {
            return Some(Admission::Closed);
        }
        self.pause(route).admits(clock)
    }

    #[cfg(test)]
    fn admits_at(&self, route: Route, now: u64, probe_expiry: u64) -> Option<Admission> {
        self.pause(route).admits_at(now, probe_expiry)
    }

    /// Records the outcome of an operation on `route`: one failure pauses the partition for
    /// `pause` (a partition sees few operations, and each failure cost a call a timeout);
    /// `true` when that opened it.
    #[inline]
    pub(crate) fn record(
        &self,
        route: Route,
        admission: Admission,
        failed: bool,
        pause: Duration,
    ) -> bool {
        if !failed && admission == Admission::Closed {
            // The hot path: a healthy partition's answer writes nothing and reads no clock.
            return false;
        }
        self.record_at(route, admission, failed, now_millis(), millis(pause))
    }

    fn record_at(
        &self,
        route: Route,
        admission: Admission,
        failed: bool,
        now: u64,
        pause: u64,
    ) -> bool {
        self.pause(route)
            .record(admission, failed, true, now, pause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAUSE: u64 = 1_000;
    const EXPIRY: u64 = 100;

    fn route(partition: u16, access: Access) -> Route {
        Route { partition, access }
    }

    #[test]
    fn the_partition_is_the_digests_first_two_bytes_little_endian() {
        let key = Key::new("test", "s", aerospike::Value::from(1)).expect("a key");
        let digest = key.digest();
        let expected = (usize::from(digest[0]) | usize::from(digest[1]) << 8) % PARTITIONS;
        assert_eq!(
            usize::from(Route::of(&key, Access::Read).partition()),
            expected
        );
    }

    #[test]
    fn a_failure_pauses_its_partition_and_access_only() {
        let gates = PartitionGates::default();
        let failed = route(7, Access::Write);
        assert!(gates.record_at(failed, Admission::Closed, true, 10, PAUSE));
        assert_eq!(gates.admits_at(failed, 11, EXPIRY), None);
        assert_eq!(
            gates.admits_at(route(7, Access::Read), 11, EXPIRY),
            Some(Admission::Closed),
            "reads of the partition go on"
        );
        assert_eq!(
            gates.admits_at(route(8, Access::Write), 11, EXPIRY),
            Some(Admission::Closed),
            "other partitions go on"
        );
    }

    #[test]
    fn invalidations_are_never_kept_out_and_their_failures_pause_the_writes() {
        let gates = PartitionGates::default();
        let invalidate = route(3, Access::Invalidate);
        assert!(gates.record_at(invalidate, Admission::Closed, true, 10, PAUSE));
        assert_eq!(gates.admits_at(route(3, Access::Write), 11, EXPIRY), None);
        assert_eq!(
            gates.admits(invalidate, || (11, EXPIRY)),
            Some(Admission::Closed)
        );
    }

    #[test]
    fn after_the_pause_one_probe_decides_and_late_outcomes_do_not() {
        let gates = PartitionGates::default();
        let r = route(1, Access::Read);
        gates.record_at(r, Admission::Closed, true, 10, PAUSE);
        assert!(
            !gates.record_at(r, Admission::Closed, false, 20, PAUSE),
            "a late answer (sent before the pause) does not close it"
        );
        assert_eq!(gates.admits_at(r, 20, EXPIRY), None);
        let later = 10 + PAUSE;
        assert_eq!(gates.admits_at(r, later, EXPIRY), Some(Admission::Probe));
        assert_eq!(
            gates.admits_at(r, later, EXPIRY),
            None,
            "one probe at a time"
        );
        gates.record_at(r, Admission::Probe, true, later, PAUSE);
        assert_eq!(
            gates.admits_at(r, later + 1, EXPIRY),
            None,
            "a failed probe pauses again"
        );
        let again = later + PAUSE;
        assert_eq!(gates.admits_at(r, again, EXPIRY), Some(Admission::Probe));
        gates.record_at(r, Admission::Probe, false, again, PAUSE);
        assert_eq!(gates.admits_at(r, again, EXPIRY), Some(Admission::Closed));
    }
}
