//! The discrete-event queue behind the model's virtual clock.
//!
//! Events at the same instant run in the order they were scheduled (a sequence number breaks
//! ties), which is what makes a seeded run reproducible bit for bit. Cancelled timers are not
//! removed: the model tags them with generation counters and ignores stale ones, which is
//! cheaper than a removable heap.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use acd_core::Timestamp;

struct Entry<E> {
    at: Timestamp,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    // Reversed so the std max-heap pops the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at).then(other.seq.cmp(&self.seq))
    }
}

pub struct Scheduler<E> {
    heap: BinaryHeap<Entry<E>>,
    seq: u64,
}

impl<E> Default for Scheduler<E> {
    fn default() -> Self {
        Scheduler {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<E> Scheduler<E> {
    pub fn schedule(&mut self, at: Timestamp, event: E) {
        self.seq += 1;
        self.heap.push(Entry {
            at,
            seq: self.seq,
            event,
        });
    }

    pub fn next_at(&self) -> Option<Timestamp> {
        self.heap.peek().map(|e| e.at)
    }

    /// Pops the earliest event if it is due at or before `limit`.
    pub fn pop_due(&mut self, limit: Timestamp) -> Option<(Timestamp, E)> {
        if self.heap.peek()?.at > limit {
            return None;
        }
        self.heap.pop().map(|e| (e.at, e.event))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pops_in_time_then_insertion_order(times in proptest::collection::vec(0u64..50, 0..200)) {
            let mut s = Scheduler::default();
            for (i, t) in times.iter().enumerate() {
                s.schedule(Timestamp(*t), i);
            }
            let mut popped = Vec::new();
            while let Some((at, i)) = s.pop_due(Timestamp(u64::MAX)) {
                popped.push((at, i));
            }
            let mut expected: Vec<(Timestamp, usize)> =
                times.iter().enumerate().map(|(i, t)| (Timestamp(*t), i)).collect();
            expected.sort();
            prop_assert_eq!(popped, expected);
        }
    }

    #[test]
    fn respects_the_limit() {
        let mut s = Scheduler::default();
        s.schedule(Timestamp(10), "a");
        assert!(s.pop_due(Timestamp(9)).is_none());
        assert_eq!(s.pop_due(Timestamp(10)), Some((Timestamp(10), "a")));
        assert!(s.is_empty());
    }
}
