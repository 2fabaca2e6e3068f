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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// How a queue picks among equally qualified free agents.
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
    /// Highest skill fit first.
    BestSkill,
}

/// Ring-no-answer policy: how long an offered agent may ring and how long they are then made
/// not-ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rona {
    pub ring_timeout_ms: Millis,
    pub not_ready_ms: Millis,
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

/// When a queue is open. Outside it, calls take the night-service target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calendar {
    /// Offset of local time from UTC over time (60 minutes for CET, 120 in summer for CEST).
    pub utc_offsets: UtcOffsets,
    pub open: Vec<OpenWindow>,
    /// Whole days closed, as days since 1970-01-01 in local time.
    pub closed_days: Vec<i64>,
    pub night_target: Target,
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
    pub calendar: Option<Calendar>,
    /// Service-level thresholds in ms (for example 20 000): counted exactly in accounting.
    pub service_level_ms: Vec<Millis>,
    /// The share of finished calls (answered + abandoned) the supervisor wants answered within
    /// the first threshold, 0..=1 (the "80" of "80/20"): exported so alerts compare each queue
    /// with its own target.
    pub service_level_target: f64,
    /// Agents listed in the rules for this queue, in order (Linear uses this order). Empty means
    /// "the IP Office members of the queue".
    pub agents: Vec<AgentId>,
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
            rona: Rona {
                ring_timeout_ms: 15_000,
                not_ready_ms: 30_000,
            },
            max_waiting: None,
            no_agents_target: None,
            calendar: None,
            service_level_ms: vec![20_000],
            service_level_target: 0.8,
            agents,
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

/// A timed step: `after_ms` of waiting (from arrival), do `action`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub after_ms: Millis,
    pub action: StepAction,
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

/// Weights of the terms of the call/agent score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreWeights {
    /// Per point of skill fit (0–10).
    pub skill: f64,
    /// Per second waited.
    pub wait_per_second: f64,
    /// Per priority level above low.
    pub priority: f64,
    /// Per second idle (agent side, for longest-idle fairness).
    pub idle_per_second: f64,
}

impl Default for ScoreWeights {
    fn default() -> Self {
        ScoreWeights {
            skill: 10.0,
            wait_per_second: 1.0,
            priority: 60.0,
            idle_per_second: 0.1,
        }
    }
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
    pub weights: ScoreWeights,
    /// Wrap-up used when neither queue nor agent sets one.
    pub default_wrap_up_ms: Millis,
    pub default_rona: Rona,
    /// How numbers are written locally; `None` compares numbers literally.
    #[serde(default)]
    pub numbering: Option<NumberPlan>,
    /// Attributes derived from the call's numbers, applied before routes are matched.
    #[serde(default)]
    pub lookups: Vec<Lookup>,
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
            weights: ScoreWeights::default(),
            default_wrap_up_ms: 0,
            default_rona: Rona {
                ring_timeout_ms: 15_000,
                not_ready_ms: 30_000,
            },
            numbering: None,
            lookups: Vec::new(),
        }
    }
}
