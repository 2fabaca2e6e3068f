//! What the core hears: everything the PBX reports, translated into the core's own terms, plus
//! command results, rule changes and timer ticks.

use crate::command::CommandId;
use crate::config::RoutingConfig;
use crate::ids::{AgentId, CallId, QueueId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Bits of IP Office's `featuresavailable` for a call: an action is only possible when its bit
/// is set, and IP Office silently ignores actions that are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Features(pub u32);

impl Features {
    pub const DROP: u32 = 1 << 0;
    pub const BLIND_TRANSFER: u32 = 1 << 4;
    /// Moves a call that is ringing at a user (the wire layer's concern; listed for the
    /// simulator and the wire layer to share one definition).
    pub const REDIRECT: u32 = 1 << 5;
    pub const SET_PRIORITY: u32 = 1 << 29;
    pub const FINISH: u32 = 1 << 30;
    pub const ALL_QUEUE_ACTIONS: Features =
        Features(Self::DROP | Self::BLIND_TRANSFER | Self::SET_PRIORITY | Self::FINISH);

    pub fn has(self, bit: u32) -> bool {
        self.0 & bit == bit
    }
}

/// The trunk a call came in on, as IP Office reports it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum TrunkKind {
    #[default]
    None,
    Sip,
    Isdn,
    H323,
    T1,
    R2,
    Analog,
}

impl TrunkKind {
    /// Every kind, in the order of [`TrunkKind::NAMES`].
    pub const ALL: [TrunkKind; 7] = [
        TrunkKind::Sip,
        TrunkKind::Isdn,
        TrunkKind::H323,
        TrunkKind::T1,
        TrunkKind::R2,
        TrunkKind::Analog,
        TrunkKind::None,
    ];
    /// The names rule files, scenario files and `rules explain` write, in one place so every
    /// reader accepts exactly the same words.
    pub const NAMES: [&'static str; 7] = ["sip", "isdn", "h323", "t1", "r2", "analog", "none"];

    /// The kind's name as rule and scenario files write it.
    pub fn name(self) -> &'static str {
        match self {
            TrunkKind::Sip => "sip",
            TrunkKind::Isdn => "isdn",
            TrunkKind::H323 => "h323",
            TrunkKind::T1 => "t1",
            TrunkKind::R2 => "r2",
            TrunkKind::Analog => "analog",
            TrunkKind::None => "none",
        }
    }

    /// The kind named `name` (any case), if it is one of [`TrunkKind::NAMES`].
    pub fn from_name(name: &str) -> Option<TrunkKind> {
        TrunkKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }
}

/// The attributes of a call that routes can match on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CallAttributes {
    /// Calling party number (CLI); empty when withheld.
    pub calling_number: String,
    /// The dialled number (DID) the call arrived on.
    pub did: String,
    pub trunk: TrunkKind,
    /// Language code from IP Office's call data (for example `eng`, `deu`).
    pub language: String,
    pub tag: String,
}

/// A call waiting in a queue, as reported by a queue subscription: a complete snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedCall {
    pub call: CallId,
    pub queue: QueueId,
    pub attributes: CallAttributes,
    pub features: Features,
    /// IP Office's own queue priority, 1 (low) to 3 (high).
    pub pbx_priority: u8,
}

/// How an agent's phone looks from IP Office, derived from the user's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum PhoneState {
    #[default]
    Idle,
    Ringing,
    OnCall,
    /// IP Office's own after-call-work state on the user.
    AfterCallWork,
}

/// Whether the user can take calls at all, from the user notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Presence {
    pub logged_in: bool,
    pub dnd: bool,
    /// `extnfault`: the user has no working phone.
    pub phone_fault: bool,
    /// `fwdu`: forward unconditional is on, so a call the engine transfers to the user's
    /// extension goes to the forward destination instead (and hunt-group calls either skip
    /// the user or, with `fwdhg`, follow the forward too): the user takes no queue calls.
    #[serde(default)]
    pub forwarded: bool,
}

/// The full PBX-side state of one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSnapshot {
    pub agent: AgentId,
    pub name: String,
    pub presence: Presence,
    pub phone: PhoneState,
}

/// Whether a hunt group is answering, in night service or out of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum QueueServiceMode {
    #[default]
    Active,
    NightService,
    OutOfService,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMember {
    pub agent: AgentId,
    pub enabled: bool,
}

/// The PBX-side configuration of one queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSnapshot {
    pub queue: QueueId,
    pub extension: String,
    pub members: Vec<QueueMember>,
    pub service_mode: QueueServiceMode,
}

/// The outcome of a command, as IP Office's RequestResponse reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandOutcome {
    Success,
    /// An IP Office result code (see the wire layer's `ResultCode` for names), or a timeout
    /// reported by the wire layer as 5001 (REQUESTTIMEOUT).
    Failed(u32),
    /// This engine did not send the command: it is not the leader of its twin (or was not
    /// sure its lease still held). Nothing happened at IP Office because of it; the notify
    /// stream is the truth (the leader may have routed the call meanwhile). Given only at a
    /// deadline or when the engine takes the lead, never at once.
    NotSent,
}

#[derive(Debug, Clone)]
pub enum Event {
    /// A call appeared in a queue or its snapshot changed (priority, features, attributes).
    CallQueued(QueuedCall),
    /// The queue subscription stopped reporting the call: it left the queue (answered natively,
    /// transferred, abandoned). The core works out which from its own state.
    CallLeftQueue {
        call: CallId,
        queue: QueueId,
    },
    /// An agent's phone is ringing with this call.
    CallRinging {
        call: CallId,
        agent: AgentId,
    },
    /// An agent answered this call.
    CallAnswered {
        call: CallId,
        agent: AgentId,
    },
    /// The call is gone from the PBX entirely (caller hung up or call cleared).
    CallEnded {
        call: CallId,
    },
    /// The first snapshot of a queue after (re)subscribing: the calls listed are the truth,
    /// any other call the core held for this queue is gone.
    QueueSnapshotCalls {
        queue: QueueId,
        calls: Vec<CallId>,
        /// The system whose queue this is: its snapshot says nothing of the other system's
        /// calls in the same-named queue.
        site: crate::ids::Site,
    },
    AgentChanged(AgentSnapshot),
    AgentRemoved(AgentId),
    QueueChanged(QueueSnapshot),
    QueueRemoved(QueueId),
    CommandResult {
        id: CommandId,
        outcome: CommandOutcome,
    },
    RulesChanged(Arc<RoutingConfig>),
    /// The engine's wake-up time has come (or any periodic tick): run timed steps.
    Tick,
    /// The link to this IP Office was lost, or (re)established and every subscription starts
    /// over. What the core believes about the calls queueing there is stale until their queues
    /// report them again: until then it does not offer them, and a call it believed ringing at an agent
    /// that its queue reports queued again did not reach the agent. Calls of the other system
    /// of a resilient pair are not affected (their link did not restart).
    LinkRestarted(crate::ids::Site),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunk_names_round_trip_in_any_case_and_nothing_else_is_a_trunk() {
        for (kind, name) in TrunkKind::ALL.into_iter().zip(TrunkKind::NAMES) {
            assert_eq!(kind.name(), name);
            assert_eq!(TrunkKind::from_name(&name.to_uppercase()), Some(kind));
        }
        assert_eq!(TrunkKind::from_name(""), None);
        assert_eq!(TrunkKind::from_name("alog"), None);
    }
}
