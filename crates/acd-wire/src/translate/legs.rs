//! Where each call is reported (its legs), and when each call reported nowhere is due to be
//! taken as ended, kept in deadline order.
//!
//! The session asks for the next ending on every loop turn. Scanning every tracked call for it
//! cost the engine a pass over thousands of mappings per notify under load (answered calls
//! stay mapped for up to [`super::TRANSFER_END_GRACE`]), so the table keeps an ordered index
//! of deadlines. Changing a call's legs goes through [`LegsMut`], which re-files the call's
//! deadline when dropped: the index cannot drift from the legs it indexes.

use std::collections::{BTreeSet, HashMap};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use acd_core::{CallId, Timestamp};

use super::{END_GRACE, ORPHAN_GRACE, TRANSFER_END_GRACE};

#[derive(Debug, Default, Clone)]
pub(super) struct Legs {
    pub key: Vec<u8>,
    /// subscribe_id -> callid on queue subscriptions. Usually one; a call that moved between
    /// queues can be reported by both for a while (notifies of different subscriptions are not
    /// ordered, and a reporting subscription follows a call until Finish).
    pub queues: std::collections::BTreeMap<i32, i32>,
    /// The queue subscription that reported the call last.
    pub last_queue: Option<i32>,
    /// subscribe_id -> callid on user subscriptions.
    pub users: std::collections::BTreeMap<i32, i32>,
    pub orphaned_at: Option<Timestamp>,
    /// The last leg was an agent's call appearance: the call ends unless it turns up again
    /// within [`END_GRACE`] (a RONA or agent transfer back to a queue shows up on the queue
    /// after the agent's leg is gone).
    pub ending: bool,
    /// When the engine last sent a transfer of this call to an agent.
    pub transfer_sent_at: Option<Timestamp>,
    /// The agent that transfer went to.
    pub transfer_to: Option<acd_core::AgentId>,
    /// The queue whose subscription was made again while it reported this call: until its
    /// fresh snapshot comes, the call is unreported only because of that (see
    /// `Translator::awaits_fresh_snapshot`).
    pub resubscribed_queue: Option<acd_core::QueueId>,
    /// That agent's user subscription has shown the call since the transfer: the transfer has
    /// arrived, so the call's legs going away now is not a transfer in flight.
    pub transfer_arrived: bool,
    /// A queue subscription showed the call at voicemail with no agent's phone on it: it is out
    /// of the engine's reach (IP Office offers no transfer there) and was reported ended then;
    /// its mapping stays only so later reports of it are recognised, and goes without a second
    /// end.
    pub at_voicemail: bool,
    /// A reporting queue's last report showed the call connected to this followed agent
    /// (cleared when it shows the call queueing again).
    pub connected_to: Option<acd_core::AgentId>,
}

impl Legs {
    /// How long this call may stay reported nowhere before it is taken as ended.
    fn grace(&self) -> Duration {
        if !self.ending {
            return ORPHAN_GRACE;
        }
        // Once the target's phone showed the call, the transfer is no longer on its way: its
        // last leg going (the caller hanging up while it rings there) ends it like any call.
        let recent_transfer = !self.transfer_arrived
            && self
                .transfer_sent_at
                .zip(self.orphaned_at)
                .is_some_and(|(sent, gone)| gone.duration_since(sent) <= TRANSFER_END_GRACE);
        if recent_transfer {
            TRANSFER_END_GRACE
        } else {
            END_GRACE
        }
    }

    /// When the call is taken as ended if nothing reports it before.
    fn ends_at(&self) -> Option<Timestamp> {
        self.orphaned_at.map(|t| t + self.grace())
    }

    pub fn is_empty(&self) -> bool {
        self.queues.is_empty() && self.users.is_empty()
    }
}

/// Every tracked call's legs, with its ending deadline indexed.
#[derive(Debug, Default)]
pub(super) struct LegTable {
    legs: HashMap<CallId, Legs>,
    /// (deadline, call) for every call with a deadline; `filed` says which entry is each call's.
    endings: BTreeSet<(Timestamp, CallId)>,
    filed: HashMap<CallId, Timestamp>,
}

/// A call's legs, borrowed for changing; the call's deadline is re-filed when it is dropped.
pub(super) struct LegsMut<'a> {
    call: CallId,
    legs: &'a mut Legs,
    endings: &'a mut BTreeSet<(Timestamp, CallId)>,
    filed: &'a mut HashMap<CallId, Timestamp>,
}

impl Deref for LegsMut<'_> {
    type Target = Legs;
    fn deref(&self) -> &Legs {
        self.legs
    }
}

impl DerefMut for LegsMut<'_> {
    fn deref_mut(&mut self) -> &mut Legs {
        self.legs
    }
}

impl Drop for LegsMut<'_> {
    fn drop(&mut self) {
        file(self.endings, self.filed, self.call, self.legs.ends_at());
    }
}

fn file(
    endings: &mut BTreeSet<(Timestamp, CallId)>,
    filed: &mut HashMap<CallId, Timestamp>,
    call: CallId,
    at: Option<Timestamp>,
) {
    let old = match at {
        Some(at) => filed.insert(call, at),
        None => filed.remove(&call),
    };
    if old == at {
        return;
    }
    if let Some(old) = old {
        endings.remove(&(old, call));
    }
    if let Some(at) = at {
        endings.insert((at, call));
    }
}

impl LegTable {
    pub fn len(&self) -> usize {
        self.legs.len()
    }

    pub fn get(&self, call: &CallId) -> Option<&Legs> {
        self.legs.get(call)
    }

    pub fn get_mut(&mut self, call: &CallId) -> Option<LegsMut<'_>> {
        let legs = self.legs.get_mut(call)?;
        Some(LegsMut {
            call: *call,
            legs,
            endings: &mut self.endings,
            filed: &mut self.filed,
        })
    }

    pub fn insert(&mut self, call: CallId, legs: Legs) {
        let at = legs.ends_at();
        self.legs.insert(call, legs);
        file(&mut self.endings, &mut self.filed, call, at);
    }

    pub fn remove(&mut self, call: &CallId) -> Option<Legs> {
        let legs = self.legs.remove(call)?;
        file(&mut self.endings, &mut self.filed, *call, None);
        Some(legs)
    }

    /// Every call, changed by `f` (a reconnect orphans them all).
    pub fn for_each_mut(&mut self, mut f: impl FnMut(&mut Legs)) {
        let calls: Vec<CallId> = self.legs.keys().copied().collect();
        for call in calls {
            if let Some(mut legs) = self.get_mut(&call) {
                f(&mut legs);
            }
        }
    }

    /// Calls whose deadline is at or before `now`, in call order (what the core hears must not
    /// depend on deadline ties or hash order).
    pub fn due(&self, now: Timestamp) -> Vec<CallId> {
        let mut due: Vec<CallId> = self
            .endings
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, c)| *c)
            .collect();
        due.sort_unstable();
        due
    }

    /// The earliest deadline.
    pub fn next_ending(&self) -> Option<Timestamp> {
        self.endings.first().map(|(at, _)| *at)
    }

    /// The index agrees with a scan of every call (tests call this after every change).
    #[cfg(test)]
    pub fn assert_consistent(&self) {
        let scanned: BTreeSet<(Timestamp, CallId)> = self
            .legs
            .iter()
            .filter_map(|(c, l)| l.ends_at().map(|at| (at, *c)))
            .collect();
        assert_eq!(
            scanned, self.endings,
            "the ending index drifted from the legs"
        );
        assert_eq!(self.filed.len(), self.endings.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_follow_every_change_made_through_the_guard() {
        let mut t = LegTable::default();
        let (a, b) = (CallId(1), CallId(2));
        t.insert(a, Legs::default());
        t.insert(b, Legs::default());
        assert_eq!(t.next_ending(), None);
        t.get_mut(&a).unwrap().orphaned_at = Some(Timestamp(1_000));
        assert_eq!(t.next_ending(), Some(Timestamp(1_000) + ORPHAN_GRACE));
        {
            let mut legs = t.get_mut(&b).unwrap();
            legs.orphaned_at = Some(Timestamp(5_000));
            legs.ending = true;
        }
        t.assert_consistent();
        assert_eq!(t.next_ending(), Some(Timestamp(5_000) + END_GRACE));
        t.get_mut(&b).unwrap().transfer_sent_at = Some(Timestamp(4_000));
        assert_eq!(t.next_ending(), Some(Timestamp(5_000) + TRANSFER_END_GRACE));
        assert_eq!(t.due(Timestamp(5_000) + TRANSFER_END_GRACE), vec![b]);
        t.get_mut(&b).unwrap().transfer_arrived = true;
        assert_eq!(t.next_ending(), Some(Timestamp(5_000) + END_GRACE));
        t.for_each_mut(|l| l.orphaned_at = None);
        assert_eq!(t.next_ending(), None);
        t.get_mut(&a).unwrap().orphaned_at = Some(Timestamp(0));
        t.remove(&a);
        t.assert_consistent();
        assert_eq!(t.next_ending(), None);
    }
}
