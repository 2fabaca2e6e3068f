//! The engine: state, the event loop entry point, and the bookkeeping every handler shares.
//!
//! `handle` runs in three phases: fire due timers (steps, RONA, wrap-up end, grace periods),
//! apply the event, then dispatch: everything that changed marks calls or agents "dirty", and
//! dispatch solves only the dirty part. Because every change that can make a call and an agent
//! compatible marks one of them dirty, the engine keeps the invariant that at rest no free,
//! eligible agent is left beside a routable call, so a single event never needs a full scan.

mod collective;
mod dispatch;
mod events;
mod explain;
mod queue_state;
mod reload;
mod service_level;
mod state;
mod timers;

#[cfg(test)]
mod caller_gone_tests;
#[cfg(test)]
mod collective_tests;
#[cfg(test)]
mod lookup_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod semantics_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod twin_tests;

use crate::accounting::{FinishedCall, QueueCounters};
use crate::command::{Command, CommandId, CommandKind, Target};
use crate::config::{PriorityOrder, RoutingConfig, SkillExpr};
use crate::decision::Decision;
use crate::event::{Event, Features, PhoneState};
use crate::ids::{AgentId, CallId, QueueId};
use crate::time::{Millis, Timestamp};
use crate::view::AgentAvailability;
use state::{AgentState, CallState, Pending, Phase, QueueState, TimerKey, WaitKey};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Longest dial string BlindTransfer accepts.
const MAX_DIAL_LEN: usize = 78;

/// Everything one `handle` call produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    pub commands: Vec<Command>,
    pub decisions: Vec<Decision>,
    pub finished: Vec<FinishedCall>,
}

/// The deterministic routing engine. See the crate docs for the model.
#[derive(Debug, Clone)]
pub struct Engine {
    config: Arc<RoutingConfig>,
    agents: Vec<AgentState>,
    agent_ix: BTreeMap<AgentId, usize>,
    queues: Vec<QueueState>,
    queue_ix: BTreeMap<QueueId, usize>,
    calls: BTreeMap<CallId, CallState>,
    /// Free agents per skill name.
    skill_idle: BTreeMap<String, BTreeSet<usize>>,
    timers: BTreeSet<(Timestamp, TimerKey)>,
    pending: BTreeMap<CommandId, Pending>,
    /// The transfer in flight per call, kept apart from call records so that even a call
    /// forgotten and seen again never gets a second transfer before the first one's result.
    in_flight: BTreeMap<CallId, CommandId>,
    /// Calls the engine moved to another queue, with the queue they left, until that queue
    /// reports them gone or they end: a late report from there is not a return.
    moved_out: BTreeMap<CallId, usize>,
    next_command: u64,
    dirty_calls: BTreeSet<CallId>,
    dirty_agents: BTreeSet<usize>,
    /// Calls given a deferred answer (see `CallState::deferred_answer`), pruned lazily.
    deferred: BTreeSet<CallId>,
    /// Every requirement a waiting call has had, interned (a BTreeMap: the core stays free of
    /// randomly seeded hashing): `needs[id]` is the expression.
    need_ids: BTreeMap<SkillExpr, u32>,
    needs: Vec<SkillExpr>,
    counters: BTreeMap<QueueId, QueueCounters>,
    /// Calls that arrived in a routed queue from outside: a call moving between routed queues
    /// is offered to each, but arrives once.
    arrivals: u64,
    /// Hunt-group membership the engine manages for collective delivery.
    collective: collective::CollectiveState,
    last_now: Timestamp,
    out: Output,
}

impl Engine {
    pub fn new(config: Arc<RoutingConfig>) -> Engine {
        let mut engine = Engine {
            config,
            agents: Vec::new(),
            agent_ix: BTreeMap::new(),
            queues: Vec::new(),
            queue_ix: BTreeMap::new(),
            calls: BTreeMap::new(),
            skill_idle: BTreeMap::new(),
            timers: BTreeSet::new(),
            pending: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            moved_out: BTreeMap::new(),
            next_command: 1,
            dirty_calls: BTreeSet::new(),
            dirty_agents: BTreeSet::new(),
            deferred: BTreeSet::new(),
            need_ids: BTreeMap::new(),
            needs: Vec::new(),
            counters: BTreeMap::new(),
            arrivals: 0,
            collective: Default::default(),
            last_now: Timestamp::ZERO,
            out: Output::default(),
        };
        engine.reindex_all(Timestamp::ZERO);
        engine
    }

    /// Feeds one event at `now`; returns the commands to send, the decisions taken and the
    /// calls the engine finished accounting for. `now` never goes backwards: an earlier value
    /// is treated as the latest seen.
    pub fn handle(&mut self, now: Timestamp, event: Event) -> Output {
        let now = now.max(self.last_now);
        self.last_now = now;
        self.advance(now);
        self.apply(now, event);
        self.advance(now);
        self.refresh_helpers(now);
        self.refresh_service_levels(now);
        self.sync_collective(now);
        self.dispatch(now);
        std::mem::take(&mut self.out)
    }

    /// When the engine next wants `Event::Tick`.
    pub fn next_wakeup(&self) -> Option<Timestamp> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// Per-queue accounting counters (cumulative since start).
    pub fn accounting(&self) -> &BTreeMap<QueueId, QueueCounters> {
        &self.counters
    }

    /// Calls that arrived in the routed queues, each counted once however many routed queues
    /// it passes through (per-queue `offered` counts it in each). A call an agent transfers back
    /// into a queue arrives again.
    pub fn calls_arrived(&self) -> u64 {
        self.arrivals
    }

    pub fn config(&self) -> &RoutingConfig {
        &self.config
    }

    fn apply(&mut self, now: Timestamp, event: Event) {
        match event {
            Event::CallQueued(queued) => self.on_call_queued(now, queued),
            Event::CallLeftQueue { call, queue } => self.on_call_left_queue(now, call, &queue),
            Event::CallRinging { call, agent } => self.on_call_ringing(now, call, &agent),
            Event::CallAnswered { call, agent } => self.on_call_answered(now, call, &agent),
            Event::CallEnded { call } => self.on_call_ended(now, call),
            Event::QueueSnapshotCalls { queue, calls, site } => {
                self.on_queue_snapshot_calls(now, &queue, &calls, site)
            }
            Event::AgentChanged(snapshot) => self.on_agent_changed(now, snapshot),
            Event::AgentRemoved(agent) => self.on_agent_removed(now, &agent),
            Event::QueueChanged(snapshot) => self.on_queue_changed(now, snapshot),
            Event::QueueRemoved(queue) => self.on_queue_removed(now, &queue),
            Event::CommandResult { id, outcome } => self.on_command_result(now, id, outcome),
            Event::RulesChanged(config) => self.on_rules_changed(now, config),
            Event::Tick => {}
            Event::LinkRestarted(site) => self.on_link_restarted(now, site),
        }
    }

    // ----- interning -----

    fn agent_slot(&mut self, id: &AgentId) -> usize {
        if let Some(ix) = self.agent_ix.get(id) {
            return *ix;
        }
        let ix = self.agents.len();
        let mut agent = AgentState::new(id.clone());
        if let Some(profile) = self.config.agents.get(id) {
            agent.skills = profile.skills.clone();
            agent.wrap_override = profile.wrap_up_ms;
        }
        self.agents.push(agent);
        self.agent_ix.insert(id.clone(), ix);
        ix
    }

    fn queue_slot(&mut self, id: &QueueId) -> usize {
        if let Some(ix) = self.queue_ix.get(id) {
            return *ix;
        }
        let ix = self.queues.len();
        let mut queue = QueueState::new(id.clone());
        queue.policy = self.config.queues.get(id).cloned();
        self.queues.push(queue);
        self.queue_ix.insert(id.clone(), ix);
        ix
    }

    // ----- commands and decisions -----

    fn emit(&mut self, kind: CommandKind, pending: Pending) -> CommandId {
        let id = CommandId(self.next_command);
        self.next_command += 1;
        self.pending.insert(id, pending);
        if let CommandKind::Transfer { call, .. } = &kind {
            self.in_flight.insert(*call, id);
        }
        self.out.commands.push(Command { id, kind });
        id
    }

    fn decide(&mut self, decision: Decision) {
        self.out.decisions.push(decision);
    }

    /// The dial string for a transfer target, or why there is none.
    fn resolve_dial(&self, target: &Target) -> Result<String, String> {
        let dial = match target {
            Target::Agent(agent) => agent.0.clone(),
            Target::Queue(queue) => self
                .queue_ix
                .get(queue)
                .and_then(|q| self.queues[*q].extension.clone())
                .ok_or_else(|| format!("extension of queue {queue} unknown"))?,
            Target::Voicemail(mailbox) => format!("/102/{mailbox}"),
            Target::External(number) => {
                if self
                    .config
                    .allowed_external
                    .iter()
                    .any(|p| crate::number::matches(self.config.numbering.as_ref(), p, number))
                {
                    number.clone()
                } else {
                    return Err(format!("external number {number} not allowed"));
                }
            }
        };
        if dial.is_empty() || dial.len() > MAX_DIAL_LEN {
            return Err(format!(
                "dial string {dial:?} not 1..{MAX_DIAL_LEN} characters"
            ));
        }
        Ok(dial)
    }

    // ----- timers -----

    fn set_timer(&mut self, key: TimerKey, at: Option<Timestamp>) {
        let slot = match key {
            TimerKey::Call(id) => match self.calls.get_mut(&id) {
                Some(call) => &mut call.timer,
                None => return,
            },
            TimerKey::Agent(a) => &mut self.agents[a].timer,
            TimerKey::Queue(q) => &mut self.queues[q].timer,
        };
        if *slot == at {
            return;
        }
        let old = std::mem::replace(slot, at);
        if let Some(old) = old {
            self.timers.remove(&(old, key));
        }
        if let Some(at) = at {
            self.timers.insert((at, key));
        }
    }

    // ----- agents -----

    /// The agent's forward unconditional is on and sends the engine's calls away: they take
    /// none, unless their rules say the forward leads to a phone they answer.
    pub(crate) fn forward_stops_offers(&self, a: usize) -> bool {
        let agent = &self.agents[a];
        agent.presence.forwarded
            && !self
                .config
                .agents
                .get(&agent.id)
                .is_some_and(|p| p.takes_calls_when_forwarded)
    }

    fn availability(&self, a: usize, now: Timestamp) -> AgentAvailability {
        let agent = &self.agents[a];
        if !agent.known || !agent.presence.logged_in {
            return AgentAvailability::LoggedOff;
        }
        if agent.presence.phone_fault {
            return AgentAvailability::PhoneFault;
        }
        if agent.presence.dnd {
            return AgentAvailability::Dnd;
        }
        if self.forward_stops_offers(a) {
            return AgentAvailability::Forwarded;
        }
        match agent.phone {
            PhoneState::Ringing => AgentAvailability::Ringing,
            PhoneState::OnCall => AgentAvailability::OnCall,
            PhoneState::AfterCallWork => AgentAvailability::AfterCallWork,
            PhoneState::Idle => {
                if agent.reserved_for.is_some() {
                    AgentAvailability::Reserved
                } else if agent.on_call.is_some() {
                    AgentAvailability::OnCall
                } else if agent.not_ready_until.is_some_and(|t| t > now) {
                    AgentAvailability::NotReady
                } else if agent.wrap_until.is_some_and(|t| t > now) {
                    AgentAvailability::WrapUp
                } else {
                    AgentAvailability::Idle
                }
            }
        }
    }

    /// Recomputes an agent's availability and brings the indexes, logged-in counts and the
    /// agent's timer in line with it. Every change to an agent goes through here.
    fn refresh_agent(&mut self, a: usize, now: Timestamp) {
        let available = self.availability(a, now) == AgentAvailability::Idle;
        let logged_in = {
            let agent = &self.agents[a];
            agent.known && agent.presence.logged_in
        };
        if logged_in != self.agents[a].counted_logged_in {
            self.agents[a].counted_logged_in = logged_in;
            for qi in 0..self.agents[a].queues.len() {
                let q = self.agents[a].queues[qi];
                let queue = &mut self.queues[q];
                queue.presence_epoch += 1;
                if logged_in {
                    queue.logged_in += 1;
                } else {
                    queue.logged_in = queue.logged_in.saturating_sub(1);
                    let watches_qualified = queue
                        .policy
                        .as_ref()
                        .is_some_and(|p| p.no_qualified_target.is_some());
                    if queue.logged_in == 0 || watches_qualified {
                        // Waiting calls may now take the no-agents (or no-qualified) exit.
                        self.dirty_calls.extend(queue.waiting.iter().map(|k| k.2));
                    }
                }
            }
        }
        if available != self.agents[a].indexed_available {
            let Engine {
                agents,
                queues,
                skill_idle,
                dirty_agents,
                ..
            } = self;
            let agent = &mut agents[a];
            agent.indexed_available = available;
            for q in &agent.queues {
                if available {
                    queues[*q].idle.insert(a);
                } else {
                    queues[*q].idle.remove(&a);
                }
            }
            for skill in agent.skills.keys() {
                match skill_idle.get_mut(skill) {
                    Some(set) if available => {
                        set.insert(a);
                    }
                    Some(set) => {
                        set.remove(&a);
                    }
                    None if available => {
                        skill_idle.insert(skill.clone(), BTreeSet::from([a]));
                    }
                    None => {}
                }
            }
            if available {
                agent.idle_since = now;
                dirty_agents.insert(a);
            }
        }
        let agent = &self.agents[a];
        let wake = [agent.wrap_until, agent.not_ready_until]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min();
        self.set_timer(TimerKey::Agent(a), wake);
    }

    /// Drops a reservation the agent holds for `call`.
    fn release_agent(&mut self, a: usize, call: CallId, now: Timestamp) {
        if self.agents[a].reserved_for == Some(call) {
            self.agents[a].reserved_for = None;
            self.refresh_agent(a, now);
        }
    }

    // ----- calls -----

    /// The time-invariant part of a call's place in the serving order within its queue, in
    /// ms: strict priority puts each level 2^50 ms (35 000 years) ahead, so arrival times never
    /// bridge it; aging credits each level with `step_ms` of waiting.
    fn wait_key(&self, call: &CallState) -> WaitKey {
        let arrival = i64::try_from(call.arrival.as_millis()).unwrap_or(i64::MAX >> 2);
        let above_low = i64::from(call.effective_priority() - 1);
        let credit = match self.config.priority_order {
            PriorityOrder::Strict => above_low << 50,
            PriorityOrder::Aging { step_ms } => {
                above_low.saturating_mul(i64::try_from(step_ms).unwrap_or(i64::MAX >> 4))
            }
        };
        (Reverse(credit - arrival), call.arrival, call.id)
    }

    /// Where a call stands in the order calls are served, across queues: the priority class
    /// first (strict priority only), then, when balancing by service level, how far its queue
    /// is behind target, then the waiting time weighted by the queue's weight (with the aging
    /// credit for priority). Higher is served first. Within one queue only priority and
    /// arrival ever differ, so each queue's own order is its `waiting` set's.
    fn serve_order(&self, call: &CallState, now: Timestamp) -> (u8, f64, f64) {
        let queue = &self.queues[call.queue];
        let weight = queue.policy.as_ref().map_or(1.0, |p| p.weight.max(0.0));
        let waited = now.since(call.arrival) as f64;
        let above_low = f64::from(call.effective_priority() - 1);
        let behind = queue.sl_behind;
        match self.config.priority_order {
            PriorityOrder::Strict => (call.effective_priority(), behind, weight * waited),
            PriorityOrder::Aging { step_ms } => {
                (0, behind, weight * (waited + above_low * step_ms as f64))
            }
        }
    }

    /// Whether call `x` is served before call `y` at `now`.
    fn served_before(&self, x: &CallState, y: &CallState, now: Timestamp) -> bool {
        let (cx, bx, vx) = self.serve_order(x, now);
        let (cy, by, vy) = self.serve_order(y, now);
        cx.cmp(&cy)
            .then(bx.total_cmp(&by))
            .then(vx.total_cmp(&vy))
            .then(y.arrival.cmp(&x.arrival))
            .then(y.id.cmp(&x.id))
            .is_gt()
    }

    /// Puts the call in (or takes it out of) its queue's routable set, according to its
    /// phase, features and the queue's policy.
    fn index_call(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let q = call.queue;
        let routable = call.phase == Phase::Waiting
            && !call.unconfirmed
            && call.deferred_answer.is_none()
            && call.features.has(Features::BLIND_TRANSFER)
            && !self.in_flight.contains_key(&id)
            && self.queues[q].policy.is_some();
        let want = routable.then(|| self.wait_key(call));
        let old = call.wait_key;
        let old_need = call.need;
        // The call's group stays valid while its requirement does: no interning lookup then.
        let filed = call
            .need
            .filter(|n| self.needs.get(*n as usize) == Some(&call.required));
        let want_need = want.map(|_| filed.unwrap_or_else(|| self.intern_need(id)));
        if old == want && old_need == want_need {
            return;
        }
        if let Some(old) = old {
            self.queues[q].waiting.remove(&old);
            self.queues[q].arrivals.remove(&(old.1, old.2));
            if let Some(n) = old_need {
                self.unfile_need(q, n, &old);
            }
        }
        if let Some(new) = want {
            self.queues[q].waiting.insert(new);
            self.queues[q].arrivals.insert((new.1, new.2));
            if let Some(n) = want_need {
                self.queues[q].by_need.entry(n).or_default().insert(new);
            }
            self.dirty_calls.insert(id);
        }
        if let Some(call) = self.calls.get_mut(&id) {
            call.wait_key = want;
            call.need = want_need;
        }
    }

    /// The interned id of the call's current requirement.
    fn intern_need(&mut self, id: CallId) -> u32 {
        let Some(call) = self.calls.get(&id) else {
            return 0;
        };
        if let Some(n) = self.need_ids.get(&call.required) {
            return *n;
        }
        let n = u32::try_from(self.needs.len()).unwrap_or(u32::MAX);
        self.needs.push(call.required.clone());
        self.need_ids.insert(call.required.clone(), n);
        n
    }

    /// Takes a wait key out of its requirement group, dropping the group when it empties.
    fn unfile_need(&mut self, q: usize, need: u32, key: &WaitKey) {
        let groups = &mut self.queues[q].by_need;
        if let Some(group) = groups.get_mut(&need) {
            group.remove(key);
            if group.is_empty() {
                groups.remove(&need);
            }
        }
    }

    fn wrap_up_for(&self, a: usize, q: usize) -> Millis {
        if let Some(ms) = self.agents[a].wrap_override {
            return ms;
        }
        match &self.queues[q].policy {
            Some(policy) => policy.wrap_up_ms,
            None => self.config.default_wrap_up_ms,
        }
    }

    // ----- rebuilding derived state -----

    /// Rebuilds memberships, idle and skill indexes, logged-in counts and waiting-call keys
    /// from scratch: after rules or queue membership change. Marks everything dirty.
    fn reindex_all(&mut self, now: Timestamp) {
        let config = Arc::clone(&self.config);
        for id in config.queues.keys() {
            self.queue_slot(id);
        }
        for id in config.agents.keys() {
            self.agent_slot(id);
        }
        for policy in config.queues.values() {
            for agent in &policy.agents {
                self.agent_slot(agent);
            }
        }
        for agent in &mut self.agents {
            match config.agents.get(&agent.id) {
                Some(profile) => {
                    agent.skills = profile.skills.clone();
                    agent.wrap_override = profile.wrap_up_ms;
                }
                None => {
                    agent.skills.clear();
                    agent.wrap_override = None;
                }
            }
            agent.queues.clear();
            agent.indexed_available = false;
            agent.counted_logged_in = false;
        }
        self.skill_idle.clear();
        self.collective.any_collective = config
            .queues
            .values()
            .any(|p| p.delivery == crate::config::Delivery::Collective);
        for q in 0..self.queues.len() {
            let policy = config.queues.get(&self.queues[q].id).cloned();
            let (backup, helpers) = policy.as_ref().map_or((Vec::new(), Vec::new()), |p| {
                (p.backup_agents.clone(), p.helpers.clone())
            });
            let first_choice: Vec<AgentId> = match &policy {
                Some(p) if !p.agents.is_empty() => p.agents.clone(),
                // The IP Office members, less those the rules put in a later tier. Enabled or
                // not: routed groups' members are disabled so that IP Office never rings them
                // itself (the README's set-up), which says nothing about who may take calls.
                _ => self.queues[q]
                    .pbx_members
                    .iter()
                    .filter(|m| !backup.contains(&m.agent) && !helpers.contains(&m.agent))
                    .map(|m| m.agent.clone())
                    .collect(),
            };
            let mut members = Vec::with_capacity(first_choice.len());
            let mut member_pos = BTreeMap::new();
            let mut member_tier = BTreeMap::new();
            for (tier, ids) in [(0u8, &first_choice), (1, &backup), (2, &helpers)] {
                for id in ids {
                    let a = self.agent_slot(id);
                    if let std::collections::btree_map::Entry::Vacant(slot) = member_pos.entry(a) {
                        slot.insert(members.len());
                        members.push(a);
                        member_tier.insert(a, tier);
                    }
                }
            }
            for a in &members {
                self.agents[*a].queues.push(q);
            }
            if let Some(p) = &policy {
                self.counters
                    .entry(p.queue.clone())
                    .or_insert_with(|| QueueCounters::with_thresholds(&p.service_level_ms))
                    .set_thresholds(&p.service_level_ms);
            }
            let queue = &mut self.queues[q];
            queue.policy = policy;
            queue.members = members;
            queue.member_pos = member_pos;
            queue.member_tier = member_tier;
            queue.helpers_active = false;
            queue.idle.clear();
            queue.waiting.clear();
            queue.arrivals.clear();
            queue.by_need.clear();
            queue.logged_in = 0;
            if queue.rr_last.is_some_and(|p| p >= queue.members.len()) {
                queue.rr_last = None;
            }
        }
        for a in 0..self.agents.len() {
            self.refresh_agent(a, now);
        }
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            if let Some(call) = self.calls.get_mut(&id) {
                call.wait_key = None;
                call.need = None;
            }
            self.index_call(id);
            self.dirty_calls.insert(id);
        }
        for q in 0..self.queues.len() {
            self.schedule_queue(q, now);
        }
    }
}
