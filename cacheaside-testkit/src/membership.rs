//! Which nodes form the cluster and which of them own each partition, as the nodes advertise it.
//!
//! A node that is killed or restarted changes what is *live* at once; what the nodes *advertise*
//! (peers, partition map, generations) follows only after the re-cluster delay, as a real cluster
//! notices a lost or returning node only after its heartbeats time out or resume.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Partitions per namespace, as in every Aerospike cluster.
pub(crate) const PARTITIONS: usize = 4096;

/// The partition a record digest falls in, computed as the client does.
pub(crate) fn partition_of(digest: &[u8; 20]) -> usize {
    usize::from(u16::from_le_bytes([digest[0], digest[1]])) & (PARTITIONS - 1)
}

/// The live and advertised state of every node of one test server.
#[derive(Debug)]
pub(crate) struct Membership {
    recluster_delay: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Whether each node runs (has not been killed).
    live: Vec<bool>,
    /// When the advertised members catch up with `live`, after a kill or restart.
    recluster_at: Option<Instant>,
    view: View,
}

/// A consistent snapshot of what the nodes advertise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct View {
    nodes: usize,
    replication_factor: usize,
    /// The nodes of the advertised cluster, ascending.
    members: Vec<usize>,
    /// Nodes restarted since the cluster last formed: they run, but have not joined it (yet).
    restarted: Vec<usize>,
    /// Rotates every partition's succession list, to move ownership without a membership change.
    shift: usize,
    /// `peers-generation` of every member.
    pub(crate) peers_generation: u64,
    /// `partition-generation` of every member.
    pub(crate) partition_generation: u64,
}

impl Membership {
    /// All `nodes` live and members; `replication_factor` copies of each partition while enough
    /// nodes are members.
    pub(crate) fn new(nodes: usize, replication_factor: usize, recluster_delay: Duration) -> Self {
        Membership {
            recluster_delay,
            state: Mutex::new(State {
                live: vec![true; nodes],
                recluster_at: None,
                view: View {
                    nodes,
                    replication_factor,
                    members: (0..nodes).collect(),
                    restarted: Vec::new(),
                    shift: 0,
                    peers_generation: 1,
                    partition_generation: 1,
                },
            }),
        }
    }

    /// The state, with a re-cluster that is due applied.
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.recluster_at.is_some_and(|at| at <= Instant::now()) {
            state.recluster_at = None;
            state.view.restarted.clear();
            let live: Vec<usize> = (0..state.live.len()).filter(|&n| state.live[n]).collect();
            if live != state.view.members {
                state.view.members = live;
                state.view.peers_generation += 1;
                state.view.partition_generation += 1;
            }
        }
        state
    }

    /// What the nodes advertise now.
    pub(crate) fn view(&self) -> View {
        self.state().view.clone()
    }

    /// Runs `f` on what the nodes advertise now, without copying it.
    pub(crate) fn with_view<R>(&self, f: impl FnOnce(&View) -> R) -> R {
        f(&self.state().view)
    }

    /// Whether `node` runs.
    pub(crate) fn is_live(&self, node: usize) -> bool {
        self.state().live[node]
    }

    /// Marks `node` killed or restarted; the cluster re-forms after the re-cluster delay. Returns
    /// whether anything changed.
    pub(crate) fn set_live(&self, node: usize, live: bool) -> bool {
        let mut state = self.state();
        if state.live[node] == live {
            return false;
        }
        state.live[node] = live;
        if live {
            state.view.restarted.push(node);
        } else {
            state.view.restarted.retain(|&n| n != node);
        }
        state.recluster_at = Some(Instant::now() + self.recluster_delay);
        true
    }

    /// Moves the ownership of every partition to the next node in its succession list now, as a
    /// migration after a rebalance would.
    pub(crate) fn rebalance(&self) {
        let mut state = self.state();
        state.view.shift = (state.view.shift + 1) % state.view.nodes;
        state.view.partition_generation += 1;
    }
}

impl View {
    /// The configured replication factor.
    pub(crate) fn replication_factor(&self) -> usize {
        self.replication_factor
    }

    /// The nodes of the advertised cluster, ascending.
    pub(crate) fn members(&self) -> &[usize] {
        &self.members
    }

    /// Whether `node` is part of the advertised cluster.
    pub(crate) fn is_member(&self, node: usize) -> bool {
        self.members.contains(&node)
    }

    /// Whether `node` considers itself part of the cluster: a member not restarted since the
    /// cluster formed (the others may still count a restarted node in, until they re-form).
    pub(crate) fn has_joined(&self, node: usize) -> bool {
        self.is_member(node) && !self.restarted.contains(&node)
    }

    /// Copies of each partition: the replication factor, capped by the cluster size.
    pub(crate) fn effective_replication_factor(&self) -> usize {
        self.replication_factor.min(self.members.len())
    }

    /// The nodes holding `partition`, master first. Each partition has a fixed succession list over
    /// all nodes (rotated by the partition id, so masters spread evenly); its owners are the first
    /// members in that list, so a lost master's partitions pass to their first replica.
    pub(crate) fn owners(&self, partition: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes)
            .map(move |k| (partition + self.shift + k) % self.nodes)
            .filter(|node| self.members.contains(node))
            .take(self.effective_replication_factor())
    }

    /// Which copy of `partition` `node` holds: 0 master, 1 first replica, …; `None` if none.
    pub(crate) fn role(&self, node: usize, partition: usize) -> Option<usize> {
        self.owners(partition).position(|owner| owner == node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_nodes_spread_masters_and_replicas_evenly() {
        let membership = Membership::new(3, 2, Duration::ZERO);
        let view = membership.view();
        let mut masters = [0; 3];
        let mut replicas = [0; 3];
        for p in 0..PARTITIONS {
            let owners: Vec<usize> = view.owners(p).collect();
            assert_eq!(owners.len(), 2);
            assert_ne!(owners[0], owners[1]);
            masters[owners[0]] += 1;
            replicas[owners[1]] += 1;
        }
        assert!(
            masters.iter().all(|&m| (1365..=1366).contains(&m)),
            "{masters:?}"
        );
        assert!(
            replicas.iter().all(|&r| (1365..=1366).contains(&r)),
            "{replicas:?}"
        );
    }

    #[test]
    fn a_killed_node_leaves_after_the_delay_and_its_replicas_take_over() {
        let membership = Membership::new(3, 2, Duration::from_millis(50));
        let before = membership.view();
        assert!(membership.set_live(1, false));
        assert_eq!(
            membership.view(),
            before,
            "nothing changes before the delay"
        );
        std::thread::sleep(Duration::from_millis(60));
        let after = membership.view();
        assert_eq!(after.members(), &[0, 2]);
        assert!(after.peers_generation > before.peers_generation);
        assert!(after.partition_generation > before.partition_generation);
        for p in 0..PARTITIONS {
            let old: Vec<usize> = before.owners(p).collect();
            let new: Vec<usize> = after.owners(p).collect();
            assert!(!new.contains(&1));
            let survivor = old.iter().copied().find(|&n| n != 1).unwrap();
            assert_eq!(new[0], survivor, "partition {p}: {old:?} -> {new:?}");
        }
    }

    #[test]
    fn rebalance_moves_every_master() {
        let membership = Membership::new(3, 2, Duration::ZERO);
        let before = membership.view();
        membership.rebalance();
        let after = membership.view();
        assert_eq!(after.partition_generation, before.partition_generation + 1);
        assert_eq!(after.peers_generation, before.peers_generation);
        assert!((0..PARTITIONS).all(|p| before.owners(p).next() != after.owners(p).next()));
    }

    #[test]
    fn partition_is_the_low_twelve_bits_of_the_first_two_digest_bytes() {
        let mut digest = [0u8; 20];
        digest[0] = 0x34;
        digest[1] = 0xF2;
        assert_eq!(partition_of(&digest), 0x234);
    }
}
