//! The study's bounds: what the same agents could do for these callers if any of them could take
//! any call, so that "SL below the bound" says how much any routing, the engine's or IP
//! Office's, leaves on the table.
//!
//! A bound is an arm the simulator runs like a native one, on a scenario changed in its favour.
//! Issue 25 found the first bound beaten: it rang one agent at a time, longest waiting, first come
//! first served, and IP Office's collective ringing loses no time to an agent who lets a ring go
//! (the low-load study's native collective was 11 points above it), while on a one-hour demo run
//! the engine's reordering of callers beat it on a third of the seeds. Both bounds here therefore
//! ring every free agent at once and serve callers still within the service-level threshold
//! first (`sim.in_time_first`): first come, first served spends a free agent on a caller the
//! service level already counts as missed while a newer one waits past the threshold.
//!
//! - [`Bound::AsAgentsBehave`] keeps the agents as the scenario draws them (answer delays, rings
//!   they let go): the tightest honest reference for routing alone. Collective ringing still
//!   leaves an agent who lets a ring go ringing for that call until a colleague answers, so on
//!   a short run an arm ringing one agent at a time can beat it by a caller or two.
//! - [`Bound::EveryRingAnswered`] also has every agent answer every ring at once: nothing any
//!   arm does with the agents' behaviour can beat it. The tables' "SL below bound" uses it.
//!
//! Neither bound changes what leaves the service level's denominator: each routed group keeps
//! the voicemail timer the scenario gives it (the typical native set-up's), so an arm that sends
//! callers to a mailbox sooner (a rules step `overflow = "voicemail:…"`) takes them out of its
//! SL and can beat a bound by that alone; the lost column shows what it cost.

use serde::Serialize;

use crate::sim::dist::Dist;
use crate::sim::scenario::RingMode;
use crate::sim::Scenario;

/// Which bound, named for what it assumes beyond pooling every agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// Agents answer (or let rings go) as the scenario draws them.
    AsAgentsBehave,
    /// Every ring is answered at once.
    EveryRingAnswered,
}

impl Bound {
    pub fn label(self) -> &'static str {
        match self {
            Bound::AsAgentsBehave => "pooled bound, agents as they behave",
            Bound::EveryRingAnswered => "pooled bound, every ring answered at once",
        }
    }
}

/// The scenario of a bound: in every routed queue, every agent of any routed queue (or of a
/// group they overflow to), enabled, all rung at once (collective), with IP Office's overflow
/// off and each group's voicemail timer as written, callers in time first, every call talked at
/// its drawn time.
pub fn pooled_scenario(base: &Scenario, routed: impl Fn(&str) -> bool, bound: Bound) -> Scenario {
    let mut scenario = base.clone();
    // The routed queues' members, and the members of the groups they overflow to: everyone
    // who takes these calls in some arm.
    let overflow_groups: Vec<String> = scenario
        .queues
        .iter()
        .filter(|q| routed(&q.name))
        .flat_map(|q| q.overflow_to.iter().cloned())
        .collect();
    let mut everyone: Vec<String> = Vec::new();
    for q in scenario
        .queues
        .iter()
        .filter(|q| routed(&q.name) || overflow_groups.contains(&q.name))
    {
        for m in &q.members {
            if !everyone.contains(m) {
                everyone.push(m.clone());
            }
        }
    }
    // At the drawn talk time: the fastest any agent can be (the proficiency rule only ever
    // stretches it), so that agents answering calls outside their skills do not make the
    // bound look worse than it is.
    scenario.sim.skill_talk_factor = 0.0;
    scenario.sim.in_time_first = true;
    if bound == Bound::EveryRingAnswered {
        scenario.sim.answer_delay = Dist::fixed_s(0.0);
        scenario.sim.no_answer_probability = 0.0;
        for u in &mut scenario.users {
            u.answer_delay = None;
            u.no_answer_probability = None;
        }
    }
    for q in scenario.queues.iter_mut().filter(|q| routed(&q.name)) {
        q.members = everyone.clone();
        q.disabled_members.clear();
        q.ring_mode = RingMode::Collective;
        q.overflow_after_s = None;
        q.overflow_to.clear();
    }
    scenario
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const SCENARIO: &str = r#"
        [sim]
        no_answer_probability = 0.3
        [[user]]
        extn = "201"
        name = "A"
        answer_delay = { dist = "fixed", s = 5 }
        [[user]]
        extn = "202"
        name = "B"
        no_answer_probability = 0.5
        [[user]]
        extn = "203"
        name = "C"
        [[queue]]
        name = "Q"
        extn = "3000"
        members = ["201"]
        overflow_after_s = 30
        overflow_to = "X"
        voicemail = true
        voicemail_after_s = 90
        [[queue]]
        name = "R"
        extn = "3001"
        members = ["202"]
        [[queue]]
        name = "X"
        extn = "3002"
        members = ["203"]
    "#;

    fn scenario() -> Scenario {
        Scenario::from_toml_str(SCENARIO, Path::new(".")).unwrap()
    }

    #[test]
    fn a_bound_rings_every_agent_who_takes_these_calls_at_once_in_every_routed_group() {
        for bound in [Bound::AsAgentsBehave, Bound::EveryRingAnswered] {
            let s = pooled_scenario(&scenario(), |q| q == "Q" || q == "R", bound);
            for q in &s.queues[..2] {
                assert_eq!(q.members, ["201", "202", "203"].map(String::from).to_vec());
                assert!(q.disabled_members.is_empty() && q.overflow_to.is_empty());
                assert_eq!(q.ring_mode, RingMode::Collective);
            }
            assert!(s.sim.in_time_first);
            // The group's mailbox stays as IP Office has it, as in the typical native set-up.
            assert_eq!(s.queues[0].voicemail_after_s, Some(90.0));
            // The unrouted overflow group is left as it is.
            assert_eq!(s.queues[2].members, ["203"]);
        }
    }

    #[test]
    fn only_the_every_ring_answered_bound_changes_how_agents_answer() {
        let behave = pooled_scenario(&scenario(), |q| q == "Q", Bound::AsAgentsBehave);
        assert_eq!(behave.sim.no_answer_probability, 0.3);
        assert_eq!(behave.users[1].no_answer_probability, Some(0.5));
        assert!(behave.users[0].answer_delay.is_some());
        let answered = pooled_scenario(&scenario(), |q| q == "Q", Bound::EveryRingAnswered);
        assert_eq!(answered.sim.no_answer_probability, 0.0);
        assert_eq!(answered.sim.answer_delay, Dist::fixed_s(0.0));
        assert!(answered
            .users
            .iter()
            .all(|u| u.answer_delay.is_none() && u.no_answer_probability.is_none()));
    }
}
