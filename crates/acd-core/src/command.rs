//! What the core asks the PBX to do. The wire layer turns each command into a `SubscribeCmd`
//! on the right subscription and reports the outcome back as `Event::CommandResult`.

use crate::ids::{AgentId, CallId, QueueId};
use serde::{Deserialize, Serialize};

/// Correlates a command with its result. Allocated by the core, unique per engine instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CommandId(pub u64);

/// IP Office queue priority as SetPriority accepts it: "1", "2" or "3".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Priority {
    Low = 1,
    Medium = 2,
    High = 3,
}

impl Priority {
    pub fn from_level(level: u8) -> Option<Priority> {
        match level {
            1 => Some(Priority::Low),
            2 => Some(Priority::Medium),
            3 => Some(Priority::High),
            _ => None,
        }
    }

    pub fn level(self) -> u8 {
        self as u8
    }

    /// The argument string IP Office expects.
    pub fn arg(self) -> &'static str {
        match self {
            Priority::Low => "1",
            Priority::Medium => "2",
            Priority::High => "3",
        }
    }
}

/// Where a call can be sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Target {
    Agent(AgentId),
    /// Another IP Office queue, by name; the core resolves its extension.
    Queue(QueueId),
    /// A voicemail box: dialled as `/102/<mailbox>`.
    Voicemail(String),
    /// An external number, allowed by the rules' transfer-target patterns.
    External(String),
}

/// Service mode as `SetServiceMode` sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceMode {
    Active,
    NightService,
    OutOfService,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandKind {
    /// BlindTransfer the call to `dial` (the resolved dial string for `target`).
    Transfer {
        call: CallId,
        target: Target,
        dial: String,
    },
    SetPriority {
        call: CallId,
        priority: Priority,
    },
    /// Stop reporting the call on its queue; `report_next` = arg1 "1".
    Finish {
        call: CallId,
        report_next: bool,
    },
    Drop {
        call: CallId,
    },
    SetQueueMember {
        queue: QueueId,
        agent: AgentId,
        enabled: bool,
    },
    SetServiceMode {
        queue: QueueId,
        mode: ServiceMode,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub id: CommandId,
    pub kind: CommandKind,
}
