//! The compiled ruleset the core runs. The rules crate parses and validates supervisors' files
//! and produces this; the core trusts it to be consistent (every name resolves, no overflow
//! cycles) but still never panics on it.

use crate::command::{Priority, Target};
use crate::event::TrunkKind;
use crate::ids::{AgentId, QueueId};
use crate::lookup::Lookup;
use crate::number::NumberPlan;
use crate::pattern::Pattern;
use crate::time::Millis;
use crate::utc_offsets::UtcOffsets;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A skill level: 1 (beginner) to 10 (expert).
pub type SkillLevel = u8;

/// A required-skills expression, as supervisors write it: `deu >= 5 AND (sales OR support)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SkillExpr {
    /// Matches every agent (no skill required).
    Any,
    /// The agent has the skill at `min_level` or above.
    Skill {
        name: String,
        min_level: SkillLevel,
    },
    And(Vec<SkillExpr>),
    Or(Vec<SkillExpr>),
    Not(Box<SkillExpr>),
}

/// How a queue picks among the free agents allowed to take a call (same tier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PickStrategy {
    LongestIdle,
    FewestCalls,
    LeastTalkTime,
    RoundRobin,
    /// Top-down in the order agents are listed for the queue.
    Linear,
    /// Seeded pseudo-random: reproducible for a given seed and event sequence.
    Random {
        seed: u64,
    },
    /// Highest skill level in what the call requires first; among equals, longest idle.
    BestSkill,
}

/// How priority orders waiting calls. Within one priority, calls are always served first come,
/// first served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PriorityOrder {
    /// A higher-priority call is always offered before any lower-priority call, however long
    /// that one has waited (how IP Office orders its own queues).
    Strict,
    /// Each priority level counts as `step_ms` of waiting: a high call (two levels above low)
    /// goes ahead of low calls that have waited up to `2 × step_ms` longer, not beyond, so no
    /// call waits forever behind a stream of higher-priority calls.
    Aging { step_ms: Millis },
}

/// How a free agent who may serve several queues chooses between their calls (within one
/// queue calls are always served in serving order: priority, then first come, first served).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Balance {
    /// The call that has waited longest, its waiting time multiplied by its queue's weight.
    #[default]
    WaitingTime,
    /// The queue furthest behind its service-level target first (as Avaya's Service Level
    /// Maximizer does); between queues on or above target, the longest wait as above. A
    /// queue's service level is measured as [`QueueMetric::ServiceLevel`] measures it.
    ServiceLevel,
}

/// A measure of a queue's state now, for `when` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueueMetric {
    /// How long the longest-waiting routable call has waited (ms; 0 with none waiting).
    OldestWait,
    /// Routable calls waiting (not counting calls already ringing at an agent).
    CallsWaiting,
    /// First-choice and backup agents free to take a call now (helpers not counted).
    AgentsFree,
    /// First-choice and backup agents logged in.
    AgentsLoggedIn,
    /// Estimated wait of a call arriving now (ms): calls waiting + 1, times the queue's average
    /// handle time, divided by the agents logged in.
    ExpectedWait,
    /// The queue's service level now, in percent (0..=100): calls answered within its first
    /// threshold over calls answered or abandoned in the recent window (`service_level_window`,
    /// 30 minutes unless set), with waiting calls already past the threshold counted as
    /// misses. 100 when nothing finished in the window and nobody waits too long.
    ServiceLevel,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    Equal,
}

impl Comparison {
    pub fn holds(self, left: u64, right: u64) -> bool {
        match self {
            Comparison::Greater => left > right,
            Comparison::GreaterOrEqual => left >= right,
            Comparison::Less => left < right,
            Comparison::LessOrEqual => left <= right,
            Comparison::Equal => left == right,
        }
    }
}

/// One test of a queue's state, such as `oldest_wait > 60s` (durations in ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateTest {
    pub metric: QueueMetric,
    pub comparison: Comparison,
    pub value: u64,
}

/// A whole day a calendar is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Holiday {
    /// One date, as days since 1970-01-01 (local).
    Date(i64),
    /// Every year on this month (1-12) and day.
    Annual { month: u8, day: u8 },
    /// Every year this many days after (or, negative, before) Western Easter Sunday:
    /// -2 Good Friday, 1 Easter Monday, 39 Ascension, 50 Whit Monday.
    Easter { offset_days: i16 },
}

/// What happens to calls already waiting when a calendar closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AtClose {
    /// Agents still logged in serve them; only calls arriving while closed take night service.
    Serve,
    /// They take the night (or holiday) target at the closing minute too.
    Send,
}

/// Ring-no-answer policy: how long an offered agent may ring, and when and for how long an
/// agent who lets calls ring out is made not-ready.
///
/// A call that rings out goes straight back to its queue and is offered to the next agent at
/// once. One missed call is often a moment's distraction, so by default an agent is made
/// not-ready only after missing two offers in a row: a penalty on every miss takes an agent
/// out for longer than IP Office's own hunt groups would (they simply ring the next member).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rona {
    pub ring_timeout_ms: Millis,
    pub not_ready_ms: Millis,
    /// Offers in a row an agent lets ring out before being made not-ready (at least 1).
    #[serde(default = "Rona::default_misses")]
    pub not_ready_after_misses: u32,
    /// A shorter ring for an offer made while another agent who could take the call is free:
    /// a missed ring then costs the caller only this long before the next agent rings (IP
    /// Office's collective ringing loses no time to one agent away from the phone).
    #[serde(default)]
    pub ring_when_others_free_ms: Option<Millis>,
}

impl Rona {
    /// Missed offers in a row before not-ready, unless the rules say otherwise.
    pub const DEFAULT_MISSES: u32 = 2;

    fn default_misses() -> u32 {
        Self::DEFAULT_MISSES
    }

    /// The documented default: ring 15 s (IP Office's default no-answer time), not-ready
    /// 30 s after two missed offers in a row.
    pub const fn standard() -> Rona {
        Rona {
            ring_timeout_ms: 15_000,
            not_ready_ms: 30_000,
            not_ready_after_misses: Self::DEFAULT_MISSES,
            ring_when_others_free_ms: None,
        }
    }
}

/// A weekly opening window in local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenWindow {
    /// Bit 0 = Monday … bit 6 = Sunday.
    pub weekdays: u8,
    /// Minutes after local midnight, inclusive.
    pub from_minute: u16,
    /// Minutes after local midnight, exclusive.
    pub to_minute: u16,
}

/// When a queue is open. Outside it, calls take the night-service target (on holidays the
/// holiday target, when one is set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calendar {
    /// Offset of local time from UTC over time (60 minutes for CET, 120 in summer for CEST).
    pub utc_offsets: UtcOffsets,
    pub open: Vec<OpenWindow>,
    /// Whole days closed (local time).
    pub holidays: Vec<Holiday>,
    pub night_target: Target,
    /// Where calls go on a holiday; `None`: the night target.
    pub holiday_target: Option<Target>,
    pub at_close: AtClose,
}

/// How the engine gets a queue's waiting calls to its agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Delivery {
    /// The engine transfers each call to the one agent it chose (BlindTransfer).
    #[default]
    Offer,
    /// The engine keeps the agents it chose enabled as members of the queue's IP Office hunt
    /// group (ring mode Collective, set by the administrator) and IP Office rings them
    /// together (UpdateQueue `addmember`). No transfers to agents; per-call requirements
    /// apply to the call IP Office serves next only.
    Collective,
}

/// Routing policy for one IP Office queue the engine controls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuePolicy {
    pub queue: QueueId,
    pub strategy: PickStrategy,
    /// Relative weight when queues compete for the same agent (default 1.0).
    pub weight: f64,
    /// Engine-side wrap-up after each answered call on this queue.
    pub wrap_up_ms: Millis,
    pub rona: Rona,
    /// Exit target when more than this many calls wait.
    pub max_waiting: Option<(u32, Target)>,
    /// Exit target when no member agent is logged in.
    pub no_agents_target: Option<Target>,
    /// Exit target when no logged-in member could ever take the call: none meets its
    /// requirement now or the requirement of any later step of its route.
    pub no_qualified_target: Option<Target>,
    pub calendar: Option<Calendar>,
    /// Service-level thresholds in ms (for example 20 000): counted exactly in accounting.
    pub service_level_ms: Vec<Millis>,
    /// The share of finished calls (answered + abandoned) the supervisor wants answered within
    /// the first threshold, 0..=1 (the "80" of "80/20"): exported so alerts compare each queue
    /// with its own target.
    pub service_level_target: f64,
    /// First-choice agents listed in the rules for this queue, in order (Linear uses this
    /// order). Empty means "the IP Office members of the queue".
    pub agents: Vec<AgentId>,
    /// Second tier: offered a call only when no first-choice agent allowed to take it is free.
    pub backup_agents: Vec<AgentId>,
    /// Third tier: offered calls only while every test of `helpers_when` holds (and then only
    /// when no first-choice or backup agent allowed to take the call is free).
    pub helpers: Vec<AgentId>,
    pub helpers_when: Vec<StateTest>,
    #[serde(default)]
    pub delivery: Delivery,
}

impl QueuePolicy {
    /// A policy with the documented defaults: weight 1, no wrap-up, ring 15 s then 30 s
    /// not-ready, no limits, exits or calendar, a service level of 80 % within 20 s.
    pub fn new(queue: QueueId, strategy: PickStrategy, agents: Vec<AgentId>) -> QueuePolicy {
        QueuePolicy {
            queue,
            strategy,
            weight: 1.0,
            wrap_up_ms: 0,
            rona: Rona::standard(),
            max_waiting: None,
            no_agents_target: None,
            no_qualified_target: None,
            calendar: None,
            service_level_ms: vec![20_000],
            service_level_target: 0.8,
            agents,
            backup_agents: Vec::new(),
            helpers: Vec::new(),
            helpers_when: Vec::new(),
            delivery: Delivery::Offer,
        }
    }
}

/// An agent's skills and personal settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProfile {
    pub agent: AgentId,
    pub skills: BTreeMap<String, SkillLevel>,
    /// Overrides the queue's wrap-up when set.
    pub wrap_up_ms: Option<Millis>,
    /// The agent's forward unconditional leads to a phone they answer (a home worker's
    /// mobile): calls are offered to them forwarded or not. Off by default: a forwarded agent
    /// takes no queue calls.
    #[serde(default)]
    pub takes_calls_when_forwarded: bool,
}

/// A condition a call must meet for a route to apply. All conditions of a route must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Condition {
    Queue(Vec<QueueId>),
    Did(Vec<Pattern>),
    CallingNumber(Vec<Pattern>),
    Language(Vec<String>),
    Trunk(Vec<TrunkKind>),
    Tag(Vec<Pattern>),
    /// Local time of day window (minutes after midnight, from inclusive, to exclusive), using
    /// the ruleset's offset in force at the moment the route is matched.
    TimeOfDay {
        from_minute: u16,
        to_minute: u16,
    },
    /// Local weekday, bit 0 = Monday … bit 6 = Sunday.
    Weekdays(u8),
    /// The call's queue state at arrival: every test must hold.
    QueueState(Vec<StateTest>),
}

/// What happens when a step fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepAction {
    /// Replace the required skills (widen, or lower the level needed).
    Require(SkillExpr),
    /// Raise the call's priority, mirrored to IP Office with SetPriority.
    Priority(Priority),
    /// Send the call elsewhere by BlindTransfer; the route ends.
    Overflow(Target),
}

/// A timed step: `after_ms` of waiting (from arrival), do `action` — if every test of `when`
/// holds for the call's queue at that moment; otherwise the step is skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub after_ms: Millis,
    pub action: StepAction,
    pub when: Vec<StateTest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub name: String,
    pub conditions: Vec<Condition>,
    /// Skills required from the start.
    pub requires: SkillExpr,
    /// Steps in ascending `after_ms`.
    pub steps: Vec<Step>,
    /// Priority the call starts with (None keeps IP Office's).
    pub priority: Option<Priority>,
}

/// The whole compiled ruleset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingConfig {
    /// The rules-store version this was compiled from (0 for an unversioned ruleset).
    pub version: u64,
    /// Local time for route time windows.
    pub utc_offsets: UtcOffsets,
    pub queues: BTreeMap<QueueId, QueuePolicy>,
    pub agents: BTreeMap<AgentId, AgentProfile>,
    /// Routes in order: the first whose conditions all hold applies.
    pub routes: Vec<Route>,
    /// Patterns every External transfer target must match (toll-fraud guard).
    pub allowed_external: Vec<Pattern>,
    pub priority_order: PriorityOrder,
    /// Wrap-up used when neither queue nor agent sets one.
    pub default_wrap_up_ms: Millis,
    pub default_rona: Rona,
    /// How a free agent chooses between queues whose calls it may take.
    #[serde(default)]
    pub balance: Balance,
    /// How far back a queue's current service level looks (see [`QueueMetric::ServiceLevel`]).
    #[serde(default = "RoutingConfig::default_service_level_window")]
    pub service_level_window_ms: Millis,
    /// How numbers are written locally; `None` compares numbers literally.
    #[serde(default)]
    pub numbering: Option<NumberPlan>,
    /// Attributes derived from the call's numbers, applied before routes are matched.
    #[serde(default)]
    pub lookups: Vec<Lookup>,
}

impl RoutingConfig {
    /// Half an hour: long enough that one call does not swing a queue's figure, short enough
    /// that the morning does not hide the afternoon.
    pub const DEFAULT_SERVICE_LEVEL_WINDOW_MS: Millis = 30 * 60_000;

    fn default_service_level_window() -> Millis {
        Self::DEFAULT_SERVICE_LEVEL_WINDOW_MS
    }
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            version: 0,
            utc_offsets: UtcOffsets::fixed(0),
            queues: BTreeMap::new(),
            agents: BTreeMap::new(),
            routes: Vec::new(),
            allowed_external: Vec::new(),
            priority_order: PriorityOrder::Strict,
            default_wrap_up_ms: 0,
            default_rona: Rona::standard(),
            balance: Balance::WaitingTime,
            service_level_window_ms: RoutingConfig::DEFAULT_SERVICE_LEVEL_WINDOW_MS,
            numbering: None,
            lookups: Vec::new(),
        }
    }
}
