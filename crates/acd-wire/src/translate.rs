//! Translation between MT-CTI3 notifies/commands and the routing core's own types.
//!
//! IP Office numbers a call per subscription (`callid`) and identifies it globally by `gcid`;
//! the core wants one stable [`CallId`] per call. This module keeps that mapping and, for each
//! call, where it currently is (its queue leg and its user legs), so that a core command can
//! be sent on the subscription that can act on the call. Each Notify is a complete snapshot, so
//! events are produced by comparing a snapshot with the previous one. It is synchronous and
//! clock-free (callers pass `now`) so it can be tested without a socket.

use crate::pb;
use crate::pb::call_info::State;
use crate::result_code::ResultCode;
use acd_core::Timestamp;
use acd_core::{
    AgentId, AgentSnapshot, CallAttributes, CallId, Command, CommandKind, Event, Features,
    PhoneState, Presence, QueueId, QueueMember, QueueServiceMode, QueueSnapshot, QueuedCall,
    ServiceMode,
};
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

/// A command the session can send: on which subscription, with which payload.
#[derive(Debug, Clone, PartialEq)]
pub struct WireCommand {
    pub subscribe_id: i32,
    pub payload: pb::subscribe_cmd::Payload,
}

/// What a core command becomes on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Translated {
    Send(Box<WireCommand>),
    /// The command's effect already holds; nothing is sent and the core hears success. (Finish
    /// on a call its queue no longer reports, as ephemeral subscriptions do once it left.)
    AlreadyDone(&'static str),
}

#[cfg(test)]
impl Translated {
    fn sent(self) -> WireCommand {
        match self {
            Translated::Send(w) => *w,
            Translated::AlreadyDone(why) => panic!("nothing sent: {why}"),
        }
    }
}

/// Why a core command could not be turned into a wire command. Reported to the core as a
/// failed `CommandResult` with [`CommandRefused::result_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandRefused {
    #[error("{0} is not known on any subscription (already gone?)")]
    UnknownCall(CallId),
    #[error("queue {0} has no active subscription")]
    UnknownQueue(QueueId),
}

impl CommandRefused {
    pub fn result_code(&self) -> ResultCode {
        match self {
            CommandRefused::UnknownCall(_) => ResultCode::CallControlCallNotFound,
            CommandRefused::UnknownQueue(_) => ResultCode::RequestInvalidContext,
        }
    }
}

/// A stable metric/log label for a command kind.
pub fn command_label(kind: &CommandKind) -> &'static str {
    match kind {
        CommandKind::Transfer { .. } => "transfer",
        CommandKind::SetPriority { .. } => "set_priority",
        CommandKind::Finish { .. } => "finish",
        CommandKind::Drop { .. } => "drop",
        CommandKind::SetQueueMember { .. } => "set_queue_member",
        CommandKind::SetServiceMode { .. } => "set_service_mode",
    }
}

#[derive(Debug, Default)]
struct Legs {
    key: Vec<u8>,
    /// subscribe_id -> callid on queue subscriptions. Usually one; a call that moved between
    /// queues can be reported by both for a while (notifies of different subscriptions are not
    /// ordered, and a reporting subscription follows a call until Finish).
    queues: BTreeMap<i32, i32>,
    /// The queue subscription that reported the call last.
    last_queue: Option<i32>,
    /// subscribe_id -> callid on user subscriptions.
    users: BTreeMap<i32, i32>,
    orphaned_at: Option<Timestamp>,
    /// The last leg was an agent's call appearance: the call ends unless it turns up again
    /// within [`END_GRACE`] (a RONA or agent transfer back to a queue shows up on the queue
    /// after the agent's leg is gone).
    ending: bool,
    /// When the engine last sent a transfer of this call to an agent.
    transfer_sent_at: Option<Timestamp>,
}

impl Legs {
    /// How long this call may stay reported nowhere before it is taken as ended.
    fn grace(&self) -> Duration {
        if !self.ending {
            return ORPHAN_GRACE;
        }
        let recent_transfer = self
            .transfer_sent_at
            .zip(self.orphaned_at)
            .is_some_and(|(sent, gone)| gone.duration_since(sent) <= TRANSFER_END_GRACE);
        if recent_transfer {
            TRANSFER_END_GRACE
        } else {
            END_GRACE
        }
    }

    fn is_empty(&self) -> bool {
        self.queues.is_empty() && self.users.is_empty()
    }
}

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
    legs: HashMap<CallId, Legs>,
    next_call: u64,
    queues: HashMap<i32, QueueSub>,
    users: HashMap<i32, UserSub>,
    /// The phone state last reported per agent, kept across subscriptions: it stands while a
    /// new subscription of the agent has not shown the calls yet.
    phones: HashMap<AgentId, PhoneState>,
}

impl Translator {
    pub fn new() -> Translator {
        Translator::default()
    }

    /// A new connection: every subscription is gone. Call ids are kept (for the grace period)
    /// so a call seen again after the reconnect keeps its identity.
    pub fn reset_connection(&mut self, now: Timestamp) {
        self.queues.clear();
        self.users.clear();
        self.by_leg.clear();
        for legs in self.legs.values_mut() {
            legs.queues.clear();
            legs.last_queue = None;
            legs.users.clear();
            legs.orphaned_at.get_or_insert(now);
        }
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
        let known = self.queues.remove(&subscribe_id).is_some()
            || self.users.remove(&subscribe_id).is_some();
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
            self.drop_leg(subscribe_id, callid, now);
        }
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
        Event::QueueSnapshotCalls { queue, calls }
    }

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
                    });
                    self.agent_changed(sub, &mut events);
                }
            }
            _ => {}
        }
        events
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
        let Some(legs) = self.legs.get_mut(&call) else {
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
        let due: Vec<CallId> = self
            .legs
            .iter()
            .filter(|(_, l)| {
                l.orphaned_at
                    .is_some_and(|t| now.duration_since(t) >= l.grace())
            })
            .map(|(c, _)| *c)
            .collect();
        // In call order, so what the core hears does not depend on hash order.
        let mut due = due;
        due.sort_unstable();
        let mut events = Vec::with_capacity(due.len());
        for call in due {
            self.forget_call(call);
            events.push(Event::CallEnded { call });
        }
        events
    }

    /// When [`Translator::due_endings`] next has something to report.
    pub fn next_ending(&self) -> Option<Timestamp> {
        self.legs
            .values()
            .filter_map(|l| l.orphaned_at.map(|t| t + l.grace()))
            .min()
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
            if let Some(legs) = self.legs.get_mut(&call) {
                legs.queues.insert(sub, ci.callid);
                legs.last_queue = Some(sub);
                legs.orphaned_at = None;
                legs.ending = false;
            }
            let queued = matches!(
                ci.state(),
                State::Queueing | State::Ringing | State::Retargeting
            );
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
        }
        for lost in &cc.calllost {
            let Some(call) = self.by_leg.get(&(sub, lost.callid)).copied() else {
                continue;
            };
            let was_queued = self
                .queues
                .get_mut(&sub)
                .is_some_and(|q| q.queued.remove(&lost.callid));
            self.drop_leg(sub, lost.callid, now);
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
            if let Some(legs) = self.legs.get_mut(&call) {
                legs.users.insert(sub, ci.callid);
                legs.orphaned_at = None;
                legs.ending = false;
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
            if self.drop_leg(sub, lost.callid, now) {
                if let Some(legs) = self.legs.get_mut(&leg.call) {
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

    /// A command went out: a transfer to an agent means the call is on its way to that agent's
    /// appearance (see [`TRANSFER_END_GRACE`]).
    pub fn command_sent(&mut self, command: &Command, now: Timestamp) {
        if let CommandKind::Transfer {
            call,
            target: acd_core::Target::Agent(_),
            ..
        } = &command.kind
        {
            if let Some(legs) = self.legs.get_mut(call) {
                legs.transfer_sent_at = Some(now);
            }
        }
    }

    /// Turns a core command into the wire command for the subscription that can act on it.
    pub fn command(&self, command: &Command) -> Result<Translated, CommandRefused> {
        if let CommandKind::Finish { call, .. } = &command.kind {
            let legs = self
                .legs
                .get(call)
                .ok_or(CommandRefused::UnknownCall(*call))?;
            if legs.queues.is_empty() {
                return Ok(Translated::AlreadyDone(
                    "the queue no longer reports this call",
                ));
            }
        }
        self.wire_command(command)
            .map(|w| Translated::Send(Box::new(w)))
    }

    fn wire_command(&self, command: &Command) -> Result<WireCommand, CommandRefused> {
        use pb::call_function::Action;
        let call_fn = |call: CallId, action: Action, arg1: &str| {
            // SetPriority and Finish are queue actions: they go to the queue leg even when
            // the call no longer queues there (a reporting subscription still knows it).
            let (subscribe_id, callid) = match action {
                Action::SetPriority | Action::Finish => self.route_queue_leg(call)?,
                _ => self.route_call(call)?,
            };
            Ok(WireCommand {
                subscribe_id,
                payload: pb::subscribe_cmd::Payload::Callcontrol(pb::UpdateCallControl {
                    callid,
                    callfunction: Some(pb::CallFunction {
                        action: action as i32,
                        arg1: arg1.to_string(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            })
        };
        match &command.kind {
            CommandKind::Transfer { call, dial, .. } => {
                // A call still ringing at an agent (RONA, with ephemeral queue subscriptions)
                // is moved with Redirect: IP Office offers only Drop, Answer and Redirect on a
                // ringing appearance and ignores a BlindTransfer there.
                let action = if self.ringing_at_user(*call) {
                    Action::Redirect
                } else {
                    Action::BlindTransfer
                };
                call_fn(*call, action, dial)
            }
            CommandKind::SetPriority { call, priority } => {
                call_fn(*call, Action::SetPriority, priority.arg())
            }
            CommandKind::Finish { call, report_next } => {
                call_fn(*call, Action::Finish, if *report_next { "1" } else { "" })
            }
            CommandKind::Drop { call } => call_fn(*call, Action::DropCall, ""),
            CommandKind::SetQueueMember {
                queue,
                agent,
                enabled,
            } => Ok(WireCommand {
                subscribe_id: self.route_queue(queue)?,
                payload: pb::subscribe_cmd::Payload::Queue(pb::UpdateQueue {
                    addmember: vec![pb::QueueMember {
                        extn: agent.0.clone(),
                        disabled: !enabled,
                    }],
                    ..Default::default()
                }),
            }),
            CommandKind::SetServiceMode { queue, mode } => {
                let mode = match mode {
                    ServiceMode::Active => pb::notify_queue::ServiceMode::Active,
                    ServiceMode::NightService => pb::notify_queue::ServiceMode::Ns,
                    ServiceMode::OutOfService => pb::notify_queue::ServiceMode::Oos,
                };
                Ok(WireCommand {
                    subscribe_id: self.route_queue(queue)?,
                    payload: pb::subscribe_cmd::Payload::Queue(pb::UpdateQueue {
                        setservicemode: Some(pb::SetServiceMode {
                            servicemode: mode as i32,
                        }),
                        ..Default::default()
                    }),
                })
            }
        }
    }

    /// The queue leg while the call queues, else a user leg, else a queue leg that no longer
    /// queues (a non-ephemeral queue subscription still reports it).
    fn route_call(&self, call: CallId) -> Result<(i32, i32), CommandRefused> {
        let legs = self
            .legs
            .get(&call)
            .ok_or(CommandRefused::UnknownCall(call))?;
        if let Some(leg) = self.queued_leg(legs) {
            return Ok(leg);
        }
        if let Some((sub, callid)) = legs.users.iter().next() {
            return Ok((*sub, *callid));
        }
        any_queue_leg(legs).ok_or(CommandRefused::UnknownCall(call))
    }

    /// A queue leg on which the call is queueing, the last reported first.
    fn queued_leg(&self, legs: &Legs) -> Option<(i32, i32)> {
        let queued = |sub: i32, callid: i32| {
            self.queues
                .get(&sub)
                .is_some_and(|q| q.queued.contains(&callid))
        };
        legs.last_queue
            .and_then(|sub| legs.queues.get(&sub).map(|c| (sub, *c)))
            .filter(|(sub, c)| queued(*sub, *c))
            .or_else(|| {
                legs.queues
                    .iter()
                    .map(|(s, c)| (*s, *c))
                    .find(|(s, c)| queued(*s, *c))
            })
    }

    /// Whether a command on `call` would go to a user's appearance that is ringing.
    fn ringing_at_user(&self, call: CallId) -> bool {
        match self.route_call(call) {
            Ok((sub, callid)) => self
                .users
                .get(&sub)
                .and_then(|u| u.calls.get(&callid))
                .is_some_and(|leg| leg.state == State::Ringing),
            Err(_) => false,
        }
    }

    fn route_queue_leg(&self, call: CallId) -> Result<(i32, i32), CommandRefused> {
        let legs = self
            .legs
            .get(&call)
            .ok_or(CommandRefused::UnknownCall(call))?;
        self.queued_leg(legs)
            .or_else(|| any_queue_leg(legs))
            .ok_or(CommandRefused::UnknownCall(call))
    }

    fn route_queue(&self, queue: &QueueId) -> Result<i32, CommandRefused> {
        self.queue_subscription(queue)
            .ok_or_else(|| CommandRefused::UnknownQueue(queue.clone()))
    }
}

/// The last reported queue leg, or any.
fn any_queue_leg(legs: &Legs) -> Option<(i32, i32)> {
    legs.last_queue
        .and_then(|sub| legs.queues.get(&sub).map(|c| (sub, *c)))
        .or_else(|| legs.queues.iter().next().map(|(s, c)| (*s, *c)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use acd_core::{CommandId, Priority, Target, TrunkKind};
    use pb::notify::Payload;

    const Q: i32 = 10;
    const U: i32 = 20;
    const U2: i32 = 21;

    fn callinfo(callid: i32, gcid: &[u8], state: State) -> pb::CallInfo {
        let mut ci = pb::CallInfo {
            callid,
            gcid: gcid.to_vec(),
            featuresavailable: Features::ALL_QUEUE_ACTIONS.0 as i32,
            direction: pb::call_info::Direction::Inbound as i32,
            ..Default::default()
        };
        ci.set_state(state);
        ci
    }

    fn cc(sub: i32, infos: Vec<pb::CallInfo>, lost: Vec<i32>) -> pb::Notify {
        pb::Notify {
            subscribe_id: sub,
            notify_id: 1,
            label: String::new(),
            payload: Some(Payload::Callcontrol(pb::NotifyCallControl {
                refreshinstance: 0,
                callinfo: infos,
                calllost: lost
                    .into_iter()
                    .map(|callid| pb::CallLost {
                        callid,
                        ..Default::default()
                    })
                    .collect(),
            })),
        }
    }

    fn user_notify(sub: i32, loggedoff: bool, dnd: bool) -> pb::Notify {
        pb::Notify {
            subscribe_id: sub,
            notify_id: 2,
            label: String::new(),
            payload: Some(Payload::User(pb::NotifyUser {
                extn: "201".into(),
                name: "Anna".into(),
                loggedoff,
                dnd,
                ..Default::default()
            })),
        }
    }

    fn setup() -> (Translator, Timestamp) {
        let mut t = Translator::new();
        t.add_queue(Q, QueueId::from("Sales"));
        t.add_user(U, AgentId::from("201"));
        t.add_user(U2, AgentId::from("202"));
        (t, Timestamp::from_millis(1_000_000))
    }

    #[test]
    fn first_queue_notify_is_the_snapshot_and_calls_keep_their_id() {
        let (mut t, now) = setup();
        let mut ci = callinfo(1, b"g1", State::Queueing);
        ci.callingparty = Some(pb::PartyInfo {
            number: "0301234".into(),
            ..Default::default()
        });
        ci.trunkinfo = Some(pb::TrunkInfo {
            trunktype: pb::trunk_info::TrunkType::TrunkSip as i32,
            did: "4930555".into(),
        });
        ci.calldata = Some(pb::CallData {
            language: "deu".into(),
            ..Default::default()
        });
        ci.queueinfo = Some(pb::QueueInfo {
            priority: 3,
            ..Default::default()
        });
        let ev = t.notify(&cc(Q, vec![ci], vec![]), now);
        assert_eq!(ev.len(), 2, "{ev:?}");
        let Event::CallQueued(qc) = &ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!(qc.call, CallId(1));
        assert_eq!(qc.attributes.calling_number, "0301234");
        assert_eq!(qc.attributes.did, "4930555");
        assert_eq!(qc.attributes.trunk, TrunkKind::Sip);
        assert_eq!(qc.attributes.language, "deu");
        assert_eq!(qc.pbx_priority, 3);
        assert!(qc.features.has(Features::BLIND_TRANSFER));
        assert!(
            matches!(&ev[1], Event::QueueSnapshotCalls { calls, .. } if calls == &vec![CallId(1)])
        );

        // A later snapshot of the same call: no second QueueSnapshotCalls, same CallId.
        let ev = t.notify(
            &cc(Q, vec![callinfo(1, b"g1", State::Ringing)], vec![]),
            now,
        );
        assert!(matches!(&ev[..], [Event::CallQueued(q)] if q.call == CallId(1)));
    }

    #[test]
    fn settle_without_calls_gives_an_empty_snapshot_once() {
        let (mut t, _) = setup();
        assert!(t.awaiting_snapshot(Q));
        let ev = t.snapshot_settled(Q);
        assert!(matches!(ev, Some(Event::QueueSnapshotCalls { calls, .. }) if calls.is_empty()));
        assert!(t.snapshot_settled(Q).is_none());
    }

    /// After a resubscription IP Office sends the user notify first and the agent's calls only
    /// after its ack. Reporting the phone idle in between ended the agent's call in the core:
    /// it started wrap-up, replayed a deferred re-queue of the answered call as a new offer, and
    /// the call snapshot that followed counted the same answer twice (dst seeds 1472, 794).
    #[test]
    fn a_resubscribed_agent_stays_on_the_call_until_the_calls_are_shown() {
        let (mut t, now) = setup();
        t.notify(&user_notify(U, false, false), now);
        t.notify(
            &cc(U, vec![callinfo(7, b"g1", State::Connected)], vec![]),
            now,
        );
        t.reset_connection(now);
        t.add_user(30, AgentId::from("201"));
        assert!(t.awaiting_snapshot(30));
        let ev = t.notify(&user_notify(30, false, false), now);
        assert!(
            !ev.iter()
                .any(|e| matches!(e, Event::AgentChanged(s) if s.phone != PhoneState::OnCall)),
            "{ev:?}"
        );
        let ev = t.notify(
            &cc(30, vec![callinfo(3, b"g1", State::Connected)], vec![]),
            now,
        );
        assert!(!t.awaiting_snapshot(30));
        assert!(
            !ev.iter().any(|e| matches!(e, Event::AgentChanged(_))),
            "{ev:?}"
        );
    }

    /// A resubscribed agent whose call ended while unobserved: the settle time without any call
    /// notify shows the phone idle.
    #[test]
    fn a_resubscribed_agent_without_calls_is_idle_after_the_settle_time() {
        let (mut t, now) = setup();
        t.notify(&user_notify(U, false, false), now);
        t.notify(
            &cc(U, vec![callinfo(7, b"g1", State::Connected)], vec![]),
            now,
        );
        t.reset_connection(now);
        t.add_user(30, AgentId::from("201"));
        t.notify(&user_notify(30, false, false), now);
        let ev = t.snapshot_settled(30);
        assert!(
            matches!(&ev, Some(Event::AgentChanged(s)) if s.phone == PhoneState::Idle),
            "{ev:?}"
        );
        assert!(t.snapshot_settled(30).is_none());
    }

    #[test]
    fn queue_call_answered_by_agent_then_ended() {
        let (mut t, now) = setup();
        t.notify(
            &cc(Q, vec![callinfo(1, b"g1", State::Queueing)], vec![]),
            now,
        );
        t.notify(&user_notify(U, false, false), now);
        let ev = t.notify(
            &cc(U, vec![callinfo(7, b"g1", State::Ringing)], vec![]),
            now,
        );
        assert!(
            matches!(&ev[0], Event::CallRinging { call: CallId(1), agent } if agent.0 == "201")
        );
        assert!(
            matches!(&ev[1], Event::AgentChanged(s) if s.phone == PhoneState::Ringing),
            "{ev:?}"
        );
        // Ephemeral queue drops the call once answered.
        let ev = t.notify(&cc(Q, vec![], vec![1]), now);
        assert!(
            matches!(
                &ev[..],
                [Event::CallLeftQueue {
                    call: CallId(1),
                    ..
                }]
            ),
            "{ev:?}"
        );
        let ev = t.notify(
            &cc(U, vec![callinfo(7, b"g1", State::Connected)], vec![]),
            now,
        );
        assert!(matches!(
            &ev[0],
            Event::CallAnswered {
                call: CallId(1),
                ..
            }
        ));
        assert!(matches!(&ev[1], Event::AgentChanged(s) if s.phone == PhoneState::OnCall));
        // Hold and unhold: answered only once.
        t.notify(&cc(U, vec![callinfo(7, b"g1", State::Onhold)], vec![]), now);
        let ev = t.notify(
            &cc(U, vec![callinfo(7, b"g1", State::Connected)], vec![]),
            now,
        );
        assert!(!ev.iter().any(|e| matches!(e, Event::CallAnswered { .. })));
        let ev = t.notify(&cc(U, vec![], vec![7]), now);
        assert!(matches!(&ev[0], Event::AgentChanged(s) if s.phone == PhoneState::Idle));
        // Ended once it has not turned up anywhere else for the grace period.
        assert_eq!(t.next_ending(), Some(now + END_GRACE));
        assert!(t.due_endings(now + END_GRACE / 2).is_empty());
        let ev = t.due_endings(now + END_GRACE);
        assert!(matches!(&ev[..], [Event::CallEnded { call: CallId(1) }]));
        assert_eq!(t.next_ending(), None);
        // The call is forgotten: the same gcid later is a new call.
        let ev = t.notify(
            &cc(Q, vec![callinfo(2, b"g1", State::Queueing)], vec![]),
            now,
        );
        assert!(matches!(&ev[0], Event::CallQueued(q) if q.call == CallId(2)));
    }

    #[test]
    fn call_ringing_two_agents_ends_only_when_the_last_leg_goes() {
        let (mut t, now) = setup();
        t.notify(&cc(U, vec![callinfo(1, b"g", State::Ringing)], vec![]), now);
        t.notify(
            &cc(U2, vec![callinfo(5, b"g", State::Ringing)], vec![]),
            now,
        );
        let ev = t.notify(&cc(U, vec![], vec![1]), now);
        assert!(!ev.iter().any(|e| matches!(e, Event::CallEnded { .. })));
        assert!(t.due_endings(now + END_GRACE).is_empty());
        t.notify(&cc(U2, vec![], vec![5]), now);
        let ev = t.due_endings(now + END_GRACE);
        assert!(matches!(&ev[..], [Event::CallEnded { call: CallId(1) }]));
    }

    #[test]
    fn a_call_ringing_at_an_agent_is_moved_with_redirect() {
        let (mut t, now) = setup();
        t.notify(&cc(U, vec![callinfo(1, b"g", State::Ringing)], vec![]), now);
        let transfer = |id| Command {
            id: CommandId(id),
            kind: CommandKind::Transfer {
                call: CallId(1),
                target: Target::Queue(QueueId::from("Sales")),
                dial: "3001".into(),
            },
        };
        let w = t.command(&transfer(1)).unwrap().sent();
        assert_eq!(w.subscribe_id, U);
        let pb::subscribe_cmd::Payload::Callcontrol(ucc) = &w.payload else {
            panic!()
        };
        let f = ucc.callfunction.as_ref().unwrap();
        assert_eq!((f.action, f.arg1.as_str()), (6, "3001"));
        // Once connected, a transfer is a BlindTransfer again.
        t.notify(
            &cc(U, vec![callinfo(1, b"g", State::Connected)], vec![]),
            now,
        );
        let w = t.command(&transfer(2)).unwrap().sent();
        let pb::subscribe_cmd::Payload::Callcontrol(ucc) = &w.payload else {
            panic!()
        };
        assert_eq!(ucc.callfunction.as_ref().unwrap().action, 5);
    }

    #[test]
    fn a_call_sent_back_to_the_queue_is_not_ended_in_between() {
        let (mut t, now) = setup();
        t.notify(&cc(U, vec![callinfo(1, b"g", State::Ringing)], vec![]), now);
        // RONA: the agent's leg goes before the queue reports the call again.
        t.notify(&cc(U, vec![], vec![1]), now);
        let ev = t.notify(
            &cc(Q, vec![callinfo(4, b"g", State::Queueing)], vec![]),
            now + Duration::from_millis(300),
        );
        assert!(matches!(&ev[0], Event::CallQueued(q) if q.call == CallId(1)));
        assert!(t.due_endings(now + END_GRACE * 10).is_empty());
    }

    #[test]
    fn presence_comes_from_the_user_notify() {
        let (mut t, now) = setup();
        // Calls before the user notify: no AgentChanged yet.
        let ev = t.notify(
            &cc(U, vec![callinfo(1, b"g", State::Connected)], vec![]),
            now,
        );
        assert!(!ev.iter().any(|e| matches!(e, Event::AgentChanged(_))));
        let ev = t.notify(&user_notify(U, true, true), now);
        let [Event::AgentChanged(s)] = &ev[..] else {
            panic!("{ev:?}")
        };
        assert_eq!(
            s.presence,
            Presence {
                logged_in: false,
                dnd: true,
                phone_fault: false
            }
        );
        assert_eq!(s.phone, PhoneState::OnCall);
        assert_eq!(s.name, "Anna");
        // Same snapshot again: nothing new.
        assert!(t.notify(&user_notify(U, true, true), now).is_empty());
    }

    #[test]
    fn queue_notify_gives_members_and_service_mode() {
        let (mut t, now) = setup();
        let n = pb::Notify {
            subscribe_id: Q,
            notify_id: 0,
            label: String::new(),
            payload: Some(Payload::Queue(pb::NotifyQueue {
                extn: "300".into(),
                servicemode: pb::notify_queue::ServiceMode::Ns as i32,
                queuemembers: Some(pb::QueueMembers {
                    member: vec![
                        pb::QueueMember {
                            extn: "201".into(),
                            disabled: false,
                        },
                        pb::QueueMember {
                            extn: "202".into(),
                            disabled: true,
                        },
                    ],
                }),
                ..Default::default()
            })),
        };
        let ev = t.notify(&n, now);
        let [Event::QueueChanged(s)] = &ev[..] else {
            panic!("{ev:?}")
        };
        assert_eq!(s.queue.0, "Sales");
        assert_eq!(s.extension, "300");
        assert_eq!(s.service_mode, QueueServiceMode::NightService);
        assert_eq!(s.members[1].agent.0, "202");
        assert!(!s.members[1].enabled);
    }

    #[test]
    fn unknown_subscriptions_and_empty_payloads_are_ignored() {
        let (mut t, now) = setup();
        assert!(t
            .notify(
                &cc(99, vec![callinfo(1, b"g", State::Queueing)], vec![]),
                now
            )
            .is_empty());
        let empty = pb::Notify {
            subscribe_id: Q,
            ..Default::default()
        };
        assert!(t.notify(&empty, now).is_empty());
        // A user payload on a queue subscription is not the queue's.
        assert!(t.notify(&user_notify(Q, false, false), now).is_empty());
    }

    #[test]
    fn commands_go_to_the_queue_while_queueing_then_to_the_user() {
        let (mut t, now) = setup();
        t.notify(
            &cc(Q, vec![callinfo(4, b"g", State::Queueing)], vec![]),
            now,
        );
        let cmd = |kind| Command {
            id: CommandId(1),
            kind,
        };
        let transfer = cmd(CommandKind::Transfer {
            call: CallId(1),
            target: Target::Agent(AgentId::from("201")),
            dial: "201".into(),
        });
        let w = t.command(&transfer).unwrap().sent();
        assert_eq!(w.subscribe_id, Q);
        let pb::subscribe_cmd::Payload::Callcontrol(ucc) = &w.payload else {
            panic!()
        };
        assert_eq!(ucc.callid, 4);
        let f = ucc.callfunction.as_ref().unwrap();
        assert_eq!((f.action, f.arg1.as_str()), (5, "201"));

        let w = t
            .command(&cmd(CommandKind::SetPriority {
                call: CallId(1),
                priority: Priority::High,
            }))
            .unwrap()
            .sent();
        let pb::subscribe_cmd::Payload::Callcontrol(ucc) = &w.payload else {
            panic!()
        };
        assert_eq!(ucc.callfunction.as_ref().unwrap().action, 34);
        assert_eq!(ucc.callfunction.as_ref().unwrap().arg1, "3");

        let w = t
            .command(&cmd(CommandKind::Finish {
                call: CallId(1),
                report_next: true,
            }))
            .unwrap()
            .sent();
        let pb::subscribe_cmd::Payload::Callcontrol(ucc) = &w.payload else {
            panic!()
        };
        assert_eq!(ucc.callfunction.as_ref().unwrap().action, 35);
        assert_eq!(ucc.callfunction.as_ref().unwrap().arg1, "1");

        // Answered: the queue drops it, the user holds it.
        t.notify(
            &cc(U, vec![callinfo(9, b"g", State::Connected)], vec![]),
            now,
        );
        t.notify(&cc(Q, vec![], vec![4]), now);
        let w = t
            .command(&cmd(CommandKind::Drop { call: CallId(1) }))
            .unwrap()
            .sent();
        assert_eq!(w.subscribe_id, U);
        let pb::subscribe_cmd::Payload::Callcontrol(ucc) = &w.payload else {
            panic!()
        };
        assert_eq!(
            (ucc.callid, ucc.callfunction.as_ref().unwrap().action),
            (9, 1)
        );

        // The queue no longer reports the call: Finish has nothing left to do, and SetPriority
        // (a queue action) has nowhere to go.
        assert_eq!(
            t.command(&cmd(CommandKind::Finish {
                call: CallId(1),
                report_next: false,
            }))
            .unwrap(),
            Translated::AlreadyDone("the queue no longer reports this call")
        );
        let err = t
            .command(&cmd(CommandKind::SetPriority {
                call: CallId(1),
                priority: Priority::High,
            }))
            .unwrap_err();
        assert_eq!(err.result_code(), ResultCode::CallControlCallNotFound);

        let err = t
            .command(&cmd(CommandKind::Drop { call: CallId(77) }))
            .unwrap_err();
        assert_eq!(err.result_code(), ResultCode::CallControlCallNotFound);
    }

    #[test]
    fn queue_commands() {
        let (t, _) = setup();
        let w = t
            .command(&Command {
                id: CommandId(1),
                kind: CommandKind::SetQueueMember {
                    queue: QueueId::from("Sales"),
                    agent: AgentId::from("201"),
                    enabled: false,
                },
            })
            .unwrap()
            .sent();
        assert_eq!(w.subscribe_id, Q);
        let pb::subscribe_cmd::Payload::Queue(uq) = &w.payload else {
            panic!()
        };
        assert_eq!(
            uq.addmember,
            vec![pb::QueueMember {
                extn: "201".into(),
                disabled: true
            }]
        );
        let w = t
            .command(&Command {
                id: CommandId(2),
                kind: CommandKind::SetServiceMode {
                    queue: QueueId::from("Sales"),
                    mode: ServiceMode::OutOfService,
                },
            })
            .unwrap()
            .sent();
        let pb::subscribe_cmd::Payload::Queue(uq) = &w.payload else {
            panic!()
        };
        assert_eq!(uq.setservicemode.as_ref().unwrap().servicemode, 3);
        let err = t
            .command(&Command {
                id: CommandId(3),
                kind: CommandKind::SetServiceMode {
                    queue: QueueId::from("Nope"),
                    mode: ServiceMode::Active,
                },
            })
            .unwrap_err();
        assert_eq!(err, CommandRefused::UnknownQueue(QueueId::from("Nope")));
    }

    #[test]
    fn reconnect_keeps_call_ids_within_the_grace_period_only() {
        let (mut t, now) = setup();
        t.notify(
            &cc(Q, vec![callinfo(1, b"g", State::Queueing)], vec![]),
            now,
        );
        t.reset_connection(now);
        t.add_queue(Q + 100, QueueId::from("Sales"));
        let ev = t.notify(
            &cc(Q + 100, vec![callinfo(3, b"g", State::Queueing)], vec![]),
            now + Duration::from_secs(5),
        );
        assert!(matches!(&ev[0], Event::CallQueued(q) if q.call == CallId(1)));
        t.reset_connection(now);
        t.add_queue(Q + 200, QueueId::from("Sales"));
        // Not seen again within the grace period: reported ended and forgotten.
        let ev = t.due_endings(now + ORPHAN_GRACE + Duration::from_secs(10));
        assert!(matches!(&ev[..], [Event::CallEnded { call: CallId(1) }]));
        let ev = t.notify(
            &cc(Q + 200, vec![], vec![]),
            now + ORPHAN_GRACE + Duration::from_secs(10),
        );
        assert!(matches!(&ev[0], Event::QueueSnapshotCalls { calls, .. } if calls.is_empty()));
        let ev = t.notify(
            &cc(Q + 200, vec![callinfo(3, b"g", State::Queueing)], vec![]),
            now + ORPHAN_GRACE + Duration::from_secs(11),
        );
        assert!(matches!(&ev[0], Event::CallQueued(q) if q.call == CallId(2)));
    }

    /// After a move from Sales to Support, a late Sales report and then Sales dropping the
    /// call must not leave it "reported nowhere" (it would be ended after the orphan grace
    /// while it waits in Support): dst seed 18.
    #[test]
    fn a_call_reported_by_two_queues_lives_while_either_reports_it() {
        let (mut t, now) = setup();
        const S: i32 = 11;
        t.add_queue(S, QueueId::from("Support"));
        t.notify(
            &cc(Q, vec![callinfo(1, b"g", State::Queueing)], vec![]),
            now,
        );
        t.notify(
            &cc(S, vec![callinfo(7, b"g", State::Queueing)], vec![]),
            now,
        );
        t.notify(
            &cc(Q, vec![callinfo(1, b"g", State::Queueing)], vec![]),
            now,
        );
        t.notify(&cc(Q, vec![], vec![1]), now);
        assert!(t.due_endings(now + ORPHAN_GRACE * 2).is_empty());
        let cmd = Command {
            id: acd_core::CommandId(1),
            kind: CommandKind::SetPriority {
                call: CallId(1),
                priority: acd_core::Priority::High,
            },
        };
        assert_eq!(t.command(&cmd).unwrap().sent().subscribe_id, S);
    }
}
