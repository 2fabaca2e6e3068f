//! Notifies in, core events out. Each Notify is a complete snapshot of what its subscription
//! sees, so events come from comparing it with the previous snapshot of the same subscription:
//! calls queueing or gone per queue, an agent's presence and phone per user, members and service
//! mode per queue, and the first snapshot of a fresh subscription (or its settle time).

use super::legs::LegTable;
use super::{Translator, UserLeg, TRANSFER_END_GRACE};
use crate::pb;
use crate::pb::call_info::State;
use acd_core::{
    AgentId, AgentSnapshot, CallAttributes, CallId, Event, Features, PhoneState, Presence, QueueId,
    QueueMember, QueueServiceMode, QueueSnapshot, QueuedCall, Timestamp,
};

impl Translator {
    /// Translates one Notify on a queue or user subscription. Notifies for unknown
    /// subscriptions, without payload, or with a payload that does not belong to the
    /// subscription's kind are ignored (as the guide says) and give no events.
    pub fn notify(&mut self, notify: &pb::Notify, now: Timestamp) -> Vec<Event> {
        use pb::notify::Payload;
        let sub = notify.subscribe_id;
        let mut events = Vec::new();
        match &notify.payload {
            Some(Payload::Callcontrol(cc)) if self.queues.contains_key(&sub) => {
                self.queue_calls(sub, cc, now, &mut events)
            }
            Some(Payload::Callcontrol(cc)) if self.users.contains_key(&sub) => {
                self.user_calls(sub, cc, now, &mut events)
            }
            Some(Payload::Queue(nq)) => {
                if let Some(q) = self.queues.get(&sub) {
                    events.push(Event::QueueChanged(queue_snapshot(&q.queue, nq)));
                }
            }
            Some(Payload::User(nu)) => {
                if let Some(u) = self.users.get_mut(&sub) {
                    u.name = nu.name.clone();
                    u.presence = Some(Presence {
                        logged_in: !nu.loggedoff,
                        dnd: nu.dnd,
                        phone_fault: nu.extnfault,
                        // Forward unconditional sends the engine's transfers elsewhere whatever
                        // `fwdhg` says (that only decides whether hunt-group calls follow the
                        // forward or skip the user). Forward on busy never meets an offer (the
                        // engine offers idle agents only); forward on no answer acts only once
                        // an offer rang out, and is then a call leaving the phone unanswered.
                        forwarded: nu.fwdu,
                    });
                    self.agent_changed(sub, &mut events);
                }
            }
            _ => {}
        }
        #[cfg(test)]
        self.assert_consistent();
        events
    }

    /// The settle time after a queue subscription passed without any call notify: the queue is
    /// empty, and the core must learn that the calls it held there are gone. For a user
    /// subscription: the agent has no call, and their phone is reported as it is.
    pub fn snapshot_settled(&mut self, subscribe_id: i32) -> Option<Event> {
        if let Some(u) = self.users.get_mut(&subscribe_id) {
            if u.calls_known {
                return None;
            }
            u.calls_known = true;
            let mut events = Vec::new();
            self.agent_changed(subscribe_id, &mut events);
            return events.pop();
        }
        let q = self.queues.get_mut(&subscribe_id)?;
        if !q.awaiting_snapshot {
            return None;
        }
        q.awaiting_snapshot = false;
        Some(self.snapshot_event(subscribe_id))
    }

    fn snapshot_event(&self, subscribe_id: i32) -> Event {
        let (queue, calls) = match self.queues.get(&subscribe_id) {
            Some(q) => (
                q.queue.clone(),
                q.queued
                    .iter()
                    .filter_map(|c| self.by_leg.get(&(subscribe_id, *c)).copied())
                    .collect(),
            ),
            None => (QueueId(String::new()), Vec::new()),
        };
        Event::QueueSnapshotCalls {
            queue,
            calls,
            site: self.site,
        }
    }

    fn queue_calls(
        &mut self,
        sub: i32,
        cc: &pb::NotifyCallControl,
        now: Timestamp,
        events: &mut Vec<Event>,
    ) {
        let Some(queue) = self.queues.get(&sub).map(|q| q.queue.clone()) else {
            return;
        };
        for ci in &cc.callinfo {
            let call = self.call_for(sub, ci.callid, &ci.gcid);
            if let Some(mut legs) = self.legs.get_mut(&call) {
                legs.queues.insert(sub, ci.callid);
                legs.last_queue = Some(sub);
                legs.orphaned_at = None;
                legs.ending = false;
                legs.resubscribed_queue = None;
            }
            let queued = waiting_in_queue(ci) && !queueing_elsewhere(ci, &queue);
            if !queued {
                // A reporting queue follows the call to the agent the engine sent it to and shows
                // it ringing there: the transfer has arrived, though that agent's own notify may
                // never show it (a short ring folded away while a notify waited for its ack). Its
                // leaving the queue's report next is then its end, not a transfer on its way.
                if let Some(mut legs) = self.legs.get_mut(&call) {
                    if legs
                        .transfer_to
                        .as_ref()
                        .is_some_and(|agent| shows_at(ci, agent))
                    {
                        legs.transfer_arrived = true;
                    }
                }
            }
            let Some(q) = self.queues.get_mut(&sub) else {
                return;
            };
            if queued {
                q.queued.insert(ci.callid);
                events.push(Event::CallQueued(queued_call(call, &queue, ci)));
            } else if q.queued.remove(&ci.callid) {
                events.push(Event::CallLeftQueue {
                    call,
                    queue: queue.clone(),
                });
            }
            let answered_by = self.answered_by(ci);
            if let Some(mut legs) = self.legs.get_mut(&call) {
                if queued || answered_by.is_some() {
                    legs.connected_to = answered_by.clone();
                }
            }
            if let Some(agent) = answered_by {
                events.push(Event::CallAnswered { call, agent });
            }
            // Shown at voicemail with no agent's phone on it: the queue's mailbox, or a forward's.
            let on_no_phone = self.legs.get(&call).is_some_and(|l| l.users.is_empty());
            if at_voicemail(ci.state()) && on_no_phone {
                ended_at_voicemail(&mut self.legs, call, events);
            }
        }
        for lost in &cc.calllost {
            let Some(call) = self.by_leg.get(&(sub, lost.callid)).copied() else {
                continue;
            };
            let was_queued = self
                .queues
                .get_mut(&sub)
                .is_some_and(|q| q.queued.remove(&lost.callid));
            let reported_nowhere = self.drop_leg(sub, lost.callid, now);
            if reported_nowhere {
                if let Some(mut legs) = self.legs.get_mut(&call) {
                    // A reporting subscription follows a call out of the queue until Finish or
                    // the call's end, so losing a call that had left the queue, with no agent's
                    // phone showing it, is its end (the engine's transfer sending it to a
                    // forward or a voicemail shows no phone at all). A call lost shortly after
                    // the engine's transfer to an agent ends too: after the short grace if that
                    // agent's phone showed it (the caller hung up there; a late report of the
                    // queue had shown it queueing meanwhile), else unless the phone shows it
                    // within the transfer grace (it is on its way).
                    let transferred_recently = legs
                        .transfer_sent_at
                        .is_some_and(|sent| now.duration_since(sent) <= TRANSFER_END_GRACE);
                    if !was_queued || transferred_recently {
                        legs.ending = true;
                    }
                }
            }
            if was_queued {
                events.push(Event::CallLeftQueue {
                    call,
                    queue: queue.clone(),
                });
            }
        }
        if self.queues.get(&sub).is_some_and(|q| q.awaiting_snapshot) {
            if let Some(q) = self.queues.get_mut(&sub) {
                q.awaiting_snapshot = false;
            }
            events.push(self.snapshot_event(sub));
        }
    }

    /// The followed agent a reporting queue shows the call connected to. After a reconnect the
    /// queue's report can come seconds before the agent's own subscription shows the call, and
    /// an engine still believing it rang unanswered would send it back to the queue from the
    /// talking agent. The core takes an answer once; a repeat is a no-op.
    fn answered_by(&self, ci: &pb::CallInfo) -> Option<AgentId> {
        if ci.state() != State::Connected {
            return None;
        }
        let extn = &ci.connectedparty.as_ref()?.number;
        self.users
            .values()
            .find(|u| &u.agent.0 == extn)
            .map(|u| u.agent.clone())
    }

    fn user_calls(
        &mut self,
        sub: i32,
        cc: &pb::NotifyCallControl,
        now: Timestamp,
        events: &mut Vec<Event>,
    ) {
        let Some(agent) = self.users.get_mut(&sub).map(|u| {
            u.calls_known = true;
            u.agent.clone()
        }) else {
            return;
        };
        for ci in &cc.callinfo {
            let call = self.call_for(sub, ci.callid, &ci.gcid);
            if let Some(mut legs) = self.legs.get_mut(&call) {
                legs.users.insert(sub, ci.callid);
                legs.orphaned_at = None;
                legs.ending = false;
                legs.resubscribed_queue = None;
                if legs.transfer_to.as_ref() == Some(&agent) {
                    legs.transfer_arrived = true;
                }
            }
            let Some(u) = self.users.get_mut(&sub) else {
                return;
            };
            let state = ci.state();
            let previous = u.calls.get(&ci.callid).copied();
            let mut answered = previous.is_some_and(|p| p.answered);
            if state == State::Ringing
                && ci.direction() == pb::call_info::Direction::Inbound
                && previous.map(|p| p.state) != Some(State::Ringing)
            {
                events.push(Event::CallRinging {
                    call,
                    agent: agent.clone(),
                });
            }
            if state == State::Connected && !answered {
                answered = true;
                events.push(Event::CallAnswered {
                    call,
                    agent: agent.clone(),
                });
            }
            // The offer rang out into the agent's own mailbox (the user's No Answer Time ran
            // out before the engine's ring): nothing can move the call from there any more.
            if at_voicemail(state) && !answered {
                ended_at_voicemail(&mut self.legs, call, events);
            }
            u.calls.insert(
                ci.callid,
                UserLeg {
                    call,
                    state,
                    answered,
                },
            );
        }
        for lost in &cc.calllost {
            let Some(u) = self.users.get_mut(&sub) else {
                return;
            };
            let Some(leg) = u.calls.remove(&lost.callid) else {
                continue;
            };
            self.drop_leg(sub, lost.callid, now);
            // The last agent's appearance is gone. A reporting queue may still follow the
            // call; its CallLost after this is the call's end, so the end grace applies then
            // too (any later report of the call clears this).
            if let Some(mut legs) = self.legs.get_mut(&leg.call) {
                if legs.users.is_empty() {
                    legs.ending = true;
                }
            }
        }
        self.agent_changed(sub, events);
    }

    fn agent_changed(&mut self, sub: i32, events: &mut Vec<Event>) {
        let Some(u) = self.users.get_mut(&sub) else {
            return;
        };
        let Some(presence) = u.presence else {
            // Until the user notify arrives the agent's availability is unknown.
            return;
        };
        // Before the subscription has shown the calls, the phone is as last reported (an agent
        // on a call across a reconnect is still on it), not idle.
        let phone = if u.calls_known {
            phone_state(u.calls.values().map(|l| l.state))
        } else {
            self.phones
                .get(&u.agent)
                .copied()
                .unwrap_or(PhoneState::Idle)
        };
        let snapshot = AgentSnapshot {
            agent: u.agent.clone(),
            name: u.name.clone(),
            presence,
            phone,
        };
        if u.last.as_ref() != Some(&snapshot) {
            u.last = Some(snapshot.clone());
            self.phones.insert(snapshot.agent.clone(), phone);
            events.push(Event::AgentChanged(snapshot));
        }
    }
}

/// Whether a queue subscription's CallInfo shows the call waiting in that queue. A reporting
/// (non-ephemeral) subscription follows a call after it leaves the queue: a call transferred
/// to an agent is shown RINGING there, and only the queue detail, which the guide gives "if the
/// call is in a queue", tells it from a call ringing from the queue. Taken as waiting, it was
/// offered again by an engine that had not sent that transfer (a hot twin's new leader).
/// Queueing and retargeting calls are in the queue whatever the detail says.
fn waiting_in_queue(ci: &pb::CallInfo) -> bool {
    match ci.state() {
        State::Queueing | State::Retargeting => true,
        State::Ringing => ci.queueinfo.is_some(),
        _ => false,
    }
}

/// A reporting subscription follows a call the engine moved to another queue until Finish, and
/// shows it queueing there, the queue detail naming that queue: it no longer waits in this
/// one. (Taken as waiting here, a call whose exit's result was lost was never handed over to
/// its new queue and was not routed there; seed 3476.)
/// The rules may name a queue by its hunt group's name or by its extension number, so the
/// detail names another queue only when neither matches.
fn queueing_elsewhere(ci: &pb::CallInfo, queue: &QueueId) -> bool {
    ci.queueinfo.as_ref().is_some_and(|q| {
        let named = |s: &str| !s.is_empty() && s.eq_ignore_ascii_case(&queue.0);
        (!q.name.is_empty() || !q.number.is_empty()) && !named(&q.name) && !named(&q.number)
    })
}

/// The call's report shows it ringing at, or connected to, `agent`'s extension.
fn shows_at(ci: &pb::CallInfo, agent: &AgentId) -> bool {
    let ringing_there = ci.state() == State::Ringing
        && ci.targets.as_ref().is_some_and(|t| {
            t.target
                .iter()
                .any(|t| t.partyinfo.as_ref().is_some_and(|p| p.number == agent.0))
        });
    let connected_there = ci.state() == State::Connected
        && ci
            .connectedparty
            .as_ref()
            .is_some_and(|p| p.number == agent.0);
    ringing_there || connected_there
}

/// A call IP Office shows at a voicemail is out of any routing's reach: reported ended once,
/// its mapping kept so later reports of it are recognised (see `Legs::at_voicemail`).
fn ended_at_voicemail(legs: &mut LegTable, call: CallId, events: &mut Vec<Event>) {
    if let Some(mut legs) = legs.get_mut(&call) {
        if !legs.at_voicemail {
            legs.at_voicemail = true;
            events.push(Event::CallEnded { call });
        }
    }
}

/// IP Office shows the call at a voicemail (the queue's own, or the mailbox of a forward the
/// engine's transfer met). Its `featuresavailable` there offers no transfer: IP Office would
/// answer one with success and do nothing, so the call is out of any routing's reach.
fn at_voicemail(state: State) -> bool {
    matches!(
        state,
        State::Ringingvoicemail | State::Answeredbyvoicemail | State::Leavingvoicemailmessage
    )
}

/// The agent's phone as the routing core sees it: busy beats ringing beats after-call work.
fn phone_state(states: impl Iterator<Item = State>) -> PhoneState {
    let mut ringing = false;
    let mut acw = false;
    let mut busy = false;
    for s in states {
        match s {
            State::Ringing => ringing = true,
            State::Aftercallwork => acw = true,
            State::Unknown
            | State::Disconnected
            | State::Busy
            | State::Failed
            | State::Ringingdivert
            | State::Ringingvoicemail
            | State::Answeredbyvoicemail
            | State::Leavingvoicemailmessage
            | State::Queueing
            | State::Retargeting => {}
            _ => busy = true,
        }
    }
    if busy {
        PhoneState::OnCall
    } else if ringing {
        PhoneState::Ringing
    } else if acw {
        PhoneState::AfterCallWork
    } else {
        PhoneState::Idle
    }
}

fn queued_call(call: CallId, queue: &QueueId, ci: &pb::CallInfo) -> QueuedCall {
    let calling = ci.callingparty.as_ref();
    let calling_number = match calling {
        Some(p) if !p.withheld => p.number.clone(),
        _ => String::new(),
    };
    let trunk = ci.trunkinfo.as_ref();
    let trunk_kind = crate::trunk::from_wire(trunk.map(|t| t.trunktype()));
    let priority = ci.queueinfo.as_ref().map_or(1, |q| q.priority).clamp(1, 3);
    QueuedCall {
        call,
        queue: queue.clone(),
        attributes: CallAttributes {
            calling_number,
            did: trunk.map(|t| t.did.clone()).unwrap_or_default(),
            trunk: trunk_kind,
            language: ci
                .calldata
                .as_ref()
                .map(|d| d.language.clone())
                .unwrap_or_default(),
            tag: ci.tag.clone(),
        },
        features: Features(ci.featuresavailable as u32),
        pbx_priority: u8::try_from(priority).unwrap_or(1),
    }
}

fn queue_snapshot(queue: &QueueId, nq: &pb::NotifyQueue) -> QueueSnapshot {
    let members = nq
        .queuemembers
        .as_ref()
        .map(|m| {
            m.member
                .iter()
                .map(|m| QueueMember {
                    agent: AgentId(m.extn.clone()),
                    enabled: !m.disabled,
                })
                .collect()
        })
        .unwrap_or_default();
    let service_mode = match nq.servicemode() {
        pb::notify_queue::ServiceMode::Ns => QueueServiceMode::NightService,
        pb::notify_queue::ServiceMode::Oos => QueueServiceMode::OutOfService,
        pb::notify_queue::ServiceMode::Active | pb::notify_queue::ServiceMode::Unset => {
            QueueServiceMode::Active
        }
    };
    QueueSnapshot {
        queue: queue.clone(),
        extension: nq.extn.clone(),
        members,
        service_mode,
    }
}
