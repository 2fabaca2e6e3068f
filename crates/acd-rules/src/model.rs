//! The rules as read from the files, before names are resolved: every value that can be wrong
//! in relation to another keeps its location so a later check can put a caret under it.

use crate::diag::Loc;
use acd_core::{
    AtClose, Balance, Condition, Delivery, Holiday, PickStrategy, Priority, PriorityOrder, Rona,
    SkillExpr, StateTest, Target, UtcOffsets,
};

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct S<T> {
    pub value: T,
    pub loc: Loc,
}

#[derive(Debug, Clone, Default)]
pub struct SettingsDef {
    pub loc: Option<Loc>,
    /// From `time_zone` or `utc_offset` (at most one may be set).
    pub utc_offsets: Option<UtcOffsets>,
    pub default_wrap_up_ms: Option<u64>,
    pub default_rona: Option<Rona>,
    pub allowed_external: Vec<S<String>>,
    pub priority_order: Option<PriorityOrder>,
    pub balance: Option<Balance>,
    pub service_level_window_ms: Option<u64>,
    /// From `country_code` and the prefixes (see `numbering`); `None`: numbers stay literal.
    pub numbering: Option<acd_core::NumberPlan>,
    /// `ip_office_tags`: tags IP Office's incoming call routes set, which routes may ask for
    /// though no lookup sets them.
    pub ip_office_tags: Vec<S<String>>,
}

#[derive(Debug, Clone)]
pub struct SkillLevelDef {
    pub skill: S<String>,
    pub level: u8,
}

#[derive(Debug, Clone)]
pub struct ProfileDef {
    pub name: S<String>,
    pub skills: Vec<SkillLevelDef>,
}

#[derive(Debug, Clone)]
pub struct AgentDef {
    pub id: S<String>,
    pub display_name: Option<String>,
    pub profile: Option<S<String>>,
    pub skills: Vec<SkillLevelDef>,
    pub wrap_up_ms: Option<u64>,
    /// `take_calls_when_forwarded`: the agent's forward leads to a phone they answer (a
    /// home worker's mobile), so a forward does not stop offers.
    pub takes_calls_when_forwarded: bool,
}

#[derive(Debug, Clone)]
pub struct CalendarDef {
    pub open: Vec<acd_core::OpenWindow>,
    pub holidays: Vec<Holiday>,
    pub night: S<Target>,
    pub holiday: Option<S<Target>>,
    pub at_close: AtClose,
}

#[derive(Debug, Clone)]
pub struct QueueDef {
    pub name: S<String>,
    pub strategy: PickStrategy,
    pub weight: f64,
    pub wrap_up_ms: Option<u64>,
    pub rona: Option<Rona>,
    pub max_waiting: Option<(u32, S<Target>)>,
    pub when_no_agents: Option<S<Target>>,
    pub when_no_qualified: Option<S<Target>>,
    pub calendar: Option<CalendarDef>,
    pub service_level_ms: Vec<u64>,
    /// 0..=1; `None`: the default (0.8).
    pub service_level_target: Option<f64>,
    pub agents: Vec<S<String>>,
    pub backup_agents: Vec<S<String>>,
    pub helpers: Vec<S<String>>,
    pub helpers_when: Vec<StateTest>,
    /// `delivery = "collective"`, located; `None`: offers (the default).
    pub delivery: Option<S<Delivery>>,
}

#[derive(Debug, Clone)]
pub struct StepDef {
    pub loc: Loc,
    pub after: S<u64>,
    pub require: Option<(SkillExpr, Vec<S<String>>)>,
    pub priority: Option<Priority>,
    pub overflow: Option<S<Target>>,
    pub when: Vec<StateTest>,
}

#[derive(Debug, Clone)]
pub struct RouteDef {
    pub name: S<String>,
    pub conditions: Vec<Condition>,
    /// Queues named in the `queue` condition, with locations (empty: every queue).
    pub queue_refs: Vec<S<String>>,
    pub requires: SkillExpr,
    pub requires_refs: Vec<S<String>>,
    pub priority: Option<Priority>,
    pub steps: Vec<StepDef>,
    /// The `language` values, located, for the checks of values nothing can match.
    pub language_refs: Vec<S<String>>,
    /// The `tag` patterns, located, for the same checks.
    pub tag_refs: Vec<S<String>>,
}

/// Everything read from all files of a ruleset.
#[derive(Debug, Clone, Default)]
pub struct RulesDef {
    pub settings: SettingsDef,
    pub skills: Vec<S<String>>,
    pub profiles: Vec<ProfileDef>,
    pub agents: Vec<AgentDef>,
    pub queues: Vec<QueueDef>,
    pub routes: Vec<RouteDef>,
    /// `[[lookups]]` entries in file order.
    pub lookups: Vec<crate::lookups::LookupDef>,
}
