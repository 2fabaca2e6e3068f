//! Honest baselines: IP Office's hunt groups as a careful administrator would tune them, not
//! only as the study file writes them.
//!
//! A margin over one native set-up measures that set-up. Independent runs (issue 25) showed
//! the engine's headline came from a 30 s Overflow Time: with 0–10 s, or with every qualified
//! agent listed in every group, native closed nearly all of it. So each study also runs, in
//! every ring mode it names, the Overflow Time sweep [`OVERFLOW_SWEEP_S`] (on the routed groups
//! that have overflow groups) and the "every qualified agent listed" membership, and the
//! headline compares the engine with the best of all of them per seed ([`best_tuned`]).

use acd_core::{Condition, QueueId, RoutingConfig, SkillExpr};
use serde::Serialize;

use crate::sim::scenario::RingMode;
use crate::sim::Scenario;

/// The Overflow Times tried, in seconds (IP Office's field takes whole seconds).
pub const OVERFLOW_SWEEP_S: [u32; 4] = [0, 10, 20, 30];

/// One native set-up of the routed groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NativeSetUp {
    pub mode: RingMode,
    /// The routed groups' Overflow Time; `None`: as the study file writes it.
    pub overflow_s: Option<u32>,
    /// Every agent the rules qualify for a group listed in it (after the file's members).
    pub every_qualified: bool,
}

impl NativeSetUp {
    /// The study file as written, in this ring mode: the "typical" set-up.
    pub fn typical(mode: RingMode) -> NativeSetUp {
        NativeSetUp {
            mode,
            overflow_s: None,
            every_qualified: false,
        }
    }

    /// What sets it apart from the typical set-up, e.g. "overflow 10 s, every qualified agent".
    pub fn tuning(&self) -> String {
        let overflow = self.overflow_s.map(|s| format!("overflow {s} s"));
        let members = self
            .every_qualified
            .then(|| "every qualified agent".to_string());
        let parts: Vec<String> = overflow.into_iter().chain(members).collect();
        if parts.is_empty() {
            "as written".into()
        } else {
            parts.join(", ")
        }
    }

    /// The study's scenario with the routed groups set up this way.
    pub fn apply(
        &self,
        base: &Scenario,
        rules: &RoutingConfig,
        routed: &impl Fn(&str) -> bool,
    ) -> Scenario {
        let mut scenario = base.clone();
        let qualified: Vec<(String, Vec<String>)> = if self.every_qualified {
            scenario
                .queues
                .iter()
                .filter(|q| routed(&q.name))
                .map(|q| (q.name.clone(), qualified_agents(&scenario, rules, &q.name)))
                .collect()
        } else {
            Vec::new()
        };
        for q in scenario.queues.iter_mut().filter(|q| routed(&q.name)) {
            q.ring_mode = self.mode;
            if let (Some(s), false) = (self.overflow_s, q.overflow_to.is_empty()) {
                q.overflow_after_s = Some(f64::from(s));
            }
            if let Some((_, agents)) = qualified.iter().find(|(name, _)| *name == q.name) {
                for agent in agents {
                    if !q.members.contains(agent) {
                        q.members.push(agent.clone());
                    }
                }
            }
        }
        scenario
    }
}

/// The agents the rules qualify for `queue`, in the scenario's user order: those its policy
/// lists in any tier (every agent the rules describe when it lists none) who meet the first
/// requirement of a route that can take the queue's calls (any agent when no route can).
pub fn qualified_agents(scenario: &Scenario, rules: &RoutingConfig, queue: &str) -> Vec<String> {
    let id = QueueId::from(queue);
    let listed: Vec<&acd_core::AgentId> = rules
        .queues
        .get(&id)
        .map(|p| {
            p.agents
                .iter()
                .chain(&p.backup_agents)
                .chain(&p.helpers)
                .collect()
        })
        .unwrap_or_default();
    let requirements: Vec<&SkillExpr> = rules
        .routes
        .iter()
        .filter(|r| {
            r.conditions.iter().all(|c| match c {
                Condition::Queue(queues) => queues.contains(&id),
                _ => true,
            })
        })
        .map(|r| &r.requires)
        .collect();
    scenario
        .users
        .iter()
        .filter_map(|u| {
            let (agent, profile) = rules
                .agents
                .iter()
                .find(|(a, _)| a.0 == u.extn && (listed.is_empty() || listed.contains(a)))?;
            let fits = requirements.is_empty()
                || requirements
                    .iter()
                    .any(|r| acd_core::skill::matches(r, &profile.skills));
            fits.then(|| agent.0.clone())
        })
        .collect()
}

/// Per routed group, its members and its Overflow Time (as bits, to compare exactly).
type Fingerprint = Vec<(Vec<String>, Option<u64>)>;

/// What a set-up changes in the routed groups: set-ups with the same fingerprint are the same
/// IP Office and are run once. An Overflow Time that can bring nobody new (every member of the
/// overflow groups is a member of the group already) changes nothing.
fn fingerprint(scenario: &Scenario, routed: &impl Fn(&str) -> bool) -> Fingerprint {
    scenario
        .queues
        .iter()
        .filter(|q| routed(&q.name))
        .map(|q| {
            let adds_someone = scenario
                .queues
                .iter()
                .filter(|g| q.overflow_to.contains(&g.name))
                .flat_map(|g| &g.members)
                .any(|m| !q.members.contains(m));
            let overflow = q.overflow_after_s.filter(|_| adds_someone);
            (q.members.clone(), overflow.map(f64::to_bits))
        })
        .collect()
}

/// The tuned set-ups to run beside the typical ones, with their scenarios: for each ring mode,
/// each membership (as written, every qualified agent) and each Overflow Time (as written, then
/// the sweep, where the routed groups overflow at all), leaving out any set-up that would be
/// the same IP Office as one already listed (the typical ones included).
pub fn sweep(
    base: &Scenario,
    rules: &RoutingConfig,
    routed: &impl Fn(&str) -> bool,
    modes: &[RingMode],
) -> Vec<(NativeSetUp, Scenario)> {
    let mut seen: Vec<(RingMode, Fingerprint)> = modes
        .iter()
        .map(|&mode| {
            let s = NativeSetUp::typical(mode).apply(base, rules, routed);
            (mode, fingerprint(&s, routed))
        })
        .collect();
    let mut out = Vec::new();
    for &mode in modes {
        for every_qualified in [false, true] {
            for overflow_s in std::iter::once(None).chain(OVERFLOW_SWEEP_S.map(Some)) {
                let set_up = NativeSetUp {
                    mode,
                    overflow_s,
                    every_qualified,
                };
                let scenario = set_up.apply(base, rules, routed);
                let key = (mode, fingerprint(&scenario, routed));
                if seen.contains(&key) {
                    continue;
                }
                seen.push(key);
                out.push((set_up, scenario));
            }
        }
    }
    out
}

/// Whether any routed group overflows, so the Overflow Time sweep means something.
pub fn overflows(base: &Scenario, routed: &impl Fn(&str) -> bool) -> bool {
    base.queues
        .iter()
        .any(|q| routed(&q.name) && !q.overflow_to.is_empty())
}

/// One native set-up's figures on one seed, as [`best_tuned`] weighs them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub service_level: f64,
    /// Abandoned plus sent to voicemail (queue and personal), over offered.
    pub lost: f64,
    pub typical: bool,
}

/// The best-tuned native set-up of one seed, by index into `candidates`: the highest service
/// level among the set-ups that lose no more callers (abandoned + voicemail) than the typical
/// set-up losing fewest; ties go to fewer lost callers, then to the earlier set-up. `None`
/// without candidates.
pub fn best_tuned(candidates: &[Candidate]) -> Option<usize> {
    let allowed = candidates
        .iter()
        .filter(|c| c.typical)
        .map(|c| c.lost)
        .fold(f64::INFINITY, f64::min);
    candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.lost <= allowed + 1e-12)
        .min_by(|(_, a), (_, b)| {
            b.service_level
                .total_cmp(&a.service_level)
                .then(a.lost.total_cmp(&b.lost))
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const SCENARIO: &str = r#"
        [[user]]
        extn = "201"
        name = "German specialist"
        [[user]]
        extn = "202"
        name = "English only"
        [[user]]
        extn = "203"
        name = "German, cross-trained"
        [[queue]]
        name = "DE"
        extn = "3000"
        members = ["201"]
        overflow_after_s = 30
        overflow_to = "XT"
        [[queue]]
        name = "EN"
        extn = "3001"
        members = ["202"]
        [[queue]]
        name = "XT"
        extn = "3002"
        members = ["203"]
    "#;

    const RULES: &str = r#"
        [skills]
        deu = "German"
        eng = "English"
        [agents.201]
        skills = { deu = 8 }
        [agents.202]
        skills = { eng = 8 }
        [agents.203]
        skills = { deu = 5, eng = 5 }
        [queues.DE]
        strategy = "longest-idle"
        [queues.EN]
        strategy = "longest-idle"
        agents = ["202"]
        [[routes]]
        name = "German"
        queue = "DE"
        requires = "deu"
        [[routes]]
        name = "English"
        queue = "EN"
        requires = "eng"
    "#;

    fn fixture() -> (Scenario, RoutingConfig) {
        let scenario = Scenario::from_toml_str(SCENARIO, Path::new(".")).unwrap();
        let rules = acd_rules::check_sources(vec![acd_rules::SourceFile::new("r.toml", RULES)])
            .into_result()
            .map(|(c, _)| c)
            .unwrap();
        (scenario, rules)
    }

    fn routed(q: &str) -> bool {
        q == "DE" || q == "EN"
    }

    #[test]
    fn every_qualified_agent_means_the_policy_and_the_first_requirement() {
        let (scenario, rules) = fixture();
        // DE lists no agents: every agent with German qualifies.
        assert_eq!(qualified_agents(&scenario, &rules, "DE"), ["201", "203"]);
        // EN lists 202 only: 203 speaks English but is not in its policy.
        assert_eq!(qualified_agents(&scenario, &rules, "EN"), ["202"]);
        let s = NativeSetUp {
            mode: RingMode::Collective,
            overflow_s: Some(10),
            every_qualified: true,
        }
        .apply(&scenario, &rules, &routed);
        assert_eq!(s.queues[0].members, ["201", "203"]);
        assert_eq!(s.queues[0].overflow_after_s, Some(10.0));
        assert_eq!(s.queues[0].ring_mode, RingMode::Collective);
        // A group without overflow gets none; the unrouted group is left alone.
        assert_eq!(s.queues[1].overflow_after_s, None);
        assert_eq!(s.queues[2].ring_mode, RingMode::LongestWaiting);
    }

    #[test]
    fn the_sweep_runs_each_distinct_set_up_once_per_mode() {
        let (scenario, rules) = fixture();
        let set_ups = sweep(&scenario, &rules, &routed, &[RingMode::Sequential]);
        let labels: Vec<String> = set_ups.iter().map(|(s, _)| s.tuning()).collect();
        // 30 s is the file's own Overflow Time: the typical set-up, not run twice.
        assert_eq!(
            labels,
            [
                "overflow 0 s",
                "overflow 10 s",
                "overflow 20 s",
                "every qualified agent",
            ]
        );
        // With every qualified agent listed, DE's overflow group (203) brings nobody new: its
        // Overflow Time changes nothing, so it is not swept there.
        // Without overflow groups and with every qualified agent listed already, nothing to
        // tune.
        let mut flat = scenario.clone();
        flat.queues[0].members = vec!["201".into(), "203".into()];
        flat.queues[0].overflow_after_s = None;
        flat.queues[0].overflow_to.clear();
        assert!(!overflows(&flat, &routed));
        assert!(sweep(&flat, &rules, &routed, &[RingMode::Sequential]).is_empty());
    }

    #[test]
    fn the_best_tuned_set_up_may_not_lose_more_callers_than_the_typical_one() {
        let c = |service_level, lost, typical| Candidate {
            service_level,
            lost,
            typical,
        };
        // Highest SL, but it loses more callers than the typical set-up: not chosen.
        let candidates = [
            c(0.60, 0.14, true),
            c(0.80, 0.20, false),
            c(0.75, 0.11, false),
        ];
        assert_eq!(best_tuned(&candidates), Some(2));
        // Equal SL: fewer lost wins.
        let candidates = [c(0.70, 0.12, true), c(0.70, 0.10, false)];
        assert_eq!(best_tuned(&candidates), Some(1));
        assert_eq!(best_tuned(&[]), None);
    }
}
