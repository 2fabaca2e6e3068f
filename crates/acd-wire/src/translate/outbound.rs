//! Core commands in, wire commands out: which subscription can act on the call now (the queue
//! leg while it queues, the ringing user leg once offered), the payload, and why a command
//! cannot be sent, reported to the core as a failed result instead of being dropped.

use super::{Legs, Translator};
use crate::pb;
use crate::pb::call_info::State;
use crate::result_code::ResultCode;
use acd_core::{CallId, Command, CommandKind, QueueId, ServiceMode, Timestamp};

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
    pub(super) fn sent(self) -> WireCommand {
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
    /// IP Office last showed the call connected to a followed agent: a transfer would take the
    /// caller from the agent talking to them (a ring timer that fired while the engine could
    /// not see the answer, a late view).
    #[error("{0} is connected to agent {1}; it is not moved from a talking agent")]
    Answered(CallId, acd_core::AgentId),
}

impl CommandRefused {
    pub fn result_code(&self) -> ResultCode {
        match self {
            CommandRefused::UnknownCall(_) => ResultCode::CallControlCallNotFound,
            CommandRefused::UnknownQueue(_) => ResultCode::RequestInvalidContext,
            CommandRefused::Answered(..) => ResultCode::CallControlTransferFailed,
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

impl Translator {
    /// A command went out: a transfer to an agent means the call is on its way to that agent's
    /// appearance (see [`TRANSFER_END_GRACE`]).
    pub fn command_sent(&mut self, command: &Command, now: Timestamp) {
        if let CommandKind::Transfer {
            call,
            target: acd_core::Target::Agent(agent),
            ..
        } = &command.kind
        {
            if let Some(mut legs) = self.legs.get_mut(call) {
                legs.transfer_sent_at = Some(now);
                legs.transfer_to = Some(agent.clone());
                legs.transfer_arrived = false;
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

    /// The followed agent IP Office last showed `call` connected to, by the agent's own
    /// subscription or by a reporting queue that follows the call.
    fn connected_to(&self, call: CallId) -> Option<acd_core::AgentId> {
        let legs = self.legs.get(&call)?;
        let on_a_phone = legs.users.iter().find_map(|(sub, callid)| {
            let user = self.users.get(sub)?;
            let leg = user.calls.get(callid)?;
            (leg.state == State::Connected).then(|| user.agent.clone())
        });
        on_a_phone.or_else(|| legs.connected_to.clone())
    }

    fn wire_command(&self, command: &Command) -> Result<WireCommand, CommandRefused> {
        if let CommandKind::Transfer { call, .. } = &command.kind {
            if let Some(agent) = self.connected_to(*call) {
                return Err(CommandRefused::Answered(*call, agent));
            }
        }
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
