//! Answers about the engine without changing it: explaining routing for a hypothetical call
//! (the rules tooling's `explain`), and the summary the metrics layer and wallboards read.

use super::state::{CallState, Phase};
use super::Engine;
use crate::calendar::{self, CalendarState};
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
        let route_ix = match self.queue_ix.get(queue) {
            Some(q) => self.match_route_now(*q, attributes, now),
            None => match_route(&self.config, queue, attributes, now, &|_| false),
        };
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
            match calendar::state(calendar, now) {
                CalendarState::Open => {}
                // Which of the calendar's reasons closed it, so a holiday is not mistaken for
                // a wrong opening-hours window (or the other way round).
                CalendarState::Closed => notes.push(format!(
                    "closed (outside opening hours): night service to {}",
                    calendar.night_target
                )),
                CalendarState::Holiday => notes.push(format!(
                    "closed (a listed closed day): holiday service to {}",
                    calendar
                        .holiday_target
                        .as_ref()
                        .unwrap_or(&calendar.night_target)
                )),
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
            .map(|a| match self.preference(&call, *a, now, true) {
                Ok(p) => Candidate {
                    agent: self.agents[*a].id.clone(),
                    score: p.value(),
                    eligible: true,
                    note: p.note(),
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
                format!("{w} comes first of {eligible} allowed (tier, then strategy)")
            } else {
                format!(
                    "{w} comes first of {eligible} allowed (tier, then strategy); {} calls \
                     already waiting are served first if {w} may take them",
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

    /// The name of route `route` (an index into the rules' routes), for accounting per route.
    pub(super) fn route_name(&self, route: Option<usize>) -> Option<String> {
        route
            .and_then(|r| self.config.routes.get(r))
            .map(|r| r.name.clone())
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
                        | AgentAvailability::Forwarded
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

    /// Whether the engine holds an open record of this call (for checks from outside: an
    /// answer reported for a call it never saw queue cannot be counted).
    pub fn has_open_call(&self, call: CallId) -> bool {
        self.calls.get(&call).is_some_and(|c| c.is_open())
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

#[cfg(test)]
mod tests {
    use super::super::tests::{agent_event, config, policy, profile, queue_event};
    use super::*;
    use crate::command::Target;
    use crate::config::{Calendar, OpenWindow, PickStrategy};
    use crate::event::PhoneState;
    use std::sync::Arc;

    const HOUR: u64 = 3_600_000;
    // 2024-01-01, a Monday, 00:00 UTC; the calendar below is in UTC.
    const MON: u64 = 19_723 * 86_400_000;

    /// Sales opens Monday to Friday 08:00-12:00 and 13:00-18:00 (closed for lunch), and is
    /// closed all of Tuesday 2024-01-02; 2001 is logged in and idle.
    fn engine() -> Engine {
        let mut p = policy("Sales", PickStrategy::LongestIdle, &["2001"]);
        let window = |from: u16, to: u16| OpenWindow {
            weekdays: 0b001_1111,
            from_minute: from * 60,
            to_minute: to * 60,
        };
        p.calendar = Some(Calendar {
            utc_offsets: crate::UtcOffsets::fixed(0),
            open: vec![window(8, 12), window(13, 18)],
            holidays: vec![crate::config::Holiday::Date(19_724)],
            night_target: Target::Voicemail("night".into()),
            holiday_target: None,
            at_close: crate::config::AtClose::Serve,
        });
        let mut engine = Engine::new(Arc::new(config(
            vec![p],
            vec![profile("2001", &[("sales", 5)])],
        )));
        engine.handle(Timestamp(MON), queue_event("Sales", "300", &["2001"]));
        engine.handle(Timestamp(MON), agent_event("2001", true, PhoneState::Idle));
        engine
    }

    fn explain_at(engine: &Engine, at: u64) -> Explanation {
        engine.explain(Timestamp(at), &"Sales".into(), &CallAttributes::default())
    }

    #[test]
    fn a_closed_queue_names_why_it_is_closed_and_has_no_winner() {
        let engine = engine();
        let lunch = explain_at(&engine, MON + 12 * HOUR + 30 * 60_000);
        assert_eq!(lunch.winner, None);
        assert_eq!(
            lunch.reason,
            "closed (outside opening hours): night service to voicemail:night"
        );
        let holiday = explain_at(&engine, MON + 24 * HOUR + 10 * HOUR);
        assert_eq!(holiday.winner, None);
        assert_eq!(
            holiday.reason,
            "closed (a listed closed day): holiday service to voicemail:night"
        );
        let open = explain_at(&engine, MON + 10 * HOUR);
        assert_eq!(open.winner, Some("2001".into()));
        assert!(!open.reason.contains("closed"), "{}", open.reason);
    }
}
