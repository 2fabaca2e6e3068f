//! Who answered: the right-agent rate, judged by one rule for every arm.
//!
//! Service level says how fast callers were answered, not by whom. A router that sends German
//! callers to agents who do not speak German looks as good on SL as one that does not, so the
//! study judges every answered call afterwards from the simulator's answer log
//! (`Model::answers`), with the study's rules, whoever distributed it: native hunt groups, the
//! pooled bound and the engine are held to the same standard.
//!
//! - **Right agent**: the answering agent meets the *first* requirement (`requires`) of the
//!   route the rules match for the call at its arrival (the route's later steps, which widen
//!   the requirement for calls that waited, do not count). A route's queue-state conditions
//!   are taken as holding: the judge sees the call, not the queue at that instant. A call no
//!   route matches requires nothing, so any agent is right for it.
//! - **Language match**: the caller's language is a skill the rules give some agent (`deu`
//!   for German callers) and the answering agent has it. Calls whose language is no skill are
//!   not judged on language.

use std::collections::{BTreeMap, BTreeSet};

use acd_core::{AgentId, QueueId, RoutingConfig, SkillExpr};
use serde::Serialize;

use crate::sim::model::Answer;

/// Counts for one queue (or all of them) in one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AgentFit {
    pub answered: u64,
    /// Answered by an agent meeting the route's first requirement.
    pub right_agent: u64,
    /// Answered calls whose language the rules know as a skill.
    pub language_judged: u64,
    /// Of those, answered by an agent with that skill.
    pub language_match: u64,
}

impl AgentFit {
    fn add(&mut self, o: &AgentFit) {
        self.answered += o.answered;
        self.right_agent += o.right_agent;
        self.language_judged += o.language_judged;
        self.language_match += o.language_match;
    }

    /// Right agent over answered (0..1); `None` with nothing answered.
    pub fn right_agent_rate(&self) -> Option<f64> {
        (self.answered > 0).then(|| self.right_agent as f64 / self.answered as f64)
    }

    /// Language match over calls judged on language (0..1); `None` with none judged.
    pub fn language_rate(&self) -> Option<f64> {
        (self.language_judged > 0).then(|| self.language_match as f64 / self.language_judged as f64)
    }
}

/// The judgement of one run: per queue the call arrived at, and the total.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AgentFits {
    pub total: AgentFit,
    pub queues: BTreeMap<String, AgentFit>,
}

/// Judges every answer in `answers` with `rules` (the very rules the engine ran, rebased to
/// the study's start, so time-of-day routes match as they did for the engine).
pub fn judge(rules: &RoutingConfig, answers: &[Answer]) -> AgentFits {
    let language_skills: BTreeSet<String> = rules
        .agents
        .values()
        .flat_map(|a| a.skills.keys())
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let no_skills = BTreeMap::new();
    let mut fits = AgentFits::default();
    for answer in answers {
        let attributes = acd_core::lookup::applied(rules, &answer.attributes);
        let queue = QueueId(answer.queue.clone());
        let requires =
            acd_core::routes::match_route(rules, &queue, &attributes, answer.arrived_at, &|_| true)
                .and_then(|i| rules.routes.get(i))
                .map_or(&SkillExpr::Any, |route| &route.requires);
        let skills = rules
            .agents
            .get(&AgentId(answer.agent.clone()))
            .map_or(&no_skills, |a| &a.skills);
        let mut fit = AgentFit {
            answered: 1,
            right_agent: u64::from(acd_core::skill::matches(requires, skills)),
            ..AgentFit::default()
        };
        let language = attributes.language.to_ascii_lowercase();
        if language_skills.contains(&language) {
            fit.language_judged = 1;
            fit.language_match = u64::from(
                skills
                    .iter()
                    .any(|(name, level)| name.eq_ignore_ascii_case(&language) && *level > 0),
            );
        }
        fits.total.add(&fit);
        fits.queues
            .entry(answer.queue.clone())
            .or_default()
            .add(&fit);
    }
    fits
}

#[cfg(test)]
mod tests {
    use super::*;
    use acd_core::{CallAttributes, Timestamp};

    fn rules() -> RoutingConfig {
        let text = r#"
            [skills]
            deu = "German"
            eng = "English"
            sales = "Sales"
            [agents.201]
            skills = { deu = 5, sales = 5 }
            [agents.202]
            skills = { eng = 5, sales = 5 }
            [agents.203]
            skills = { deu = 5 }
            [queues.Sales]
            strategy = "longest-idle"
            [queues.Other]
            strategy = "longest-idle"
            [[routes]]
            name = "German sales"
            queue = "Sales"
            language = "deu"
            requires = "deu AND sales"
            [[routes]]
            name = "Sales"
            queue = "Sales"
            requires = "sales"
        "#;
        let checked = acd_rules::check_sources(vec![acd_rules::SourceFile::new("r.toml", text)]);
        checked.into_result().map(|(c, _)| c).unwrap()
    }

    fn answer(queue: &str, language: &str, agent: &str) -> Answer {
        Answer {
            queue: queue.into(),
            attributes: CallAttributes {
                language: language.into(),
                ..CallAttributes::default()
            },
            arrived_at: Timestamp(0),
            agent: agent.into(),
        }
    }

    #[test]
    fn the_routes_first_requirement_and_the_callers_language_judge_the_agent() {
        let fits = judge(
            &rules(),
            &[
                // German sales: 201 meets "deu AND sales"; 202 does not, nor speaks German;
                // 203 speaks German but does not sell.
                answer("Sales", "deu", "201"),
                answer("Sales", "deu", "202"),
                answer("Sales", "deu", "203"),
                // English sales: anyone with sales; English is a skill, so judged.
                answer("Sales", "eng", "201"),
                // No route for Other: any agent is right; French is no skill: not judged.
                answer("Other", "fra", "203"),
                // An agent the rules do not know meets no requirement.
                answer("Sales", "eng", "299"),
            ],
        );
        let sales = fits.queues["Sales"];
        assert_eq!(
            sales,
            AgentFit {
                answered: 5,
                right_agent: 2,
                language_judged: 5,
                language_match: 2,
            }
        );
        assert_eq!(
            fits.queues["Other"],
            AgentFit {
                answered: 1,
                right_agent: 1,
                language_judged: 0,
                language_match: 0,
            }
        );
        assert_eq!(fits.total.answered, 6);
        assert_eq!(fits.total.right_agent_rate(), Some(0.5));
        assert_eq!(fits.queues["Other"].language_rate(), None);
    }
}
