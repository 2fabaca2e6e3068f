//! Scenario files: the people, hunt groups and traffic of one simulated IP Office.
//!
//! A scenario is plain TOML so supervisors can write one (see `scenarios/README.md`). Loading
//! validates every cross-reference (members, overflow targets, schedules) up front so the model
//! never meets a dangling name at run time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::dist::Dist;
use super::error::SimError;
use super::model::proficiency::MAX_LEVEL;

/// The default scenario shipped with the repository (two queues, twelve agents).
pub const DEFAULT_SCENARIO: &str = include_str!("../../../scenarios/default.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub sim: SimSettings,
    /// Service users allowed to connect (HTTP Basic in the websocket upgrade).
    #[serde(default, rename = "service_user")]
    pub service_users: Vec<ServiceUser>,
    #[serde(default, rename = "user")]
    pub users: Vec<UserSpec>,
    #[serde(default, rename = "queue")]
    pub queues: Vec<QueueSpec>,
    /// Agents logging in and out and going DND at given times.
    #[serde(default, rename = "schedule")]
    pub schedule: Vec<ScheduleEntry>,
    /// `[engine]`: how IP Office is set up where the engine routes, beyond what
    /// [`Scenario::set_up_for_engine`] always does (the safety net).
    #[serde(default)]
    pub engine: EngineSetup,
    /// Directory relative paths in the file (the trace file) are resolved against.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimSettings {
    /// Seeds every random stream: the same seed gives the same callers.
    pub seed: u64,
    /// Service-level threshold for the summary (seconds).
    pub service_level_s: f64,
    /// Replay arrivals from this CSV file in addition to any Poisson traffic.
    pub trace_file: Option<PathBuf>,
    /// How long a caller spends leaving a voicemail message.
    pub voicemail_message: Dist,
    /// Defaults for agents that do not set their own.
    pub answer_delay: Dist,
    pub no_answer_probability: f64,
    pub wrap_up: Dist,
    /// `k` of the proficiency rule (see `model::proficiency`): how much longer an agent at
    /// skill level 0 talks than one at level 10 (talk × (1 + k)). 0, the default, makes talk
    /// time independent of who answers.
    pub skill_talk_factor: f64,
    /// Keep a log of every answer (the call as it arrived and who took it, see
    /// `Model::answers`): the routing study sets it to judge the answering agents; never read
    /// from a file, since a long simulator run would only grow it.
    #[serde(skip)]
    pub answer_log: bool,
    /// A free agent takes a caller still within the service-level threshold before one
    /// already past it (each by priority, then arrival): the routing study's bound sets it,
    /// because first come, first served spends agents on callers the service level already
    /// counts as missed while newer ones wait past it. Never read from a file: no IP Office
    /// hunts this way.
    #[serde(skip)]
    pub in_time_first: bool,
}

impl Default for SimSettings {
    fn default() -> Self {
        SimSettings {
            seed: 1,
            service_level_s: 20.0,
            trace_file: None,
            voicemail_message: Dist::fixed_s(20.0),
            answer_delay: Dist::Uniform {
                min_s: 1.0,
                max_s: 4.0,
            },
            no_answer_probability: 0.0,
            wrap_up: Dist::fixed_s(0.0),
            skill_talk_factor: 0.0,
            answer_log: false,
            in_time_first: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceUser {
    pub name: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub extn: String,
    pub name: String,
    #[serde(default)]
    pub full_name: String,
    #[serde(default = "yes")]
    pub logged_in: bool,
    #[serde(default)]
    pub dnd: bool,
    #[serde(default)]
    pub phone_fault: bool,
    /// Unanswered direct calls go to the user's voicemail after `no_answer_s`.
    #[serde(default)]
    pub voicemail: bool,
    #[serde(default = "fifteen")]
    pub no_answer_s: f64,
    #[serde(default)]
    pub language: String,
    pub answer_delay: Option<Dist>,
    pub no_answer_probability: Option<f64>,
    /// Overrides the queue's and the scenario's wrap-up.
    pub wrap_up: Option<Dist>,
    /// Proficiency per skill (language or product), 0..=10; it stretches talk time when
    /// `sim.skill_talk_factor` is set. Empty: talk time as drawn.
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
}

/// How a hunt group picks which member to ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RingMode {
    /// Ring every available member at once.
    Collective,
    /// Always start at the first member in list order.
    Sequential,
    /// Start after the member that was rung last.
    Rotary,
    /// Ring the member idle for longest first.
    LongestWaiting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ServiceModeSpec {
    #[default]
    Active,
    NightService,
    OutOfService,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSpec {
    pub name: String,
    pub extn: String,
    #[serde(default = "longest_waiting")]
    pub ring_mode: RingMode,
    /// Seconds a member rings before the hunt moves on (not for collective).
    #[serde(default = "fifteen")]
    pub no_answer_s: f64,
    /// Member extensions in hunt order.
    #[serde(default)]
    pub members: Vec<String>,
    /// Members that start disabled (not taking hunt-group calls).
    #[serde(default)]
    pub disabled_members: Vec<String>,
    #[serde(default)]
    pub service_mode: ServiceModeSpec,
    #[serde(default)]
    pub voicemail: bool,
    /// Seconds in the queue before the call goes to voicemail (needs `voicemail = true`).
    pub voicemail_after_s: Option<f64>,
    /// Seconds in the queue before the call is also presented to the members of the
    /// overflow groups (IP Office's Overflow Time).
    pub overflow_after_s: Option<f64>,
    /// The Overflow Group List: queue names, in order. The call stays in this queue; the
    /// overflow groups only add members who may answer it (see `scenarios/README.md`).
    #[serde(default, deserialize_with = "one_or_many")]
    pub overflow_to: Vec<String>,
    /// `group` (IP Office's default: once one queued call overflows, every queued call does)
    /// or `call` (each call after its own overflow time).
    #[serde(default)]
    pub overflow_mode: OverflowMode,
    /// IP Office's Queue Limit: calls arriving when this many are in the queue (waiting or
    /// ringing) go to voicemail when the queue has it, else hear busy and are lost.
    pub queue_limit: Option<u32>,
    /// Where calls go in night service or out of service: a queue name or `voicemail`
    /// (the default).
    pub night_service_to: Option<String>,
    pub traffic: Option<TrafficSpec>,
}

/// `[engine]`: IP Office settings that only matter when the engine routes the queues.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSetup {
    /// Who answers when no engine is up; none by default (existing set-ups are unchanged).
    pub safety_net: Option<SafetyNet>,
}

/// The safety net for when no engine is up.
///
/// The routed groups' members are disabled in IP Office (the engine rings them), so with every
/// engine down nobody's phone rings and every caller waits until they give up. The net is
/// plain IP Office configuration, so it works exactly when the engine does not: each routed
/// group overflows after `after_s` to `group`, a native hunt group whose members are enabled.
/// An overflowing call stays queued in its routed group (IP Office's overflow semantics, see
/// `scenarios/README.md`), so the engine can still route it; the net's members only get the
/// calls that waited that long, which with an engine up are few (see the README's "Safety
/// net" section for the measured cost).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyNet {
    /// The native hunt group whose enabled members answer (IP Office's Overflow Group List
    /// of every routed group names only this group).
    pub group: String,
    /// IP Office's Overflow Time on every routed group, seconds; must be above 0 (IP Office
    /// overflows at once when every member is busy and no Overflow Time is set, and with the
    /// members disabled they always are: the net would take every call from the engine).
    pub after_s: f64,
    /// The routed groups' Overflow Mode. `call` (the default here, not IP Office's) keeps the
    /// net to the calls that waited `after_s` themselves; in `group` mode one such call sends
    /// every call queued behind it to the net too, newly arrived ones included.
    #[serde(default = "call_mode")]
    pub mode: OverflowMode,
}

fn call_mode() -> OverflowMode {
    OverflowMode::Call
}

/// When calls of a hunt group overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverflowMode {
    #[default]
    Group,
    Call,
}

/// A list written as one string or as an array of strings.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weighted {
    pub value: String,
    pub weight: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficSpec {
    /// Mean Poisson arrival rate.
    pub calls_per_hour: f64,
    pub talk: Dist,
    #[serde(default = "never")]
    pub patience: Dist,
    /// Wrap-up after calls from this queue, unless the agent sets one.
    pub wrap_up: Option<Dist>,
    /// Call languages (IP Office call data), weighted.
    #[serde(default)]
    pub languages: Vec<Weighted>,
    /// Dialled numbers the calls arrive on, weighted.
    #[serde(default)]
    pub dids: Vec<Weighted>,
    #[serde(default)]
    pub tags: Vec<Weighted>,
    #[serde(default = "sip")]
    pub trunk: String,
    /// Calling numbers are this prefix plus random digits.
    #[serde(default = "calling_prefix")]
    pub calling_prefix: String,
    /// Share of callers that arrive with IP Office priority 3 (high); the rest have 1.
    #[serde(default)]
    pub high_priority_share: f64,
    /// Priority (1-3) that IP Office's incoming call route gives calls on a DID, e.g.
    /// `{ "0800555" = 3 }`: overrides `high_priority_share` for those calls.
    #[serde(default)]
    pub did_priority: BTreeMap<String, u8>,
    /// Skills a call of this queue needs besides its language (e.g. `["sales"]`): the
    /// answering agent's weakest level among them sets its talk time.
    #[serde(default)]
    pub needs: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleAction {
    Login,
    Logout,
    DndOn,
    DndOff,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEntry {
    pub at_s: f64,
    pub user: String,
    pub action: ScheduleAction,
}

fn yes() -> bool {
    true
}
fn fifteen() -> f64 {
    15.0
}
fn longest_waiting() -> RingMode {
    RingMode::LongestWaiting
}
fn never() -> Dist {
    Dist::Never
}
fn sip() -> String {
    "sip".to_string()
}
fn calling_prefix() -> String {
    "+4930555".to_string()
}

/// Parses a trunk name as scenario files and trace files write it: the same words rule files
/// take.
pub fn parse_trunk(name: &str) -> Option<acd_core::TrunkKind> {
    acd_core::TrunkKind::from_name(name)
}

impl Scenario {
    /// IP Office set up for the engine as the README tells operators: in every queue `routed`
    /// names, the members stay but are disabled (IP Office queues and announces, the engine
    /// rings), and IP Office's own overflow and voicemail timers are off (the rules' steps do
    /// that work) — except, when `[engine] safety_net` is set, the overflow to the safety
    /// group after its time. Applying it twice gives the same set-up (the study and the
    /// deterministic simulation both call it).
    pub fn set_up_for_engine(&mut self, routed: impl Fn(&str) -> bool) {
        let net = self.engine.safety_net.clone();
        for q in self.queues.iter_mut().filter(|q| routed(&q.name)) {
            q.disabled_members = q.members.clone();
            q.voicemail_after_s = None;
            match &net {
                // A routed safety group would have its own members disabled: no net at all.
                // `Study` refuses that set-up; here the group is simply not its own overflow.
                Some(net) if net.group != q.name => {
                    q.overflow_after_s = Some(net.after_s);
                    q.overflow_to = vec![net.group.clone()];
                    q.overflow_mode = net.mode;
                }
                _ => {
                    q.overflow_after_s = None;
                    q.overflow_to.clear();
                }
            }
        }
    }

    /// [`Scenario::set_up_for_engine`] with this safety net (or none) in place of the
    /// scenario's own `[engine] safety_net`.
    pub fn set_up_for_engine_with_net(
        &mut self,
        routed: impl Fn(&str) -> bool,
        net: Option<SafetyNet>,
    ) {
        self.engine.safety_net = net;
        self.set_up_for_engine(routed);
    }

    /// The scenario shipped in `scenarios/default.toml`.
    pub fn default_scenario() -> Result<Scenario, SimError> {
        Scenario::from_toml_str(DEFAULT_SCENARIO, Path::new("scenarios"))
    }

    pub fn load(path: &Path) -> Result<Scenario, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut scenario: Scenario =
            toml::from_str(&text).map_err(|source| SimError::ScenarioSyntax {
                path: path.to_path_buf(),
                source,
            })?;
        scenario.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        scenario.validate()?;
        Ok(scenario)
    }

    pub fn from_toml_str(text: &str, base_dir: &Path) -> Result<Scenario, SimError> {
        let mut scenario: Scenario =
            toml::from_str(text).map_err(|source| SimError::ScenarioSyntax {
                path: PathBuf::from("<inline>"),
                source,
            })?;
        scenario.base_dir = base_dir.to_path_buf();
        scenario.validate()?;
        Ok(scenario)
    }

    /// Checks every reference and every number; the model relies on this.
    pub fn validate(&self) -> Result<(), SimError> {
        let err = |m: String| Err(SimError::Scenario(m));
        let s = &self.sim;
        if !(s.service_level_s.is_finite() && s.service_level_s >= 0.0) {
            return err("sim.service_level_s must be >= 0".into());
        }
        s.voicemail_message.validate("sim.voicemail_message")?;
        s.answer_delay.validate("sim.answer_delay")?;
        s.wrap_up.validate("sim.wrap_up")?;
        check_probability("sim.no_answer_probability", s.no_answer_probability)?;
        if !(s.skill_talk_factor.is_finite() && s.skill_talk_factor >= 0.0) {
            return err("sim.skill_talk_factor must be a finite number >= 0".into());
        }

        let mut extns = BTreeSet::new();
        let mut user_extns = BTreeSet::new();
        for u in &self.users {
            if u.extn.is_empty() || !extns.insert(u.extn.clone()) {
                return err(format!(
                    "user extension '{}' is empty or not unique",
                    u.extn
                ));
            }
            user_extns.insert(u.extn.clone());
            check_seconds(&format!("user {}: no_answer_s", u.extn), u.no_answer_s)?;
            if let Some(d) = &u.answer_delay {
                d.validate(&format!("user {}: answer_delay", u.extn))?;
            }
            if let Some(d) = &u.wrap_up {
                d.validate(&format!("user {}: wrap_up", u.extn))?;
            }
            if let Some(p) = u.no_answer_probability {
                check_probability(&format!("user {}: no_answer_probability", u.extn), p)?;
            }
            if let Some((skill, level)) = u.skills.iter().find(|(_, &l)| l > MAX_LEVEL) {
                return err(format!(
                    "user {}: skill '{skill}' level {level} is above {MAX_LEVEL}",
                    u.extn
                ));
            }
        }
        let mut names = BTreeSet::new();
        for q in &self.queues {
            if q.extn.is_empty() || !extns.insert(q.extn.clone()) {
                return err(format!(
                    "queue '{}': extension '{}' is empty or already used",
                    q.name, q.extn
                ));
            }
            if q.name.is_empty() || !names.insert(q.name.clone()) {
                return err(format!("queue name '{}' is empty or not unique", q.name));
            }
        }
        for q in &self.queues {
            let ctx = format!("queue {}", q.name);
            check_seconds(&format!("{ctx}: no_answer_s"), q.no_answer_s)?;
            for m in q.members.iter().chain(&q.disabled_members) {
                if !user_extns.contains(m) {
                    return err(format!("{ctx}: member '{m}' is not a user extension"));
                }
            }
            for m in &q.disabled_members {
                if !q.members.contains(m) {
                    return err(format!("{ctx}: disabled member '{m}' is not in members"));
                }
            }
            if let Some(t) = &q.night_service_to {
                if t != "voicemail" && !names.contains(t) {
                    return err(format!(
                        "{ctx}: night_service_to '{t}' is neither a queue nor voicemail"
                    ));
                }
                if t == &q.name {
                    return err(format!(
                        "{ctx}: night_service_to points at the queue itself"
                    ));
                }
            }
            for t in &q.overflow_to {
                if t == "voicemail" {
                    return err(format!(
                        "{ctx}: overflow_to lists hunt groups whose members may also answer; \
                         for voicemail after a time set voicemail = true and voicemail_after_s"
                    ));
                }
                if !names.contains(t) {
                    return err(format!("{ctx}: overflow_to '{t}' is not a queue"));
                }
                if t == &q.name {
                    return err(format!("{ctx}: overflow_to points at the queue itself"));
                }
            }
            if q.overflow_after_s.is_some() == q.overflow_to.is_empty() {
                return err(format!(
                    "{ctx}: overflow_after_s and overflow_to go together"
                ));
            }
            if q.queue_limit == Some(0) {
                return err(format!("{ctx}: queue_limit must be at least 1"));
            }
            for (field, v) in [
                ("overflow_after_s", q.overflow_after_s),
                ("voicemail_after_s", q.voicemail_after_s),
            ] {
                if let Some(v) = v {
                    check_seconds(&format!("{ctx}: {field}"), v)?;
                }
            }
            if let Some(t) = &q.traffic {
                if !(t.calls_per_hour.is_finite() && t.calls_per_hour >= 0.0) {
                    return err(format!("{ctx}: calls_per_hour must be >= 0"));
                }
                t.talk.validate(&format!("{ctx}: talk"))?;
                if let Some((did, p)) = t.did_priority.iter().find(|(_, p)| !(1..=3).contains(*p)) {
                    return err(format!(
                        "{ctx}: did_priority for '{did}' is {p}; IP Office priorities are 1 to 3"
                    ));
                }
                t.patience.validate(&format!("{ctx}: patience"))?;
                if let Some(w) = &t.wrap_up {
                    w.validate(&format!("{ctx}: wrap_up"))?;
                }
                check_probability(
                    &format!("{ctx}: high_priority_share"),
                    t.high_priority_share,
                )?;
                for (field, list) in [
                    ("languages", &t.languages),
                    ("dids", &t.dids),
                    ("tags", &t.tags),
                ] {
                    for w in list {
                        if !(w.weight.is_finite() && w.weight >= 0.0) {
                            return err(format!("{ctx}: {field} weight must be >= 0"));
                        }
                    }
                }
                if parse_trunk(&t.trunk).is_none() {
                    return err(format!("{ctx}: unknown trunk '{}'", t.trunk));
                }
            }
        }
        if let Some(net) = &self.engine.safety_net {
            let Some(group) = self.queues.iter().find(|q| q.name == net.group) else {
                return err(format!(
                    "engine.safety_net: group '{}' is not a queue",
                    net.group
                ));
            };
            if !(net.after_s.is_finite() && net.after_s > 0.0) {
                return err(
                    "engine.safety_net: after_s must be a number above 0 (with no Overflow \
                     Time IP Office overflows every call at once, since the routed groups' \
                     members are disabled)"
                        .into(),
                );
            }
            if group.members.len() == group.disabled_members.len() {
                return err(format!(
                    "engine.safety_net: group '{}' has no enabled member to answer",
                    net.group
                ));
            }
        }
        for e in &self.schedule {
            check_seconds("schedule.at_s", e.at_s)?;
            if !user_extns.contains(&e.user) {
                return err(format!("schedule: '{}' is not a user extension", e.user));
            }
        }
        Ok(())
    }
}

fn check_probability(what: &str, p: f64) -> Result<(), SimError> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(SimError::Scenario(format!(
            "{what} must be between 0 and 1"
        )))
    }
}

fn check_seconds(what: &str, s: f64) -> Result<(), SimError> {
    if s.is_finite() && s >= 0.0 {
        Ok(())
    } else {
        Err(SimError::Scenario(format!(
            "{what} must be a finite number >= 0"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scenario_is_valid() {
        let s = Scenario::default_scenario().unwrap();
        assert!(s.queues.len() >= 2);
        assert!(s.users.len() >= 10);
        assert!(!s.service_users.is_empty());
    }

    #[test]
    fn dangling_references_are_rejected() {
        let base = r#"
            [[user]]
            extn = "201"
            name = "A"
            [[queue]]
            name = "Q"
            extn = "300"
        "#;
        assert!(Scenario::from_toml_str(base, Path::new(".")).is_ok());
        let bad_member = format!("{base}\nmembers = [\"999\"]\n");
        let e = Scenario::from_toml_str(&bad_member, Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("999"), "{e}");
        let bad_overflow = format!("{base}\noverflow_after_s = 10\noverflow_to = \"Nowhere\"\n");
        assert!(Scenario::from_toml_str(&bad_overflow, Path::new(".")).is_err());
        let dup = format!("{base}\n[[queue]]\nname = \"Q2\"\nextn = \"201\"\n");
        assert!(Scenario::from_toml_str(&dup, Path::new(".")).is_err());
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let text = "[[user]]\nextn = \"1\"\nname = \"A\"\nskils = 3\n";
        assert!(Scenario::from_toml_str(text, Path::new(".")).is_err());
    }

    /// Two routed groups (Sales: 201, 202; Support: 203) and the native group Safety (201,
    /// 202, 203, enabled), 60 calls an hour each, callers who wait as long as `patience`.
    /// `net` is the `[engine]` table, or nothing.
    fn centre(net: &str, patience: &str) -> Scenario {
        let text = format!(
            r#"
            [sim]
            seed = 11
            service_level_s = 20
            answer_delay = {{ dist = "fixed", s = 2 }}
            {net}
            [[user]]
            extn = "201"
            name = "A"
            [[user]]
            extn = "202"
            name = "B"
            [[user]]
            extn = "203"
            name = "C"
            [[queue]]
            name = "Sales"
            extn = "3001"
            members = ["201", "202"]
            overflow_after_s = 30
            overflow_to = "Support"
            voicemail = true
            voicemail_after_s = 600
            [queue.traffic]
            calls_per_hour = 60
            talk = {{ dist = "fixed", s = 60 }}
            patience = {patience}
            [[queue]]
            name = "Support"
            extn = "3002"
            members = ["203"]
            [queue.traffic]
            calls_per_hour = 60
            talk = {{ dist = "fixed", s = 60 }}
            patience = {patience}
            [[queue]]
            name = "Safety"
            extn = "3009"
            ring_mode = "longest_waiting"
            members = ["201", "202", "203"]
            "#
        );
        let mut s = Scenario::from_toml_str(&text, Path::new(".")).unwrap();
        // No engine at all: the routed groups set up for one, and nobody routing.
        s.set_up_for_engine(|q| q == "Sales" || q == "Support");
        s
    }

    const NET: &str = "[engine]\nsafety_net = { group = \"Safety\", after_s = 120 }\n";

    /// Two hours of callers, then an hour without new ones so the last callers can be served.
    fn run_without_engine(s: &Scenario) -> crate::stats::SimSummary {
        let mut m = crate::model::Model::new(s).unwrap();
        m.advance_to(acd_core::Timestamp(2 * 3_600_000));
        m.stop_arrivals();
        m.advance_to(acd_core::Timestamp(3 * 3_600_000));
        m.summary()
    }

    #[test]
    fn with_the_net_and_no_engine_every_caller_who_waits_reaches_a_person_after_the_overflow_time()
    {
        let s = centre(NET, "{ dist = \"never\" }");
        let q = &s.queues[0];
        assert_eq!(
            q.disabled_members, q.members,
            "routed members stay disabled"
        );
        assert_eq!(q.overflow_after_s, Some(120.0));
        assert_eq!(q.overflow_to, ["Safety"]);
        assert_eq!(q.overflow_mode, OverflowMode::Call);
        assert!(q.voicemail_after_s.is_none());
        assert!(s.queues[2].disabled_members.is_empty());
        let t = run_without_engine(&s).totals;
        assert!(t.offered > 80, "{t:?}");
        assert_eq!(t.answered, t.offered, "{t:?}");
        // Nobody before the overflow time: the routed groups' own members never ring.
        assert_eq!(t.service_level, 0.0, "{t:?}");
        assert!(t.asa_s >= 120.0, "{t:?}");
        assert_eq!(t.overflowed, t.offered, "{t:?}");
    }

    #[test]
    fn with_the_net_callers_who_give_up_before_the_overflow_time_are_still_lost() {
        // Patience 100 s against an overflow time of 120 s: the net is too late for everyone.
        let t = run_without_engine(&centre(NET, "{ dist = \"fixed\", s = 100 }")).totals;
        assert!(t.offered > 80, "{t:?}");
        assert_eq!((t.answered, t.abandoned), (0, t.offered), "{t:?}");
        // Patience 200 s: everyone is answered by the net, between 120 and 200 s.
        let t = run_without_engine(&centre(NET, "{ dist = \"fixed\", s = 200 }")).totals;
        assert_eq!(t.answered + t.abandoned, t.offered, "{t:?}");
        assert!(t.answered > t.offered * 9 / 10, "{t:?}");
        assert!(t.asa_s >= 120.0 && t.longest_wait_s <= 200.0, "{t:?}");
    }

    #[test]
    fn without_the_net_and_no_engine_nobody_is_answered() {
        let s = centre("", "{ dist = \"never\" }");
        assert!(s.queues[0].overflow_to.is_empty());
        let t = run_without_engine(&s).totals;
        assert!(t.offered > 80, "{t:?}");
        assert_eq!((t.answered, t.voicemail), (0, 0), "{t:?}");
        assert_eq!(t.in_progress, t.offered, "{t:?}");
    }

    #[test]
    fn group_mode_sends_every_queued_call_to_the_net_once_one_overflows() {
        let net = NET.replace("after_s = 120", "after_s = 120, mode = \"group\"");
        let s = centre(&net, "{ dist = \"never\" }");
        assert_eq!(s.queues[0].overflow_mode, OverflowMode::Group);
        let t = run_without_engine(&s).totals;
        assert_eq!(t.answered, t.offered, "{t:?}");
        // Calls behind the first overflowing one reach the net before their own 120 s.
        let call = run_without_engine(&centre(NET, "{ dist = \"never\" }")).totals;
        assert!(t.asa_s < call.asa_s, "group {t:?}, call {call:?}");
    }

    #[test]
    fn the_engine_set_up_is_the_same_applied_twice_and_unchanged_without_a_net() {
        let s = centre(NET, "{ dist = \"never\" }");
        let mut again = s.clone();
        again.set_up_for_engine(|q| q == "Sales" || q == "Support");
        assert_eq!(format!("{again:?}"), format!("{s:?}"));
        // Without `[engine]`, the set-up is what it always was: no overflow at all.
        let plain = centre("", "{ dist = \"never\" }");
        assert!(plain.queues[..2]
            .iter()
            .all(|q| q.overflow_after_s.is_none() && q.overflow_to.is_empty()));
        // The net passed in replaces the scenario's own, and `None` takes it away.
        let mut off = s.clone();
        off.set_up_for_engine_with_net(|q| q == "Sales" || q == "Support", None);
        assert!(off.queues[0].overflow_to.is_empty());
    }

    #[test]
    fn a_safety_net_must_name_a_group_with_someone_to_answer_and_a_time() {
        let base = centre("", "{ dist = \"never\" }");
        let check = |net: SafetyNet| {
            let mut s = base.clone();
            s.engine.safety_net = Some(net);
            s.validate()
        };
        let net = |group: &str, after_s: f64| SafetyNet {
            group: group.into(),
            after_s,
            mode: OverflowMode::Call,
        };
        assert!(check(net("Safety", 180.0)).is_ok());
        let e = check(net("Nowhere", 180.0)).unwrap_err();
        assert!(e.to_string().contains("Nowhere"), "{e}");
        let e = check(net("Safety", 0.0)).unwrap_err();
        assert!(e.to_string().contains("above 0"), "{e}");
        // Sales is set up for the engine: every member disabled, nobody to answer.
        let e = check(net("Sales", 180.0)).unwrap_err();
        assert!(e.to_string().contains("no enabled member"), "{e}");
    }
}
