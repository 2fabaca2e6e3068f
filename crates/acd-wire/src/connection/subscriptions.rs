//! The subscriptions of one websocket connection, with the indexes the session asks of them
//! on every Lines change and every response (is this extension followed? which subscription
//! is this user's or this queue's? how many users and queues are subscribed?). Kept in one
//! place so the indexes can only change together with the map they index.
//!
//! The refresh and settle deadlines are indexed too, in time order: the session asks for the
//! next one on every loop turn, and a scan over thousands of user subscriptions per notify was
//! a visible share of the engine's time under load. They are set only through
//! [`Subscriptions::set_refresh`] and [`Subscriptions::set_snapshot`] for that reason.

use crate::backoff::{Backoff, BackoffState};
use acd_core::{AgentId, QueueId, Timestamp};
use rand::SeedableRng;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

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

impl SubTarget {
    /// A stable name for the thing subscribed to, the same across its subscriptions.
    fn key(&self) -> String {
        match self {
            SubTarget::Lines => "lines".into(),
            SubTarget::Queue { queue, .. } => format!("queue {queue}"),
            SubTarget::User { agent, .. } => format!("user {agent}"),
        }
    }
}

/// How a subscription IP Office keeps terminating is made again: the first termination of a
/// streak at once (a single termination is IP Office's ordinary way to say "start over"), each
/// further one after an exponentially growing, jittered delay, capped. Without it a
/// subscription IP Office refuses to keep was made again ~930 times a second (issue 24).
pub(crate) const TERMINATION_BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(500),
    max: Duration::from_secs(30),
    jitter: 0.5,
};

/// A subscription made again that lasts this long ends its streak: the next termination is a
/// new first one.
pub(crate) const TERMINATION_STREAK_CALM: Duration = Duration::from_secs(60);

/// One target's run of terminations.
#[derive(Debug)]
struct Streak {
    backoff: BackoffState,
    terminations: u32,
    /// When the target was last subscribed again.
    made_at: Option<Timestamp>,
}

/// What to do about one termination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resubscribe {
    /// When to subscribe again.
    pub at: Timestamp,
    /// Terminations of this target in a row, this one included.
    pub in_a_row: u32,
    /// Worth a warning: the first of a streak, then the 2nd, 4th, 8th… (the rest are
    /// summarised by those).
    pub warn: bool,
}

/// Subscriptions IP Office terminated, each waiting out its backoff before it is made again.
///
/// Sans-IO like the rest of the connection: no clock and no random source of its own. The
/// jitter is drawn from a generator seeded with the connection's `now`, the target and the
/// count, so a run is reproducible and two engines terminated at different instants do not
/// come back in step.
#[derive(Debug, Default)]
pub(crate) struct Terminations {
    streaks: HashMap<String, Streak>,
    /// (when, order of arrival) -> target to subscribe again.
    due: BTreeMap<(Timestamp, u64), SubTarget>,
    arrivals: u64,
}

impl Terminations {
    /// IP Office terminated the subscription of `target` at `now`.
    pub fn terminated(&mut self, target: SubTarget, now: Timestamp) -> Resubscribe {
        let key = target.key();
        let streak = self.streaks.entry(key.clone()).or_insert_with(|| Streak {
            backoff: BackoffState::new(TERMINATION_BACKOFF),
            terminations: 0,
            made_at: None,
        });
        let calm = streak
            .made_at
            .is_some_and(|made| now.duration_since(made) >= TERMINATION_STREAK_CALM);
        if calm {
            streak.backoff.reset();
            streak.terminations = 0;
        }
        streak.terminations = streak.terminations.saturating_add(1);
        let delay = if streak.terminations == 1 {
            Duration::ZERO
        } else {
            let seed = jitter_seed(&key, now, streak.terminations);
            streak
                .backoff
                .next_delay(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed))
        };
        let in_a_row = streak.terminations;
        let at = now + delay;
        self.arrivals += 1;
        self.due.insert((at, self.arrivals), target);
        Resubscribe {
            at,
            in_a_row,
            warn: in_a_row.is_power_of_two(),
        }
    }

    /// The targets whose delay is over at `now`, in the order they are due; each counts as
    /// made again now.
    pub fn take_due(&mut self, now: Timestamp) -> Vec<SubTarget> {
        let later = self.due.split_off(&(now, u64::MAX));
        let due: Vec<SubTarget> = std::mem::replace(&mut self.due, later)
            .into_values()
            .collect();
        for target in &due {
            if let Some(streak) = self.streaks.get_mut(&target.key()) {
                streak.made_at = Some(now);
            }
        }
        due
    }

    /// When the next target is due.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.due.keys().next().map(|(at, _)| *at)
    }

    /// Whether `target` (by name: a queue found by name or by GUID is the same queue) waits
    /// to be made again.
    pub fn pending(&self, target: &SubTarget) -> bool {
        let key = target.key();
        self.due.values().any(|t| t.key() == key)
    }
}

/// A seed for one termination's jitter from what the connection knows: the target, the time
/// and the count (FNV-1a, then SplitMix64's finaliser to spread it).
fn jitter_seed(key: &str, now: Timestamp, count: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key
        .bytes()
        .chain(now.as_millis().to_le_bytes())
        .chain(count.to_le_bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
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

    /// Whether some subscription already covers `target` (the same user or queue).
    pub fn has(&self, target: &SubTarget) -> bool {
        match target {
            SubTarget::Lines => self.subs.values().any(|s| s.target == SubTarget::Lines),
            SubTarget::Queue { queue, .. } => self.queue_sub_named(&queue.0).is_some(),
            SubTarget::User { agent, .. } => self.follows(&agent.0),
        }
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

    fn sales() -> SubTarget {
        SubTarget::Queue {
            queue: QueueId::from("Sales"),
            guid: vec![1],
        }
    }

    /// A subscription IP Office terminates every time it is made: made again at once the first
    /// time, then after delays that double (within their jitter) up to the cap; the warning is
    /// asked for at the 1st, 2nd, 4th, 8th… termination only.
    #[test]
    fn terminations_in_a_row_back_off_exponentially_up_to_the_cap() {
        let mut t = Terminations::default();
        let mut now = Timestamp::from_millis(1_000_000);
        let mut delays = Vec::new();
        let mut warned = Vec::new();
        for _ in 0..12 {
            let r = t.terminated(sales(), now);
            delays.push(r.at.duration_since(now));
            if r.warn {
                warned.push(r.in_a_row);
            }
            assert_eq!(t.next_deadline(), Some(r.at));
            if r.at > now {
                let just_before = Timestamp::from_millis(r.at.as_millis() - 1);
                assert!(t.take_due(just_before).is_empty());
                assert!(t.pending(&sales()));
            }
            now = r.at;
            assert_eq!(t.take_due(now), vec![sales()]);
            assert!(!t.pending(&sales()));
        }
        assert_eq!(delays[0], Duration::ZERO);
        for (n, d) in delays.iter().enumerate().skip(1) {
            let ceiling = TERMINATION_BACKOFF
                .initial
                .saturating_mul(1 << (n - 1).min(20))
                .min(TERMINATION_BACKOFF.max);
            assert!(
                *d <= ceiling && *d >= ceiling / 2,
                "delay {n}: {d:?} (ceiling {ceiling:?})"
            );
        }
        assert!(delays[11] >= TERMINATION_BACKOFF.max / 2);
        assert_eq!(warned, vec![1, 2, 4, 8]);
    }

    #[test]
    fn a_subscription_that_lasted_starts_a_new_streak_and_the_jitter_is_reproducible() {
        let run = || {
            let mut t = Terminations::default();
            let now = Timestamp::from_millis(5_000);
            t.terminated(sales(), now);
            t.take_due(now);
            let second = t.terminated(sales(), now);
            t.take_due(second.at);
            let calm = second.at + TERMINATION_STREAK_CALM;
            (second, t.terminated(sales(), calm), calm)
        };
        let (second, after_calm, calm) = run();
        assert_eq!(second.in_a_row, 2);
        assert_eq!((after_calm.in_a_row, after_calm.at), (1, calm));
        assert_eq!(run().0, second, "same inputs, same jitter");
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
