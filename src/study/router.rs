//! The routing core behind the virtual-time driver's [`Router`] trait.
//!
//! The study has to measure the engine as it runs in production, so this adapter turns the
//! model's complete snapshots into exactly the events the wire layer's translator produces
//! from MT-CTI3 notifies (queue subscriptions with the ephemeral flag, one subscription per
//! user), and the engine's commands into the actions the translator would send, on the view
//! (queue or user leg) the translator would pick. Anything the translator would refuse is
//! refused here too and reported back to the engine as a failed command.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use acd_core::{
    AgentId, AgentSnapshot, CallId, Command, CommandId, CommandKind, CommandOutcome, Engine, Event,
    Presence, QueueId, QueueMember, QueueServiceMode, QueuedCall, RoutingConfig, ServiceMode,
    Timestamp,
};

use crate::sim::driver::{Router, RouterAction, RouterInput};
use crate::sim::model::types::{CallPhase, CallSnapshot, QueueSnapshot, UserSnapshot};
use crate::sim::model::{ModelAction, ModelNotification, ResultCode, SimCallId, View};

/// What the translator knows about one call: where it is reported as queueing, and on which
/// users' subscriptions it appears (with whether that user's leg has been seen answered).
#[derive(Debug, Default)]
struct CallLegs {
    queued_in: Option<String>,
    users: BTreeMap<String, UserLeg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UserLeg {
    ringing: bool,
    answered: bool,
}

/// Counts of what went through the adapter, for the study's report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterCounters {
    pub events: u64,
    pub commands: u64,
    /// Commands the model answered with a failure code.
    pub commands_failed: u64,
    /// Commands for a call the PBX no longer has (the translator refuses these as an unknown
    /// call): the engine acting on a call it should know is gone.
    pub commands_for_gone_calls: u64,
    /// Commands the adapter could not place for any other reason: an adapter bug.
    pub commands_refused: u64,
}

/// [`acd_core::Engine`] as a [`Router`].
pub struct EngineRouter {
    engine: Engine,
    /// Queues the daemon would subscribe to: those the rules route.
    routed: BTreeSet<String>,
    calls: HashMap<SimCallId, CallLegs>,
    /// Calls the PBX has cleared, to tell a command for a gone call from an adapter bug.
    gone: HashSet<SimCallId>,
    /// Router action id (the engine's command id) → the engine's command id.
    in_flight: HashMap<u64, CommandId>,
    counters: RouterCounters,
}

impl EngineRouter {
    pub fn new(config: Arc<RoutingConfig>) -> EngineRouter {
        let routed = config.queues.keys().map(|q| q.0.clone()).collect();
        EngineRouter {
            engine: Engine::new(config),
            routed,
            calls: HashMap::new(),
            gone: HashSet::new(),
            in_flight: HashMap::new(),
            counters: RouterCounters::default(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn counters(&self) -> RouterCounters {
        self.counters
    }

    /// Translates one model notification into translator events.
    fn events_for(&mut self, n: ModelNotification, events: &mut Vec<Event>) {
        match n {
            ModelNotification::User(u) => events.push(Event::AgentChanged(agent_snapshot(&u))),
            ModelNotification::UserDeleted { extn } => {
                events.push(Event::AgentRemoved(AgentId(extn)))
            }
            ModelNotification::Queue(q) => {
                if self.routed.contains(&q.name) {
                    events.push(Event::QueueChanged(queue_snapshot(&q)));
                }
            }
            ModelNotification::QueueDeleted { name } => {
                if self.routed.contains(&name) {
                    events.push(Event::QueueRemoved(QueueId(name)));
                }
            }
            ModelNotification::Call(c) => self.call_events(&c, events),
            ModelNotification::CallGone { call } => {
                self.gone.insert(call);
                let Some(legs) = self.calls.remove(&call) else {
                    return;
                };
                if let Some(q) = legs.queued_in {
                    events.push(Event::CallLeftQueue {
                        call: CallId(call),
                        queue: QueueId(q),
                    });
                }
                if !legs.users.is_empty() {
                    events.push(Event::CallEnded { call: CallId(call) });
                }
            }
        }
    }

    fn call_events(&mut self, c: &CallSnapshot, events: &mut Vec<Event>) {
        let id = CallId(c.call);
        let legs = self.calls.entry(c.call).or_default();

        // Queue side: an ephemeral queue subscription shows the call while it queues or rings
        // from the queue.
        let queueing = matches!(c.phase, CallPhase::Queued | CallPhase::Ringing);
        let now_in = c
            .queue
            .clone()
            .filter(|q| queueing && self.routed.contains(q));
        if legs.queued_in.is_some() && legs.queued_in != now_in {
            if let Some(q) = legs.queued_in.take() {
                events.push(Event::CallLeftQueue {
                    call: id,
                    queue: QueueId(q),
                });
            }
        }
        if let Some(q) = &now_in {
            events.push(Event::CallQueued(QueuedCall {
                call: id,
                queue: QueueId(q.clone()),
                attributes: c.attributes.clone(),
                features: c.queue_features,
                pbx_priority: c.priority.clamp(1, 3),
            }));
        }
        legs.queued_in = now_in;

        // User side: a ringing appearance for each ringing user, a connected (or after-call)
        // one for the agent.
        let mut now_users: BTreeMap<String, bool> = BTreeMap::new();
        match c.phase {
            CallPhase::Ringing => {
                for u in &c.ringing {
                    now_users.insert(u.clone(), true);
                }
            }
            CallPhase::Connected | CallPhase::AfterCall => {
                if let Some(a) = &c.agent {
                    now_users.insert(a.clone(), false);
                }
            }
            CallPhase::Queued | CallPhase::Voicemail => {}
        }
        let had_users = !legs.users.is_empty();
        legs.users.retain(|u, _| now_users.contains_key(u));
        for (user, ringing) in now_users {
            let previous = legs.users.get(&user).copied();
            let mut answered = previous.is_some_and(|p| p.answered);
            if ringing && !previous.is_some_and(|p| p.ringing) {
                events.push(Event::CallRinging {
                    call: id,
                    agent: AgentId(user.clone()),
                });
            }
            if c.phase == CallPhase::Connected && !answered {
                answered = true;
                events.push(Event::CallAnswered {
                    call: id,
                    agent: AgentId(user.clone()),
                });
            }
            legs.users.insert(user, UserLeg { ringing, answered });
        }
        // The last user leg gone while no queue reports the call: the call has ended as far
        // as the translator can tell.
        if had_users && legs.users.is_empty() && legs.queued_in.is_none() {
            events.push(Event::CallEnded { call: id });
        }
    }

    /// Feeds events to the engine and turns its commands into actions; commands the
    /// translator would refuse are answered at once as failures.
    fn run_engine(&mut self, now: Timestamp, events: Vec<Event>) -> Vec<RouterAction> {
        let mut actions = Vec::new();
        let mut queue: std::collections::VecDeque<Event> = events.into();
        while let Some(event) = queue.pop_front() {
            self.counters.events += 1;
            let output = self.engine.handle(now, event);
            for command in output.commands {
                self.counters.commands += 1;
                match self.action_for(&command) {
                    // As the wire layer does: Finish on a call its queue no longer reports
                    // has nothing left to do and succeeds.
                    Ok(None) => queue.push_back(Event::CommandResult {
                        id: command.id,
                        outcome: CommandOutcome::Success,
                    }),
                    Ok(Some(action)) => {
                        self.in_flight.insert(command.id.0, command.id);
                        actions.push(RouterAction {
                            id: command.id.0,
                            action,
                        });
                    }
                    Err(code) => {
                        if command_call(&command.kind).is_some_and(|c| self.gone.contains(&c.0)) {
                            self.counters.commands_for_gone_calls += 1;
                        } else {
                            self.counters.commands_refused += 1;
                        }
                        queue.push_back(Event::CommandResult {
                            id: command.id,
                            outcome: CommandOutcome::Failed(code.0.unsigned_abs()),
                        });
                    }
                }
            }
        }
        actions
    }

    /// The view the translator would send a call command on: the queue while the call queues
    /// there, else one of its users' legs.
    fn call_view(&self, call: CallId) -> Result<(SimCallId, View), ResultCode> {
        let legs = self.calls.get(&call.0).ok_or(ResultCode::CALL_NOT_FOUND)?;
        if let Some(q) = &legs.queued_in {
            return Ok((call.0, View::Queue(q.clone())));
        }
        match legs.users.keys().next() {
            Some(u) => Ok((call.0, View::User(u.clone()))),
            None => Err(ResultCode::CALL_NOT_FOUND),
        }
    }

    fn action_for(&self, command: &Command) -> Result<Option<ModelAction>, ResultCode> {
        if let CommandKind::Finish { call, .. } = &command.kind {
            let legs = self.calls.get(&call.0).ok_or(ResultCode::CALL_NOT_FOUND)?;
            if legs.queued_in.is_none() {
                return Ok(None);
            }
        }
        Ok(Some(match &command.kind {
            CommandKind::Transfer { call, dial, .. } => {
                let (call, view) = self.call_view(*call)?;
                // As the wire layer does: a call ringing at an agent moves with Redirect.
                let ringing = match &view {
                    View::User(u) => self
                        .calls
                        .get(&call)
                        .and_then(|l| l.users.get(u))
                        .is_some_and(|leg| leg.ringing),
                    View::Queue(_) => false,
                };
                if ringing {
                    ModelAction::Redirect {
                        call,
                        view,
                        target: dial.clone(),
                    }
                } else {
                    ModelAction::BlindTransfer {
                        call,
                        view,
                        target: dial.clone(),
                    }
                }
            }
            CommandKind::SetPriority { call, priority } => {
                let (call, view) = self.call_view(*call)?;
                ModelAction::SetPriority {
                    call,
                    view,
                    level: priority.arg().to_string(),
                }
            }
            CommandKind::Finish { call, report_next } => {
                let (call, view) = self.call_view(*call)?;
                ModelAction::Finish {
                    call,
                    view,
                    arg: if *report_next { "1" } else { "" }.to_string(),
                }
            }
            CommandKind::Drop { call } => {
                let (call, view) = self.call_view(*call)?;
                ModelAction::Drop { call, view }
            }
            CommandKind::SetQueueMember {
                queue,
                agent,
                enabled,
            } => {
                if !self.routed.contains(&queue.0) {
                    return Err(ResultCode::NOT_FOUND);
                }
                ModelAction::UpsertQueueMembers {
                    queue: queue.0.clone(),
                    members: vec![QueueMember {
                        agent: agent.clone(),
                        enabled: *enabled,
                    }],
                }
            }
            CommandKind::SetServiceMode { queue, mode } => {
                if !self.routed.contains(&queue.0) {
                    return Err(ResultCode::NOT_FOUND);
                }
                ModelAction::SetServiceMode {
                    queue: queue.0.clone(),
                    mode: match mode {
                        ServiceMode::Active => QueueServiceMode::Active,
                        ServiceMode::NightService => QueueServiceMode::NightService,
                        ServiceMode::OutOfService => QueueServiceMode::OutOfService,
                    },
                }
            }
        }))
    }
}

impl Router for EngineRouter {
    fn on_event(&mut self, now: Timestamp, input: RouterInput) -> Vec<RouterAction> {
        let mut events = Vec::new();
        match input {
            RouterInput::Notification(n) => self.events_for(*n, &mut events),
            RouterInput::ActionResult { id, code } => {
                if let Some(command) = self.in_flight.remove(&id) {
                    if !code.is_success() {
                        self.counters.commands_failed += 1;
                    }
                    events.push(Event::CommandResult {
                        id: command,
                        outcome: if code.is_success() {
                            CommandOutcome::Success
                        } else {
                            CommandOutcome::Failed(code.0.unsigned_abs())
                        },
                    });
                }
            }
            RouterInput::Wakeup => events.push(Event::Tick),
        }
        if events.is_empty() {
            return Vec::new();
        }
        self.run_engine(now, events)
    }

    fn next_wakeup(&self) -> Option<Timestamp> {
        self.engine.next_wakeup()
    }
}

fn agent_snapshot(u: &UserSnapshot) -> AgentSnapshot {
    AgentSnapshot {
        agent: AgentId(u.extn.clone()),
        name: u.name.clone(),
        presence: Presence {
            logged_in: u.logged_in,
            dnd: u.dnd,
            phone_fault: u.phone_fault,
        },
        phone: u.phone,
    }
}

fn queue_snapshot(q: &QueueSnapshot) -> acd_core::QueueSnapshot {
    acd_core::QueueSnapshot {
        queue: QueueId(q.name.clone()),
        extension: q.extn.clone(),
        members: q.members.clone(),
        service_mode: q.service_mode,
    }
}

fn command_call(kind: &CommandKind) -> Option<CallId> {
    match kind {
        CommandKind::Transfer { call, .. }
        | CommandKind::SetPriority { call, .. }
        | CommandKind::Finish { call, .. }
        | CommandKind::Drop { call } => Some(*call),
        CommandKind::SetQueueMember { .. } | CommandKind::SetServiceMode { .. } => None,
    }
}
