//! The partitions' breakers: an operation that fails pauses its key's partition, reads and
//! writes apart (a read can still be answered by a replica when the master is down; a write
//! cannot), so that a failing node costs only the keys it holds.
//!
//! Only operations that are safe to skip are kept out: reads (the call loads instead) and
//! write-backs (the next call misses). Invalidations are always sent: skipping one would leave
//! an entry to be served that the caller asked to remove.

use aerospike::Key;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use super::{millis, now_millis, Admission, Outcome, Pause};

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
    /// The route of an operation on `key`: its partition, as the client computes it (from the
    /// digest's first bytes).
    pub(crate) fn of(key: &Key, access: Access) -> Route {
        // Below PARTITIONS (4,096), so it fits.
        let partition = u16::try_from(key.partition_id()).unwrap_or(0);
        Route { partition, access }
    }

    pub(crate) fn partition(self) -> u16 {
        self.partition
    }

    pub(crate) fn access(self) -> Access {
        self.access
    }
}

/// Slots of the nodes' pauses, by a hash of the node's name: more than a cluster's nodes
/// that fail at once; two failing nodes that share a slot only share their probes.
const NODE_SLOTS: usize = 64;

/// The pauses of one kind of access.
#[derive(Debug)]
struct Gate {
    /// One per partition.
    partitions: Box<[Pause]>,
    /// The node each partition last failed on (a hash of its name; 0 = unknown).
    failed_on: Box<[AtomicU64]>,
    /// One per node slot: the partitions that failed on a node wait for its pause, and then
    /// probe one at a time, so a dead node costs one probe per pause, not one per partition.
    nodes: Box<[Pause]>,
    /// Per node slot: partitions that failed on the node since a probe there was answered.
    node_failures: Box<[AtomicU32]>,
    /// One bit per partition, set while it may be paused: the hot path reads a bit of these
    /// 512 bytes, which stay in the core's cache, instead of a pause of 64 KiB of them, which
    /// under many keys misses it on most calls. Set before a pause opens and again after it
    /// (so a concurrent close cannot leave an open pause unmarked); cleared after a close.
    maybe_paused: Box<[AtomicU64]>,
}

/// Partitions failing on one node, with no answer from it in between, that make it a failing
/// node (as does a failed probe): the rest of its partitions may then be paused before each
/// costs a call a timeout. Several, so that one slow answer does not pause a node's every key;
/// a node that dies under load reaches it within a few operation timeouts.
pub(crate) const FAILURES_TO_PAUSE_NODE: u32 = 8;

/// What recording an outcome changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Recorded {
    /// The partition was closed and is now paused.
    pub(crate) opened: bool,
    /// This node (a hash of its name) is failing: a probe failed there (it failed, stayed
    /// failing for a pause, and failed again), or [`FAILURES_TO_PAUSE_NODE`] partitions did.
    /// The caller may pause the rest of its partitions ([`PartitionGates::pause_node`]).
    pub(crate) node_down: Option<u64>,
    /// A probe of a partition that had failed on this node was answered: the client reaches
    /// that partition again.
    pub(crate) node_up: Option<u64>,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            partitions: (0..PARTITIONS).map(|_| Pause::default()).collect(),
            failed_on: (0..PARTITIONS).map(|_| AtomicU64::new(0)).collect(),
            nodes: (0..NODE_SLOTS).map(|_| Pause::default()).collect(),
            node_failures: (0..NODE_SLOTS).map(|_| AtomicU32::new(0)).collect(),
            maybe_paused: (0..PARTITIONS / 64).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn may_be_paused(&self, partition: usize) -> bool {
        self.maybe_paused[partition / 64].load(Ordering::Relaxed) & (1 << (partition % 64)) != 0
    }

    fn mark_paused(&self, partition: usize) {
        self.maybe_paused[partition / 64].fetch_or(1 << (partition % 64), Ordering::SeqCst);
    }

    /// Changes `partition`'s pause with `change`, keeping its mark right: marked before (so a
    /// pause about to open is marked while open), then, as the pause stands after, marked again
    /// (a concurrent close may have cleared it) or cleared unless it opened again meanwhile.
    fn change_pause<T>(&self, partition: usize, change: impl FnOnce(&Pause) -> T) -> T {
        let pause = &self.partitions[partition];
        self.mark_paused(partition);
        let changed = change(pause);
        if !pause.is_open() {
            self.maybe_paused[partition / 64].fetch_and(!(1 << (partition % 64)), Ordering::SeqCst);
        }
        if pause.is_open() {
            self.mark_paused(partition);
        }
        changed
    }

    /// The slot of the node `partition` last failed on, if known.
    fn slot_of(&self, partition: usize) -> Option<usize> {
        match self.failed_on[partition].load(Ordering::Relaxed) {
            0 => None,
            node => Some((node % NODE_SLOTS as u64) as usize),
        }
    }

    /// The pause of the node `partition` last failed on, if known.
    fn node_of(&self, partition: usize) -> Option<&Pause> {
        self.slot_of(partition).map(|slot| &self.nodes[slot])
    }

    fn admits(&self, partition: usize, clock: impl FnOnce() -> (u64, u64)) -> Option<Admission> {
        if !self.may_be_paused(partition) {
            return Some(Admission::Closed); // the hot path
        }
        let pause = &self.partitions[partition];
        let mut read_clock = None;
        let admission = pause.admits(|| *read_clock.insert(clock()))?;
        let Some((now, probe_expiry)) = read_clock else {
            return Some(admission); // closed: the hot path
        };
        if admission == Admission::Probe {
            // The partition's pause is over; its node's pause decides whether it may probe.
            if let Some(node) = self.node_of(partition) {
                if node.admits_at(now, probe_expiry).is_none() {
                    pause.release_probe();
                    return None;
                }
            }
        }
        Some(admission)
    }

    fn record(
        &self,
        partition: usize,
        admission: Admission,
        outcome: Outcome,
        now: u64,
        pause: u64,
    ) -> Recorded {
        let failed = matches!(outcome, Outcome::Failed(_));
        let opened = self.change_pause(partition, |partition_pause| {
            partition_pause.record(admission, failed, true, now, pause)
        });
        let mut recorded = Recorded {
            opened,
            ..Recorded::default()
        };
        match outcome {
            // A new failure, or a failed probe: the partition waits for this node's pause.
            Outcome::Failed(node) if opened || admission == Admission::Probe => {
                self.failed_on[partition].store(node.unwrap_or(0), Ordering::Relaxed);
                if let (Some(slot), Some(node)) = (self.slot_of(partition), node) {
                    self.nodes[slot].open(now, pause);
                    let failures = self.node_failures[slot].fetch_add(1, Ordering::Relaxed) + 1;
                    if admission == Admission::Probe || failures == FAILURES_TO_PAUSE_NODE {
                        recorded.node_down = Some(node);
                    }
                }
            }
            // The probe was answered: the node's other partitions may probe again (each
            // closes on its own answer; a node still down pauses them again).
            Outcome::Answered if admission == Admission::Probe => {
                if let Some(slot) = self.slot_of(partition) {
                    self.nodes[slot].close();
                    self.node_failures[slot].store(0, Ordering::Relaxed);
                    recorded.node_up = Some(self.failed_on[partition].load(Ordering::Relaxed));
                }
            }
            Outcome::Failed(_) | Outcome::Answered => {}
        }
        recorded
    }

    /// Pauses every closed partition that `mastered_elsewhere` does not mark, as failed on
    /// `node`.
    fn pause_node(&self, node: u64, mastered_elsewhere: &[bool], now: u64, pause: u64) {
        for (partition, elsewhere) in mastered_elsewhere.iter().enumerate().take(PARTITIONS) {
            if !elsewhere && self.change_pause(partition, |p| p.open_if_closed(now, pause)) {
                self.failed_on[partition].store(node, Ordering::Relaxed);
            }
        }
    }
}

/// The pauses of every partition, for reads and for writes (about 200 KiB, allocated once per
/// configuration). Namespaces share them: a node usually holds the same partitions in every
/// namespace, and where it does not, a pause covers more keys than needed, never fewer.
#[derive(Debug)]
pub(crate) struct PartitionGates {
    reads: Gate,
    writes: Gate,
}

impl Default for PartitionGates {
    fn default() -> Self {
        PartitionGates {
            reads: Gate::new(),
            writes: Gate::new(),
        }
    }
}

impl PartitionGates {
    fn gate(&self, route: Route) -> &Gate {
        match route.access {
            Access::Read => &self.reads,
            Access::Write | Access::Invalidate => &self.writes,
        }
    }

    /// Whether an operation on `route` may go now: always while its partition is closed; after a
    /// failure, not for the pause, then as the one probe of its partition, and only while the
    /// node it failed on is not paused itself (see [`Gate::nodes`]).
    #[inline]
    pub(crate) fn admits(
        &self,
        route: Route,
        clock: impl FnOnce() -> (u64, u64),
    ) -> Option<Admission> {
        if route.access == Access::Invalidate {
            return Some(Admission::Closed);
        }
        self.gate(route).admits(usize::from(route.partition), clock)
    }

    #[cfg(test)]
    fn admits_at(&self, route: Route, now: u64, probe_expiry: u64) -> Option<Admission> {
        self.admits(route, || (now, probe_expiry))
    }

    /// Records the outcome of an operation on `route`: one failure pauses the partition, and the
    /// node it failed on, for `pause` (a partition sees few operations, and each failure cost a
    /// call a timeout). Says which node, if any, has just been found failing or reachable again.
    #[inline]
    pub(crate) fn record(
        &self,
        route: Route,
        admission: Admission,
        outcome: Outcome,
        pause: Duration,
    ) -> Recorded {
        if outcome == Outcome::Answered && admission == Admission::Closed {
            // The hot path: a healthy partition's answer writes nothing and reads no clock.
            return Recorded::default();
        }
        self.record_at(route, admission, outcome, now_millis(), millis(pause))
    }

    /// The node (a hash of its name) `route`'s partition last failed on; 0 if unknown.
    pub(crate) fn failed_on(&self, route: Route) -> u64 {
        self.gate(route).failed_on[usize::from(route.partition)].load(Ordering::Relaxed)
    }

    /// Pauses, for reads and writes, the partitions of a failing `node` that have not failed yet:
    /// those no other node is master of (`mastered_elsewhere`, one flag per partition, from
    /// `owners`). Each then waits for the node's probe instead of paying a timeout first.
    pub(crate) fn pause_node(&self, node: u64, mastered_elsewhere: &[bool], pause: Duration) {
        let (now, pause) = (now_millis(), millis(pause));
        self.reads.pause_node(node, mastered_elsewhere, now, pause);
        self.writes.pause_node(node, mastered_elsewhere, now, pause);
    }

    fn record_at(
        &self,
        route: Route,
        admission: Admission,
        outcome: Outcome,
        now: u64,
        pause: u64,
    ) -> Recorded {
        self.gate(route)
            .record(usize::from(route.partition), admission, outcome, now, pause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAUSE: u64 = 1_000;
    const EXPIRY: u64 = 100;
    /// A failure on a node of name hash 5.
    const FAILED: Outcome = Outcome::Failed(Some(5));

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
        assert!(
            gates
                .record_at(failed, Admission::Closed, FAILED, 10, PAUSE)
                .opened
        );
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
    fn only_partitions_that_may_be_paused_are_marked() {
        let gates = PartitionGates::default();
        let reads = &gates.reads;
        let failed = route(9, Access::Read);
        assert!(!reads.may_be_paused(9));
        gates.record_at(failed, Admission::Closed, FAILED, 10, PAUSE);
        assert!(reads.may_be_paused(9) && !reads.may_be_paused(8) && !reads.may_be_paused(10));
        let later = 10 + PAUSE;
        assert_eq!(
            gates.admits_at(failed, later, EXPIRY),
            Some(Admission::Probe)
        );
        gates.record_at(failed, Admission::Probe, Outcome::Answered, later, PAUSE);
        assert!(!reads.may_be_paused(9), "the answered probe closed it");
        let mut mastered_elsewhere = vec![true; PARTITIONS];
        mastered_elsewhere[100] = false;
        gates.pause_node(1, &mastered_elsewhere, Duration::from_millis(PAUSE));
        assert!(reads.may_be_paused(100) && gates.writes.may_be_paused(100));
        assert!(!reads.may_be_paused(9) && !reads.may_be_paused(101));
    }

    #[test]
    fn the_partitions_that_failed_on_one_node_probe_one_at_a_time() {
        let gates = PartitionGates::default();
        let (first, second) = (route(1, Access::Read), route(2, Access::Read));
        gates.record_at(first, Admission::Closed, FAILED, 10, PAUSE);
        gates.record_at(second, Admission::Closed, FAILED, 10, PAUSE);
        let later = 10 + PAUSE;
        assert_eq!(
            gates.admits_at(first, later, EXPIRY),
            Some(Admission::Probe)
        );
        assert_eq!(
            gates.admits_at(second, later, EXPIRY),
            None,
            "the node's probe is out"
        );
        gates.record_at(first, Admission::Probe, FAILED, later, PAUSE);
        assert_eq!(
            gates.admits_at(second, later + 1, EXPIRY),
            None,
            "the node is paused again"
        );
        let again = later + PAUSE;
        assert_eq!(
            gates.admits_at(second, again, EXPIRY),
            Some(Admission::Probe)
        );
        gates.record_at(second, Admission::Probe, Outcome::Answered, again, PAUSE);
        assert_eq!(
            gates.admits_at(first, again, EXPIRY),
            Some(Admission::Probe),
            "an answer on the node lets its other partitions probe"
        );
        assert_eq!(
            gates.admits_at(second, again, EXPIRY),
            Some(Admission::Closed)
        );
    }

    #[test]
    fn a_node_whose_probe_fails_is_down_and_its_other_partitions_can_be_paused() {
        let gates = PartitionGates::default();
        for p in 1..=3 {
            let recorded =
                gates.record_at(route(p, Access::Read), Admission::Closed, FAILED, 10, PAUSE);
            assert_eq!(
                recorded.node_down, None,
                "a few failures are not a failing node"
            );
        }
        let later = 10 + PAUSE;
        assert_eq!(
            gates.admits_at(route(1, Access::Read), later, EXPIRY),
            Some(Admission::Probe)
        );
        let recorded = gates.record_at(
            route(1, Access::Read),
            Admission::Probe,
            FAILED,
            later,
            PAUSE,
        );
        assert_eq!(
            recorded.node_down,
            Some(5),
            "failing again after a pause is"
        );

        // The nodes that answer master every partition but 100 and 200.
        let mut mastered = vec![true; PARTITIONS];
        (mastered[100], mastered[200]) = (false, false);
        gates.reads.pause_node(5, &mastered, later, PAUSE);
        gates.writes.pause_node(5, &mastered, later, PAUSE);
        for access in [Access::Read, Access::Write] {
            assert_eq!(gates.admits_at(route(100, access), later + 1, EXPIRY), None);
            assert_eq!(gates.admits_at(route(200, access), later + 1, EXPIRY), None);
            assert_eq!(
                gates.admits_at(route(300, access), later + 1, EXPIRY),
                Some(Admission::Closed),
                "mastered by a node that answers"
            );
        }
        // After the pause they wait for the node's probe, like the partitions that failed.
        let again = later + PAUSE;
        assert_eq!(
            gates.admits_at(route(2, Access::Read), again, EXPIRY),
            Some(Admission::Probe)
        );
        assert_eq!(
            gates.admits_at(route(100, Access::Read), again, EXPIRY),
            None
        );
    }

    #[test]
    fn a_node_on_which_many_partitions_fail_is_down() {
        let gates = PartitionGates::default();
        let downs: Vec<Option<u64>> = (1..=FAILURES_TO_PAUSE_NODE as u16 + 1)
            .map(|p| {
                gates
                    .record_at(route(p, Access::Read), Admission::Closed, FAILED, 10, PAUSE)
                    .node_down
            })
            .collect();
        let at = FAILURES_TO_PAUSE_NODE as usize - 1;
        assert_eq!(downs[at], Some(5), "{downs:?}");
        assert_eq!(downs.iter().flatten().count(), 1, "once: {downs:?}");
    }

    #[test]
    fn invalidations_are_never_kept_out_and_their_failures_pause_the_writes() {
        let gates = PartitionGates::default();
        let invalidate = route(3, Access::Invalidate);
        assert!(
            gates
                .record_at(invalidate, Admission::Closed, FAILED, 10, PAUSE)
                .opened
        );
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
        gates.record_at(r, Admission::Closed, FAILED, 10, PAUSE);
        assert!(
            !gates
                .record_at(r, Admission::Closed, Outcome::Answered, 20, PAUSE)
                .opened,
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
        gates.record_at(r, Admission::Probe, FAILED, later, PAUSE);
        assert_eq!(
            gates.admits_at(r, later + 1, EXPIRY),
            None,
            "a failed probe pauses again"
        );
        let again = later + PAUSE;
        assert_eq!(gates.admits_at(r, again, EXPIRY), Some(Admission::Probe));
        gates.record_at(r, Admission::Probe, Outcome::Answered, again, PAUSE);
        assert_eq!(gates.admits_at(r, again, EXPIRY), Some(Admission::Closed));
    }
}
