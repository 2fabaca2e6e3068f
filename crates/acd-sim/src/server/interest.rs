//! Which subscriptions of a session a model change concerns.
//!
//! A user subscription shows the user and the calls the user has an appearance of; a queue
//! subscription shows the queue and the calls waiting in it (or reported by it); a lines
//! subscription shows who exists. A change to a call therefore concerns the subscriptions that
//! show the call now (they may have to drop it or show its new state) and those of the users
//! and queues the call involves now (they may have to show it). Indexing both ways lets a
//! session render a call change for those few subscriptions instead of re-diffing every live
//! call on every subscription, which is what made the simulator the bottleneck of load tests.

use std::collections::{BTreeSet, HashMap};

use crate::model::{Model, SimCallId, Touched};

/// What a subscription has to look at again at its next render.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Pending {
    /// Everything: just made, or users or queues came or went, or the journal ran out.
    pub all: bool,
    /// The user's or queue's own state (`NotifyUser` / `NotifyQueue`).
    pub own: bool,
    /// These calls, in id order (the order a full render diffs them in).
    pub calls: BTreeSet<SimCallId>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        !self.all && !self.own && self.calls.is_empty()
    }
}

/// The subscriptions a change can concern, by what they look at.
#[derive(Debug, Default)]
pub(super) struct Interest {
    by_user: HashMap<usize, BTreeSet<i32>>,
    by_queue: HashMap<usize, BTreeSet<i32>>,
    /// Subscriptions (that show calls) currently showing each call.
    showing: HashMap<SimCallId, BTreeSet<i32>>,
}

/// One subscription a change concerns, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Concern {
    Own(i32),
    Call(i32, SimCallId),
}

impl Interest {
    pub fn watch_user(&mut self, user: usize, sub: i32) {
        self.by_user.entry(user).or_default().insert(sub);
    }

    pub fn watch_queue(&mut self, queue: usize, sub: i32) {
        self.by_queue.entry(queue).or_default().insert(sub);
    }

    /// Forgets a subscription that ended; `shown` are the calls it was showing.
    pub fn forget(
        &mut self,
        sub: i32,
        user: Option<usize>,
        queue: Option<usize>,
        shown: impl Iterator<Item = SimCallId>,
    ) {
        for (key, map) in [(user, &mut self.by_user), (queue, &mut self.by_queue)] {
            if let Some(k) = key {
                if let Some(set) = map.get_mut(&k) {
                    set.remove(&sub);
                    if set.is_empty() {
                        map.remove(&k);
                    }
                }
            }
        }
        for call in shown {
            self.unshown(call, sub);
        }
    }

    pub fn shown(&mut self, call: SimCallId, sub: i32) {
        self.showing.entry(call).or_default().insert(sub);
    }

    pub fn unshown(&mut self, call: SimCallId, sub: i32) {
        if let Some(set) = self.showing.get_mut(&call) {
            set.remove(&sub);
            if set.is_empty() {
                self.showing.remove(&call);
            }
        }
    }

    /// Calls `f` for every subscription the change concerns (`Everything` is the caller's:
    /// it concerns all of them). Subscriptions may be named more than once.
    pub fn concerned(&self, touched: Touched, model: &Model, mut f: impl FnMut(Concern)) {
        fn each(map: &HashMap<usize, BTreeSet<i32>>, key: usize, mut f: impl FnMut(i32)) {
            for &s in map.get(&key).into_iter().flatten() {
                f(s);
            }
        }
        match touched {
            Touched::User(u) => each(&self.by_user, u, |s| f(Concern::Own(s))),
            Touched::Queue(q) => each(&self.by_queue, q, |s| f(Concern::Own(s))),
            Touched::Call(id) => {
                for &s in self.showing.get(&id).into_iter().flatten() {
                    f(Concern::Call(s, id));
                }
                let Some(call) = model.call(id) else {
                    return;
                };
                for u in call.ringing.iter().copied().chain(call.agent) {
                    each(&self.by_user, u, |s| f(Concern::Call(s, id)));
                }
                for q in [call.queue, call.report_queue].into_iter().flatten() {
                    each(&self.by_queue, q, |s| f(Concern::Call(s, id)));
                }
            }
            Touched::Everything => {}
        }
    }
}
