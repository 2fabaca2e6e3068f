//! Choosing who takes what: which calls may go to which agents, in what order.
//!
//! The model supervisors read in FORMAT.md, and nothing else:
//!
//! 1. **Who may take a call**: an agent serving the call's queue, free, whose skills meet the
//!    call's current requirement (the route's `requires`, as widened by its steps), and not
//!    excluded after failing this call. Helpers only while their queue's `when` holds.
//! 2. **Which call goes first**: calls are served in order of priority, then of waiting time
//!    (first come, first served); with strict priority (the default) a higher priority always
//!    goes first, with aging each priority level counts as `priority_step` of waiting. Between
//!    queues the waiting time is multiplied by the queue's `weight`.
//! 3. **Which agent gets it**: the lowest tier with an allowed free agent (first choice, then
//!    backup, then helpers); within the tier, the queue's strategy (longest idle, linear, …,
//!    or best skill: highest level in the skills the call requires).
//!
//! When several calls and agents are ready at once (an agent frees up while calls wait in
//! several queues, a burst, a rules change), the engine serves as many calls as can be served,
//! choosing them in serving order, and among the ways to serve exactly those calls picks the one
//! where the agents suit their queues' tiers and strategies best overall (see [`crate::assign`]).
//! Candidates come from the free-agent indexes (per queue, and per skill for the skills a call
//! requires) and from each queue's waiting calls, filed by requirement and in serving order
//! within each requirement, so a decision looks at a handful of entries, not at every agent or
//! every waiting call.

use super::state::{CallState, Pending, Phase};
use super::Engine;
use crate::assign;
use crate::command::{CommandKind, Target};
use crate::config::PickStrategy;
use crate::decision::{Candidate, Decision, DecisionAction, Explanation, PassedOver};
use crate::ids::CallId;
use crate::prng::{fnv1a, splitmix64, unit};
use crate::skill::{self, ExprDisplay, MAX_FIT};
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// A queue with at most this many logged-in agents is scarce: its first-choice agents take calls
/// of better-staffed queues only as backups do.
const SCARCE_AGENTS: u64 = 2;

/// Largest side of a joint assignment problem; larger ready sets are solved in slices.
pub(crate) const JOINT_MAX: usize = 32;
/// Candidates kept per call or per agent when building the ready set.
pub(crate) const TOP_K: usize = 8;
/// Safety bound on dispatch rounds within one event (each productive round offers a call).
const MAX_ROUNDS: usize = 100_000;
/// Calls passed over that an offer's explanation names, at most.
const PASSED_OVER_SHOWN: usize = 3;
/// Waiting calls looked at when naming the calls passed over.
const PASSED_OVER_SCAN: usize = 64;
/// Tier names, for explanations.
pub(crate) const TIER_NAMES: [&str; 3] = ["first choice", "backup", "helper"];

/// How much the queue's tiers and strategy want an agent for a call: the tier decides, the
/// strategy's rank (0..=1) orders agents within a tier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Preference {
    pub tier: u8,
    pub rank: f64,
    /// Skill level in what the call requires (0..=10), shown in explanations.
    pub fit: f64,
}

impl Preference {
    /// One number for the joint assignment: tiers two units apart, so a rank never bridges
    /// them.
    pub fn value(&self) -> f64 {
        2.0 * f64::from(2u8.saturating_sub(self.tier)) + self.rank
    }

    pub fn note(&self) -> String {
        let tier = TIER_NAMES
            .get(usize::from(self.tier))
            .copied()
            .unwrap_or("?");
        format!("{tier}, strategy {:.2}, skill {:.1}", self.rank, self.fit)
    }
}

impl Engine {
    /// Whether agent `a` may take `call` now, and how much the queue wants them; or why not.
    pub(super) fn preference(
        &self,
        call: &CallState,
        a: usize,
        now: Timestamp,
        need_free: bool,
    ) -> Result<Preference, &'static str> {
        let agent = &self.agents[a];
        if need_free && (!agent.indexed_available || agent.reserved_for.is_some()) {
            return Err("not free");
        }
        // Skills first: it is the test most candidates fail.
        let fit = skill::fit(&call.required, &agent.skills).ok_or("lacks required skills")?;
        let queue = &self.queues[call.queue];
        let policy = queue.policy.as_ref().ok_or("queue not routed")?;
        let pos = *queue.member_pos.get(&a).ok_or("not serving this queue")?;
        let mut tier = queue.member_tier.get(&a).copied().unwrap_or(0);
        if tier == 0 && self.needed_where_scarce(a, call.queue) {
            // Spent on a call others can take, they would be missing where few can: they take
            // this queue's calls as a backup does, when no first-choice agent is free.
            tier = 1;
        }
        if tier == 2 && !queue.helpers_active {
            return Err("helper, and the queue is not in trouble");
        }
        if call.is_excluded(a, now) {
            return Err("excluded after failed offer");
        }
        let rank = self.strategy_rank(policy.strategy, call, a, pos, fit, now);
        Ok(Preference { tier, rank, fit })
    }

    /// Whether agent `a` is a first-choice agent of another routed queue that has few logged-in
    /// agents, fewer than `q` has (a senior who alone takes Legal, and is also the best at
    /// Billing). Always, not only while that queue is behind: a caller for it arrives at any
    /// moment, and a spare agent busy with a call others could take makes them wait a whole
    /// talk time. Sparing only while the queue was behind its target measured worse: its
    /// service level over the recent window flaps for a queue of a few calls an hour, and each
    /// time it read "on target" the senior went back to Billing (scarce-senior study: Legal
    /// 42.3 % answered within 20 s when spared while behind, 48.7 % always, native 48.8 %).
    fn needed_where_scarce(&self, a: usize, q: usize) -> bool {
        let agent = &self.agents[a];
        if agent.queues.len() < 2 {
            return false;
        }
        // Counting stops past the scarce limit: only "fewer than here" matters, never how many.
        let limit = SCARCE_AGENTS as usize + 1;
        let here = self.staffed_up_to(q, limit);
        agent.queues.iter().any(|&other| {
            if other == q {
                return false;
            }
            if self.queues[other].policy.is_none() {
                return false;
            }
            if self.queues[other].member_tier.get(&a).copied().unwrap_or(0) != 0 {
                return false;
            }
            let few = self.staffed_up_to(other, limit);
            few <= SCARCE_AGENTS && few < here
        })
    }

    pub(super) fn pair_preference(
        &self,
        call: &CallState,
        a: usize,
        now: Timestamp,
    ) -> Option<Preference> {
        // Collective delivery: IP Office rings the members the engine enabled; a call ringing
        // at members is not taken from their phones; an agent IP Office may ring any moment
        // for such a group is not offered another queue's call.
        if self.delivers_collectively(call.queue)
            || self.rings_at_members(call.id)
            || self.engaged_collectively(a)
        {
            return None;
        }
        self.preference(call, a, now, true).ok()
    }

    /// The queue strategy's preference for agent `a`, in [0, 1].
    fn strategy_rank(
        &self,
        strategy: PickStrategy,
        call: &CallState,
        a: usize,
        pos: usize,
        fit: f64,
        now: Timestamp,
    ) -> f64 {
        let agent = &self.agents[a];
        let queue = &self.queues[call.queue];
        let n = queue.members.len().max(1);
        // Idle seconds squashed into [0, 1): longer idle is always higher, with no cap.
        let idle_rank = || {
            let x = now.since(agent.idle_since) as f64 / 10_000.0;
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
            // Skill level decides; idle time only among equal levels: the idle term stays below
            // what a tenth of a level is worth (levels are means of whole numbers).
            PickStrategy::BestSkill => (fit / MAX_FIT) * (1.0 - 1e-3) + 1e-3 * idle_rank(),
        }
    }

    /// Whether `(p1, a1)` ranks before `(p2, a2)`: higher preference, then lower agent id.
    fn agent_before(&self, p1: f64, a1: usize, p2: f64, a2: usize) -> bool {
        p1 > p2 || (p1 == p2 && self.agents[a1].id < self.agents[a2].id)
    }

    /// The best `k` free agents for a call, and how many were eligible in all.
    pub(super) fn top_agents(
        &self,
        id: CallId,
        now: Timestamp,
        k: usize,
    ) -> (Vec<(usize, Preference)>, usize) {
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
        let mut top: Vec<(usize, Preference)> = Vec::with_capacity(k + 1);
        let mut eligible = 0;
        for &a in source {
            let Some(pref) = self.pair_preference(call, a, now) else {
                continue;
            };
            eligible += 1;
            if top.len() == k {
                if let Some((la, lp)) = top.last() {
                    if !self.agent_before(pref.value(), a, lp.value(), *la) {
                        continue;
                    }
                }
            }
            let at = top
                .iter()
                .position(|(b, p)| self.agent_before(pref.value(), a, p.value(), *b))
                .unwrap_or(top.len());
            top.insert(at, (a, pref));
            top.truncate(k);
        }
        (top, eligible)
    }

    /// The first `k` waiting calls, in serving order, that a free agent may take. Each queue's
    /// set is in serving order, so a queue is scanned only while its calls could still enter
    /// the `k` found so far.
    pub(super) fn top_calls(&self, a: usize, now: Timestamp, k: usize) -> Vec<CallId> {
        let agent = &self.agents[a];
        if !agent.indexed_available || agent.reserved_for.is_some() || k == 0 {
            return Vec::new();
        }
        let mut found: Vec<&CallState> = Vec::with_capacity(k + 1);
        for &q in &agent.queues {
            let queue = &self.queues[q];
            if queue.policy.is_none() {
                continue;
            }
            // Only the requirement groups the agent's skills meet: a group it cannot serve is
            // skipped with one test instead of one per waiting call.
            let groups = queue.by_need.iter().filter(|(need, _)| {
                self.needs
                    .get(**need as usize)
                    .is_some_and(|expr| skill::fit(expr, &agent.skills).is_some())
            });
            for (_, group) in groups {
                self.gather_calls(group, a, now, k, &mut found);
            }
        }
        found.into_iter().map(|c| c.id).collect()
    }

    /// Adds to `found` (kept in serving order, at most `k`) the calls of one requirement group,
    /// in serving order, that agent `a` may take: the group is scanned only while its calls
    /// could still enter the `k` found so far.
    fn gather_calls<'a>(
        &'a self,
        group: &BTreeSet<super::state::WaitKey>,
        a: usize,
        now: Timestamp,
        k: usize,
        found: &mut Vec<&'a CallState>,
    ) {
        for key in group {
            let Some(call) = self.calls.get(&key.2) else {
                continue;
            };
            if found.len() == k
                && found
                    .last()
                    .is_some_and(|last| !self.served_before(call, last, now))
            {
                break;
            }
            if self.pair_preference(call, a, now).is_none() {
                continue;
            }
            let at = found
                .iter()
                .position(|f| self.served_before(call, f, now))
                .unwrap_or(found.len());
            found.insert(at, call);
            found.truncate(k);
        }
    }

    /// Calls ahead of `id` in the serving order, in the queues agent `a` serves, that `a` did
    /// not get, and why: what a supervisor asks when a newer call was answered first.
    fn passed_over(
        &self,
        id: CallId,
        a: usize,
        now: Timestamp,
        assigned: &BTreeMap<CallId, usize>,
    ) -> Vec<PassedOver> {
        let Some(chosen) = self.calls.get(&id) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for &q in &self.agents[a].queues {
            // Each queue's set is in serving order: once a call is not ahead of the chosen
            // one, none after it is.
            for key in self.queues[q].waiting.iter().take(PASSED_OVER_SCAN) {
                if key.2 == id || out.len() >= PASSED_OVER_SHOWN {
                    break;
                }
                let Some(other) = self.calls.get(&key.2) else {
                    continue;
                };
                if !self.served_before(other, chosen, now) {
                    break;
                }
                let reason = match assigned.get(&other.id) {
                    Some(b) => format!("offered to {} at the same time", self.agents[*b].id),
                    None => match self.preference(other, a, now, false) {
                        Err("lacks required skills") => {
                            format!("needs {}", ExprDisplay(&other.required))
                        }
                        Err(why) => why.to_string(),
                        // Only the joint assignment leaves an allowed, older call behind: the
                        // agents it could have had were all needed to serve the calls chosen.
                        Ok(_) => {
                            "not servable together with the calls chosen ahead of it".to_string()
                        }
                    },
                };
                out.push(PassedOver {
                    call: other.id,
                    waited_ms: now.since(other.arrival),
                    reason,
                });
            }
        }
        out
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
            // With only agents ready, m of them serve at most m calls, and each is matched
            // within its first m eligible calls in serving order (when its m-th comes up, at
            // most m − 1 others can hold the earlier ones): looking further is wasted work, and
            // "an agent frees up" is the commonest decision there is.
            let calls_per_agent = if row_cands.is_empty() {
                dirty_agents.len().clamp(1, TOP_K)
            } else {
                TOP_K
            };
            for a in dirty_agents {
                for id in self.top_calls(a, now, calls_per_agent) {
                    row_cands.entry(id).or_default().push(a);
                }
            }
            if row_cands.is_empty() {
                continue;
            }

            // Rows in serving order.
            let mut rows: Vec<CallId> = row_cands
                .keys()
                .copied()
                .filter(|id| self.calls.contains_key(id))
                .collect();
            rows.sort_by(|x, y| match (self.calls.get(x), self.calls.get(y)) {
                (Some(cx), Some(cy)) if self.served_before(cx, cy, now) => std::cmp::Ordering::Less,
                (Some(cx), Some(cy)) if self.served_before(cy, cx, now) => {
                    std::cmp::Ordering::Greater
                }
                _ => x.cmp(y),
            });
            if rows.len() > JOINT_MAX {
                self.dirty_calls.extend(rows.drain(JOINT_MAX..));
            }
            // Columns in rounds over the rows' preference lists, so every kept row keeps its
            // first choice even when the column side is cut.
            let mut cols: Vec<usize> = Vec::new();
            let mut seen = BTreeSet::new();
            let depth = row_cands.values().map(Vec::len).max().unwrap_or(0);
            for i in 0..depth {
                for id in &rows {
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

            let parts: Vec<Vec<Option<Preference>>> = rows
                .iter()
                .map(|id| {
                    let call = self.calls.get(id);
                    cols.iter()
                        .map(|a| call.and_then(|c| self.pair_preference(c, *a, now)))
                        .collect()
                })
                .collect();
            let scores: Vec<Vec<Option<f64>>> = parts
                .iter()
                .map(|r| r.iter().map(|p| p.map(|p| p.value())).collect())
                .collect();
            let assignment = assign::in_serving_order(&scores);
            let served = assignment.iter().flatten().count();
            if served == 0 {
                continue;
            }
            let joint = rows.len() > 1 && cols.len() > 1;
            let assigned: BTreeMap<CallId, usize> = assignment
                .iter()
                .enumerate()
                .filter_map(|(r, c)| c.map(|c| (rows[r], cols[c])))
                .collect();
            let mut assigned_cols = BTreeSet::new();
            for (r, col) in assignment.iter().enumerate() {
                let id = rows[r];
                let Some(col) = *col else {
                    if was_dirty_call.contains(&id) {
                        self.dirty_calls.insert(id);
                    }
                    continue;
                };
                assigned_cols.insert(col);
                let considered = eligible_counts.get(&id).copied().unwrap_or(0);
                let allowed = considered.max(parts[r].iter().flatten().count());
                let reason = match parts[r][col] {
                    Some(p) if joint => format!(
                        "{} calls and {} agents ready at once: {served} served in serving order; \
                         this agent is {}",
                        rows.len(),
                        cols.len(),
                        p.note()
                    ),
                    Some(p) => format!("best of {allowed} allowed: {}", p.note()),
                    None => String::new(),
                };
                let candidates = self.candidates_from_row(&cols, &parts[r]);
                let passed = self.passed_over(id, cols[col], now, &assigned);
                self.offer(now, id, cols[col], candidates, passed, reason);
            }
            for (i, a) in cols.iter().enumerate() {
                if !assigned_cols.contains(&i) && was_dirty_agent.contains(a) {
                    self.dirty_agents.insert(*a);
                }
            }
        }
    }

    fn candidates_from_row(&self, cols: &[usize], row: &[Option<Preference>]) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = cols
            .iter()
            .zip(row)
            .filter_map(|(a, p)| {
                p.map(|p| Candidate {
                    agent: self.agents[*a].id.clone(),
                    score: p.value(),
                    eligible: true,
                    note: p.note(),
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
        passed_over: Vec<PassedOver>,
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
        explanation.passed_over = passed_over;
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
