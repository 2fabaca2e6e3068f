//! The engine's own records of agents, queues and calls.
//!
//! These hold what the PBX reported (the truth about presence and phones) next to what only
//! the engine knows (reservations, wrap-up, not-ready, steps, commands in flight), plus the
//! indexes that keep decisions from scanning every agent.

use crate::command::{CommandId, Target};
use crate::config::{QueuePolicy, SkillExpr, SkillLevel};
use crate::decision::ExitReason;
use crate::event::{CallAttributes, Features, PhoneState, Presence, QueueMember, QueueServiceMode};
use crate::ids::{AgentId, CallId, QueueId};
use crate::time::{Millis, Timestamp};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

/// Order of a waiting call within its queue: first in the order calls are served (see
/// `Engine::wait_key`: priority, then arrival), then earliest arrival, then id. Because every
/// waiting call ages at the same rate, this order never changes while time passes; only
/// priority changes re-key a call.
pub(crate) type WaitKey = (Reverse<i64>, Timestamp, CallId);

/// An answered call the agent is still on (engine view).
#[derive(Debug, Clone)]
pub(crate) struct OnCall {
    pub call: CallId,
    pub since: Timestamp,
    pub queue: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct AgentState {
    pub id: AgentId,
    /// The PBX has reported this user (and not removed it).
    pub known: bool,
    pub presence: Presence,
    pub phone: PhoneState,
    pub skills: BTreeMap<String, SkillLevel>,
    pub wrap_override: Option<Millis>,
    /// Queues this agent serves (indexes into `Engine::queues`).
    pub queues: Vec<usize>,
    /// The call the engine has offered to this agent and not yet seen answered or given up.
    pub reserved_for: Option<CallId>,
    pub on_call: Option<OnCall>,
    pub wrap_until: Option<Timestamp>,
    pub not_ready_until: Option<Timestamp>,
    pub idle_since: Timestamp,
    /// Whether the agent is currently in the idle indexes.
    pub indexed_available: bool,
    /// Whether the agent is currently counted in its queues' logged-in counts.
    pub counted_logged_in: bool,
    pub calls_answered: u64,
    pub talk_ms: u64,
    /// Offers this agent let ring out since their last answer (see `Rona`).
    pub missed_in_row: u32,
    pub timer: Option<Timestamp>,
}

impl AgentState {
    pub fn new(id: AgentId) -> Self {
        AgentState {
            id,
            known: false,
            presence: Presence::default(),
            phone: PhoneState::Idle,
            skills: BTreeMap::new(),
            wrap_override: None,
            queues: Vec::new(),
            reserved_for: None,
            on_call: None,
            wrap_until: None,
            not_ready_until: None,
            idle_since: Timestamp::ZERO,
            indexed_available: false,
            counted_logged_in: false,
            calls_answered: 0,
            talk_ms: 0,
            missed_in_row: 0,
            timer: None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct QueueState {
    pub id: QueueId,
    /// The rules for this queue; `None` means IP Office distributes its calls natively.
    pub policy: Option<QueuePolicy>,
    pub extension: Option<String>,
    pub pbx_members: Vec<QueueMember>,
    pub service_mode: QueueServiceMode,
    /// Agents serving the queue, in rule (or PBX member) order: first choice, backup, helpers.
    pub members: Vec<usize>,
    pub member_pos: BTreeMap<usize, usize>,
    /// Tier of each member: 0 first choice, 1 backup, 2 helper.
    pub member_tier: BTreeMap<usize, u8>,
    /// Whether the helpers' `when` holds (helpers may take calls).
    pub helpers_active: bool,
    /// Bumped whenever a member logs in or out: exits held after a rules change wait for it.
    pub presence_epoch: u64,
    /// Average handle time (talk + wrap-up) of the queue's answered calls, for `expected_wait`.
    pub handle_ms: f64,
    /// Answered calls folded into `handle_ms`.
    pub handled_calls: u64,
    /// Members free to take a call now.
    pub idle: BTreeSet<usize>,
    /// Calls the engine may offer now, best first.
    pub waiting: BTreeSet<WaitKey>,
    /// The same calls grouped by what they require (an interned `SkillExpr`), each group in
    /// serving order: an agent who frees up tests its skills once per group, not once per
    /// waiting call, and skips at once the groups it cannot serve.
    pub by_need: BTreeMap<u32, BTreeSet<WaitKey>>,
    /// The same calls by arrival: the oldest, and how many wait past a threshold.
    pub arrivals: BTreeSet<(Timestamp, CallId)>,
    /// Calls finished in the recent window, for the queue's current service level.
    pub recent_sl: super::service_level::RecentServiceLevel,
    /// How far the queue is behind its service-level target (0..=1), read before each
    /// dispatch when agents are balanced by service level; 0 otherwise.
    pub sl_behind: f64,
    pub logged_in: usize,
    /// When a call of this queue was first checked for exits (see `AGENT_SYNC_WAIT_MS`).
    pub exits_armed_since: Option<Timestamp>,
    /// Round-robin: member position of the last agent offered a call.
    pub rr_last: Option<usize>,
    /// Offers made from this queue (varies the seeded-random draw between picks).
    pub picks: u64,
    pub timer: Option<Timestamp>,
}

impl QueueState {
    pub fn new(id: QueueId) -> Self {
        QueueState {
            id,
            policy: None,
            extension: None,
            pbx_members: Vec::new(),
            service_mode: QueueServiceMode::Active,
            members: Vec::new(),
            member_pos: BTreeMap::new(),
            member_tier: BTreeMap::new(),
            helpers_active: false,
            presence_epoch: 0,
            handle_ms: DEFAULT_HANDLE_MS,
            handled_calls: 0,
            idle: BTreeSet::new(),
            waiting: BTreeSet::new(),
            arrivals: BTreeSet::new(),
            by_need: BTreeMap::new(),
            recent_sl: Default::default(),
            sl_behind: 0.0,
            logged_in: 0,
            exits_armed_since: None,
            rr_last: None,
            picks: 0,
            timer: None,
        }
    }
}

/// Handle time assumed for `expected_wait` until a queue has answered calls of its own.
pub(crate) const DEFAULT_HANDLE_MS: f64 = 180_000.0;

/// Exits a rules change must not fire by itself: the queue's state when the rules changed. The
/// hold ends when that state changes (a member logs in or out, the calendar opens or closes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExitHold {
    pub presence_epoch: u64,
    pub open: bool,
}

/// Why a call is being transferred out of its queue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ExitKind {
    Exit(ExitReason),
    Overflow { step: usize },
}

/// Where a call is in the engine's hands.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Phase {
    /// Routable: waiting for an agent.
    Waiting,
    /// The queue stopped reporting it without our transfer: answered natively or abandoned;
    /// decided by what comes next, or abandoned at `deadline`.
    LeftQueue { deadline: Timestamp },
    /// Transfer to `agent` sent, result not yet back.
    Offered {
        agent: usize,
        cmd: CommandId,
        at: Timestamp,
    },
    /// Transfer to `agent` succeeded; RONA at `deadline` unless answered.
    Ringing { agent: usize, deadline: Timestamp },
    /// RONA sent the call back to its queue (`cmd` while in flight); if it does not reappear
    /// by `deadline`, it is routed directly from where it is.
    Returning {
        cmd: Option<CommandId>,
        deadline: Timestamp,
    },
    /// Transfer out of the queue in flight.
    Exiting {
        cmd: CommandId,
        target: Target,
        kind: ExitKind,
    },
    /// Answered by `agent`: accounted; kept until the agent's call ends to start wrap-up.
    Answered { agent: usize },
}

#[derive(Debug, Clone)]
pub(crate) struct CallState {
    pub id: CallId,
    pub queue: usize,
    pub arrival: Timestamp,
    pub attributes: CallAttributes,
    pub features: Features,
    pub pbx_priority: u8,
    /// Priority set by the rules (route or step); the effective one is the higher of this
    /// and IP Office's.
    pub priority: u8,
    pub route: Option<usize>,
    pub route_name: Option<String>,
    pub required: SkillExpr,
    pub next_step: usize,
    pub last_step: Option<usize>,
    pub phase: Phase,
    /// The queue subscription currently reports the call.
    pub in_queue: bool,
    /// The engine routes the call from where it is (at an agent's phone: its RONA return to
    /// the queue failed or never showed), so no queue is expected to report it: its absence
    /// from a queue, or a refused transfer, says nothing about the caller being gone. Cleared
    /// when a queue reports it again.
    pub off_queue: bool,
    /// Agents not to offer this call to again until the given time (failed transfer, RONA).
    pub excluded: Vec<(usize, Timestamp)>,
    pub exit_retry_at: Option<Timestamp>,
    /// The queue this call moved here from, until that queue reports it gone: notifies of
    /// different subscriptions are not ordered, so the old queue's report of the call as still
    /// queued can arrive after the new queue's, and must not move the call back.
    pub moved_from: Option<usize>,
    /// Since the link restarted, no queue has reported this call again (see
    /// `Event::LinkRestarted`): not routable until one does.
    pub unconfirmed: bool,
    /// The queue reported this answered call queued again while its agent still talks to the
    /// caller: either a report older than the answer (the queue then reports it gone) or the
    /// agent transferring it back (the agent's call then ends). Decided by what comes first.
    pub deferred_requeue: Option<crate::event::QueuedCall>,
    /// An agent's phone reported this call answered while its queue reports it waiting there
    /// (typically after the engine took it back from that agent): either the answer is older
    /// than the call's return to the queue (the agent's call then ends) or newer (the queue then
    /// reports it gone). Decided by what comes first; meanwhile the call is not offered.
    pub deferred_answer: Option<AgentId>,
    /// IP Office reported the call ringing at the agent it was offered to (a ring-no-answer
    /// penalises the agent only then).
    pub ring_seen: bool,
    /// Why the previous attempt failed, for the next decision's explanation.
    pub last_failure: Option<String>,
    /// The queue's calendar was open when the call arrived (or it has none): at closing time
    /// such a call is served unless the calendar says `at_close = "send"`.
    pub arrived_open: bool,
    /// Set by a rules change: see [`ExitHold`].
    pub exit_hold: Option<ExitHold>,
    pub wait_key: Option<WaitKey>,
    /// The requirement group the call is filed under with its wait key (see
    /// `QueueState::by_need`).
    pub need: Option<u32>,
    pub timer: Option<Timestamp>,
}

impl CallState {
    /// A call that has just arrived in queue `queue` and waits there, with the route the rules
    /// matched (if any).
    pub fn arriving(
        id: CallId,
        queue: usize,
        arrival: Timestamp,
        queued: (CallAttributes, Features, u8),
        route: Option<(usize, &crate::config::Route)>,
    ) -> CallState {
        let (attributes, features, pbx_priority) = queued;
        CallState {
            id,
            queue,
            arrival,
            attributes,
            features,
            pbx_priority,
            priority: route.and_then(|(_, r)| r.priority).map_or(1, |p| p.level()),
            route: route.map(|(i, _)| i),
            route_name: route.map(|(_, r)| r.name.clone()),
            required: route.map_or(SkillExpr::Any, |(_, r)| r.requires.clone()),
            next_step: 0,
            last_step: None,
            phase: Phase::Waiting,
            in_queue: true,
            off_queue: false,
            excluded: Vec::new(),
            exit_retry_at: None,
            moved_from: None,
            unconfirmed: false,
            deferred_requeue: None,
            deferred_answer: None,
            ring_seen: false,
            last_failure: None,
            arrived_open: true,
            exit_hold: None,
            wait_key: None,
            need: None,
            timer: None,
        }
    }

    pub fn effective_priority(&self) -> u8 {
        self.priority.max(self.pbx_priority).clamp(1, 3)
    }

    pub fn is_excluded(&self, agent: usize, now: Timestamp) -> bool {
        self.excluded
            .iter()
            .any(|(a, until)| *a == agent && *until > now)
    }

    /// The engine still owes an outcome for this call.
    pub fn is_open(&self) -> bool {
        !matches!(self.phase, Phase::Answered { .. })
    }
}

/// What a command in flight was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pending {
    Offer {
        call: CallId,
        agent: usize,
    },
    Return {
        call: CallId,
    },
    Exit {
        call: CallId,
    },
    /// Enabling or disabling agent `agent` in queue `queue`'s hunt group (collective
    /// delivery).
    Member {
        queue: usize,
        agent: usize,
    },
    Other,
}

/// Things that wake the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    Call(CallId),
    Agent(usize),
    Queue(usize),
}
