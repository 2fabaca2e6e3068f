//! Requests awaiting their RequestResponse on one connection: request ids (wrapping, never
//! reusing one still pending), what each was for, and when it times out.

use acd_core::{CommandId, Timestamp};
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pending {
    Subscribe(i32),
    Refresh(i32),
    End,
    Command { id: CommandId, kind: &'static str },
}

#[derive(Debug, Default)]
pub(crate) struct Requests {
    next: i32,
    pending: HashMap<i32, (Timestamp, Pending)>,
    /// (deadline, request id), so the next timeout is found without scanning.
    deadlines: BTreeSet<(Timestamp, i32)>,
    subscribes: usize,
}

impl Requests {
    /// A fresh request id for `what`, answered by `deadline` or timed out.
    pub fn start(&mut self, what: Pending, deadline: Timestamp) -> i32 {
        loop {
            self.next = if self.next == i32::MAX {
                1
            } else {
                self.next + 1
            };
            if !self.pending.contains_key(&self.next) {
                break;
            }
        }
        if matches!(what, Pending::Subscribe(_)) {
            self.subscribes += 1;
        }
        self.pending.insert(self.next, (deadline, what));
        self.deadlines.insert((deadline, self.next));
        self.next
    }

    pub fn take(&mut self, requestid: i32) -> Option<Pending> {
        let (deadline, what) = self.pending.remove(&requestid)?;
        self.deadlines.remove(&(deadline, requestid));
        if matches!(what, Pending::Subscribe(_)) {
            self.subscribes -= 1;
        }
        Some(what)
    }

    /// Requests whose deadline has passed, removed.
    pub fn expired(&mut self, now: Timestamp) -> Vec<(i32, Pending)> {
        let due: Vec<i32> = self
            .deadlines
            .iter()
            .take_while(|(d, _)| *d <= now)
            .map(|(_, id)| *id)
            .collect();
        due.into_iter()
            .filter_map(|id| self.take(id).map(|p| (id, p)))
            .collect()
    }

    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.deadlines.first().map(|(d, _)| *d)
    }

    pub fn subscribes_pending(&self) -> usize {
        self.subscribes
    }

    pub fn is_pending(&self, requestid: i32) -> bool {
        self.pending.contains_key(&requestid)
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Every pending request, removed (the connection is gone).
    pub fn drain(&mut self) -> Vec<Pending> {
        self.deadlines.clear();
        self.subscribes = 0;
        let mut all: Vec<(i32, Pending)> =
            self.pending.drain().map(|(id, (_, p))| (id, p)).collect();
        // In request order, so what the core hears does not depend on hash order.
        all.sort_by_key(|(id, _)| *id);
        all.into_iter().map(|(_, p)| p).collect()
    }

    #[cfg(test)]
    pub fn set_next(&mut self, next: i32) {
        self.next = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_wrap_and_skip_pending_ones() {
        let mut r = Requests::default();
        let t = Timestamp(0);
        r.set_next(i32::MAX - 1);
        assert_eq!(r.start(Pending::End, t), i32::MAX);
        assert_eq!(r.start(Pending::End, t), 1);
        r.set_next(0);
        assert_eq!(r.start(Pending::End, t), 2);
    }

    #[test]
    fn expiry_in_deadline_order_and_subscribe_count() {
        let mut r = Requests::default();
        let a = r.start(Pending::Subscribe(1), Timestamp(30));
        let b = r.start(Pending::End, Timestamp(10));
        assert_eq!(r.subscribes_pending(), 1);
        assert_eq!(r.next_deadline(), Some(Timestamp(10)));
        assert_eq!(r.expired(Timestamp(20)), vec![(b, Pending::End)]);
        assert_eq!(r.take(a), Some(Pending::Subscribe(1)));
        assert_eq!(r.subscribes_pending(), 0);
        assert!(r.is_empty());
    }
}
