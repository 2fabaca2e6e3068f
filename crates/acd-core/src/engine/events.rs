//! Applying each kind of event to the engine's state.
//!
//! The PBX is the truth: snapshots overwrite what the engine believed, and where the engine's
//! own records disagree (a reservation for a call that is gone, an agent "on a call" whose
//! phone is idle) the records are repaired from the snapshot.

use super::state::{CallState, ExitKind, Pending, Phase};
use super::Engine;
use crate::accounting::CallOutcome;
use crate::command::{CommandId, CommandKind, Target};

use crate::decision::{Decision, DecisionAction, ExitReason, Explanation};
use crate::event::{
    AgentSnapshot, CommandOutcome, Features, PhoneState, QueueSnapshot, QueuedCall,
};
use crate::ids::{AgentId, CallId, QueueId};

use crate::time::{Millis, Timestamp};

/// How long a call that left its queue without our transfer may wait for an answer report
/// before it is counted abandoned.
pub(crate) const LEFT_QUEUE_GRACE_MS: Millis = 5_000;
/// How long an agent stays excluded for a call after a RONA (they let it ring out).
pub(crate) const EXCLUDE_MS: Millis = 60_000;
/// How long an agent stays excluded for a call after IP Office refused the transfer to them:
/// long enough not to hammer a refusing target, short enough that a caller does not wait a
/// minute beside an idle agent because of one refused command.
pub(crate) const RETRY_AFTER_REFUSAL_MS: Millis = 5_000;
/// IP Office's MTCTISESS_REQUESTTIMEOUT, also what the wire layer reports when a command got
/// no answer: the outcome is unknown.
pub(crate) const REQUEST_TIMEOUT: u32 = 5001;
/// IP Office's "call not found": for a call no queue reports, IP Office's own word that the
/// caller is gone.
pub(crate) const CALL_NOT_FOUND: u32 = 602;
/// How long to wait before trying a failed exit again.
pub(crate) const EXIT_RETRY_MS: Millis = 10_000;

impl Engine {
    pub(super) fn on_call_queued(&mut self, now: Timestamp, queued: QueuedCall) {
        let q = self.queue_slot(&queued.queue);
        let moved_out_of = self.moved_out.get(&queued.call).copied();
        if moved_out_of == Some(q) {
            // A late report from the queue the engine moved the call out of.
            return;
        }
        let mut moved_from = moved_out_of;
        if let Some(existing) = self.calls.get(&queued.call) {
            let same_queue = existing.queue == q;
            if let Phase::Answered { agent } = existing.phase {
                let talking = self
                    .agents
                    .get(agent)
                    .and_then(|a| a.on_call.as_ref())
                    .is_some_and(|c| c.call == queued.call);
                if same_queue && talking {
                    if let Some(call) = self.calls.get_mut(&queued.call) {
                        call.deferred_requeue = Some(queued);
                    }
                    return;
                }
            }
            if same_queue && existing.is_open() {
                self.update_call(now, queued);
                return;
            }
            if existing.is_open() && existing.moved_from == Some(q) {
                // A late report from the queue the call just moved out of.
                return;
            }
            if !same_queue {
                moved_from = Some(existing.queue);
            }
            if existing.is_open() {
                // It moved to another queue without our overflow completing: it is gone from
                // this one.
                self.finalize(queued.call, CallOutcome::Overflowed, now);
            } else if same_queue || self.queues[q].policy.is_some() {
                // Answered earlier and now queued again (transferred back by the agent): a new
                // offer to the queue. Forget the old record; the agent keeps its call.
                self.forget_call(queued.call);
            }
        }
        if self.queues[q].policy.is_some() && !self.calls.contains_key(&queued.call) {
            let id = queued.call;
            if moved_from.is_none() {
                self.arrivals += 1;
            }
            self.new_call(now, q, queued);
            if let Some(call) = self.calls.get_mut(&id) {
                call.moved_from = moved_from;
            }
        }
    }

    fn new_call(&mut self, now: Timestamp, q: usize, mut queued: QueuedCall) {
        crate::lookup::apply_config(&self.config, &mut queued.attributes);
        let route = self.match_route_now(q, &queued.attributes, now);
        let route_priority = route
            .and_then(|r| self.config.routes.get(r))
            .and_then(|r| r.priority);
        let id = queued.call;
        let call = CallState::arriving(
            id,
            q,
            now,
            (queued.attributes, queued.features, queued.pbx_priority),
            route.and_then(|i| self.config.routes.get(i).map(|r| (i, r))),
        );
        let queue_full = self.queues[q]
            .policy
            .as_ref()
            .and_then(|p| p.max_waiting.clone())
            .filter(|(max, _)| self.queues[q].waiting.len() >= *max as usize);
        if let Some(counters) = self.counters.get_mut(&queued.queue) {
            counters.offered += 1;
        }
        let mut call = call;
        call.arrived_open = self.queues[q]
            .policy
            .as_ref()
            .and_then(|p| p.calendar.as_ref())
            .is_none_or(|c| crate::calendar::is_open(c, now));
        self.calls.insert(id, call);
        if let Some(p) = route_priority {
            if p.level() > queued.pbx_priority && queued.features.has(Features::SET_PRIORITY) {
                self.emit(
                    CommandKind::SetPriority {
                        call: id,
                        priority: p,
                    },
                    Pending::Other,
                );
            }
        }
        self.index_call(id);
        if let Some((max, target)) = queue_full {
            let reason = format!("more than {max} calls waiting");
            self.try_exit(
                now,
                id,
                target,
                ExitKind::Exit(ExitReason::QueueFull),
                reason,
            );
        }
        if self
            .calls
            .get(&id)
            .is_some_and(|c| c.phase == Phase::Waiting)
        {
            self.apply_due_steps(now, id);
        }
        self.schedule_call(id, now);
        self.schedule_queue(q, now);
    }

    /// A repeated snapshot of a call we know in the same queue.
    fn update_call(&mut self, now: Timestamp, mut queued: QueuedCall) {
        crate::lookup::apply_config(&self.config, &mut queued.attributes);
        let id = queued.call;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.attributes = queued.attributes;
        call.features = queued.features;
        call.pbx_priority = queued.pbx_priority;
        let was_in_queue = call.in_queue;
        call.in_queue = true;
        call.off_queue = false;
        // Re-reported after a link restart: a transfer the engine believed done did not
        // happen (the call never rang at that agent), so the agent is not to blame.
        let resynced = std::mem::take(&mut call.unconfirmed);
        let back_in_queue = match call.phase {
            Phase::Returning { .. } | Phase::LeftQueue { .. } => true,
            // The queue reports it again after having lost it: our transfer to the agent
            // did not hold (the PBX sent it back).
            Phase::Ringing { .. } => !was_in_queue,
            _ => false,
        };
        if back_in_queue {
            if let Phase::Ringing { agent, .. } = call.phase {
                if !resynced {
                    call.excluded.push((agent, now.plus(EXCLUDE_MS)));
                }
                call.phase = Phase::Waiting;
                self.release_agent(agent, id, now);
            } else {
                call.phase = Phase::Waiting;
            }
            self.dirty_calls.insert(id);
            self.apply_due_steps(now, id);
        }
        self.index_call(id);
        self.schedule_call(id, now);
    }

    pub(super) fn on_call_left_queue(&mut self, now: Timestamp, id: CallId, queue: &QueueId) {
        let Some(q) = self.queue_ix.get(queue).copied() else {
            return;
        };
        if self.moved_out.get(&id) == Some(&q) {
            self.moved_out.remove(&id);
        }
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.queue == q {
            call.deferred_requeue = None;
            if let Some(agent) = call.deferred_answer.take() {
                // The queue confirms the call left: the answer was the newer news.
                self.answer_call(now, id, &agent);
                return;
            }
        }
        if call.queue != q {
            // The queue it moved out of confirms it left: from now on a report from there is a
            // real return, not a late one.
            if call.moved_from == Some(q) {
                call.moved_from = None;
            }
            return;
        }
        call.in_queue = false;
        // A call on its way back to the queue after RONA that the queue now reports gone left
        // it too (a reporting queue follows the call through the return): waiting out the
        // return grace and then routing it from where it is would chase a caller who hung up.
        let returning = matches!(call.phase, Phase::Returning { .. });
        if call.phase == Phase::Waiting || returning {
            call.phase = Phase::LeftQueue {
                deadline: now.plus(LEFT_QUEUE_GRACE_MS),
            };
            self.index_call(id);
            self.schedule_call(id, now);
        }
    }

    pub(super) fn on_call_ringing(&mut self, now: Timestamp, id: CallId, agent: &AgentId) {
        let a = self.agent_ix.get(agent).copied();
        if let Some(a) = a {
            if self.rings_at_member(now, id, a) {
                return;
            }
        }
        let mut ringing_elsewhere = None;
        if let Some(call) = self.calls.get_mut(&id) {
            let offered_to = match call.phase {
                Phase::Offered { agent, .. } | Phase::Ringing { agent, .. } => Some(agent),
                _ => None,
            };
            if offered_to.is_some() && offered_to == a {
                call.ring_seen = true;
            }
            if let Phase::LeftQueue { deadline } = call.phase {
                ringing_elsewhere = Some((call.queue, deadline));
            }
            // A call this engine believes waiting rings at an agent it did not offer it to:
            // the queue's report that it left is on its way (notifies of different
            // subscriptions are not ordered). Another engine put it there (a twin's leader
            // that is gone, the other engine of a pair), or a person did. Offering it now
            // would take it from a ringing phone; it is held like a call that left the queue,
            // for that agent's ring time, and routed again if its queue reports it back.
            if call.phase == Phase::Waiting && a.is_some() {
                call.in_queue = false;
                ringing_elsewhere = Some((call.queue, now));
            }
        }
        // A call that left its queue and now rings at an agent is not abandoned while it
        // rings: someone else transferred it (the twin's leader, when this engine follows). It
        // gets the queue's ring timeout on top of the grace to be answered or come back.
        if let Some((q, deadline)) = ringing_elsewhere {
            let extended = self
                .ring_deadline(q, now, now)
                .plus(LEFT_QUEUE_GRACE_MS)
                .max(deadline);
            if let Some(call) = self.calls.get_mut(&id) {
                call.phase = Phase::LeftQueue { deadline: extended };
            }
            self.index_call(id);
            self.schedule_call(id, now);
        }
        // Informational: the agent's phone state arrives with AgentChanged, and RONA runs
        // from our transfer. A call ringing someone other than the agent we offered it to
        // (forwarding, native distribution) keeps our agent reserved until that agent's ring
        // timeout or an answer report, whichever comes first, so the offer never dangles.
    }

    /// A call of a queue whose hunt group the engine manages (collective delivery) rings at
    /// member `a`: IP Office's own ringing, the normal path, not another engine's transfer. The
    /// call stays where it is (still queued, as IP Office reports it), is neither offered nor
    /// counted abandoned while it rings, and ends by an answer or the caller's hang-up.
    fn rings_at_member(&mut self, now: Timestamp, id: CallId, a: usize) -> bool {
        let Some(call) = self.calls.get(&id) else {
            return false;
        };
        let q = call.queue;
        if !self.manages_members(q) && self.rung_by_another_group(a, q) {
            // A member of a collective group the call was in until the engine moved it (an
            // overflow while it rang there, the ring's report trailing the move): IP Office's
            // transfer took it off that phone. Not another engine's transfer to hold for.
            return call.phase == Phase::Waiting;
        }
        let left = match call.phase {
            Phase::Waiting => None,
            Phase::LeftQueue { deadline } => Some(deadline),
            _ => return false,
        };
        if !self.manages_members(q) {
            return false;
        }
        self.note_member_ringing(a, id);
        if let Some(deadline) = left {
            let extended = self.ring_deadline(q, now, now).max(deadline);
            if let Some(call) = self.calls.get_mut(&id) {
                call.phase = Phase::LeftQueue { deadline: extended };
            }
            self.schedule_call(id, now);
        }
        true
    }

    pub(super) fn on_call_answered(&mut self, now: Timestamp, id: CallId, agent: &AgentId) {
        let a = self.agent_ix.get(agent).copied();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        // The engine took the call back from this agent and the queue reports it waiting
        // again, while the agent's phone reports it answered: notifies of different
        // subscriptions are not ordered, so wait until they agree (see
        // `CallState::deferred_answer`). Counting it now and sending Finish would stop a
        // reporting queue from showing a call that really is back in it.
        let taken_back_from = |x: usize| call.excluded.iter().any(|(e, _)| *e == x);
        if call.phase == Phase::Waiting && call.in_queue && a.is_some_and(taken_back_from) {
            call.deferred_answer = Some(agent.clone());
            self.deferred.insert(id);
            self.index_call(id);
            return;
        }
        // The same race one step earlier: the answer comes while the engine's transfer back to
        // the queue is on its way or not yet shown. If the return took the call from the agent,
        // IP Office puts it back in the queue and the answer is stale; if it did not, the answer
        // stands. The return's result, the queue's report or the agent's phone decides.
        if matches!(call.phase, Phase::Returning { .. }) && a.is_some_and(taken_back_from) {
            call.deferred_answer = Some(agent.clone());
            self.deferred.insert(id);
            return;
        }
        self.answer_call(now, id, agent);
    }

    pub(super) fn answer_call(&mut self, now: Timestamp, id: CallId, agent: &AgentId) {
        let a = self.agent_slot(agent);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.deferred_answer = None;
        if !call.is_open() {
            return;
        }
        let q = call.queue;
        // The engine is done with an answered call: Finish ends its reporting on the queue. A
        // non-ephemeral queue subscription would otherwise report it for its whole life; with
        // ephemeral ones the wire layer sees there is nothing left to finish.
        let wants_finish = call.features.has(Features::FINISH);
        let explanation = Explanation::bare(
            call.route_name.clone(),
            call.last_step,
            call.required.clone(),
        );
        // Answered: the other members' phones stop ringing for it.
        self.forget_member_rings(id);
        self.finalize(id, CallOutcome::Answered, now);
        // Keep the record so the agent's call end can start wrap-up for the right queue.
        if let Some(call) = self.calls.get_mut(&id) {
            call.phase = Phase::Answered { agent: a };
        }
        if let Some(old) = self.agents[a].on_call.take() {
            self.end_agent_call_record(old.call, a);
        }
        let agent_state = &mut self.agents[a];
        agent_state.on_call = Some(super::state::OnCall {
            call: id,
            since: now,
            queue: q,
        });
        agent_state.calls_answered += 1;
        agent_state.missed_in_row = 0;
        self.refresh_agent(a, now);
        if wants_finish {
            self.emit(
                CommandKind::Finish {
                    call: id,
                    report_next: false,
                },
                Pending::Other,
            );
            let mut explanation = explanation;
            explanation.winner = Some(agent.clone());
            explanation.reason = "answered; stop queue reporting".into();
            self.decide(Decision {
                call: id,
                queue: self.queues[q].id.clone(),
                action: DecisionAction::Finish,
                explanation,
            });
        }
    }

    pub(super) fn on_call_ended(&mut self, now: Timestamp, id: CallId) {
        self.moved_out.remove(&id);
        let mut answered_by = None;
        if let Some(call) = self.calls.get_mut(&id) {
            call.deferred_requeue = None;
            answered_by = call.deferred_answer.take();
        }
        if let Some(agent) = answered_by {
            // It was answered before it ended.
            self.answer_call(now, id, &agent);
        }
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        match call.phase {
            Phase::Answered { agent } => {
                let on_this_call = self
                    .agents
                    .get(agent)
                    .and_then(|a| a.on_call.as_ref())
                    .is_some_and(|oc| oc.call == id);
                if on_this_call {
                    self.end_agent_call(now, agent);
                }
                self.forget_call(id);
            }
            // The engine's own exit to voicemail reached it before its result did: the wire
            // layer ends a call its queue shows at voicemail (nothing can move it from there).
            Phase::Exiting {
                target: Target::Voicemail(_),
                ..
            } => self.finalize(id, CallOutcome::Overflowed, now),
            _ => self.finalize(id, CallOutcome::Abandoned, now),
        }
    }

    pub(super) fn on_queue_snapshot_calls(
        &mut self,
        now: Timestamp,
        queue: &QueueId,
        listed: &[CallId],
        site: crate::ids::Site,
    ) {
        let q = self.queue_slot(queue);
        let gone: Vec<CallId> = self
            .calls
            .values()
            .filter(|c| {
                c.queue == q
                    && c.id.site() == site
                    && (c.in_queue || (c.unconfirmed && c.phase == Phase::Waiting && !c.off_queue))
                    && c.is_open()
                    && !listed.contains(&c.id)
            })
            .map(|c| c.id)
            .collect();
        for id in gone {
            self.on_call_left_queue(now, id, queue);
        }
    }

    pub(super) fn on_link_restarted(&mut self, now: Timestamp, site: crate::ids::Site) {
        // A queue report held back while the agent talked came over the old link: if the call
        // really is back in the queue, the fresh snapshot says so. Applied later, it would
        // offer an answered call again (and count its answer twice).
        for call in self.calls.values_mut().filter(|c| c.id.site() == site) {
            call.deferred_requeue = None;
        }
        let open: Vec<CallId> = self
            .calls
            .values()
            .filter(|c| c.is_open() && c.id.site() == site)
            .map(|c| c.id)
            .collect();
        for id in open {
            if let Some(call) = self.calls.get_mut(&id) {
                call.in_queue = false;
                call.unconfirmed = true;
            }
            self.index_call(id);
            self.schedule_call(id, now);
        }
    }

    pub(super) fn on_agent_changed(&mut self, now: Timestamp, snapshot: AgentSnapshot) {
        let a = self.agent_slot(&snapshot.agent);
        let agent = &mut self.agents[a];
        agent.known = true;
        agent.presence = snapshot.presence;
        agent.phone = snapshot.phone;
        let off_call = !matches!(snapshot.phone, PhoneState::OnCall | PhoneState::Ringing);
        if agent.on_call.is_some() && off_call {
            self.end_agent_call(now, a);
        }
        if off_call {
            self.drop_stale_answers(&snapshot.agent);
            self.left_the_phone_unanswered(now, a);
        }
        if snapshot.phone != PhoneState::Ringing {
            self.member_stopped_ringing(a);
        }
        self.decline_if_unreachable(now, a);
        self.refresh_agent(a, now);
    }

    /// The call the engine offered this agent rang at their phone and the phone is off every
    /// call now, never having been connected: the ringing appearance went away. Most often the
    /// caller hung up while it rang (IP Office then ends the call: the wire layer reports it
    /// ended); the call may also have been sent elsewhere. Either way the agent is free at once
    /// and is not to blame: no ring-no-answer. The call waits for its end (abandoned), a queue
    /// report (routed again) or an answer elsewhere, within the grace of a call that left its
    /// queue.
    fn left_the_phone_unanswered(&mut self, now: Timestamp, a: usize) {
        let Some(id) = self.agents[a].reserved_for else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Phase::Ringing { agent, .. } = call.phase else {
            return;
        };
        // Without IP Office having shown the call at this phone, an idle phone says nothing
        // about it (the transfer may not have reached the phone yet).
        if agent != a || !call.ring_seen {
            return;
        }
        call.last_failure = Some(format!(
            "left {}'s phone unanswered (the caller hung up, or it was sent elsewhere)",
            self.agents[a].id
        ));
        let waiting = call.in_queue;
        call.phase = if waiting {
            Phase::Waiting
        } else {
            Phase::LeftQueue {
                deadline: now.plus(LEFT_QUEUE_GRACE_MS),
            }
        };
        self.release_agent(a, id, now);
        self.index_call(id);
        if waiting {
            self.dirty_calls.insert(id);
        }
        self.schedule_call(id, now);
    }

    /// The agent's phone is off any call: an answer of theirs still waiting for the queue to
    /// confirm was older than the call's return to the queue; the call waits there again.
    fn drop_stale_answers(&mut self, agent: &AgentId) {
        // Only calls that were ever given a deferred answer can hold one: every agent change
        // comes through here, and scanning every tracked call each time showed in profiles.
        let mut stale = Vec::new();
        let mut settled = Vec::new();
        for &id in &self.deferred {
            match self.calls.get(&id).and_then(|c| c.deferred_answer.as_ref()) {
                Some(a) if a == agent => stale.push(id),
                Some(_) => {}
                None => settled.push(id),
            }
        }
        for id in settled {
            self.deferred.remove(&id);
        }
        for id in stale {
            self.deferred.remove(&id);
            if let Some(call) = self.calls.get_mut(&id) {
                call.deferred_answer = None;
            }
            self.index_call(id);
        }
    }

    pub(super) fn on_agent_removed(&mut self, now: Timestamp, agent: &AgentId) {
        self.drop_stale_answers(agent);
        let Some(a) = self.agent_ix.get(agent).copied() else {
            return;
        };
        self.agents[a].known = false;
        self.member_stopped_ringing(a);
        if self.agents[a].on_call.is_some() {
            self.end_agent_call(now, a);
        }
        self.decline_if_unreachable(now, a);
        self.refresh_agent(a, now);
    }

    /// An agent we are ringing logged off, went DND, forwarded their calls or lost the phone:
    /// they declined the call.
    /// It moves on at once, without waiting for the ring timeout and without the ring-no-answer
    /// not-ready penalty (the agent's availability already says they take no calls).
    fn decline_if_unreachable(&mut self, now: Timestamp, a: usize) {
        let forwarded_away = self.forward_stops_offers(a);
        let agent = &self.agents[a];
        let unreachable = !agent.known
            || !agent.presence.logged_in
            || agent.presence.dnd
            || forwarded_away
            || agent.presence.phone_fault;
        if !unreachable {
            return;
        }
        if let Some(id) = agent.reserved_for {
            if matches!(
                self.calls.get(&id).map(|c| &c.phase),
                Some(Phase::Ringing { .. })
            ) {
                self.take_back_from_agent(now, id, true);
            }
        }
    }

    pub(super) fn on_queue_changed(&mut self, now: Timestamp, snapshot: QueueSnapshot) {
        let q = self.queue_slot(&snapshot.queue);
        let queue = &mut self.queues[q];
        // Who is listed decides who serves the queue; a member enabled or disabled (collective
        // delivery does it on every call) changes nothing the indexes hold.
        let membership_changed = !queue
            .pbx_members
            .iter()
            .map(|m| &m.agent)
            .eq(snapshot.members.iter().map(|m| &m.agent));
        queue.extension = Some(snapshot.extension).filter(|e| !e.is_empty());
        queue.pbx_members = snapshot.members;
        queue.service_mode = snapshot.service_mode;
        if membership_changed {
            self.reindex_all(now);
        }
    }

    pub(super) fn on_queue_removed(&mut self, now: Timestamp, queue: &QueueId) {
        let Some(q) = self.queue_ix.get(queue).copied() else {
            return;
        };
        // The queue's configuration is mirrored on both systems of a pair: gone from both.
        for site in [crate::ids::Site::PRIMARY, crate::ids::Site::SECONDARY] {
            self.on_queue_snapshot_calls(now, queue, &[], site);
        }
        let state = &mut self.queues[q];
        state.extension = None;
        state.pbx_members.clear();
        self.reindex_all(now);
    }

    pub(super) fn on_command_result(
        &mut self,
        now: Timestamp,
        id: CommandId,
        outcome: CommandOutcome,
    ) {
        let Some(pending) = self.pending.remove(&id) else {
            return;
        };
        let transfer_call = match pending {
            Pending::Offer { call, .. } | Pending::Return { call } | Pending::Exit { call } => {
                Some(call)
            }
            Pending::Member { .. } | Pending::Other => None,
        };
        if let Some(call) = transfer_call {
            if self.in_flight.get(&call) == Some(&id) {
                self.in_flight.remove(&call);
            }
        }
        self.apply_result(now, id, pending, outcome);
        if let Some(call) = transfer_call {
            // The call may have been held back only by this transfer.
            self.index_call(call);
            if self.calls.contains_key(&call) {
                self.dirty_calls.insert(call);
            }
        }
    }

    fn apply_result(
        &mut self,
        now: Timestamp,
        id: CommandId,
        pending: Pending,
        outcome: CommandOutcome,
    ) {
        match pending {
            Pending::Offer { call, agent } => self.offer_result(now, id, call, agent, outcome),
            Pending::Return { call } => {
                let Some(state) = self.calls.get_mut(&call) else {
                    return;
                };
                let Phase::Returning {
                    cmd: Some(cmd),
                    deadline,
                } = state.phase
                else {
                    return;
                };
                if cmd != id {
                    return;
                }
                match outcome {
                    // No answer (5001): the return may well have happened. Wait, as after a
                    // success, for the queue to report the call until the same deadline.
                    // Not sent (a follower of a twin): what happened is the leader's doing
                    // and only the notifies can tell; as after a timeout.
                    CommandOutcome::Success
                    | CommandOutcome::Failed(REQUEST_TIMEOUT)
                    | CommandOutcome::NotSent => {
                        state.phase = Phase::Returning {
                            cmd: None,
                            deadline,
                        };
                    }
                    CommandOutcome::Failed(code)
                        if code != CALL_NOT_FOUND && state.deferred_answer.is_some() =>
                    {
                        // The return did not happen and the agent answered meanwhile: the
                        // answer stands.
                        if let Some(agent) = state.deferred_answer.take() {
                            self.answer_call(now, call, &agent);
                        }
                        return;
                    }
                    CommandOutcome::Failed(CALL_NOT_FOUND) => {
                        // IP Office knows the call no more (the caller hung up while it rang):
                        // it ends as abandoned unless an answer or a queue report comes first.
                        state.phase = Phase::LeftQueue {
                            deadline: now.plus(LEFT_QUEUE_GRACE_MS),
                        };
                        state.in_queue = false;
                        state.last_failure =
                            Some(format!("return to queue failed ({CALL_NOT_FOUND})"));
                        self.index_call(call);
                    }
                    CommandOutcome::Failed(code) => {
                        // Could not put it back in the queue: route it directly from where it
                        // is instead.
                        state.phase = Phase::Waiting;
                        state.in_queue = false;
                        state.off_queue = true;
                        state.last_failure = Some(format!("return to queue failed ({code})"));
                        self.index_call(call);
                        self.dirty_calls.insert(call);
                    }
                }
                self.schedule_call(call, now);
            }
            Pending::Exit { call } => {
                let Some(state) = self.calls.get_mut(&call) else {
                    return;
                };
                let Phase::Exiting { cmd, kind, .. } = &state.phase else {
                    return;
                };
                if *cmd != id {
                    return;
                }
                let kind = *kind;
                // IP Office follows a call on one queue until the app sends Finish, so a call
                // sent to another queue would stay invisible there; Finish "1" makes the new
                // queue report it at once (the guide's recipe for moving calls between queues).
                let hand_over = match &state.phase {
                    Phase::Exiting {
                        target: Target::Queue(next),
                        ..
                    } if *next != self.queues[state.queue].id
                        && state.features.has(Features::FINISH) =>
                    {
                        Some((
                            Explanation::bare(
                                state.route_name.clone(),
                                state.last_step,
                                state.required.clone(),
                            ),
                            self.queues[state.queue].id.clone(),
                            next.clone(),
                        ))
                    }
                    _ => None,
                };
                let moved_to_queue = matches!(
                    &state.phase,
                    Phase::Exiting { target: Target::Queue(next), .. }
                        if *next != self.queues[state.queue].id
                );
                let from = state.queue;
                // No answer from IP Office (5001) is not a failure when the queue already
                // reported the call gone: the transfer out happened. (Still reported queued, it
                // did not, and the exit is retried later.)
                // Not sent (a follower of a twin) is judged the same way: the queue's report is
                // all there is to go by.
                let outcome = match outcome {
                    CommandOutcome::Failed(REQUEST_TIMEOUT) | CommandOutcome::NotSent
                        if !state.in_queue =>
                    {
                        CommandOutcome::Success
                    }
                    CommandOutcome::NotSent => CommandOutcome::Failed(REQUEST_TIMEOUT),
                    other => other,
                };
                match outcome {
                    CommandOutcome::Success => {
                        if moved_to_queue {
                            self.moved_out.insert(call, from);
                        }
                        self.finalize(call, CallOutcome::Overflowed, now);
                        if let Some((mut explanation, queue, next)) = hand_over {
                            self.emit(
                                CommandKind::Finish {
                                    call,
                                    report_next: true,
                                },
                                Pending::Other,
                            );
                            explanation.reason = format!("moved to queue {next}: report it there");
                            self.decide(Decision {
                                call,
                                queue,
                                action: DecisionAction::Finish,
                                explanation,
                            });
                        }
                    }
                    CommandOutcome::Failed(code)
                        if !state.in_queue && (code == CALL_NOT_FOUND || !state.off_queue) =>
                    {
                        // The queue no longer reports the call and the transfer out did not
                        // happen (IP Office knows the call no more, or refused to move a call
                        // that was ending): the caller is gone. Ends as abandoned unless an
                        // answer or a queue report comes first (routing it again would chase a
                        // gone call).
                        state.phase = Phase::LeftQueue {
                            deadline: now.plus(LEFT_QUEUE_GRACE_MS),
                        };
                        state.last_failure = Some(format!("transfer out failed ({code})"));
                        self.index_call(call);
                        self.schedule_call(call, now);
                    }
                    CommandOutcome::Failed(_) | CommandOutcome::NotSent => {
                        // (NotSent was mapped to a timeout above.)
                        let code = match outcome {
                            CommandOutcome::Failed(code) => code,
                            _ => REQUEST_TIMEOUT,
                        };
                        // Fall back to routing in the queue; retry an exit rule later.
                        state.phase = Phase::Waiting;
                        state.last_failure = Some(format!("transfer out failed ({code})"));
                        if matches!(kind, ExitKind::Exit(_)) {
                            state.exit_retry_at = Some(now.plus(EXIT_RETRY_MS));
                        }
                        self.index_call(call);
                        self.dirty_calls.insert(call);
                        self.schedule_call(call, now);
                    }
                }
            }
            Pending::Member { queue, agent } => self.member_result(now, id, queue, agent, outcome),
            Pending::Other => {}
        }
    }

    fn offer_result(
        &mut self,
        now: Timestamp,
        id: CommandId,
        call: CallId,
        agent: usize,
        outcome: CommandOutcome,
    ) {
        let Some(state) = self.calls.get_mut(&call) else {
            self.release_agent(agent, call, now);
            return;
        };
        let Phase::Offered {
            agent: offered,
            cmd,
            at,
        } = state.phase
        else {
            self.release_agent(agent, call, now);
            return;
        };
        if cmd != id || offered != agent {
            return;
        }
        match outcome {
            CommandOutcome::Success => {
                let q = state.queue;
                let deadline = self
                    .short_ring_deadline(call, agent, at, now)
                    .unwrap_or_else(|| self.ring_deadline(q, at, now));
                if let Some(state) = self.calls.get_mut(&call) {
                    state.phase = Phase::Ringing { agent, deadline };
                }
                self.schedule_call(call, now);
                self.decline_if_unreachable(now, agent);
            }
            CommandOutcome::Failed(REQUEST_TIMEOUT) if state.in_queue && !state.ring_seen => {
                // No answer from IP Office, but the notifies show nothing happened: the queue
                // still reports the call and the agent's phone never rang with it. Routable
                // again at once, and the agent is not to blame.
                state.phase = Phase::Waiting;
                state.last_failure = Some(format!(
                    "no answer from IP Office to the transfer to {}, and the call is still queued",
                    self.agents[agent].id
                ));
                self.release_agent(agent, call, now);
                self.index_call(call);
                self.dirty_calls.insert(call);
                self.schedule_call(call, now);
            }
            CommandOutcome::Failed(REQUEST_TIMEOUT) => {
                // No answer from IP Office: the transfer may well have happened. Offering the
                // call elsewhere now could pull it away from a ringing agent, so it is treated
                // as ringing and the notify stream (answer, re-queue) or RONA decides.
                let q = state.queue;
                let deadline = self.ring_deadline(q, at, now);
                let failure = format!(
                    "no answer from IP Office to the transfer to {}",
                    self.agents[agent].id
                );
                if let Some(state) = self.calls.get_mut(&call) {
                    state.phase = Phase::Ringing { agent, deadline };
                    state.last_failure = Some(failure);
                }
                self.schedule_call(call, now);
            }
            CommandOutcome::NotSent => {
                // This engine follows its twin and sent nothing: the agent did nothing wrong
                // and is free again (as far as this engine is concerned: the agent's own
                // reports say whether the leader gave them a call). A call its queue still
                // reports waits again; one that left is ringing or answered where the leader
                // sent it, and ends as abandoned only if no answer comes within the grace.
                let gone = !state.in_queue;
                self.offer_undone(now, call, agent, gone);
            }
            CommandOutcome::Failed(code) => {
                state
                    .excluded
                    .push((agent, now.plus(RETRY_AFTER_REFUSAL_MS)));
                state.last_failure = Some(format!(
                    "transfer to {} failed ({code})",
                    self.agents[agent].id
                ));
                // The call left the queue while the transfer was on its way (the caller hung
                // up, an agent picked it up): offering it again would chase a call that is not
                // there. It ends as abandoned unless an answer or a new queue report arrives
                // within the grace period. A refusal alone (even 602, "call not found") does not
                // make it gone while its queue still reports it: the notifies are the truth, and
                // a call the engine wrongly believed gone would wait in the queue unrouted.
                // A call the engine routes from an agent's phone (off_queue) is not in a queue
                // by design: a refusal (the link being down, say) proves nothing about it,
                // unless IP Office itself says it knows the call no more.
                let gone = !state.in_queue && (!state.off_queue || code == CALL_NOT_FOUND);
                self.offer_undone(now, call, agent, gone);
            }
        }
    }

    /// An offer that did not happen: the agent is free again, and the call waits to be routed
    /// again, or, `gone` from its queue, ends as abandoned unless an answer or a queue report
    /// comes within the grace.
    fn offer_undone(&mut self, now: Timestamp, call: CallId, agent: usize, gone: bool) {
        if let Some(state) = self.calls.get_mut(&call) {
            state.phase = if gone {
                Phase::LeftQueue {
                    deadline: now.plus(LEFT_QUEUE_GRACE_MS),
                }
            } else {
                Phase::Waiting
            };
        }
        self.release_agent(agent, call, now);
        self.index_call(call);
        if !gone {
            self.dirty_calls.insert(call);
        }
        self.schedule_call(call, now);
    }

    /// When an offer made at `at` in queue `q` counts as ring-no-answer.
    /// With `ring_when_others_free` set: the shorter ring, when another agent who could take
    /// the call is free at this moment (its missed ring then moves on to them quickly).
    fn short_ring_deadline(
        &self,
        id: CallId,
        offered: usize,
        at: Timestamp,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let call = self.calls.get(&id)?;
        let rona = self.queues[call.queue]
            .policy
            .as_ref()
            .map_or(self.config.default_rona, |p| p.rona);
        let short = rona.ring_when_others_free_ms?;
        let someone_else_free = self.queues[call.queue]
            .member_pos
            .keys()
            .any(|&b| b != offered && self.pair_preference(call, b, now).is_some());
        someone_else_free.then(|| at.plus(short.min(rona.ring_timeout_ms)).max(now.plus(1)))
    }

    pub(super) fn ring_deadline(&self, q: usize, at: Timestamp, now: Timestamp) -> Timestamp {
        let ring_timeout = self.queues[q]
            .policy
            .as_ref()
            .map_or(self.config.default_rona, |p| p.rona)
            .ring_timeout_ms;
        at.plus(ring_timeout).max(now.plus(1))
    }

    /// The agent's answered call is over: start wrap-up and update talk time.
    pub(super) fn end_agent_call(&mut self, now: Timestamp, a: usize) {
        let Some(on_call) = self.agents[a].on_call.take() else {
            return;
        };
        let wrap = self.wrap_up_for(a, on_call.queue);
        self.record_handle_time(on_call.queue, now.since(on_call.since).saturating_add(wrap));
        let agent = &mut self.agents[a];
        agent.talk_ms = agent.talk_ms.saturating_add(now.since(on_call.since));
        if wrap > 0 {
            agent.wrap_until = Some(now.plus(wrap));
        }
        let requeued = self
            .calls
            .get_mut(&on_call.call)
            .and_then(|c| c.deferred_requeue.take());
        self.end_agent_call_record(on_call.call, a);
        self.refresh_agent(a, now);
        if let Some(queued) = requeued {
            // The agent put the caller back into the queue: a new offer.
            self.on_call_queued(now, queued);
        }
    }

    /// Drops the record of an answered call held only for wrap-up.
    fn end_agent_call_record(&mut self, call: CallId, a: usize) {
        if matches!(self.calls.get(&call).map(|c| &c.phase), Some(Phase::Answered { agent }) if *agent == a)
        {
            self.forget_call(call);
        }
    }

    /// Removes a call record (already accounted) and its timer.
    pub(super) fn forget_call(&mut self, id: CallId) {
        self.set_timer(super::state::TimerKey::Call(id), None);
        self.forget_member_rings(id);
        if let Some(call) = self.calls.get(&id) {
            if let Some(key) = call.wait_key {
                let (q, need) = (call.queue, call.need);
                self.queues[q].waiting.remove(&key);
                self.queues[q].arrivals.remove(&(key.1, key.2));
                if let Some(n) = need {
                    self.unfile_need(q, n, &key);
                }
            }
        }
        self.calls.remove(&id);
        self.dirty_calls.remove(&id);
    }
}
