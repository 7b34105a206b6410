//! The queue of pending source writes: one entry per key (a newer value replaces the queued one),
//! in the order keys were first queued, bounded, with sequence numbers that let
//! [`flush`](super::WriteBehind::flush) wait for exactly the writes made before it.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use tokio::time::Instant;

/// One queued key: its newest value and the oldest write it stands for.
struct Entry<V> {
    value: V,
    /// Sequence number of the first write of this key since it was last taken: persisting this
    /// entry persists every write of the key from that one on.
    first_seq: u64,
    queued_at: Instant,
    /// Journal sequence numbers of the writes this entry stands for.
    journal: Vec<u64>,
}

/// What [`Queue::offer`] did with a write.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Offer<K, V> {
    /// A new entry at the back of the queue.
    Queued,
    /// The key was queued already: its value was replaced, its place kept.
    Coalesced,
    /// The queue is full and the key is not in it: the write is handed back.
    Full(K, V),
}

/// A batch taken for flushing; its writes stay unpersisted until [`Queue::batch_done`].
pub(super) struct Batch<K, V> {
    pub(super) entries: Vec<(K, V)>,
    /// Journal sequence numbers of every write the batch persists.
    pub(super) journal: Vec<u64>,
}

/// Pending writes, and the batch being flushed.
pub(super) struct Queue<K, V> {
    order: VecDeque<K>,
    entries: HashMap<K, Entry<V>>,
    capacity: usize,
    /// Sequence number of the newest write (0 before the first).
    last_seq: u64,
    /// The oldest write of the batch being flushed, if one is.
    in_flight_first_seq: Option<u64>,
}

impl<K, V> Queue<K, V> {
    /// Queued keys (the batch in flight not counted).
    pub(super) fn len(&self) -> usize {
        self.order.len()
    }
}

impl<K: Eq + Hash + Clone, V> Queue<K, V> {
    /// An empty queue of at most `capacity` keys (at least one).
    pub(super) fn new(capacity: usize) -> Self {
        Queue {
            order: VecDeque::new(),
            entries: HashMap::new(),
            capacity: capacity.max(1),
            last_seq: 0,
            in_flight_first_seq: None,
        }
    }

    /// Queues `value` for `key`, replacing a queued value of the same key. `journal` is the
    /// write's journal sequence number, if it was journaled.
    pub(super) fn offer(
        &mut self,
        key: K,
        value: V,
        now: Instant,
        journal: Option<u64>,
    ) -> Offer<K, V> {
        if !self.entries.contains_key(&key) && self.order.len() >= self.capacity {
            return Offer::Full(key, value);
        }
        self.insert(key, value, now, journal)
    }

    /// Queues a write recovered from the journal, even beyond the capacity: it was accepted
    /// before, and new writes wait until the queue is below capacity again.
    pub(super) fn restore(&mut self, key: K, value: V, now: Instant, journal: u64) {
        self.insert(key, value, now, Some(journal));
    }

    fn insert(&mut self, key: K, value: V, now: Instant, journal: Option<u64>) -> Offer<K, V> {
        self.last_seq += 1;
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.value = value;
            entry.journal.extend(journal);
            return Offer::Coalesced;
        }
        self.order.push_back(key.clone());
        self.entries.insert(
            key,
            Entry {
                value,
                first_seq: self.last_seq,
                queued_at: now,
                journal: journal.into_iter().collect(),
            },
        );
        Offer::Queued
    }

    /// Takes up to `max` entries from the front. Only one batch may be in flight.
    pub(super) fn take_batch(&mut self, max: usize) -> Batch<K, V> {
        let count = max.max(1).min(self.order.len());
        let mut entries = Vec::with_capacity(count);
        let mut journal = Vec::new();
        for key in self.order.drain(..count) {
            if let Some(entry) = self.entries.remove(&key) {
                journal.extend(entry.journal);
                self.in_flight_first_seq = Some(
                    self.in_flight_first_seq
                        .map_or(entry.first_seq, |seq| seq.min(entry.first_seq)),
                );
                entries.push((key, entry.value));
            }
        }
        Batch { entries, journal }
    }

    /// The batch in flight was persisted.
    pub(super) fn batch_done(&mut self) {
        self.in_flight_first_seq = None;
    }

    /// Whether another write of a new key would have to wait.
    pub(super) fn is_full(&self) -> bool {
        self.order.len() >= self.capacity
    }

    /// When the front entry, the oldest, was queued.
    pub(super) fn oldest_queued_at(&self) -> Option<Instant> {
        let front = self.order.front()?;
        self.entries.get(front).map(|entry| entry.queued_at)
    }

    /// The oldest queued write's sequence number (the front entry's: entries are in the order
    /// they were first queued).
    pub(super) fn front_seq(&self) -> Option<u64> {
        let front = self.order.front()?;
        self.entries.get(front).map(|entry| entry.first_seq)
    }

    /// Sequence number of the newest write so far.
    pub(super) fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Whether every write up to `seq` has been persisted.
    pub(super) fn persisted_through(&self, seq: u64) -> bool {
        let oldest_unpersisted = match (self.in_flight_first_seq, self.front_seq()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        oldest_unpersisted.is_none_or(|oldest| oldest > seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<K: Clone, V: Clone>(batch: &Batch<K, V>) -> Vec<(K, V)> {
        batch.entries.clone()
    }

    #[test]
    fn repeated_writes_of_a_key_coalesce_in_place() {
        let now = Instant::now();
        let mut queue = Queue::new(10);
        assert_eq!(queue.offer("a", 1, now, None), Offer::Queued);
        assert_eq!(queue.offer("b", 1, now, None), Offer::Queued);
        assert_eq!(queue.offer("a", 2, now, None), Offer::Coalesced);
        assert_eq!(queue.len(), 2);
        let batch = queue.take_batch(10);
        assert_eq!(values(&batch), vec![("a", 2), ("b", 1)]);
    }

    #[test]
    fn a_full_queue_hands_new_keys_back_but_coalesces_queued_ones() {
        let now = Instant::now();
        let mut queue = Queue::new(2);
        queue.offer(1, "x", now, None);
        queue.offer(2, "x", now, None);
        assert!(queue.is_full());
        assert_eq!(queue.offer(3, "y", now, None), Offer::Full(3, "y"));
        assert_eq!(queue.offer(1, "z", now, None), Offer::Coalesced);
        assert_eq!(queue.len(), 2);
    }

    #[test]
    fn batches_come_from_the_front_and_respect_the_maximum() {
        let now = Instant::now();
        let mut queue = Queue::new(10);
        for key in 0..5 {
            queue.offer(key, key * 10, now, None);
        }
        let first = queue.take_batch(2);
        assert_eq!(values(&first), vec![(0, 0), (1, 10)]);
        queue.batch_done();
        let rest = queue.take_batch(10);
        assert_eq!(values(&rest), vec![(2, 20), (3, 30), (4, 40)]);
    }

    #[test]
    fn a_write_of_a_key_in_flight_is_queued_again() {
        let now = Instant::now();
        let mut queue = Queue::new(10);
        queue.offer("a", 1, now, None);
        let batch = queue.take_batch(10);
        assert_eq!(queue.offer("a", 2, now, None), Offer::Queued);
        assert_eq!(values(&batch), vec![("a", 1)]);
        queue.batch_done();
        assert_eq!(values(&queue.take_batch(10)), vec![("a", 2)]);
    }

    #[test]
    fn persisted_through_follows_the_oldest_unpersisted_write() {
        let now = Instant::now();
        let mut queue = Queue::new(10);
        assert!(queue.persisted_through(0));
        queue.offer("a", 1, now, None); // seq 1
        queue.offer("b", 1, now, None); // seq 2
        let target = queue.last_seq();
        assert!(!queue.persisted_through(target));
        let _batch = queue.take_batch(1); // "a" in flight
        assert!(!queue.persisted_through(1));
        queue.offer("a", 2, now, None); // seq 3, queued behind "b"
        queue.batch_done();
        assert!(queue.persisted_through(1));
        assert!(!queue.persisted_through(target));
        let _batch = queue.take_batch(1); // "b"
        queue.batch_done();
        assert!(
            queue.persisted_through(target),
            "writes 1 and 2 are persisted"
        );
        assert!(!queue.persisted_through(3));
    }

    #[test]
    fn a_coalesced_write_keeps_the_oldest_sequence_number() {
        let now = Instant::now();
        let mut queue = Queue::new(10);
        queue.offer("a", 1, now, None); // seq 1
        queue.offer("a", 2, now, None); // seq 2, same entry
        assert_eq!(queue.front_seq(), Some(1));
        assert!(!queue.persisted_through(1));
        let _batch = queue.take_batch(10);
        queue.batch_done();
        assert!(queue.persisted_through(2));
    }

    #[test]
    fn the_oldest_entry_dates_the_queue() {
        let start = Instant::now();
        let later = start + std::time::Duration::from_secs(1);
        let mut queue = Queue::new(10);
        assert_eq!(queue.oldest_queued_at(), None);
        queue.offer(1, (), start, None);
        queue.offer(2, (), later, None);
        queue.offer(1, (), later, None);
        assert_eq!(queue.oldest_queued_at(), Some(start));
        let _ = queue.take_batch(1);
        assert_eq!(queue.oldest_queued_at(), Some(later));
    }
}

#[cfg(test)]
mod journal_tests {
    use super::*;

    #[test]
    fn a_batch_carries_the_journal_numbers_of_every_write_it_persists() {
        let now = Instant::now();
        let mut queue = Queue::new(1);
        queue.offer("a", 1, now, Some(10));
        queue.offer("a", 2, now, None);
        queue.offer("a", 3, now, Some(12));
        queue.restore("b", 1, now, 7);
        assert_eq!(queue.len(), 2, "restored beyond the capacity");
        assert!(matches!(
            queue.offer("c", 1, now, Some(13)),
            Offer::Full("c", 1)
        ));
        let batch = queue.take_batch(10);
        assert_eq!(batch.entries, vec![("a", 3), ("b", 1)]);
        assert_eq!(batch.journal, vec![10, 12, 7]);
    }
}
