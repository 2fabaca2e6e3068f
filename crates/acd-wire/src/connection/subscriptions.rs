//! The subscriptions of one websocket connection, with the indexes the session asks of them
//! on every Lines change and every response (is this extension followed? which subscription
//! is this user's or this queue's? how many users and queues are subscribed?). Kept in one
//! place so the indexes can only change together with the map they index.
//!
//! The refresh and settle deadlines are indexed too, in time order: the session asks for the
//! next one on every loop turn, and a scan over thousands of user subscriptions per notify was
//! a visible share of the engine's time under load. They are set only through
//! [`Subscriptions::set_refresh`] and [`Subscriptions::set_snapshot`] for that reason.

use acd_core::{AgentId, QueueId, Timestamp};
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SubTarget {
    Lines,
    Queue { queue: QueueId, guid: Vec<u8> },
    User { agent: AgentId, guid: Vec<u8> },
}

#[derive(Debug)]
pub(crate) struct Subscription {
    pub target: SubTarget,
    pub confirmed: bool,
    /// When to refresh it (set through `Subscriptions::set_refresh`).
    refresh_at: Option<Timestamp>,
    /// When its first snapshot is taken as settled (set through `Subscriptions::set_snapshot`).
    snapshot_at: Option<Timestamp>,
    /// The last notify id seen, to notice a gap (a notify IP Office sent that never came).
    pub last_notify: Option<i32>,
}

impl Subscription {
    pub fn new(target: SubTarget) -> Subscription {
        Subscription {
            target,
            confirmed: false,
            refresh_at: None,
            snapshot_at: None,
            last_notify: None,
        }
    }

    /// Notes a notify's id and returns how many notifies IP Office numbered before it that
    /// never arrived (0 when in sequence).
    ///
    /// IP Office numbers the notifies of each subscription 1, 2, 3… and sends the next only
    /// after the last one is acknowledged, so on one connection the ids of a subscription can
    /// only step by one; a larger step means a notify was lost. A notify without an id (0)
    /// asks for no ack and is not counted. An id at or below the last one is a numbering that
    /// started again (it wraps at `i32::MAX`): the new id is the baseline, nothing is known
    /// to be missing.
    pub fn note_notify(&mut self, notify_id: i32) -> u64 {
        if notify_id == 0 {
            return 0;
        }
        let missing = match self.last_notify {
            Some(last) if notify_id > last => (i64::from(notify_id) - i64::from(last) - 1) as u64,
            _ => 0,
        };
        self.last_notify = Some(notify_id);
        missing
    }
}

/// Which of a subscription's deadlines an index entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    Refresh,
    Snapshot,
}

#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    subs: HashMap<i32, Subscription>,
    /// Every set deadline: (when, subscription, which).
    timers: BTreeSet<(Timestamp, i32, Timer)>,
    /// Extension -> how many user subscriptions follow it (one, in practice).
    followed: HashMap<String, usize>,
    by_user_guid: HashMap<Vec<u8>, i32>,
    by_queue_guid: HashMap<Vec<u8>, i32>,
    by_queue_name: HashMap<String, i32>,
    users: usize,
    queues: usize,
}

impl Subscriptions {
    pub fn get(&self, id: i32) -> Option<&Subscription> {
        self.subs.get(&id)
    }

    pub fn get_mut(&mut self, id: i32) -> Option<&mut Subscription> {
        self.subs.get_mut(&id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&i32, &Subscription)> {
        self.subs.iter()
    }

    /// Sets (or clears) when subscription `id` is refreshed.
    pub fn set_refresh(&mut self, id: i32, at: Option<Timestamp>) {
        self.set_timer(id, Timer::Refresh, at);
    }

    /// Sets (or clears) when subscription `id`'s first snapshot is taken as settled.
    pub fn set_snapshot(&mut self, id: i32, at: Option<Timestamp>) {
        self.set_timer(id, Timer::Snapshot, at);
    }

    fn set_timer(&mut self, id: i32, timer: Timer, at: Option<Timestamp>) {
        let Some(sub) = self.subs.get_mut(&id) else {
            return;
        };
        let slot = match timer {
            Timer::Refresh => &mut sub.refresh_at,
            Timer::Snapshot => &mut sub.snapshot_at,
        };
        if let Some(old) = std::mem::replace(slot, at) {
            self.timers.remove(&(old, id, timer));
        }
        if let Some(at) = at {
            self.timers.insert((at, id, timer));
        }
    }

    /// The earliest refresh or settle deadline.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.timers.first().map(|(at, _, _)| *at)
    }

    /// Subscriptions whose `timer` is due at `now`, in subscription id order.
    pub fn due(&self, timer: Timer, now: Timestamp) -> Vec<i32> {
        let mut due: Vec<i32> = self
            .timers
            .iter()
            .take_while(|(at, _, _)| *at <= now)
            .filter(|(_, _, t)| *t == timer)
            .map(|(_, id, _)| *id)
            .collect();
        due.sort_unstable();
        due
    }

    pub fn counts(&self) -> (usize, usize) {
        (self.users, self.queues)
    }

    pub fn follows(&self, extn: &str) -> bool {
        self.followed.contains_key(extn)
    }

    pub fn user_sub(&self, guid: &[u8]) -> Option<i32> {
        self.by_user_guid.get(guid).copied()
    }

    pub fn queue_sub(&self, guid: &[u8]) -> Option<i32> {
        self.by_queue_guid.get(guid).copied()
    }

    pub fn queue_sub_named(&self, name: &str) -> Option<i32> {
        self.by_queue_name.get(name).copied()
    }

    pub fn insert(&mut self, id: i32, sub: Subscription) {
        match &sub.target {
            SubTarget::Lines => {}
            SubTarget::Queue { queue, guid } => {
                self.queues += 1;
                if !guid.is_empty() {
                    self.by_queue_guid.insert(guid.clone(), id);
                }
                self.by_queue_name.insert(queue.0.clone(), id);
            }
            SubTarget::User { agent, guid } => {
                self.users += 1;
                *self.followed.entry(agent.0.clone()).or_default() += 1;
                self.by_user_guid.insert(guid.clone(), id);
            }
        }
        if let Some(old) = self.subs.insert(id, sub) {
            self.forget(id, &old);
        }
    }

    pub fn remove(&mut self, id: i32) -> Option<Subscription> {
        let sub = self.subs.remove(&id)?;
        self.forget(id, &sub);
        Some(sub)
    }

    pub fn clear(&mut self) {
        *self = Subscriptions::default();
    }

    fn forget(&mut self, id: i32, sub: &Subscription) {
        for (at, timer) in [
            (sub.refresh_at, Timer::Refresh),
            (sub.snapshot_at, Timer::Snapshot),
        ] {
            if let Some(at) = at {
                self.timers.remove(&(at, id, timer));
            }
        }
        match &sub.target {
            SubTarget::Lines => {}
            SubTarget::Queue { queue, guid } => {
                self.queues -= 1;
                if self.by_queue_guid.get(guid) == Some(&id) {
                    self.by_queue_guid.remove(guid);
                }
                if self.by_queue_name.get(&queue.0) == Some(&id) {
                    self.by_queue_name.remove(&queue.0);
                }
            }
            SubTarget::User { agent, guid } => {
                self.users -= 1;
                if let Some(n) = self.followed.get_mut(&agent.0) {
                    *n -= 1;
                    if *n == 0 {
                        self.followed.remove(&agent.0);
                    }
                }
                if self.by_user_guid.get(guid) == Some(&id) {
                    self.by_user_guid.remove(guid);
                }
            }
        }
    }

    /// The indexes agree with a scan of the map (tests call this after every change).
    #[cfg(test)]
    pub fn assert_consistent(&self) {
        let mut followed: HashMap<String, usize> = HashMap::new();
        let (mut users, mut queues) = (0, 0);
        for (id, s) in &self.subs {
            match &s.target {
                SubTarget::User { agent, guid } => {
                    users += 1;
                    *followed.entry(agent.0.clone()).or_default() += 1;
                    assert_eq!(self.by_user_guid.get(guid), Some(id));
                }
                SubTarget::Queue { queue, .. } => {
                    queues += 1;
                    assert_eq!(self.by_queue_name.get(&queue.0), Some(id));
                }
                SubTarget::Lines => {}
            }
        }
        assert_eq!((self.users, self.queues), (users, queues));
        assert_eq!(self.followed, followed);
        assert_eq!(self.by_user_guid.len(), users);
        let timers: BTreeSet<(Timestamp, i32, Timer)> = self
            .subs
            .iter()
            .flat_map(|(id, s)| {
                [
                    (s.refresh_at, Timer::Refresh),
                    (s.snapshot_at, Timer::Snapshot),
                ]
                .into_iter()
                .filter_map(move |(at, t)| at.map(|at| (at, *id, t)))
            })
            .collect();
        assert_eq!(timers, self.timers, "the deadline index drifted");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_ids_in_sequence_have_no_gap_and_a_skip_counts_the_missing_ones() {
        let mut s = Subscription::new(SubTarget::Lines);
        assert_eq!(s.note_notify(1), 0);
        assert_eq!(s.note_notify(2), 0);
        assert_eq!(s.note_notify(0), 0, "unnumbered notifies do not count");
        assert_eq!(s.note_notify(3), 0);
        assert_eq!(s.note_notify(6), 2);
        assert_eq!(s.note_notify(7), 0);
    }

    #[test]
    fn a_numbering_that_starts_again_is_not_a_gap() {
        let mut s = Subscription::new(SubTarget::Lines);
        assert_eq!(s.note_notify(i32::MAX - 1), 0);
        assert_eq!(s.note_notify(i32::MAX), 0);
        assert_eq!(s.note_notify(1), 0);
        assert_eq!(s.note_notify(2), 0);
        // The first notify of a subscription is the baseline, whatever its id.
        let mut s = Subscription::new(SubTarget::Lines);
        assert_eq!(s.note_notify(40), 0);
    }
}
