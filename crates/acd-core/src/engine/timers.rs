//! Everything that happens because time passed: timed route steps, exits and night service,
//! RONA, grace periods, and the end of wrap-up and not-ready (agents), plus finishing a call's
//! accounting.
//!
//! Each call, agent and queue holds at most one entry in the engine's timer set: the earliest
//! moment something about it can change. `next_wakeup` is the first entry, so the daemon
//! sleeps exactly until the engine has work.

use super::events::{EXCLUDE_MS, EXIT_RETRY_MS};
use super::state::{ExitKind, Pending, Phase, TimerKey};
use super::Engine;
use crate::accounting::{CallOutcome, FinishedCall};
use crate::calendar::next_minute;
use crate::calendar::{self, CalendarState};
use crate::command::{CommandKind, Target};
use crate::config::AtClose;
use crate::config::StepAction;
use crate::decision::{Decision, DecisionAction, ExitReason, Explanation};
use crate::event::Features;
use crate::ids::CallId;
use crate::skill;
use crate::time::{Millis, Timestamp};

/// How long a call sent back to its queue after RONA may take to reappear there before the
/// engine routes it directly from where it is.
const RETURN_GRACE_MS: Millis = 10_000;
/// Safety bound on timer passes within one `handle` (each pass only fires entries due at
/// `now`; handlers always reschedule strictly later, so one or two passes suffice).
const MAX_TIMER_PASSES: usize = 8;

/// How long the no-agents exit waits for the first snapshots of a queue's agents: IP Office
/// sends each user subscription's first notify on its own, seconds after the queue's.
pub const AGENT_SYNC_WAIT_MS: u64 = 10_000;

impl Engine {
    /// Fires every timer due at or before `now`.
    pub(super) fn advance(&mut self, now: Timestamp) {
        for _ in 0..MAX_TIMER_PASSES {
            let due: Vec<TimerKey> = self
                .timers
                .iter()
                .take_while(|(t, _)| *t <= now)
                .map(|(_, k)| *k)
                .collect();
            if due.is_empty() {
                return;
            }
            for key in due {
                self.set_timer(key, None);
                match key {
                    TimerKey::Call(id) => self.on_call_timer(now, id),
                    TimerKey::Agent(a) => self.refresh_agent(a, now),
                    TimerKey::Queue(q) => self.on_queue_timer(now, q),
                }
            }
        }
    }

    fn on_call_timer(&mut self, now: Timestamp, id: CallId) {
        let rings_at_members = self.rings_at_members(id);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        match call.phase.clone() {
            Phase::Waiting => {
                let before = call.excluded.len();
                call.excluded.retain(|(_, until)| *until > now);
                let mut dirty = call.excluded.len() != before;
                if call.exit_retry_at.is_some_and(|t| t <= now) {
                    call.exit_retry_at = None;
                    dirty = true;
                }
                if dirty {
                    self.dirty_calls.insert(id);
                }
                self.apply_due_steps(now, id);
            }
            Phase::LeftQueue { deadline } if deadline <= now && rings_at_members => {
                // Still ringing at members of its hunt group (collective delivery): not
                // abandoned while it rings; its end or an answer decides.
                let q = call.queue;
                let extended = self.ring_deadline(q, now, now);
                if let Some(call) = self.calls.get_mut(&id) {
                    call.phase = Phase::LeftQueue { deadline: extended };
                }
            }
            Phase::LeftQueue { deadline } if deadline <= now => {
                self.finalize(id, CallOutcome::Abandoned, now);
            }
            Phase::Ringing { deadline, .. } if deadline <= now => self.rona(now, id),
            Phase::Returning { deadline, .. }
                if deadline <= now && call.deferred_answer.is_some() =>
            {
                // It never reappeared in the queue and its agent answered: the answer stands.
                if let Some(agent) = call.deferred_answer.take() {
                    self.answer_call(now, id, &agent);
                }
                return;
            }
            Phase::Returning { deadline, .. } if deadline <= now => {
                // It never reappeared in the queue: route it directly from where it is.
                call.phase = Phase::Waiting;
                call.in_queue = false;
                call.off_queue = true;
                self.index_call(id);
                self.dirty_calls.insert(id);
            }
            _ => {}
        }
        self.schedule_call(id, now);
    }

    /// Sets the call's timer to the earliest moment something about it is due.
    pub(super) fn schedule_call(&mut self, id: CallId, now: Timestamp) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let at = match &call.phase {
            Phase::Waiting => {
                let step = call
                    .route
                    .filter(|_| !call.unconfirmed)
                    .and_then(|r| self.config.routes.get(r))
                    .and_then(|r| r.steps.get(call.next_step))
                    .map(|s| call.arrival.plus(s.after_ms));
                let exclusion = call.excluded.iter().map(|(_, t)| *t).min();
                [step, exclusion, call.exit_retry_at]
                    .into_iter()
                    .flatten()
                    .min()
            }
            Phase::LeftQueue { deadline }
            | Phase::Ringing { deadline, .. }
            | Phase::Returning { deadline, .. } => Some(*deadline),
            Phase::Offered { .. } | Phase::Exiting { .. } | Phase::Answered { .. } => None,
        };
        // Never schedule in the past: a due moment is handled in the next pass at `now + 1`
        // at the latest, so timer passes always terminate.
        let at = at.map(|t| t.max(now.plus(1)));
        self.set_timer(TimerKey::Call(id), at);
    }

    /// Queues with a calendar look again at the next minute boundary while calls wait; queues
    /// with helpers when the oldest call crosses one of their waiting-time thresholds.
    pub(super) fn schedule_queue(&mut self, q: usize, now: Timestamp) {
        let queue = &self.queues[q];
        let has_calendar = queue.policy.as_ref().is_some_and(|p| p.calendar.is_some());
        let minute = (has_calendar && !queue.waiting.is_empty()).then(|| next_minute(now));
        let at = [
            minute,
            self.next_helpers_change(q, now),
            self.member_resend_due(q),
        ]
        .into_iter()
        .flatten()
        .min();
        self.set_timer(TimerKey::Queue(q), at);
    }

    fn on_queue_timer(&mut self, now: Timestamp, q: usize) {
        let closed = self.queues[q]
            .policy
            .as_ref()
            .and_then(|p| p.calendar.as_ref())
            .is_some_and(|c| calendar::state(c, now) != CalendarState::Open);
        if closed {
            // Each call decides for itself: served if it arrived while open (unless the
            // calendar sends waiting calls away at closing time).
            let waiting: Vec<CallId> = self.queues[q].waiting.iter().map(|k| k.2).collect();
            self.dirty_calls.extend(waiting);
        }
        self.schedule_queue(q, now);
    }

    /// Applies every step of the call's route that is due, in order. Steps only act on a
    /// waiting call; a call being offered catches up when it is waiting again.
    pub(super) fn apply_due_steps(&mut self, now: Timestamp, id: CallId) {
        loop {
            let Some(call) = self.calls.get(&id) else {
                return;
            };
            // Since the link restarted no queue has reported the call: its steps (an overflow
            // transfer above all) wait until one does, as offers do; it may well be gone.
            if call.phase != Phase::Waiting || call.unconfirmed {
                return;
            }
            let Some(step) = call
                .route
                .and_then(|r| self.config.routes.get(r))
                .and_then(|r| r.steps.get(call.next_step))
                .cloned()
            else {
                return;
            };
            if now.since(call.arrival) < step.after_ms {
                return;
            }
            let index = call.next_step;
            let mut explanation =
                Explanation::bare(call.route_name.clone(), Some(index), call.required.clone());
            let q = call.queue;
            let queue = self.queues[q].id.clone();
            let features = call.features;
            if !self.state_holds(q, &step.when, now) {
                if let Some(call) = self.calls.get_mut(&id) {
                    call.next_step += 1;
                }
                explanation.reason = format!(
                    "after {}s: skipped, its `when` does not hold for {queue}",
                    step.after_ms / 1000
                );
                self.decide(Decision {
                    call: id,
                    queue,
                    action: DecisionAction::StepApplied { step: index },
                    explanation,
                });
                continue;
            }
            if let Some(call) = self.calls.get_mut(&id) {
                call.next_step += 1;
                call.last_step = Some(index);
            }
            match step.action {
                StepAction::Require(expr) => {
                    explanation.reason = format!(
                        "after {}s require {}",
                        step.after_ms / 1000,
                        crate::skill::ExprDisplay(&expr)
                    );
                    explanation.required = expr.clone();
                    if let Some(call) = self.calls.get_mut(&id) {
                        call.required = expr;
                    }
                    self.index_call(id);
                    self.dirty_calls.insert(id);
                    self.decide(Decision {
                        call: id,
                        queue,
                        action: DecisionAction::StepApplied { step: index },
                        explanation,
                    });
                }
                StepAction::Priority(priority) => {
                    if let Some(call) = self.calls.get_mut(&id) {
                        call.priority = call.priority.max(priority.level());
                    }
                    self.index_call(id);
                    let mirrored = features.has(Features::SET_PRIORITY);
                    if mirrored {
                        self.emit(
                            CommandKind::SetPriority { call: id, priority },
                            Pending::Other,
                        );
                    }
                    explanation.reason = format!(
                        "after {}s priority {}{}",
                        step.after_ms / 1000,
                        priority.level(),
                        if mirrored {
                            ""
                        } else {
                            " (SetPriority not available: engine only)"
                        }
                    );
                    self.decide(Decision {
                        call: id,
                        queue,
                        action: DecisionAction::StepApplied { step: index },
                        explanation,
                    });
                }
                StepAction::Overflow(target) => {
                    let reason = format!("after {}s overflow", step.after_ms / 1000);
                    if self.try_exit(now, id, target, ExitKind::Overflow { step: index }, reason) {
                        return;
                    }
                }
            }
        }
    }

    /// Before routing a dirty call: night and holiday service, the no-agents and no-qualified
    /// exits (which wait, at most [`AGENT_SYNC_WAIT_MS`] after the queue is first checked, for
    /// the first snapshot of every agent serving it). Exits a rules change would fire by
    /// itself are held until the queue's state changes (see `ExitHold`).
    /// Returns true when the call is leaving.
    pub(super) fn check_exits(&mut self, now: Timestamp, id: CallId) -> bool {
        let Some(call) = self.calls.get(&id) else {
            return true;
        };
        if call.phase != Phase::Waiting || call.exit_retry_at.is_some() {
            return false;
        }
        let q = call.queue;
        let queue = &self.queues[q];
        let Some(policy) = &queue.policy else {
            return false;
        };
        let calendar_state = policy.calendar.as_ref().map(|c| calendar::state(c, now));
        let open = calendar_state.is_none_or(|s| s == CalendarState::Open);
        if let Some(hold) = call.exit_hold {
            if hold.presence_epoch == queue.presence_epoch && hold.open == open {
                return false;
            }
            if let Some(call) = self.calls.get_mut(&id) {
                call.exit_hold = None;
            }
        }
        let Some(call) = self.calls.get(&id) else {
            return true;
        };
        let queue = &self.queues[q];
        let Some(policy) = &queue.policy else {
            return false;
        };
        if let (Some(calendar), Some(state)) = (&policy.calendar, calendar_state) {
            let served_anyway = call.arrived_open && calendar.at_close == AtClose::Serve;
            if state != CalendarState::Open && !served_anyway {
                let (target, reason, why) = if state == CalendarState::Holiday {
                    let target = calendar
                        .holiday_target
                        .clone()
                        .unwrap_or_else(|| calendar.night_target.clone());
                    (target, ExitReason::Holiday, "closed for a holiday")
                } else {
                    (
                        calendar.night_target.clone(),
                        ExitReason::Closed,
                        "closed by calendar",
                    )
                };
                return self.try_exit(now, id, target, ExitKind::Exit(reason), why.into());
            }
        }
        let no_agents = if queue.logged_in == 0 {
            policy.no_agents_target.clone()
        } else {
            None
        };
        let no_qualified = match &policy.no_qualified_target {
            Some(target) if no_agents.is_none() && !self.qualified_logged_in(call) => {
                Some(target.clone())
            }
            _ => None,
        };
        let (target, reason, why) = match (no_agents, no_qualified) {
            (Some(target), _) => (
                target,
                ExitReason::NoAgents,
                "no agent logged in".to_string(),
            ),
            (None, Some(target)) => (
                target,
                ExitReason::NoQualifiedAgents,
                format!(
                    "no logged-in agent has {} (nor what a later step asks)",
                    skill::ExprDisplay(&call.required)
                ),
            ),
            (None, None) => return false,
        };
        // At start-up (or when the queue is first seen) the queue's snapshot can come seconds
        // before its agents' user notifies: "nobody (qualified) logged in" then only means
        // "nobody reported yet". Wait for every agent's first snapshot, boundedly.
        let unknown = queue.members.iter().any(|&a| !self.agents[a].known);
        let since = *self.queues[q].exits_armed_since.get_or_insert(now);
        let deadline = since.plus(AGENT_SYNC_WAIT_MS);
        if unknown && now < deadline {
            if let Some(call) = self.calls.get_mut(&id) {
                call.exit_retry_at = Some(deadline);
            }
            self.schedule_call(id, now);
            return false;
        }
        self.try_exit(now, id, target, ExitKind::Exit(reason), why)
    }

    /// Whether some logged-in member of the call's queue (any tier) meets the call's
    /// requirement now, or the requirement a later step of its route would set.
    fn qualified_logged_in(&self, call: &super::state::CallState) -> bool {
        let queue = &self.queues[call.queue];
        let later: Vec<&crate::config::SkillExpr> = call
            .route
            .and_then(|r| self.config.routes.get(r))
            .map(|r| {
                r.steps
                    .iter()
                    .skip(call.next_step)
                    .filter_map(|s| match &s.action {
                        StepAction::Require(expr) => Some(expr),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        queue.members.iter().any(|&a| {
            let agent = &self.agents[a];
            agent.counted_logged_in
                && (skill::matches(&call.required, &agent.skills)
                    || later.iter().any(|e| skill::matches(e, &agent.skills)))
        })
    }

    /// Transfers a waiting call out of its queue. Returns true if the transfer was sent; when
    /// it cannot be (no BlindTransfer on the call, target not resolvable or not allowed), the
    /// call stays routable in its queue and the decision says why.
    pub(super) fn try_exit(
        &mut self,
        now: Timestamp,
        id: CallId,
        target: Target,
        kind: ExitKind,
        why: String,
    ) -> bool {
        let Some(call) = self.calls.get(&id) else {
            return false;
        };
        if call.phase != Phase::Waiting {
            return false;
        }
        let mut explanation = Explanation::bare(
            call.route_name.clone(),
            call.last_step,
            call.required.clone(),
        );
        let queue = self.queues[call.queue].id.clone();
        let dial = if self.in_flight.contains_key(&id) {
            Err("another transfer of the call is in flight".to_string())
        } else if call.features.has(Features::BLIND_TRANSFER) {
            self.resolve_dial(&target)
        } else {
            Err("BlindTransfer not available on the call".to_string())
        };
        let action = match kind {
            ExitKind::Exit(reason) => DecisionAction::Exit {
                target: target.clone(),
                reason,
            },
            ExitKind::Overflow { step } => {
                explanation.step = Some(step);
                DecisionAction::Overflow {
                    target: target.clone(),
                }
            }
        };
        match dial {
            Ok(dial) => {
                let cmd = self.emit(
                    CommandKind::Transfer {
                        call: id,
                        target: target.clone(),
                        dial,
                    },
                    Pending::Exit { call: id },
                );
                if let Some(call) = self.calls.get_mut(&id) {
                    call.phase = Phase::Exiting { cmd, target, kind };
                }
                self.index_call(id);
                self.schedule_call(id, now);
                explanation.reason = why;
                self.decide(Decision {
                    call: id,
                    queue,
                    action,
                    explanation,
                });
                true
            }
            Err(problem) => {
                explanation.reason = format!("{why}: not possible ({problem}); stays queued");
                if let Some(call) = self.calls.get_mut(&id) {
                    if matches!(kind, ExitKind::Exit(_)) {
                        call.exit_retry_at = Some(now.plus(EXIT_RETRY_MS));
                    }
                }
                self.schedule_call(id, now);
                let step = match kind {
                    ExitKind::Overflow { step } => step,
                    ExitKind::Exit(_) => {
                        // Exits that cannot happen are retried later; say so once per try.
                        self.decide(Decision {
                            call: id,
                            queue,
                            action,
                            explanation,
                        });
                        return false;
                    }
                };
                self.decide(Decision {
                    call: id,
                    queue,
                    action: DecisionAction::StepApplied { step },
                    explanation,
                });
                false
            }
        }
    }

    /// Ring-no-answer: make the agent not-ready, keep the call away from them for a while,
    /// and send the call back to its queue (or route it directly if that is not possible).
    pub(super) fn rona(&mut self, now: Timestamp, id: CallId) {
        self.take_back_from_agent(now, id, false);
    }

    /// Takes a ringing call back from its agent and sends it back to its queue (or routes it
    /// from where it is). `declined`: the agent made themself unreachable (DND, log-off, phone
    /// fault) while it rang, which is their answer to the offer, not a ring-no-answer: the call
    /// moves on at once and the agent gets no not-ready penalty.
    pub(super) fn take_back_from_agent(&mut self, now: Timestamp, id: CallId, declined: bool) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let Phase::Ringing { agent, .. } = call.phase else {
            return;
        };
        let q = call.queue;
        let mut explanation = Explanation::bare(
            call.route_name.clone(),
            call.last_step,
            call.required.clone(),
        );
        let features = call.features;
        let rona = self.queues[q]
            .policy
            .as_ref()
            .map_or(self.config.default_rona, |p| p.rona);
        // Only an agent IP Office showed ringing let the call ring out; a transfer that never
        // reached the phone is not the agent's fault.
        let rang = call.ring_seen;
        let missed = rang && !declined;
        if missed {
            self.agents[agent].missed_in_row = self.agents[agent].missed_in_row.saturating_add(1);
        }
        let misses = self.agents[agent].missed_in_row;
        let penalised =
            missed && rona.not_ready_ms > 0 && misses >= rona.not_ready_after_misses.max(1);
        if penalised {
            self.agents[agent].not_ready_until = Some(now.plus(rona.not_ready_ms));
            self.agents[agent].missed_in_row = 0;
        }
        let penalty = if penalised {
            format!("agent not-ready {}s", rona.not_ready_ms / 1000)
        } else if missed {
            format!(
                "agent missed {misses} in a row (not-ready after {})",
                rona.not_ready_after_misses.max(1)
            )
        } else {
            "the phone never showed it ringing: no penalty".to_string()
        };
        self.release_agent(agent, id, now);
        let agent_id = self.agents[agent].id.clone();
        let queue_target = Target::Queue(self.queues[q].id.clone());
        let back = if features.has(Features::BLIND_TRANSFER) && !self.in_flight.contains_key(&id) {
            self.resolve_dial(&queue_target).ok()
        } else {
            None
        };
        if let Some(call) = self.calls.get_mut(&id) {
            call.excluded.push((agent, now.plus(EXCLUDE_MS)));
            call.last_failure = Some(format!("{agent_id} did not answer"));
        }
        match back {
            Some(dial) => {
                let cmd = self.emit(
                    CommandKind::Transfer {
                        call: id,
                        target: queue_target,
                        dial,
                    },
                    Pending::Return { call: id },
                );
                if let Some(call) = self.calls.get_mut(&id) {
                    call.phase = Phase::Returning {
                        cmd: Some(cmd),
                        deadline: now.plus(RETURN_GRACE_MS),
                    };
                }
                explanation.reason = if declined {
                    format!("{agent_id} became unreachable while it rang: back to queue")
                } else {
                    format!(
                        "{agent_id} rang {}s without answer: back to queue, {penalty}",
                        rona.ring_timeout_ms / 1000
                    )
                };
            }
            None => {
                if let Some(call) = self.calls.get_mut(&id) {
                    call.phase = Phase::Waiting;
                    call.in_queue = false;
                    call.off_queue = true;
                }
                self.index_call(id);
                self.dirty_calls.insert(id);
                explanation.reason = if declined {
                    format!("{agent_id} became unreachable while it rang: routing directly")
                } else {
                    format!(
                        "{agent_id} did not answer: queue not reachable, routing directly; {penalty}"
                    )
                };
            }
        }
        self.schedule_call(id, now);
        self.decide(Decision {
            call: id,
            queue: self.queues[q].id.clone(),
            action: DecisionAction::Rona { agent: agent_id },
            explanation,
        });
    }

    /// Accounts for the end of the engine's involvement with a call. Answered calls keep a
    /// record (the caller turns it into `Phase::Answered`); others are forgotten.
    pub(super) fn finalize(&mut self, id: CallId, outcome: CallOutcome, now: Timestamp) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if !call.is_open() {
            return;
        }
        let q = call.queue;
        let wait_ms = now.since(call.arrival);
        let reserved = match call.phase {
            Phase::Offered { agent, .. } | Phase::Ringing { agent, .. } => Some(agent),
            _ => None,
        };
        let queue_id = self.queues[q].id.clone();
        if let Some(counters) = self.counters.get_mut(&queue_id) {
            counters.record(outcome, wait_ms);
        }
        let route = self.route_name(call.route);
        self.out.finished.push(FinishedCall {
            call: id,
            queue: queue_id,
            outcome,
            wait_ms,
            route,
        });
        self.record_service_level(q, outcome, wait_ms, now);
        if let Some(agent) = reserved {
            self.release_agent(agent, id, now);
        }
        if outcome == CallOutcome::Answered {
            if let Some(call) = self.calls.get_mut(&id) {
                call.phase = Phase::Answered { agent: usize::MAX };
            }
            self.index_call(id);
            self.set_timer(TimerKey::Call(id), None);
        } else {
            self.forget_call(id);
        }
        self.schedule_queue(q, now);
    }
}
