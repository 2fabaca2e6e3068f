//! Merging the files of a ruleset, resolving every name (skills, profiles, agents, queues,
//! targets) with "did you mean" on failure, and compiling the result into the core's
//! [`RoutingConfig`].

use crate::diag::{suggest, Diag, Loc};
use crate::model::*;
use crate::target::format_target;
use acd_core::{
    AgentId, AgentProfile, Calendar, Delivery, Pattern, QueueId, QueuePolicy, Route, RoutingConfig,
    Step, StepAction, Target,
};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The industry's usual "80 % within 20 s", for a queue whose rules name no service level: a
/// queue must always have one, or its service-level series would read 0 and alert falsely.
pub const DEFAULT_SERVICE_LEVEL_MS: [u64; 1] = [20_000];
pub const DEFAULT_SERVICE_LEVEL_TARGET: f64 = 0.8;

/// Merges per-file definitions, reporting names defined twice. Later files' duplicates are
/// dropped so that checks go on with the first definition. Names are looked up in hash maps:
/// a ruleset with tens of thousands of agents must not compare each with all before it.
pub fn merge(
    defs: Vec<RulesDef>,
    diags: &mut Vec<Diag>,
    position: &dyn Fn(&Loc) -> String,
) -> RulesDef {
    let mut out = RulesDef::default();
    let dup = |diags: &mut Vec<Diag>, what: &str, name: &str, again: &Loc, first: &Loc| {
        diags.push(
            Diag::error(
                "rules::duplicate",
                format!("{what} `{name}` is defined twice"),
            )
            .at(again, "defined again here")
            .help(format!(
                "first defined at {}; keep one definition",
                position(first)
            )),
        );
    };
    /// Where each name was first defined, per kind of thing.
    #[derive(Default)]
    struct Seen(HashMap<String, Loc>);
    impl Seen {
        /// The first definition's location if `name` was seen before, else records it.
        fn first(&mut self, name: &str, loc: &Loc) -> Option<Loc> {
            crate::cost::charge(1);
            match self.0.get(name) {
                Some(first) => Some(first.clone()),
                None => {
                    self.0.insert(name.to_string(), loc.clone());
                    None
                }
            }
        }
    }
    let (mut skills, mut profiles, mut agents, mut queues, mut routes) = (
        Seen::default(),
        Seen::default(),
        Seen::default(),
        Seen::default(),
        Seen::default(),
    );
    for def in defs {
        if let Some(loc) = &def.settings.loc {
            match &out.settings.loc {
                Some(first) => dup(diags, "section", "[settings]", loc, first),
                None => out.settings = def.settings,
            }
        }
        for skill in def.skills {
            match skills.first(&skill.value, &skill.loc) {
                Some(first) => dup(diags, "skill", &skill.value, &skill.loc, &first),
                None => out.skills.push(skill),
            }
        }
        for p in def.profiles {
            match profiles.first(&p.name.value, &p.name.loc) {
                Some(first) => dup(diags, "profile", &p.name.value, &p.name.loc, &first),
                None => out.profiles.push(p),
            }
        }
        for a in def.agents {
            match agents.first(&a.id.value, &a.id.loc) {
                Some(first) => dup(diags, "agent", &a.id.value, &a.id.loc, &first),
                None => out.agents.push(a),
            }
        }
        for q in def.queues {
            match queues.first(&q.name.value, &q.name.loc) {
                Some(first) => dup(diags, "queue", &q.name.value, &q.name.loc, &first),
                None => out.queues.push(q),
            }
        }
        out.lookups.extend(def.lookups);
        for r in def.routes {
            match routes.first(&r.name.value, &r.name.loc) {
                Some(first) => dup(diags, "route", &r.name.value, &r.name.loc, &first),
                None => out.routes.push(r),
            }
        }
    }
    out
}

/// The names of one kind of thing: a set for lookups, and the definition order for help texts.
struct Names<'a> {
    set: HashSet<&'a str>,
    list: Vec<&'a str>,
}

impl<'a> Names<'a> {
    fn new(list: Vec<&'a str>) -> Self {
        Names {
            set: list.iter().copied().collect(),
            list,
        }
    }

    fn contains(&self, name: &str) -> bool {
        crate::cost::charge(1);
        self.set.contains(name)
    }
}

/// How many names a help text lists when no close match is found: enough to show the kind of
/// name expected, without pasting a huge ruleset into every message.
const LISTED_NAMES: usize = 10;

fn unknown(
    diags: &mut Vec<Diag>,
    code: &'static str,
    what: &str,
    name: &S<String>,
    known: &Names<'_>,
    declare_hint: &str,
) {
    let known = &known.list;
    // A suggestion looks at every name; unknown names are mistakes, so this stays rare.
    crate::cost::charge(known.len());
    let help = match suggest(&name.value, known.iter().copied()) {
        Some(best) => format!("did you mean `{best}`? {declare_hint}"),
        None if known.is_empty() => declare_hint.to_string(),
        None if known.len() > LISTED_NAMES => format!(
            "known {what}s include: {} and {} more. {declare_hint}",
            known[..LISTED_NAMES].join(", "),
            known.len() - LISTED_NAMES
        ),
        None => format!("known {what}s: {}. {declare_hint}", known.join(", ")),
    };
    diags.push(
        Diag::error(code, format!("unknown {what} `{}`", name.value))
            .at(&name.loc, format!("no such {what}"))
            .help(help),
    );
}

/// Resolves names and compiles. Returns the config even when errors were reported (callers
/// decide by the report), so graph checks can still run on what resolved.
pub fn compile(def: &RulesDef, diags: &mut Vec<Diag>) -> RoutingConfig {
    let skills = Names::new(def.skills.iter().map(|s| s.value.as_str()).collect());
    let check_skill = |diags: &mut Vec<Diag>, name: &S<String>| {
        if !skills.contains(&name.value) {
            unknown(
                diags,
                "rules::unknown-skill",
                "skill",
                name,
                &skills,
                "Every skill must be declared under [skills].",
            );
        }
    };
    let agent_ids = Names::new(def.agents.iter().map(|a| a.id.value.as_str()).collect());
    let queue_names = Names::new(def.queues.iter().map(|q| q.name.value.as_str()).collect());
    let profile_names = Names::new(def.profiles.iter().map(|p| p.name.value.as_str()).collect());
    let profiles: HashMap<&str, &ProfileDef> = def
        .profiles
        .iter()
        .map(|p| (p.name.value.as_str(), p))
        .collect();

    let mut cfg = RoutingConfig::default();
    if let Some(offsets) = &def.settings.utc_offsets {
        cfg.utc_offsets = offsets.clone();
    }
    if let Some(ms) = def.settings.default_wrap_up_ms {
        cfg.default_wrap_up_ms = ms;
    }
    if let Some(r) = def.settings.default_rona {
        cfg.default_rona = r;
    }
    if let Some(balance) = def.settings.balance {
        cfg.balance = balance;
    }
    if let Some(window) = def.settings.service_level_window_ms {
        cfg.service_level_window_ms = window;
    }
    if let Some(order) = def.settings.priority_order {
        cfg.priority_order = order;
    }
    cfg.allowed_external = def
        .settings
        .allowed_external
        .iter()
        .map(|p| Pattern::new(p.value.clone()))
        .collect();
    cfg.numbering.clone_from(&def.settings.numbering);

    for p in &def.profiles {
        for s in &p.skills {
            check_skill(diags, &s.skill);
        }
    }
    for a in &def.agents {
        let mut skills_map = BTreeMap::new();
        if let Some(profile) = &a.profile {
            crate::cost::charge(1);
            match profiles.get(profile.value.as_str()) {
                Some(p) => {
                    for s in &p.skills {
                        skills_map.insert(s.skill.value.clone(), s.level);
                    }
                }
                None => unknown(
                    diags,
                    "rules::unknown-profile",
                    "profile",
                    profile,
                    &profile_names,
                    "Profiles are defined as [profiles.NAME].",
                ),
            }
        }
        // The agent's own levels override the profile's.
        for s in &a.skills {
            check_skill(diags, &s.skill);
            skills_map.insert(s.skill.value.clone(), s.level);
        }
        cfg.agents.insert(
            AgentId(a.id.value.clone()),
            AgentProfile {
                agent: AgentId(a.id.value.clone()),
                skills: skills_map,
                wrap_up_ms: a.wrap_up_ms,
                takes_calls_when_forwarded: a.takes_calls_when_forwarded,
            },
        );
    }

    let check_target = |diags: &mut Vec<Diag>, t: &S<Target>| match &t.value {
        Target::Queue(q) => {
            if !queue_names.contains(&q.0) {
                let name = S {
                    value: q.0.clone(),
                    loc: t.loc.clone(),
                };
                unknown(
                    diags,
                    "rules::unknown-queue",
                    "queue",
                    &name,
                    &queue_names,
                    "Queues are defined as [queues.NAME].",
                );
            }
        }
        Target::Agent(a) => {
            if !agent_ids.contains(&a.0) {
                let name = S {
                    value: a.0.clone(),
                    loc: t.loc.clone(),
                };
                unknown(
                    diags,
                    "rules::unknown-agent",
                    "agent",
                    &name,
                    &agent_ids,
                    "Agents are defined as [agents.EXTENSION].",
                );
            }
        }
        Target::Voicemail(_) => {}
        Target::External(number) => {
            let plan = cfg.numbering.as_ref();
            if !cfg
                .allowed_external
                .iter()
                .any(|p| acd_core::number::matches(plan, p, number))
            {
                diags.push(
                    Diag::error(
                        "rules::external-not-allowed",
                        format!("transfer to {} is not allowed", format_target(&t.value)),
                    )
                    .at(&t.loc, "no allowed_transfer_targets pattern matches")
                    .help(
                        "external numbers must match a pattern in [settings] \
                         allowed_transfer_targets (toll-fraud guard), for example \"+4930*\"",
                    ),
                );
            }
        }
    };

    for q in &def.queues {
        let mut tiers: [Vec<AgentId>; 3] = Default::default();
        let mut listed: HashMap<&str, &Loc> = HashMap::new();
        for (tier, list) in [&q.agents, &q.backup_agents, &q.helpers]
            .into_iter()
            .enumerate()
        {
            for a in list {
                if let Some(first) = listed.insert(a.value.as_str(), &a.loc) {
                    diags.push(
                        Diag::error(
                            "rules::duplicate",
                            format!(
                                "agent {} is listed twice for queue `{}`",
                                a.value, q.name.value
                            ),
                        )
                        .at(&a.loc, "again here")
                        .at(first, "first here")
                        .help("an agent belongs to one tier of a queue: agents, backup_agents or helpers"),
                    );
                    continue;
                }
                if agent_ids.contains(&a.value) {
                    tiers[tier].push(AgentId(a.value.clone()));
                } else {
                    unknown(
                        diags,
                        "rules::unknown-agent",
                        "agent",
                        a,
                        &agent_ids,
                        "Agents are defined as [agents.EXTENSION].",
                    );
                }
            }
        }
        let [agents, backup_agents, helpers] = tiers;
        if let Some((_, t)) = &q.max_waiting {
            check_target(diags, t);
        }
        if let Some(t) = &q.when_no_agents {
            check_target(diags, t);
        }
        if let Some(t) = &q.when_no_qualified {
            check_target(diags, t);
        }
        if let Some(c) = &q.calendar {
            check_target(diags, &c.night);
            if let Some(t) = &c.holiday {
                check_target(diags, t);
            }
        }
        let id = QueueId(q.name.value.clone());
        cfg.queues.insert(
            id.clone(),
            QueuePolicy {
                queue: id,
                strategy: q.strategy,
                weight: q.weight,
                wrap_up_ms: q.wrap_up_ms.unwrap_or(cfg.default_wrap_up_ms),
                rona: q.rona.unwrap_or(cfg.default_rona),
                max_waiting: q.max_waiting.as_ref().map(|(n, t)| (*n, t.value.clone())),
                no_agents_target: q.when_no_agents.as_ref().map(|t| t.value.clone()),
                no_qualified_target: q.when_no_qualified.as_ref().map(|t| t.value.clone()),
                calendar: q.calendar.as_ref().map(|c| Calendar {
                    utc_offsets: cfg.utc_offsets.clone(),
                    open: c.open.clone(),
                    holidays: c.holidays.clone(),
                    night_target: c.night.value.clone(),
                    holiday_target: c.holiday.as_ref().map(|t| t.value.clone()),
                    at_close: c.at_close,
                }),
                service_level_ms: if q.service_level_ms.is_empty() {
                    DEFAULT_SERVICE_LEVEL_MS.to_vec()
                } else {
                    q.service_level_ms.clone()
                },
                service_level_target: q
                    .service_level_target
                    .unwrap_or(DEFAULT_SERVICE_LEVEL_TARGET),
                agents,
                backup_agents,
                helpers,
                helpers_when: q.helpers_when.clone(),
                delivery: q.delivery.as_ref().map_or(Delivery::Offer, |d| d.value),
            },
        );
    }

    for r in &def.routes {
        for q in &r.queue_refs {
            if !queue_names.contains(&q.value) {
                unknown(
                    diags,
                    "rules::unknown-queue",
                    "queue",
                    q,
                    &queue_names,
                    "Queues are defined as [queues.NAME].",
                );
            }
        }
        for s in &r.requires_refs {
            check_skill(diags, s);
        }
        let mut steps = Vec::new();
        let mut last_after: Option<&S<u64>> = None;
        for st in &r.steps {
            if let Some(prev) = last_after {
                if st.after.value < prev.value {
                    diags.push(
                        Diag::error(
                            "rules::step-order",
                            format!("steps of route \"{}\" are out of order", r.name.value),
                        )
                        .at(&st.after.loc, "earlier than the step before it")
                        .help("list steps in the order they fire (ascending `after`)"),
                    );
                }
            }
            last_after = Some(&st.after);
            if let Some((expr, refs)) = &st.require {
                for s in refs {
                    check_skill(diags, s);
                }
                steps.push(Step {
                    after_ms: st.after.value,
                    action: StepAction::Require(expr.clone()),
                    when: st.when.clone(),
                });
            }
            if let Some(p) = st.priority {
                steps.push(Step {
                    after_ms: st.after.value,
                    action: StepAction::Priority(p),
                    when: st.when.clone(),
                });
            }
            if let Some(t) = &st.overflow {
                check_target(diags, t);
                steps.push(Step {
                    after_ms: st.after.value,
                    action: StepAction::Overflow(t.value.clone()),
                    when: st.when.clone(),
                });
            }
        }
        cfg.routes.push(Route {
            name: r.name.value.clone(),
            conditions: r.conditions.clone(),
            requires: r.requires.clone(),
            steps,
            priority: r.priority,
        });
    }
    cfg
}
