//! The invariants the simulation checks after every step, each with a name a failure report
//! shows. They compare what the engine believes and does with IP Office's own state (the
//! simulator's model), which the engine never sees directly.

use crate::sim::model::types::CallPhase;
use crate::sim::model::Model;
use acd_core::{
    AgentAvailability, AgentId, CallId, Command, CommandId, CommandKind, Decision, DecisionAction,
    Delivery, Engine, Event, ExitReason, QueueId, Timestamp,
};
use acd_wire::translate::{END_GRACE, TRANSFER_END_GRACE};
use acd_wire::LiveLive;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: &'static str,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invariant `{}` violated: {}",
            self.invariant, self.detail
        )
    }
}

/// Whether the engine's link to this system is subscribed (a system the world does not have
/// never is).
fn site_ready(ready: &[bool], site: u8) -> bool {
    ready.get(usize::from(site)).copied().unwrap_or(false)
}

fn violated(invariant: &'static str, detail: String) -> Result<(), Violation> {
    Err(Violation { invariant, detail })
}

pub struct Checker {
    /// Transfer command -> call (and its gcid, when known), until its result comes back: the
    /// engine is acting on these calls.
    transfers: HashMap<CommandId, (CallId, Option<Vec<u8>>)>,
    transfer_of: HashMap<CallId, CommandId>,
    /// (gcid, extension) pairs IP Office has shown ringing.
    rang: HashSet<(Vec<u8>, String)>,
    /// The last fault, connect or disconnect: liveness is judged only while the link is
    /// subscribed and `bound_ms` after it.
    disturbed_at: Timestamp,
    pub bound_ms: u64,
    /// Calls alive at IP Office after the last step, and how many ended while the engine's
    /// link was down: their fate cannot be seen through the protocol (a snapshot shows only
    /// the calls that exist), so the counters may miss that many answers, never more.
    live: HashMap<Vec<u8>, u8>,
    unobservable: u64,
    /// Calls IP Office connected to an agent, and those whose answer reached the engine: IP
    /// Office folds changes into the next snapshot while a notify waits for its ack, so a
    /// short call can be answered and gone before the user subscription shows it answered.
    answered_at_pbx: HashSet<Vec<u8>>,
    pub answer_seen: HashSet<Vec<u8>>,
    /// The last step at which the engine's own policy (wrap-up, not-ready) held each agent:
    /// when a hold ends the engine reacts like to any other change, so liveness gives it the
    /// same bound from there, as it does from a fault or from the agent going idle.
    held_at: HashMap<AgentId, Timestamp>,
    /// When each call ended at IP Office (hang-ups included): a transfer of it long enough
    /// after that is the engine chasing a call that is not there.
    gone_at: HashMap<Vec<u8>, Timestamp>,
    /// (call, agent) pairs the engine was told ring: only then can it know that the call's
    /// leg vanishing there is an end and not a transfer still on its way.
    ring_seen: HashSet<(CallId, AgentId)>,
    /// Per collectively delivered queue (issue 25), the call IP Office serves next and since
    /// when: the engine enables members for that call only, so liveness gives it the bound
    /// from the moment it came first.
    heads: HashMap<String, (crate::sim::model::SimCallId, Timestamp)>,
    /// The last step at which each agent's phone rang (IP Office keeps their idle time from
    /// before the ring): once a ring ends, the engine gets the bound to react, as after a hold
    /// (a member IP Office rang for a collective group stays enabled until its disable is
    /// reported).
    rang_at: HashMap<String, Timestamp>,
}

impl Checker {
    pub fn new(bound_ms: u64) -> Checker {
        Checker {
            transfers: HashMap::new(),
            transfer_of: HashMap::new(),
            rang: HashSet::new(),
            disturbed_at: Timestamp::ZERO,
            bound_ms,
            live: HashMap::new(),
            unobservable: 0,
            answered_at_pbx: HashSet::new(),
            answer_seen: HashSet::new(),
            held_at: HashMap::new(),
            gone_at: HashMap::new(),
            ring_seen: HashSet::new(),
            heads: HashMap::new(),
            rang_at: HashMap::new(),
        }
    }

    /// A fault or a change of the link: whatever the engine believes may be stale until the
    /// notifies after it have arrived.
    pub fn disturbed(&mut self, now: Timestamp) {
        self.disturbed_at = now;
    }

    /// The last fault, connect or disconnect.
    pub fn disturbed_at(&self) -> Timestamp {
        self.disturbed_at
    }

    pub fn on_event(&mut self, now: Timestamp, event: &Event) {
        if let Event::CallRinging { call, agent } = event {
            self.ring_seen.insert((*call, agent.clone()));
        }
        if let Event::CommandResult { id, outcome } = event {
            if let Some((call, _)) = self.transfers.remove(id) {
                self.transfer_of.remove(&call);
            }
            // A refused or unanswered command is a fault too: the engine rightly pauses the
            // pair it failed on, so liveness is judged from the bound after it.
            if *outcome != acd_core::CommandOutcome::Success {
                self.disturbed(now);
            }
        }
    }

    /// At most one transfer in flight per call, and none of a call IP Office ended long enough
    /// ago for the engine to have heard of it: the bound, plus the grace the translator gives a
    /// call it just transferred to appear on the agent's phone before taking it as ended
    /// (until then a ring-no-answer return or a retry after a refusal is the engine acting on
    /// what it can know). Like liveness, judged only while the link is subscribed and from the
    /// last fault on: a transfer refused locally while the link is down reaches nobody.
    pub fn on_commands(
        &mut self,
        now: Timestamp,
        ready: &[bool],
        commands: &[Command],
        translator: &LiveLive,
    ) -> Result<(), Violation> {
        for c in commands {
            if let CommandKind::Transfer { call, .. } = &c.kind {
                let ready = site_ready(ready, call.site().0);
                let gone = translator
                    .gcid_of(*call)
                    .and_then(|g| self.gone_at.get(g).map(|t| (g, *t)));
                let heard_by = self.bound_ms + TRANSFER_END_GRACE.as_millis() as u64;
                let late =
                    |at: Timestamp| ready && now.since(at.max(self.disturbed_at)) >= heard_by;
                if let Some((gcid, at)) = gone.filter(|(_, at)| late(*at)) {
                    return violated(
                        "no-transfer-of-a-gone-call",
                        format!(
                            "{call} (gcid {}) got transfer {} {:.1} s after it ended at IP Office",
                            hex::encode(gcid),
                            c.id.0,
                            now.since(at) as f64 / 1000.0
                        ),
                    );
                }
                if let Some(first) = self.transfer_of.get(call) {
                    return violated(
                        "one-transfer-in-flight",
                        format!(
                            "{call} got transfer {} while transfer {} had no result yet",
                            c.id.0, first.0
                        ),
                    );
                }
                let gcid = translator.gcid_of(*call).map(<[u8]>::to_vec);
                self.transfers.insert(c.id, (*call, gcid));
                self.transfer_of.insert(*call, c.id);
            }
        }
        Ok(())
    }

    /// Exits and penalties are judged against IP Office's truth at the moment they are taken.
    pub fn on_decisions(
        &mut self,
        now: Timestamp,
        ready: &[bool],
        decisions: &[Decision],
        engine: &Engine,
        model: &Model,
        translator: &LiveLive,
    ) -> Result<(), Violation> {
        for d in decisions {
            match &d.action {
                DecisionAction::Exit {
                    reason: ExitReason::NoAgents,
                    target,
                } => {
                    let agents = engine
                        .config()
                        .queues
                        .get(&d.queue)
                        .map(|p| {
                            let mut all = p.agents.clone();
                            all.extend(p.backup_agents.iter().cloned());
                            all.extend(p.helpers.iter().cloned());
                            all
                        })
                        .unwrap_or_default();
                    if let Some(a) = agents.iter().find(|a| logged_in(model, a)) {
                        return violated(
                            "no-false-exit",
                            format!(
                                "{} in {} sent to {target} for want of agents while agent {a} \
                                 is logged in at IP Office",
                                d.call, d.queue
                            ),
                        );
                    }
                }
                DecisionAction::Rona { agent } => {
                    self.no_ring_no_answer_after_hang_up(now, ready, d, agent, translator)?;
                    // Moving a call on after a ring timeout is fine; making the agent
                    // not-ready is a penalty, and needs the call to have rung there.
                    let penalised = matches!(
                        engine.agent_availability(agent, model.now()),
                        Some(AgentAvailability::NotReady)
                    );
                    let Some(gcid) = translator.gcid_of(d.call).filter(|_| penalised) else {
                        continue;
                    };
                    if !self.rang.contains(&(gcid.to_vec(), agent.0.clone())) {
                        return violated(
                            "no-penalty-without-ring",
                            format!(
                                "agent {agent} made not-ready for {} (gcid {}), which never rang \
                                 at their phone",
                                d.call,
                                hex::encode(gcid)
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// **no-ring-no-answer-after-hang-up**: a caller who hung up while the agent's phone rang
    /// is no ring-no-answer: once IP Office has shown the end (the bound, plus the grace the
    /// translator gives a vanished leg: the short one when the engine saw the call ring at
    /// that agent, the transfer grace when it could still be on its way), the engine's ring
    /// timer must not fire for it. Judged like the other timely invariants, from the last fault and while subscribed.
    fn no_ring_no_answer_after_hang_up(
        &self,
        now: Timestamp,
        ready: &[bool],
        d: &Decision,
        agent: &AgentId,
        translator: &LiveLive,
    ) -> Result<(), Violation> {
        let Some(gcid) = translator.gcid_of(d.call) else {
            return Ok(());
        };
        let Some(gone) = self.gone_at.get(gcid).copied() else {
            return Ok(());
        };
        if !site_ready(ready, d.call.site().0) {
            return Ok(());
        }
        // The short grace applies once the engine has seen the call ring there; a ring that
        // no notify of the call's own system showed (too short, folded while a notify waited
        // for its ack) leaves the call a transfer on its way until the transfer grace passes.
        let rang_there = self.rang.contains(&(gcid.to_vec(), agent.0.clone()))
            && self.ring_seen.contains(&(d.call, agent.clone()));
        let grace = if rang_there {
            END_GRACE
        } else {
            TRANSFER_END_GRACE
        };
        let heard_by = self.bound_ms + grace.as_millis() as u64;
        if now.since(gone.max(self.disturbed_at)) >= heard_by {
            return violated(
                "no-ring-no-answer-after-hang-up",
                format!(
                    "ring-no-answer of {} (gcid {}) at agent {agent} {:.1} s after the caller \
                     hung up",
                    d.call,
                    hex::encode(gcid),
                    now.since(gone) as f64 / 1000.0
                ),
            );
        }
        Ok(())
    }

    /// After every step: record what rings, then accounting and liveness.
    /// `judge`: this engine is the one that sends (alone, or the twin's leader): liveness is
    /// its to keep. A follower's other invariants hold all the same.
    pub fn after_step(
        &mut self,
        now: Timestamp,
        ready: &[bool],
        judge: bool,
        engine: &Engine,
        model: &Model,
    ) -> Result<(), Violation> {
        for call in model.calls() {
            if call.phase == CallPhase::Connected && call.agent.is_some() {
                self.answered_at_pbx.insert(call.gcid.clone());
            }
            if call.phase == CallPhase::Ringing {
                for &u in &call.ringing {
                    if let Some(user) = model.users().get(u) {
                        self.rang.insert((call.gcid.clone(), user.extn.clone()));
                        self.rang_at.insert(user.extn.clone(), now);
                    }
                }
            }
        }
        let live: HashMap<Vec<u8>, u8> = model.calls().map(|c| (c.gcid.clone(), c.site)).collect();
        for (gcid, site) in &self.live {
            if live.contains_key(gcid) {
                continue;
            }
            // Ended while its system's link was down: nothing the engine could see.
            if !site_ready(ready, *site) {
                self.unobservable += 1;
            }
            self.gone_at.insert(gcid.clone(), now);
        }
        self.live = live;
        for agent in engine.config().agents.keys() {
            if matches!(
                engine.agent_availability(agent, now),
                Some(AgentAvailability::WrapUp | AgentAvailability::NotReady)
            ) {
                self.held_at.insert(agent.clone(), now);
            }
        }
        self.note_heads(now, engine, model);
        accounting(engine)?;
        if judge && now.since(self.disturbed_at) >= self.bound_ms {
            self.liveness(now, ready, engine, model)?;
        }
        Ok(())
    }

    /// Keeps, per collectively delivered queue, the call IP Office serves next and since when.
    fn note_heads(&mut self, now: Timestamp, engine: &Engine, model: &Model) {
        for q in model.queues() {
            let collective = engine
                .config()
                .queues
                .get(&QueueId(q.name.clone()))
                .is_some_and(|p| p.delivery == Delivery::Collective);
            let head = collective.then(|| serves_next(model, q)).flatten();
            match head {
                Some(id) if self.heads.get(&q.name).is_some_and(|(h, _)| *h == id) => {}
                Some(id) => {
                    self.heads.insert(q.name.clone(), (id, now));
                }
                None => {
                    self.heads.remove(&q.name);
                }
            }
        }
    }

    /// No routable call waits longer than the bound beside an idle agent the rules make
    /// eligible for it, unless the engine's own policy (wrap-up, not-ready) holds the agent.
    fn liveness(
        &self,
        now: Timestamp,
        ready: &[bool],
        engine: &Engine,
        model: &Model,
    ) -> Result<(), Violation> {
        for call in model.calls() {
            if call.phase != CallPhase::Queued || now.since(call.entered_queue_at) < self.bound_ms {
                continue;
            }
            // Its system's link is not subscribed: the engine cannot see it (yet).
            if !site_ready(ready, call.site) {
                continue;
            }
            let Some(q) = call.queue.and_then(|q| model.queues().get(q)) else {
                continue;
            };
            let queue = QueueId(q.name.clone());
            let Some(policy) = engine.config().queues.get(&queue) else {
                continue;
            };
            // Collective delivery (issue 25): IP Office rings the enabled members for the call
            // it serves next, so the engine enables those eligible for that call only; a later
            // call waits for its turn however its own requirement compares.
            if policy.delivery == Delivery::Collective {
                let head_for = self
                    .heads
                    .get(&q.name)
                    .filter(|(id, _)| *id == call.id)
                    .map(|(_, since)| now.since(*since));
                if head_for.is_none_or(|ms| ms < self.bound_ms) {
                    continue;
                }
            }
            // Offered already: the engine's transfer (to another eligible agent, since it
            // forgives a single missed offer) is on its way and IP Office still shows the call
            // waiting.
            if self
                .transfers
                .values()
                .any(|(_, g)| g.as_deref() == Some(call.gcid.as_slice()))
            {
                continue;
            }
            let explanation = engine.explain(now, &queue, &call.attributes);
            for cand in explanation.candidates.iter().filter(|c| c.eligible) {
                let Some(user) = model
                    .user_by_extn(&cand.agent.0)
                    .and_then(|u| model.users().get(u))
                else {
                    continue;
                };
                if !user.available() || now.since(user.idle_since) < self.bound_ms {
                    continue;
                }
                let rang_recently = self
                    .rang_at
                    .get(&user.extn)
                    .is_some_and(|t| now.since(*t) < self.bound_ms);
                if rang_recently {
                    continue;
                }
                // The engine does not offer a call again to an agent who let it ring out.
                if self.rang.contains(&(call.gcid.clone(), user.extn.clone())) {
                    continue;
                }
                let seen = engine.agent_availability(&cand.agent, now);
                if matches!(
                    seen,
                    Some(AgentAvailability::WrapUp | AgentAvailability::NotReady)
                ) {
                    continue;
                }
                let held_recently = self
                    .held_at
                    .get(&cand.agent)
                    .is_some_and(|t| now.since(*t) < self.bound_ms);
                if held_recently {
                    continue;
                }
                return violated(
                    "liveness",
                    format!(
                        "call gcid {} has waited {:.1} s in {queue} while agent {} has been idle \
                         at IP Office for {:.1} s (the engine sees {seen:?})",
                        hex::encode(&call.gcid),
                        now.since(call.entered_queue_at) as f64 / 1000.0,
                        cand.agent,
                        now.since(user.idle_since) as f64 / 1000.0
                    ),
                );
            }
        }
        Ok(())
    }

    /// When nothing is left: the engine holds no call IP Office has finished, the translator
    /// keeps no mapping, the counters equal the simulator's, the gauges tell the truth.
    pub fn at_quiescence(
        &self,
        engine: &Engine,
        model: &Model,
        translator: &LiveLive,
        exported: &BTreeMap<String, f64>,
    ) -> Result<(), Violation> {
        let live = model.calls().count();
        if live > 0 {
            return violated(
                "quiescence",
                format!("{live} calls still live at IP Office long after the last arrival"),
            );
        }
        let open: u64 = engine.open_calls().values().sum();
        if open > 0 {
            return violated(
                "accounting",
                format!("the engine still holds {open} open calls that IP Office has finished"),
            );
        }
        if translator.tracked_calls() > 0 {
            return violated(
                "bounded-maps",
                format!(
                    "the translator still maps {} calls after every call ended",
                    translator.tracked_calls()
                ),
            );
        }
        let engine_answered: u64 = engine.accounting().values().map(|c| c.answered).sum();
        let model_answered: u64 = model.queue_stats().map(|(_, s)| s.answered).sum();
        let never_shown = self.answered_at_pbx.difference(&self.answer_seen).count() as u64;
        if engine_answered > model_answered
            || engine_answered + self.unobservable + never_shown < model_answered
        {
            return violated(
                "counters-match-truth",
                format!(
                    "engine counted {engine_answered} answered, IP Office {model_answered} \
                     ({} calls ended while the link was down, {never_shown} answers never \
                     shown on the wire)",
                    self.unobservable
                ),
            );
        }
        let agents: f64 = exported
            .iter()
            .filter(|(k, _)| k.starts_with("acd_agents{"))
            .map(|(_, v)| v)
            .sum();
        let known = engine.config().agents.len() as f64;
        if agents != known {
            return violated(
                "gauges-tell-the-truth",
                format!(
                    "acd_agents sums to {agents} over its states, the rules name {known} agents"
                ),
            );
        }
        for agent in engine.config().agents.keys() {
            let engine_in = !matches!(
                engine.agent_availability(agent, model.now()),
                None | Some(AgentAvailability::LoggedOff)
            );
            if engine_in != logged_in(model, agent) {
                return violated(
                    "gauges-tell-the-truth",
                    format!(
                        "agent {agent}: the engine has them {}, IP Office {}",
                        if engine_in { "logged in" } else { "logged off" },
                        if engine_in { "logged off" } else { "logged in" }
                    ),
                );
            }
        }
        for (name, value) in exported {
            if name.starts_with("acd_queue_calls_waiting{") && *value != 0.0 {
                return violated(
                    "gauges-tell-the-truth",
                    format!("{name} = {value} with no call at IP Office"),
                );
            }
        }
        Ok(())
    }
}

fn logged_in(model: &Model, agent: &AgentId) -> bool {
    model
        .user_by_extn(&agent.0)
        .and_then(|u| model.users().get(u))
        .is_some_and(|u| u.logged_in && !u.deleted)
}

/// Per queue: offered = answered + abandoned + overflowed + still open.
fn accounting(engine: &Engine) -> Result<(), Violation> {
    let open = engine.open_calls();
    for (queue, c) in engine.accounting() {
        let o = open.get(queue).copied().unwrap_or(0);
        if c.offered != c.answered + c.abandoned + c.overflowed + o {
            return violated(
                "accounting",
                format!(
                    "{queue}: offered {} ≠ answered {} + abandoned {} + overflowed {} + open {o}",
                    c.offered, c.answered, c.abandoned, c.overflowed
                ),
            );
        }
    }
    Ok(())
}

/// The first call of `queue` still queued (not ringing) in IP Office's own order (priority,
/// then arrival): the one a member enabled now is rung for.
fn serves_next(
    model: &Model,
    queue: &crate::sim::model::Queue,
) -> Option<crate::sim::model::SimCallId> {
    queue.waiting_calls().find(|id| {
        model
            .call(*id)
            .is_some_and(|c| c.phase == CallPhase::Queued)
    })
}
