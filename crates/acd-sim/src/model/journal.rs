//! The model's change journal: which call, user or queue each change touched, in order.
//!
//! Protocol sessions render what their subscriptions show from the model. Knowing only that
//! *something* changed (the model's version) made every subscription re-render and re-diff
//! every live call on every change, which with thousands of users and hundreds of live calls
//! made the simulator, not the engine, the bottleneck of every load test. With the journal a
//! session renders only the subscriptions a change can concern.
//!
//! The journal is bounded: a reader that fell further behind than it reaches gets `None` and
//! renders everything, which is always correct, only slower. Changes that reshape what
//! everybody sees (a user or queue added or deleted) are journalled as `Everything`.

use std::collections::VecDeque;

use super::types::SimCallId;

/// Entries kept; a session flushes after every frame and tick, so it is never this far behind
/// except after a burst of changes, when a full render is the cheaper path anyway.
const CAPACITY: usize = 1 << 16;

/// What one change touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touched {
    /// The call's state (or its existence) changed.
    Call(SimCallId),
    /// The user's own state changed (not which calls it has: those are call changes).
    User(usize),
    /// The queue's own state changed (service mode, members).
    Queue(usize),
    /// Users or queues were added or deleted: every view may differ.
    Everything,
}

#[derive(Debug)]
pub struct Journal {
    /// (model version after the change, what it touched), versions non-decreasing.
    entries: VecDeque<(u64, Touched)>,
    /// Every change after this version is in `entries`.
    floor: u64,
}

impl Journal {
    pub fn new(version: u64) -> Journal {
        Journal {
            entries: VecDeque::new(),
            floor: version,
        }
    }

    /// Records a change that moved the model to `version`.
    pub fn record(&mut self, version: u64, touched: Touched) {
        // One action touches the same call several times in a row: once is enough.
        if self.entries.back().map(|(_, t)| *t) == Some(touched) {
            if let Some(last) = self.entries.back_mut() {
                last.0 = version;
            }
            return;
        }
        if self.entries.len() == CAPACITY {
            if let Some((v, _)) = self.entries.pop_front() {
                self.floor = v;
            }
        }
        self.entries.push_back((version, touched));
    }

    /// What changed after `version`, or `None` if the journal no longer reaches back that far.
    pub fn since(&self, version: u64) -> Option<impl Iterator<Item = Touched> + '_> {
        if version < self.floor {
            return None;
        }
        let start = self.entries.partition_point(|(v, _)| *v <= version);
        Some(self.entries.range(start..).map(|(_, t)| *t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_returns_later_changes_and_none_beyond_the_floor() {
        let mut j = Journal::new(0);
        j.record(1, Touched::Call(7));
        j.record(2, Touched::Call(7));
        j.record(3, Touched::User(2));
        let all: Vec<_> = j.since(0).into_iter().flatten().collect();
        assert_eq!(all, vec![Touched::Call(7), Touched::User(2)]);
        let later: Vec<_> = j.since(2).into_iter().flatten().collect();
        assert_eq!(later, vec![Touched::User(2)]);
        assert_eq!(j.since(3).map(Iterator::count), Some(0));
        for v in 4..(4 + CAPACITY as u64) {
            j.record(v, Touched::Queue(v as usize));
        }
        assert!(
            j.since(0).is_none(),
            "trimmed entries must force a full render"
        );
        assert!(j.since(j.floor).is_some());
    }
}
