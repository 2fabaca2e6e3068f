//! Choosing who takes what: scoring call/agent pairs and assigning the ready set.
//!
//! Score of offering call `c` to agent `a` (higher is better):
//!
//! ```text
//! queue weight × (wait_per_second × waited s + priority × (priority level − 1))   caller urgency
//! + skill × fit(a, c.required)                                                    0..10 levels
//! + max(skill / 2, 1) × strategy rank(a) ∈ [0, 1]                                queue strategy
//! ```
//!
//! The urgency term decides which calls are served first and across queues; it ages every call
//! at the same rate, so a low-priority call overtakes any newer high-priority call after
//! `priority / wait_per_second` seconds and can never starve. The fit term prefers better
//! skilled agents; the strategy term (worth at most half a skill level) decides among agents
//! of equal skill. Candidate agents come from the free-agent indexes (per queue, and per skill
//! for the skills a call requires), waiting calls from each queue's urgency-ordered set, scanned
//! best-first with a bound, so a decision looks at a handful of entries, not at every agent.

use super::state::{CallState, Pending, Phase};
use super::Engine;
use crate::assign;
use crate::command::{CommandKind, Target};
use crate::config::PickStrategy;
use crate::decision::{Candidate, Decision, DecisionAction, Explanation};
use crate::ids::CallId;
use crate::prng::{fnv1a, splitmix64, unit};
use crate::skill::{self, MAX_FIT};
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// Largest side of a joint assignment problem; larger ready sets are solved in slices.
pub(crate) const JOINT_MAX: usize = 32;
/// Candidates kept per call or per agent when building the ready set.
pub(crate) const TOP_K: usize = 8;
/// Safety bound on dispatch rounds within one event (each productive round offers a call).
const MAX_ROUNDS: usize = 100_000;

/// The parts of a pair's score, for explanations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PairScore {
    pub total: f64,
    pub fit: f64,
    pub strategy: f64,
}

impl Engine {
    fn strategy_span(&self) -> f64 {
        (0.5 * self.config.weights.skill).max(1.0)
    }

    /// Score of offering `call` to agent `a` now, or why it may not be offered.
    pub(super) fn score_parts(
        &self,
        call: &CallState,
        a: usize,
        now: Timestamp,
        need_free: bool,
    ) -> Result<PairScore, &'static str> {
        let agent = &self.agents[a];
        if need_free && (!agent.indexed_available || agent.reserved_for.is_some()) {
            return Err("not free");
        }
        // Skills first: it is the test most candidates fail.
        let fit = skill::fit(&call.required, &agent.skills).ok_or("lacks required skills")?;
        let queue = &self.queues[call.queue];
        let policy = queue.policy.as_ref().ok_or("queue not routed")?;
        let pos = *queue.member_pos.get(&a).ok_or("not serving this queue")?;
        if call.is_excluded(a, now) {
            return Err("excluded after failed offer");
        }
        let rank = self.strategy_rank(policy.strategy, call, a, pos, now);
        let strategy = self.strategy_span() * rank;
        let total = policy.weight.max(0.0) * self.urgency(call, now)
            + self.config.weights.skill * fit
            + strategy;
        Ok(PairScore {
            total,
            fit,
            strategy,
        })
    }

    pub(super) fn pair_score(
        &self,
        call: &CallState,
        a: usize,
        now: Timestamp,
    ) -> Option<PairScore> {
        self.score_parts(call, a, now, true).ok()
    }

    /// The queue strategy's preference for agent `a`, in [0, 1].
    fn strategy_rank(
        &self,
        strategy: PickStrategy,
        call: &CallState,
        a: usize,
        pos: usize,
        now: Timestamp,
    ) -> f64 {
        let agent = &self.agents[a];
        let queue = &self.queues[call.queue];
        let n = queue.members.len().max(1);
        let idle_rank = || {
            let x = self.config.weights.idle_per_second.max(0.0)
                * now.since(agent.idle_since) as f64
                / 1000.0;
            x / (1.0 + x)
        };
        match strategy {
            PickStrategy::LongestIdle => idle_rank(),
            PickStrategy::FewestCalls => 1.0 / (1.0 + agent.calls_answered as f64),
            PickStrategy::LeastTalkTime => 1.0 / (1.0 + agent.talk_ms as f64 / 60_000.0),
            PickStrategy::RoundRobin => {
                let distance = match queue.rr_last {
                    Some(last) => (pos + n - (last % n) - 1) % n,
                    None => pos,
                };
                1.0 - distance as f64 / n as f64
            }
            PickStrategy::Linear => 1.0 - pos as f64 / n as f64,
            PickStrategy::Random { seed } => {
                let mix =
                    splitmix64(call.id.0 ^ fnv1a(agent.id.0.as_bytes())) ^ splitmix64(queue.picks);
                unit(splitmix64(seed ^ mix))
            }
            PickStrategy::BestSkill => 0.1 * idle_rank(),
        }
    }

    /// Whether `(s1, a1)` ranks before `(s2, a2)`: higher score, then lower agent id.
    fn agent_before(&self, s1: f64, a1: usize, s2: f64, a2: usize) -> bool {
        s1 > s2 || (s1 == s2 && self.agents[a1].id < self.agents[a2].id)
    }

    /// The best `k` free agents for a call, and how many were eligible in all.
    pub(super) fn top_agents(
        &self,
        id: CallId,
        now: Timestamp,
        k: usize,
    ) -> (Vec<(usize, PairScore)>, usize) {
        let Some(call) = self.calls.get(&id) else {
            return (Vec::new(), 0);
        };
        let queue = &self.queues[call.queue];
        // Start from the smallest index that must contain every candidate.
        let mut source = &queue.idle;
        for name in skill::required_skills(&call.required) {
            match self.skill_idle.get(name) {
                Some(set) if set.len() < source.len() => source = set,
                Some(_) => {}
                None => return (Vec::new(), 0),
            }
        }
        let mut top: Vec<(usize, PairScore)> = Vec::with_capacity(k + 1);
        let mut eligible = 0;
        for &a in source {
            let Some(score) = self.pair_score(call, a, now) else {
                continue;
            };
            eligible += 1;
            if top.len() == k {
                if let Some((la, ls)) = top.last() {
                    if !self.agent_before(score.total, a, ls.total, *la) {
                        continue;
                    }
                }
            }
            let at = top
                .iter()
                .position(|(b, s)| self.agent_before(score.total, a, s.total, *b))
                .unwrap_or(top.len());
            top.insert(at, (a, score));
            top.truncate(k);
        }
        (top, eligible)
    }

    /// The best `k` waiting calls for a free agent, scanning each of its queues best-first
    /// and stopping once no further call can beat the ones found.
    pub(super) fn top_calls(&self, a: usize, now: Timestamp, k: usize) -> Vec<(CallId, f64)> {
        let agent = &self.agents[a];
        if !agent.indexed_available || agent.reserved_for.is_some() {
            return Vec::new();
        }
        let agent_max = self.config.weights.skill.max(0.0) * MAX_FIT + self.strategy_span();
        let mut top: Vec<(CallId, f64)> = Vec::with_capacity(k + 1);
        for &q in &agent.queues {
            let queue = &self.queues[q];
            let Some(policy) = &queue.policy else {
                continue;
            };
            let weight = policy.weight.max(0.0);
            for key in &queue.waiting {
                if top.len() == k {
                    let bound = weight * self.urgency_from_key(key, now) + agent_max + 1e-6;
                    if top.last().is_some_and(|(_, s)| bound < *s) {
                        break;
                    }
                }
                let Some(call) = self.calls.get(&key.2) else {
                    continue;
                };
                let Some(score) = self.pair_score(call, a, now) else {
                    continue;
                };
                let at = top
                    .iter()
                    .position(|(c, s)| score.total > *s || (score.total == *s && key.2 < *c))
                    .unwrap_or(top.len());
                if at < k {
                    top.insert(at, (key.2, score.total));
                    top.truncate(k);
                }
            }
        }
        top
    }

    /// Matches dirty calls and agents until nothing more can be offered.
    pub(super) fn dispatch(&mut self, now: Timestamp) {
        for _ in 0..MAX_ROUNDS {
            if self.dirty_calls.is_empty() && self.dirty_agents.is_empty() {
                return;
            }
            let dirty_calls = std::mem::take(&mut self.dirty_calls);
            let dirty_agents = std::mem::take(&mut self.dirty_agents);
            // Only dirty rows and columns left unassigned need another look: any other call or
            // agent in the ready set was at rest before this event, compatible only with
            // dirty ones, and is found again through them.
            let was_dirty_call = dirty_calls.clone();
            let was_dirty_agent = dirty_agents.clone();

            // Each candidate row (call) with the agents that want it, best first.
            let mut row_cands: BTreeMap<CallId, Vec<usize>> = BTreeMap::new();
            let mut eligible_counts: BTreeMap<CallId, usize> = BTreeMap::new();
            for id in dirty_calls {
                if self.check_exits(now, id) {
                    continue;
                }
                if self.calls.get(&id).is_none_or(|c| c.wait_key.is_none()) {
                    continue;
                }
                let (top, eligible) = self.top_agents(id, now, TOP_K);
                if !top.is_empty() {
                    row_cands.insert(id, top.into_iter().map(|(a, _)| a).collect());
                    eligible_counts.insert(id, eligible);
                }
            }
            for a in dirty_agents {
                for (id, _) in self.top_calls(a, now, TOP_K) {
                    row_cands.entry(id).or_default().push(a);
                }
            }
            if row_cands.is_empty() {
                continue;
            }

            let mut rows: Vec<(CallId, f64)> = row_cands
                .keys()
                .filter_map(|id| self.calls.get(id).map(|c| (*id, self.urgency(c, now))))
                .collect();
            rows.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
            if rows.len() > JOINT_MAX {
                self.dirty_calls
                    .extend(rows.drain(JOINT_MAX..).map(|(id, _)| id));
            }
            // Columns in rounds over the rows' preference lists, so every kept row keeps its
            // first choice even when the column side is cut.
            let mut cols: Vec<usize> = Vec::new();
            let mut seen = BTreeSet::new();
            let depth = row_cands.values().map(Vec::len).max().unwrap_or(0);
            for i in 0..depth {
                for (id, _) in &rows {
                    if let Some(a) = row_cands.get(id).and_then(|v| v.get(i)) {
                        if seen.insert(*a) {
                            cols.push(*a);
                        }
                    }
                }
            }
            if cols.len() > JOINT_MAX {
                self.dirty_agents.extend(cols.drain(JOINT_MAX..));
            }

            let parts: Vec<Vec<Option<PairScore>>> = rows
                .iter()
                .map(|(id, _)| {
                    let call = self.calls.get(id);
                    cols.iter()
                        .map(|a| call.and_then(|c| self.pair_score(c, *a, now)))
                        .collect()
                })
                .collect();
            let scores: Vec<Vec<Option<f64>>> = parts
                .iter()
                .map(|r| r.iter().map(|p| p.map(|p| p.total)).collect())
                .collect();
            let assignment = assign::joint(&scores);
            let served = assignment.iter().flatten().count();
            if served == 0 {
                continue;
            }
            let joint = rows.len() > 1 && cols.len() > 1;
            let total = assign::total(&scores, &assignment);
            let mut assigned_cols = BTreeSet::new();
            for (r, col) in assignment.iter().enumerate() {
                let (id, _) = rows[r];
                let Some(col) = *col else {
                    if was_dirty_call.contains(&id) {
                        self.dirty_calls.insert(id);
                    }
                    continue;
                };
                assigned_cols.insert(col);
                let considered = eligible_counts.get(&id).copied().unwrap_or(0);
                let reason = if joint {
                    format!(
                        "joint assignment of {} calls x {} agents: {served} served, total {total:.1}",
                        rows.len(),
                        cols.len()
                    )
                } else {
                    format!(
                        "highest score of {} eligible",
                        considered.max(parts[r].iter().flatten().count())
                    )
                };
                let candidates = self.candidates_from_row(&cols, &parts[r]);
                self.offer(now, id, cols[col], candidates, reason);
            }
            for (i, a) in cols.iter().enumerate() {
                if !assigned_cols.contains(&i) && was_dirty_agent.contains(a) {
                    self.dirty_agents.insert(*a);
                }
            }
        }
    }

    fn candidates_from_row(&self, cols: &[usize], row: &[Option<PairScore>]) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = cols
            .iter()
            .zip(row)
            .filter_map(|(a, p)| {
                p.map(|p| Candidate {
                    agent: self.agents[*a].id.clone(),
                    score: p.total,
                    eligible: true,
                    note: format!("fit {:.1} strategy {:.2}", p.fit, p.strategy),
                })
            })
            .collect();
        out.sort_by(|x, y| y.score.total_cmp(&x.score).then(x.agent.cmp(&y.agent)));
        out
    }

    /// Sends the call to the agent: one transfer in flight per call, one call per agent.
    fn offer(
        &mut self,
        now: Timestamp,
        id: CallId,
        a: usize,
        candidates: Vec<Candidate>,
        reason: String,
    ) {
        let agent_id = self.agents[a].id.clone();
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if call.phase != Phase::Waiting
            || self.agents[a].reserved_for.is_some()
            || self.in_flight.contains_key(&id)
        {
            return;
        }
        let target = Target::Agent(agent_id.clone());
        let dial = match self.resolve_dial(&target) {
            Ok(dial) => dial,
            Err(_) => {
                // An agent id that cannot be dialled: never offer this pair again soon.
                if let Some(call) = self.calls.get_mut(&id) {
                    call.excluded.push((a, now.plus(super::events::EXCLUDE_MS)));
                }
                self.dirty_calls.insert(id);
                self.schedule_call(id, now);
                return;
            }
        };
        let mut explanation = Explanation::bare(
            call.route_name.clone(),
            call.last_step,
            call.required.clone(),
        );
        let q = call.queue;
        explanation.candidates = candidates;
        explanation.winner = Some(agent_id.clone());
        explanation.reason = match &call.last_failure {
            Some(failure) => format!("{reason}; retry after {failure}"),
            None => reason,
        };
        let cmd = self.emit(
            CommandKind::Transfer {
                call: id,
                target,
                dial,
            },
            Pending::Offer { call: id, agent: a },
        );
        if let Some(call) = self.calls.get_mut(&id) {
            call.phase = Phase::Offered {
                agent: a,
                cmd,
                at: now,
            };
            call.ring_seen = false;
            call.last_failure = None;
        }
        self.index_call(id);
        self.schedule_call(id, now);
        self.agents[a].reserved_for = Some(id);
        self.refresh_agent(a, now);
        let queue = &mut self.queues[q];
        queue.rr_last = queue.member_pos.get(&a).copied();
        queue.picks = queue.picks.wrapping_add(1);
        self.schedule_queue(q, now);
        let queue_id = self.queues[q].id.clone();
        self.decide(Decision {
            call: id,
            queue: queue_id,
            action: DecisionAction::Offer { agent: agent_id },
            explanation,
        });
    }
}
