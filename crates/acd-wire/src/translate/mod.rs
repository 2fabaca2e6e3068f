//! Translation between MT-CTI3 notifies/commands and the routing core's own types.
//!
//! IP Office numbers a call per subscription (`callid`) and identifies it globally by `gcid`;
//! the core wants one stable [`CallId`] per call. This module keeps that mapping and, for each
//! call, where it currently is (its queue leg and its user legs), so that a core command can
//! be sent on the subscription that can act on the call. Each Notify is a complete snapshot, so
//! events are produced by comparing a snapshot with the previous one. It is synchronous and
//! clock-free (callers pass `now`) so it can be tested without a socket.
//!
//! The module is split by direction: [`inbound`] turns notifies into core events, [`outbound`]
//! turns core commands into wire commands; this file keeps what both share, the identity of
//! calls across subscriptions, legs and reconnects, and the subscriptions themselves.

mod inbound;
mod legs;
mod outbound;

pub use outbound::{command_label, CommandRefused, Translated, WireCommand};

use crate::pb::call_info::State;
use acd_core::{
    AgentId, AgentSnapshot, CallId, Event, PhoneState, Presence, QueueId, Site, Timestamp,
};
use legs::{LegTable, Legs};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// How long the mapping of a call that no subscription reports any more is kept, so that a call
/// moving between queues and agents (briefly reported nowhere) keeps its [`CallId`].
pub const ORPHAN_GRACE: Duration = Duration::from_secs(300);

/// How long a call whose last agent leg ended may take to reappear elsewhere before it is
/// reported ended.
pub const END_GRACE: Duration = Duration::from_secs(2);

/// The same, when the engine transferred the call to an agent shortly before: the new agent's
/// user notify may trail the old leg's end by seconds (each subscription's notifies are paced
/// by its own acks), and the call is on its way there, not gone.
pub const TRANSFER_END_GRACE: Duration = Duration::from_secs(20);

#[derive(Debug)]
struct QueueSub {
    queue: QueueId,
    /// Wire callids currently queueing (QUEUEING, RINGING, RETARGETING).
    queued: BTreeSet<i32>,
    awaiting_snapshot: bool,
}

#[derive(Debug, Clone, Copy)]
struct UserLeg {
    call: CallId,
    state: State,
    answered: bool,
}

#[derive(Debug)]
struct UserSub {
    agent: AgentId,
    name: String,
    presence: Option<Presence>,
    calls: BTreeMap<i32, UserLeg>,
    /// A call-control notify (or the settle time without one) has shown the user's calls.
    /// Until then `calls` says nothing: IP Office sends the user notify first and the calls
    /// only after its ack, so an empty `calls` on a fresh subscription is not an idle phone.
    calls_known: bool,
    last: Option<AgentSnapshot>,
}

/// The translation state of one session.
#[derive(Debug, Default)]
pub struct Translator {
    by_key: HashMap<Vec<u8>, CallId>,
    by_leg: HashMap<(i32, i32), CallId>,
    legs: LegTable,
    next_call: u64,
    queues: HashMap<i32, QueueSub>,
    users: HashMap<i32, UserSub>,
    /// The phone state last reported per agent, kept across subscriptions: it stands while a
    /// new subscription of the agent has not shown the calls yet.
    phones: HashMap<AgentId, PhoneState>,
    /// The system of a resilient pair whose calls this translator numbers.
    site: Site,
}

impl Translator {
    pub fn new() -> Translator {
        Translator::default()
    }

    /// The translator of one system of a resilient pair: its calls are numbered in the site's
    /// own range, so two systems' calls never share an id in the core.
    pub fn for_site(site: Site) -> Translator {
        Translator {
            next_call: site.first_call().0 - 1,
            site,
            ..Translator::default()
        }
    }

    /// A new connection: every subscription is gone. Call ids are kept (for the grace period)
    /// so a call seen again after the reconnect keeps its identity.
    pub fn reset_connection(&mut self, now: Timestamp) {
        self.queues.clear();
        self.users.clear();
        self.by_leg.clear();
        self.legs.for_each_mut(|legs| {
            // A call still reported somewhere is orphaned by the reconnect, not ending.
            if !legs.is_empty() {
                legs.ending = false;
            }
            legs.queues.clear();
            legs.last_queue = None;
            legs.users.clear();
            legs.orphaned_at.get_or_insert(now);
        });
    }

    /// How many calls the translator keeps a mapping for (for growth checks).
    pub fn tracked_calls(&self) -> usize {
        self.legs.len()
    }

    /// The global call id IP Office gave a call, if the call is known.
    pub fn gcid_of(&self, call: CallId) -> Option<&[u8]> {
        self.legs.get(&call).map(|l| l.key.as_slice())
    }

    /// Starts tracking a queue subscription; its first call snapshot becomes the truth.
    pub fn add_queue(&mut self, subscribe_id: i32, queue: QueueId) {
        self.queues.insert(
            subscribe_id,
            QueueSub {
                queue,
                queued: BTreeSet::new(),
                awaiting_snapshot: true,
            },
        );
    }

    pub fn add_user(&mut self, subscribe_id: i32, agent: AgentId) {
        self.users.insert(
            subscribe_id,
            UserSub {
                agent,
                name: String::new(),
                presence: None,
                calls: BTreeMap::new(),
                calls_known: false,
                last: None,
            },
        );
    }

    /// Forgets a subscription (ended, terminated or replaced). No events: the caller decides
    /// whether the queue/agent is gone or about to be resubscribed.
    pub fn remove_subscription(&mut self, subscribe_id: i32, now: Timestamp) {
        let queue = self.queues.remove(&subscribe_id).map(|q| q.queue);
        let known = queue.is_some() || self.users.remove(&subscribe_id).is_some();
        if !known {
            return;
        }
        let callids: Vec<i32> = self
            .by_leg
            .keys()
            .filter(|(s, _)| *s == subscribe_id)
            .map(|(_, c)| *c)
            .collect();
        for callid in callids {
            let call = self.by_leg.get(&(subscribe_id, callid)).copied();
            let orphaned = self.drop_leg(subscribe_id, callid, now);
            if let Some(mut legs) = call.and_then(|c| self.legs.get_mut(&c)) {
                if orphaned {
                    // Orphaned by the subscription's end, not ended: it is reported again
                    // after the resubscription.
                    legs.ending = false;
                }
                if let Some(queue) = queue.as_ref() {
                    legs.resubscribed_queue = Some(queue.clone());
                }
            }
        }
    }

    /// Whether `call` is reported nowhere only because the subscription of the queue that
    /// reported it is being made again (a notify gap, a termination) and its fresh snapshot
    /// has not come yet: a command about it can wait for that snapshot, which will most likely
    /// show the call again, rather than be refused as if the call were gone.
    pub fn awaits_fresh_snapshot(&self, call: CallId) -> bool {
        let Some(legs) = self.legs.get(&call) else {
            return false;
        };
        let Some(queue) = legs.resubscribed_queue.as_ref() else {
            return false;
        };
        legs.is_empty()
            && self
                .queue_subscription(queue)
                .is_none_or(|sub| self.awaiting_snapshot(sub))
    }

    /// The subscription of a queue, if subscribed.
    pub fn queue_subscription(&self, queue: &QueueId) -> Option<i32> {
        self.queues
            .iter()
            .find(|(_, q)| &q.queue == queue)
            .map(|(id, _)| *id)
    }

    /// Whether a queue or user subscription still waits for its first call snapshot.
    pub fn awaiting_snapshot(&self, subscribe_id: i32) -> bool {
        self.queues
            .get(&subscribe_id)
            .is_some_and(|q| q.awaiting_snapshot)
            || self
                .users
                .get(&subscribe_id)
                .is_some_and(|u| !u.calls_known)
    }

    fn call_for(&mut self, sub: i32, callid: i32, gcid: &[u8]) -> CallId {
        if let Some(call) = self.by_leg.get(&(sub, callid)) {
            return *call;
        }
        let key = if gcid.is_empty() {
            // Without a gcid the call can only be known per subscription.
            format!("leg:{sub}:{callid}").into_bytes()
        } else {
            gcid.to_vec()
        };
        let call = match self.by_key.get(&key) {
            Some(call) => *call,
            None => {
                self.next_call += 1;
                let call = CallId(self.next_call);
                self.by_key.insert(key.clone(), call);
                self.legs.insert(
                    call,
                    Legs {
                        key,
                        ..Legs::default()
                    },
                );
                call
            }
        };
        self.by_leg.insert((sub, callid), call);
        call
    }

    /// Removes one leg; returns true when the call is now reported nowhere.
    fn drop_leg(&mut self, sub: i32, callid: i32, now: Timestamp) -> bool {
        let Some(call) = self.by_leg.remove(&(sub, callid)) else {
            return false;
        };
        let Some(mut legs) = self.legs.get_mut(&call) else {
            return false;
        };
        if legs.queues.get(&sub) == Some(&callid) {
            legs.queues.remove(&sub);
            if legs.last_queue == Some(sub) {
                legs.last_queue = None;
            }
        }
        if legs.users.get(&sub) == Some(&callid) {
            legs.users.remove(&sub);
        }
        if legs.is_empty() {
            legs.orphaned_at = Some(now);
            true
        } else {
            false
        }
    }

    fn forget_call(&mut self, call: CallId) {
        if let Some(legs) = self.legs.remove(&call) {
            self.by_key.remove(&legs.key);
        }
    }

    /// Calls whose time is up: those whose last agent leg ended [`END_GRACE`] ago, and any
    /// call no subscription has reported for [`ORPHAN_GRACE`] (lost across a reconnect). Each
    /// is reported ended and forgotten, so nothing waits on a call that is not there.
    pub fn due_endings(&mut self, now: Timestamp) -> Vec<Event> {
        let due = self.legs.due(now);
        let mut events = Vec::with_capacity(due.len());
        for call in due {
            let reported = self.legs.get(&call).is_some_and(|l| l.at_voicemail);
            self.forget_call(call);
            if !reported {
                events.push(Event::CallEnded { call });
            }
        }
        #[cfg(test)]
        self.assert_consistent();
        events
    }

    /// When [`Translator::due_endings`] next has something to report.
    pub fn next_ending(&self) -> Option<Timestamp> {
        self.legs.next_ending()
    }

    /// The ending index agrees with the legs (tests call this after every step).
    #[cfg(test)]
    pub(crate) fn assert_consistent(&self) {
        self.legs.assert_consistent();
    }
}

#[cfg(test)]
mod tests;
