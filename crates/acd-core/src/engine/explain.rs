//! Answers about the engine without changing it: explaining routing for a hypothetical call
//! (the rules tooling's `explain`), and the summary the metrics layer and wallboards read.

use super::state::{CallState, Phase};
use super::Engine;
use crate::calendar::is_open;
use crate::config::SkillExpr;
use crate::decision::{Candidate, Explanation};
use crate::event::{CallAttributes, Features};
use crate::ids::{AgentId, CallId, QueueId};
use crate::routes::match_route;
use crate::time::Timestamp;
use crate::view::{AgentAvailability, EngineView, QueueView};
use std::collections::BTreeMap;

impl Engine {
    /// Explains routing for a call arriving now in `queue` with `attributes`: the route and
    /// requirements that apply, any exit that would take it, every agent serving the queue
    /// with its score (or why it is not eligible), and the agent that would win.
    pub fn explain(
        &self,
        now: Timestamp,
        queue: &QueueId,
        attributes: &CallAttributes,
    ) -> Explanation {
        let attributes = &crate::lookup::applied(&self.config, attributes);
        let route_ix = match_route(&self.config, queue, attributes, now);
        let route = route_ix.and_then(|r| self.config.routes.get(r));
        let required = route.map_or(SkillExpr::Any, |r| r.requires.clone());
        let mut explanation =
            Explanation::bare(route.map(|r| r.name.clone()), None, required.clone());
        let Some(q) = self.queue_ix.get(queue).copied() else {
            explanation.reason = format!("queue {queue} unknown");
            return explanation;
        };
        let state = &self.queues[q];
        let Some(policy) = &state.policy else {
            explanation.reason =
                "queue has no policy: IP Office distributes its calls natively".into();
            return explanation;
        };
        let mut notes = Vec::new();
        if let Some(calendar) = &policy.calendar {
            if !is_open(calendar, now) {
                notes.push(format!(
                    "closed: night service to {}",
                    calendar.night_target
                ));
            }
        }
        if state.logged_in == 0 {
            if let Some(target) = &policy.no_agents_target {
                notes.push(format!("no agent logged in: exit to {target}"));
            }
        }
        if let Some((max, target)) = &policy.max_waiting {
            if state.waiting.len() >= *max as usize {
                notes.push(format!(
                    "{} waiting (max {max}): exit to {target}",
                    state.waiting.len()
                ));
            }
        }
        let call = CallState::arriving(
            CallId(u64::MAX),
            q,
            now,
            (attributes.clone(), Features::ALL_QUEUE_ACTIONS, 1),
            route_ix.and_then(|i| self.config.routes.get(i).map(|r| (i, r))),
        );
        let mut candidates: Vec<Candidate> = state
            .members
            .iter()
            .map(|a| match self.score_parts(&call, *a, now, true) {
                Ok(p) => Candidate {
                    agent: self.agents[*a].id.clone(),
                    score: p.total,
                    eligible: true,
                    note: format!("fit {:.1} strategy {:.2}", p.fit, p.strategy),
                },
                Err(why) => {
                    let availability = self.availability(*a, now);
                    let note = if availability == AgentAvailability::Idle {
                        why.to_string()
                    } else {
                        format!("{availability:?}")
                    };
                    Candidate {
                        agent: self.agents[*a].id.clone(),
                        score: 0.0,
                        eligible: false,
                        note,
                    }
                }
            })
            .collect();
        candidates.sort_by(|x, y| {
            y.eligible
                .cmp(&x.eligible)
                .then(y.score.total_cmp(&x.score))
                .then(x.agent.cmp(&y.agent))
        });
        explanation.winner = candidates
            .first()
            .filter(|c| c.eligible && notes.is_empty())
            .map(|c| c.agent.clone());
        let eligible = candidates.iter().filter(|c| c.eligible).count();
        explanation.reason = if !notes.is_empty() {
            notes.join("; ")
        } else if let Some(w) = &explanation.winner {
            if state.waiting.is_empty() {
                format!("{w} has the highest score of {eligible} eligible")
            } else {
                format!(
                    "{w} has the highest score of {eligible} eligible; {} calls already waiting",
                    state.waiting.len()
                )
            }
        } else {
            format!(
                "no eligible agent free of {}: the call would wait",
                candidates.len()
            )
        };
        explanation.candidates = candidates;
        explanation
    }

    /// A read-only summary: per routed queue the calls waiting, being offered and the oldest
    /// wait; agents counted by availability.
    pub fn view(&self, now: Timestamp) -> EngineView {
        let mut per_queue: BTreeMap<usize, QueueView> = BTreeMap::new();
        for (q, state) in self.queues.iter().enumerate() {
            if state.policy.is_some() {
                let mut view = empty_view(&state.id);
                view.logged_in_agents = state.logged_in;
                for &a in &state.members {
                    match self.availability(a, now) {
                        AgentAvailability::LoggedOff
                        | AgentAvailability::Dnd
                        | AgentAvailability::PhoneFault => {}
                        AgentAvailability::Idle => {
                            view.staffed_agents += 1;
                            view.available_agents += 1;
                        }
                        _ => view.staffed_agents += 1,
                    }
                }
                per_queue.insert(q, view);
            }
        }
        for call in self.calls.values() {
            if !call.is_open() {
                continue;
            }
            let view = per_queue
                .entry(call.queue)
                .or_insert_with(|| empty_view(&self.queues[call.queue].id));
            match call.phase {
                Phase::Offered { .. } | Phase::Ringing { .. } => view.offering += 1,
                _ => view.waiting += 1,
            }
            view.oldest_wait_ms = view.oldest_wait_ms.max(now.since(call.arrival));
        }
        let mut agents = BTreeMap::new();
        for a in 0..self.agents.len() {
            *agents.entry(self.availability(a, now)).or_insert(0) += 1;
        }
        EngineView {
            queues: per_queue.into_values().collect(),
            agents,
            rules_version: self.config.version,
        }
    }

    /// Where one agent stands, as the engine sees it (for checks from outside).
    pub fn agent_availability(&self, agent: &AgentId, now: Timestamp) -> Option<AgentAvailability> {
        self.agent_ix.get(agent).map(|&a| self.availability(a, now))
    }

    /// How many call records the engine holds, open or not (for growth checks).
    pub fn tracked_calls(&self) -> usize {
        self.calls.len()
    }

    /// Calls the engine still owes an outcome for, per queue (for accounting checks).
    pub fn open_calls(&self) -> BTreeMap<QueueId, u64> {
        let mut out = BTreeMap::new();
        for call in self.calls.values().filter(|c| c.is_open()) {
            *out.entry(self.queues[call.queue].id.clone()).or_insert(0) += 1;
        }
        out
    }
}

fn empty_view(queue: &QueueId) -> QueueView {
    QueueView {
        queue: queue.clone(),
        waiting: 0,
        offering: 0,
        oldest_wait_ms: 0,
        logged_in_agents: 0,
        staffed_agents: 0,
        available_agents: 0,
    }
}
