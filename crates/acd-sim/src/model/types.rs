//! The model's vocabulary: what it tells its adapters (notifications with complete snapshots,
//! as IP Office does), what they can ask of it (actions); IP Office's result codes are the protocol crate's.
//!
//! Deliberately protocol-agnostic: the protocol server renders these as MT-CTI3 messages and
//! the virtual-time driver hands them to a router (the routing core) directly.

use acd_core::{CallAttributes, Features, PhoneState, QueueMember, QueueServiceMode, Timestamp};
use serde::{Deserialize, Serialize};

/// The model's own identity for a call: stable for the call's whole life. Per-subscription
/// callids are the protocol server's business.
pub type SimCallId = u64;

pub use acd_wire::result_code::ResultCode;

/// `featuresavailable` as IP Office sets it on a queue's view of a call, per state. The values
/// follow the guide's example (0x6060E0B1 for a queueing call: drop, blind transfer, redirect,
/// park, tag, account code, force clear, auth code, priority, finish).
pub mod features {
    pub const QUEUE_WAITING: u32 = 0x6060_E0B1;
    /// Answered: no SetPriority, no Redirect.
    pub const QUEUE_CONNECTED: u32 = 0x4060_6091;
    /// With voicemail: drop, tag, force clear, finish.
    pub const QUEUE_VOICEMAIL: u32 = 0x4020_2001;
    /// A user's ringing call: drop, answer, redirect (the guide's 0x23).
    pub const USER_RINGING: u32 = 0x23;
    /// A user's connected call: drop, hold, blind transfer, park, setup transfer, tag,
    /// account code, generate digits.
    pub const USER_CONNECTED: u32 = 0x0002_6195;
    /// Nothing can be done to an after-call-work appearance.
    pub const USER_AFTER_CALL: u32 = 0;
    /// `NotifyUser.featuresavailable`: VALID plus every user-level feature but DFOI.
    pub const USER_CONFIG: u32 = 0x2FF;
}

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CallPhase {
    /// Waiting in a queue, no phone ringing.
    Queued,
    /// Ringing one or more users (from a hunt group or a direct transfer).
    Ringing,
    /// Talking to an agent.
    Connected,
    /// Leaving a voicemail message.
    Voicemail,
    /// The caller is gone; the agent is in after-call work for it.
    AfterCall,
}

/// Which side an action comes from: a queue subscription or a user subscription. It decides
/// the `featuresavailable` the action is checked against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum View {
    Queue(String),
    User(String),
}

/// A complete snapshot of one call, model-level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSnapshot {
    pub call: SimCallId,
    pub attributes: CallAttributes,
    pub phase: CallPhase,
    /// The queue the call is currently in (waiting or ringing from it).
    pub queue: Option<String>,
    /// The queue the call is reported on (non-ephemeral), until Finish.
    pub report_queue: Option<String>,
    pub ringing: Vec<String>,
    /// The connected agent (or the agent in after-call work).
    pub agent: Option<String>,
    pub priority: u8,
    /// `featuresavailable` on the queue view in this state.
    pub queue_features: Features,
    pub arrived_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSnapshot {
    pub extn: String,
    pub name: String,
    pub logged_in: bool,
    pub dnd: bool,
    /// Forward unconditional is on.
    #[serde(default)]
    pub forwarded: bool,
    pub phone_fault: bool,
    pub phone: PhoneState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSnapshot {
    pub name: String,
    pub extn: String,
    pub members: Vec<QueueMember>,
    pub service_mode: QueueServiceMode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModelNotification {
    Call(CallSnapshot),
    /// The call is gone from the PBX.
    CallGone {
        call: SimCallId,
    },
    User(UserSnapshot),
    UserDeleted {
        extn: String,
    },
    Queue(QueueSnapshot),
    QueueDeleted {
        name: String,
    },
}

/// What an adapter may ask the model to do: the MT-CTI3 commands an ACD uses, with arguments
/// as strings where IP Office validates them (so the model answers 608 like IP Office would).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModelAction {
    /// `BlindTransfer` with `arg1 = target`: an extension or `/TYPE/destination`.
    BlindTransfer {
        call: SimCallId,
        view: View,
        target: String,
    },
    /// `Redirect` with `arg1 = target`: moves a call ringing at a user (same targets as
    /// `BlindTransfer`, but allowed by the Redirect bit, which ringing appearances carry).
    Redirect {
        call: SimCallId,
        view: View,
        target: String,
    },
    /// `SetPriority` with `arg1 = level` ("1", "2" or "3").
    SetPriority {
        call: SimCallId,
        view: View,
        level: String,
    },
    /// `Finish`; `arg` is "" or "1".
    Finish {
        call: SimCallId,
        view: View,
        arg: String,
    },
    Drop {
        call: SimCallId,
        view: View,
    },
    /// `AnswerCall` on a user's ringing call.
    Answer {
        call: SimCallId,
        user: String,
    },
    /// `UpdateQueue.members`: replaces the whole member list.
    SetQueueMembers {
        queue: String,
        members: Vec<QueueMember>,
    },
    /// `UpdateQueue.addmember`: adds, or updates the disabled flag of, members.
    UpsertQueueMembers {
        queue: String,
        members: Vec<QueueMember>,
    },
    /// `UpdateQueue.deletemember`.
    RemoveQueueMembers {
        queue: String,
        extns: Vec<String>,
    },
    SetServiceMode {
        queue: String,
        mode: QueueServiceMode,
    },
    SetDnd {
        user: String,
        on: bool,
    },
    /// `UpdateUser.fwdu` (or short codes 0/1): forward unconditional on or off, to voicemail.
    SetForward {
        user: String,
        on: bool,
    },
}

impl ModelAction {
    /// A stable snake_case name, for counting commands by kind.
    pub fn name(&self) -> &'static str {
        match self {
            ModelAction::BlindTransfer { .. } => "blind_transfer",
            ModelAction::Redirect { .. } => "redirect",
            ModelAction::SetPriority { .. } => "set_priority",
            ModelAction::Finish { .. } => "finish",
            ModelAction::Drop { .. } => "drop",
            ModelAction::Answer { .. } => "answer",
            ModelAction::SetQueueMembers { .. } => "set_queue_members",
            ModelAction::UpsertQueueMembers { .. } => "upsert_queue_members",
            ModelAction::RemoveQueueMembers { .. } => "remove_queue_members",
            ModelAction::SetServiceMode { .. } => "set_service_mode",
            ModelAction::SetDnd { .. } => "set_dnd",
            ModelAction::SetForward { .. } => "set_forward",
        }
    }
}

/// Live figures for the status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Status {
    pub now: Timestamp,
    pub offered: u64,
    pub waiting: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub agents_busy: u64,
    pub agents_available: u64,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.now.as_millis() / 1000;
        write!(
            f,
            "t={:02}:{:02}:{:02} offered={} waiting={} answered={} abandoned={} agents busy={} available={}",
            s / 3600,
            (s / 60) % 60,
            s % 60,
            self.offered,
            self.waiting,
            self.answered,
            self.abandoned,
            self.agents_busy,
            self.agents_available
        )
    }
}
