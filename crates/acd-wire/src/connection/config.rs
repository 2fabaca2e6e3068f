//! What the protocol side of a session is told by the operator: which queues are routed, which
//! users are followed as agents, the flags asked of IP Office, and the timing of requests,
//! subscriptions and reconnects. Endpoints, credentials and TLS belong to the socket shell.

use crate::backoff::Backoff;
use crate::flags;
use crate::framing::{Framing, DEFAULT_MAX_FRAME_BYTES};
use crate::pb;
use std::time::Duration;

/// Lines flags: list all users and all groups.
pub const LINES_FLAGS: i32 = flags::lines::ENGINE;
/// Queue flags: include the hunt-group member list.
pub const QUEUE_FLAGS: i32 = flags::queue::MEMBERS;
/// CallInfo ccflag bit 30: IP Office stops reporting a call on a queue subscription once the
/// call has left the queue, so no Finish is needed.
pub const EPHEMERAL_CCFLAG: u32 = flags::ccflags::EPHEMERAL as u32;
/// What the engine asks of a routed queue (see [`flags::ccflags::ENGINE_QUEUE`]).
pub const DEFAULT_QUEUE_CCFLAGS: u32 = flags::ccflags::ENGINE_QUEUE as u32;
/// What the engine asks of an agent's user subscription (the guide's suggestion).
pub const DEFAULT_USER_CCFLAGS: u32 = flags::ccflags::ENGINE_USER as u32;
/// How long a queue subscription may stay without any call notify before it is taken as empty.
pub const SNAPSHOT_SETTLE: Duration = Duration::from_secs(2);
/// Refresh a subscription when this share of its timeout has passed.
pub(crate) const REFRESH_AT: f64 = 0.8;

/// A routed queue, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueSelector {
    Name(String),
    /// The queue's GUID from the Lines table.
    Guid(Vec<u8>),
}

impl QueueSelector {
    /// `guid:` followed by hex selects by GUID; anything else is a queue name.
    pub fn parse(text: &str) -> QueueSelector {
        match text.strip_prefix("guid:").map(hex::decode) {
            Some(Ok(g)) if !g.is_empty() => QueueSelector::Guid(g),
            _ => QueueSelector::Name(text.to_string()),
        }
    }

    pub(crate) fn matches(&self, q: &pb::LinesQueue) -> bool {
        match self {
            QueueSelector::Name(n) => *n == q.name,
            QueueSelector::Guid(g) => *g == q.guid,
        }
    }
}

/// Which users the session follows as agents.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AgentSelector {
    All,
    /// The members of the routed queues (from their member lists).
    #[default]
    MembersOfRoutedQueues,
    Extensions(Vec<String>),
    /// The members of the routed queues and these extensions (agents the rules name who are
    /// not, or not yet, members in IP Office).
    MembersAnd(Vec<String>),
}

impl AgentSelector {
    pub(crate) fn follows_members(&self) -> bool {
        matches!(
            self,
            AgentSelector::MembersOfRoutedQueues | AgentSelector::MembersAnd(_)
        )
    }

    /// Adds extensions to follow (an `All` selector already follows everyone).
    pub(crate) fn add(&mut self, extns: &[String]) {
        let list = match self {
            AgentSelector::All => return,
            AgentSelector::MembersOfRoutedQueues => {
                *self = AgentSelector::MembersAnd(Vec::new());
                match self {
                    AgentSelector::MembersAnd(list) => list,
                    _ => return,
                }
            }
            AgentSelector::Extensions(list) | AgentSelector::MembersAnd(list) => list,
        };
        for e in extns {
            if !list.contains(e) {
                list.push(e.clone());
            }
        }
    }

    /// The extensions this selector names that no user in `lines` has, sorted.
    pub(crate) fn unknown_to(&self, lines: &super::lines::LinesTable) -> Vec<String> {
        let mut unknown: Vec<String> = match self {
            AgentSelector::Extensions(list) | AgentSelector::MembersAnd(list) => (list.iter())
                .filter(|e| !lines.has_user(e))
                .cloned()
                .collect(),
            AgentSelector::All | AgentSelector::MembersOfRoutedQueues => Vec::new(),
        };
        unknown.sort();
        unknown
    }

    pub(crate) fn names(&self, extn: &str) -> bool {
        match self {
            AgentSelector::All => true,
            AgentSelector::Extensions(list) | AgentSelector::MembersAnd(list) => {
                list.iter().any(|e| e == extn)
            }
            AgentSelector::MembersOfRoutedQueues => false,
        }
    }
}

/// The protocol settings of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionConfig {
    pub framing: Framing,
    pub max_frame_bytes: usize,
    pub routed_queues: Vec<QueueSelector>,
    pub queue_ccflags: u32,
    pub user_flags: u32,
    pub user_ccflags: u32,
    pub agents: AgentSelector,
    pub request_timeout: Duration,
    /// `None`: subscriptions never expire. `Some(t)`: refreshed at ~80 % of `t`.
    pub subscription_timeout: Option<Duration>,
    pub backoff: Backoff,
    /// A websocket ping goes out this long after the previous one (`None`: no pings).
    pub ping_interval: Option<Duration>,
    /// A ping not answered within this long means the link is dead.
    pub pong_timeout: Duration,
    /// A frame not written to the socket within this long (IP Office stopped reading) means
    /// the link is dead (`None`: writes may wait forever).
    pub write_timeout: Option<Duration>,
}

/// The defaults detect a silent or stalled link within 13 s: a link that dies just after a
/// ping was answered is pinged within [`DEFAULT_PING_INTERVAL`] and found dead
/// [`DEFAULT_PONG_TIMEOUT`] later; a write stuck for [`DEFAULT_WRITE_TIMEOUT`] ends it sooner.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_PONG_TIMEOUT: Duration = Duration::from_secs(8);
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            framing: Framing::Framed,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            routed_queues: Vec::new(),
            queue_ccflags: DEFAULT_QUEUE_CCFLAGS,
            user_flags: 0,
            user_ccflags: DEFAULT_USER_CCFLAGS,
            agents: AgentSelector::default(),
            request_timeout: Duration::from_secs(10),
            subscription_timeout: None,
            backoff: Backoff::default(),
            ping_interval: Some(DEFAULT_PING_INTERVAL),
            pong_timeout: DEFAULT_PONG_TIMEOUT,
            write_timeout: Some(DEFAULT_WRITE_TIMEOUT),
        }
    }
}

impl ConnectionConfig {
    pub(crate) fn subscription_timeout_secs(&self) -> i32 {
        self.subscription_timeout
            .map_or(0, |t| i32::try_from(t.as_secs()).unwrap_or(i32::MAX))
    }

    pub(crate) fn refresh_interval(&self) -> Option<Duration> {
        self.subscription_timeout
            .filter(|t| t.as_secs() > 0)
            .map(|t| Duration::from_secs(t.as_secs()).mul_f64(REFRESH_AT))
    }
}
