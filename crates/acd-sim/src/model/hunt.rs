//! Native hunt-group distribution and the life of a call: queueing, ringing, answer, talk,
//! wrap-up, abandon, overflow and voicemail.
//!
//! This is what IP Office does on its own when no application acts on a queue, and so the
//! baseline any routing engine has to beat. Agents are rung according to the queue's ring mode;
//! an agent that becomes free takes the first waiting call (highest priority, then longest
//! waiting) of the queues it is an enabled member of, and of the queues that overflow to one
//! of those and are in overflow.
//!
//! Overflow follows IP Office Manager's "Overflow" page: an overflowing call stays queued in
//! its own group, under its own group's settings (no-answer time, voicemail, queue limit), and
//! is presented to the overflow groups' available members *as well*, chosen by the overflow
//! group's ring mode; overflow groups' own queueing and overflow are not used, so overflow never
//! cascades. See `scenarios/README.md` for the sources.

use std::cmp::Reverse;

use acd_core::{CallAttributes, Millis, QueueServiceMode};
use rand::Rng;

use super::{proficiency, Activity, Answer, Call, CallPhase, Dest, Ev, Mailbox, Model, SimCallId};
use crate::scenario::OverflowMode;
use crate::scenario::RingMode;

/// A call's place in a queue: priority (highest first), then arrival in the queue.
type QueueOrder = (Reverse<u8>, u64);

/// A hunt bounces between queues (overflow, night service) at most this often before the
/// caller is sent to voicemail: protects against loops an administrator configured.
const MAX_HOPS: u32 = 8;

/// What an arriving caller brings: drawn from the traffic stream before the call exists.
pub(super) struct NewCall {
    pub attributes: CallAttributes,
    pub calling_name: String,
    pub priority: u8,
    pub talk_ms: Millis,
    pub patience_ms: Option<Millis>,
}

impl Model {
    pub(super) fn create_call(&mut self, origin: usize, new: NewCall) -> SimCallId {
        let id = self.next_call;
        self.next_call += 1;
        let mut gcid = vec![0x01, 0xC0, 0xA8, 0x2A];
        gcid.extend_from_slice(&(id as u32).to_be_bytes());
        let site = self.sites.draw();
        self.calls.insert(
            id,
            Call {
                id,
                gcid,
                site,
                attributes: new.attributes,
                calling_name: new.calling_name,
                origin_queue: origin,
                arrived_at: self.now,
                queue: None,
                entered_queue_at: self.now,
                report_queue: None,
                priority: new.priority,
                phase: CallPhase::Queued,
                ringing: Vec::new(),
                agent: None,
                answered: false,
                overflowed: false,
                overflowing: false,
                talk_ms: new.talk_ms,
                gen: 0,
                queue_gen: 0,
                seq: 0,
                tried: Vec::new(),
                hops: 0,
            },
        );
        if let Some(s) = self.stats.get_mut(origin) {
            s.offered += 1;
        }
        if let Some(p) = new.patience_ms {
            self.events
                .schedule(self.now.plus(p), Ev::Abandon { call: id });
        }
        self.touch_call(id);
        self.enter_queue(id, origin);
        id
    }

    /// Puts the call in queue `q` (or wherever the queue's service mode sends it).
    pub(super) fn enter_queue(&mut self, id: SimCallId, q: usize) {
        let Some(queue) = self.queues.get(q) else {
            return self.send_to_voicemail(id);
        };
        let (deleted, mode, night) = (queue.deleted, queue.service_mode, queue.night_target);
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if deleted || c.hops > MAX_HOPS {
            return self.send_to_voicemail(id);
        }
        if mode != QueueServiceMode::Active {
            c.hops += 1;
            return self.send_to(id, night);
        }
        let queue = &self.queues[q];
        if queue
            .queue_limit
            .is_some_and(|limit| queue.waiting.len() >= limit as usize)
        {
            return self.over_queue_limit(id, q);
        }
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        self.next_seq += 1;
        c.queue = Some(q);
        c.entered_queue_at = self.now;
        c.queue_gen += 1;
        c.seq = self.next_seq;
        c.phase = CallPhase::Queued;
        c.ringing.clear();
        c.tried.clear();
        c.overflowing = false;
        c.gen += 1;
        if c.report_queue.is_none() {
            c.report_queue = Some(q);
        }
        let key = (Reverse(c.priority), c.seq, id);
        let queue_gen = c.queue_gen;
        let queue = &mut self.queues[q];
        queue.waiting.insert(key);
        if let Some(after) = queue.overflow_after_ms {
            self.events.schedule(
                self.now.plus(after),
                Ev::Overflow {
                    call: id,
                    queue_gen,
                },
            );
        }
        if let (true, Some(after)) = (queue.voicemail, queue.voicemail_after_ms) {
            self.events.schedule(
                self.now.plus(after),
                Ev::QueueVoicemail {
                    call: id,
                    queue_gen,
                },
            );
        }
        self.touch_call(id);
        self.touch_queue_calls();
        self.hunt(id);
    }

    /// Queue call lists changed (only the version matters: queue snapshots do not list calls).
    fn touch_queue_calls(&mut self) {
        self.version += 1;
    }

    pub(super) fn send_to(&mut self, id: SimCallId, dest: Dest) {
        match dest {
            Dest::Queue(q) => self.enter_queue(id, q),
            Dest::Voicemail => self.send_to_voicemail(id),
        }
    }

    /// Takes the call out of its queue and stops every phone ringing for it. Returns the
    /// agents released, which the caller dispatches once the call is settled elsewhere.
    pub(super) fn leave_queue(&mut self, id: SimCallId) -> Vec<usize> {
        let Some(c) = self.calls.get_mut(&id) else {
            return Vec::new();
        };
        if let Some(q) = c.queue.take() {
            let queue = &mut self.queues[q];
            queue.waiting.remove(&(Reverse(c.priority), c.seq, id));
            if queue.waiting.is_empty() {
                queue.in_overflow = false;
            }
            c.queue_gen += 1;
        }
        let released = std::mem::take(&mut c.ringing);
        c.gen += 1;
        for &a in &released {
            self.release_ringing(a, id);
        }
        self.touch_call(id);
        released
    }

    /// Stops `user` ringing for `call`; idle time keeps counting from before the ring.
    fn release_ringing(&mut self, user: usize, call: SimCallId) {
        if let Some(u) = self.users.get_mut(user) {
            if u.activity == Activity::Ringing(call) {
                u.activity = Activity::Idle;
                self.touch_user(user);
            }
        }
    }

    pub(super) fn dispatch_all(&mut self, agents: Vec<usize>) {
        for a in agents {
            self.dispatch_agent(a);
        }
    }

    /// Offers a queued call to available members according to the queue's ring mode; a call
    /// in overflow that finds none of its own group's members free is offered to the first
    /// overflow group (in list order) with an available member, by that group's ring mode.
    pub(super) fn hunt(&mut self, id: SimCallId) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        let Some(q) = c.queue else { return };
        if c.phase != CallPhase::Queued || self.queues[q].service_mode != QueueServiceMode::Active {
            return;
        }
        let mut groups = vec![q];
        if self.in_overflow(id) {
            groups.extend(self.queues[q].overflow_groups.iter().copied());
        }
        for group in groups {
            let chosen = self.pick_members(id, group);
            if !chosen.is_empty() {
                self.note_rotary(group, chosen[0]);
                return self.ring(id, chosen, Some(q));
            }
        }
    }

    /// Whether the call is presented to its queue's overflow groups now.
    pub(super) fn in_overflow(&self, id: SimCallId) -> bool {
        let Some(c) = self.calls.get(&id) else {
            return false;
        };
        let Some(queue) = c.queue.and_then(|q| self.queues.get(q)) else {
            return false;
        };
        !queue.overflow_groups.is_empty()
            && match queue.overflow_mode {
                OverflowMode::Call => c.overflowing,
                OverflowMode::Group => c.overflowing || queue.in_overflow,
            }
    }

    /// The members of `group` to ring for the call, by the group's ring mode: available,
    /// enabled, and not yet tried for this call while untried ones remain.
    fn pick_members(&mut self, id: SimCallId, group: usize) -> Vec<usize> {
        let Some(c) = self.calls.get(&id) else {
            return Vec::new();
        };
        let queue = &self.queues[group];
        if queue.deleted {
            return Vec::new();
        }
        let available: Vec<(usize, usize)> = queue
            .members
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.disabled && self.users[m.user].available())
            .map(|(i, m)| (i, m.user))
            .collect();
        if available.is_empty() {
            return Vec::new();
        }
        let untried: Vec<(usize, usize)> = available
            .iter()
            .copied()
            .filter(|(_, u)| !c.tried.contains(u))
            .collect();
        let pool = if untried.is_empty() {
            &available
        } else {
            &untried
        };
        let chosen: Vec<usize> = match queue.ring_mode {
            RingMode::Collective => available.iter().map(|&(_, u)| u).collect(),
            RingMode::Sequential => pool.first().map(|&(_, u)| u).into_iter().collect(),
            RingMode::Rotary => {
                let n = queue.members.len().max(1);
                let start = queue.rotary_last.map(|i| i + 1).unwrap_or(0);
                pool.iter()
                    .min_by_key(|&&(i, _)| (i + n - start % n) % n)
                    .map(|&(_, u)| u)
                    .into_iter()
                    .collect()
            }
            RingMode::LongestWaiting => pool
                .iter()
                .min_by_key(|&&(i, u)| (self.users[u].idle_since, i))
                .map(|&(_, u)| u)
                .into_iter()
                .collect(),
        };
        if untried.is_empty() {
            if let Some(c) = self.calls.get_mut(&id) {
                c.tried.clear();
            }
        }
        chosen
    }

    /// A rotary group remembers the member it rang last.
    fn note_rotary(&mut self, group: usize, user: usize) {
        let queue = &mut self.queues[group];
        if queue.ring_mode == RingMode::Rotary {
            queue.rotary_last = queue.members.iter().position(|m| m.user == user);
        }
    }

    /// Rings `agents` for the call; `hunt_queue` is set when a hunt group rings them (so the
    /// group's no-answer time applies), unset for a direct transfer.
    pub(super) fn ring(&mut self, id: SimCallId, agents: Vec<usize>, hunt_queue: Option<usize>) {
        if agents.is_empty() {
            return;
        }
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        c.phase = CallPhase::Ringing;
        c.gen += 1;
        let gen = c.gen;
        c.ringing = agents.clone();
        for &a in &agents {
            self.start_ringing(id, a, gen);
        }
        match hunt_queue {
            Some(q) => {
                // The call's own group's no-answer time, also at overflow members.
                let queue = &self.queues[q];
                if queue.ring_mode != RingMode::Collective {
                    let at = self.now.plus(queue.no_answer_ms);
                    self.events.schedule(at, Ev::RingTimeout { call: id, gen });
                }
            }
            None => {
                let u = &self.users[agents[0]];
                if u.voicemail {
                    let at = self.now.plus(u.no_answer_ms);
                    self.events
                        .schedule(at, Ev::DirectNoAnswer { call: id, gen });
                }
            }
        }
        self.touch_call(id);
    }

    /// Makes one phone ring and decides (from the agent's own random stream) whether and when
    /// the agent will answer.
    fn start_ringing(&mut self, id: SimCallId, a: usize, gen: u64) {
        let Some(u) = self.users.get_mut(a) else {
            return;
        };
        u.activity = Activity::Ringing(id);
        let answers = u.rng.random::<f64>() >= u.no_answer_probability;
        let delay = u.answer_delay.sample(&mut u.rng);
        if let (true, Some(d)) = (answers, delay) {
            self.events.schedule(
                self.now.plus(d),
                Ev::Answer {
                    call: id,
                    user: a,
                    gen,
                },
            );
        }
        self.touch_user(a);
    }

    pub(super) fn on_answer(&mut self, id: SimCallId, a: usize, gen: u64) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.gen != gen || c.phase != CallPhase::Ringing || !c.ringing.contains(&a) {
            return;
        }
        let others: Vec<usize> = c.ringing.iter().copied().filter(|&u| u != a).collect();
        c.ringing.clear();
        c.phase = CallPhase::Connected;
        c.agent = Some(a);
        c.gen += 1;
        let talk_gen = c.gen;
        if let Some(q) = c.queue.take() {
            let queue = &mut self.queues[q];
            queue.waiting.remove(&(Reverse(c.priority), c.seq, id));
            if queue.waiting.is_empty() {
                queue.in_overflow = false;
            }
            c.queue_gen += 1;
        }
        if !c.answered {
            c.answered = true;
            let wait = self.now.since(c.arrived_at);
            if let Some(s) = self.stats.get_mut(c.origin_queue) {
                s.record_answer(wait, self.sl_ms);
            }
            let language = c.attributes.language.clone();
            let extn = self.users[a].extn.clone();
            if let Some(log) = self.answer_log.as_mut() {
                log.push(Answer {
                    queue: self
                        .queues
                        .get(c.origin_queue)
                        .map(|q| q.name.clone())
                        .unwrap_or_default(),
                    attributes: c.attributes.clone(),
                    arrived_at: c.arrived_at,
                    agent: extn.clone(),
                });
            }
            self.observed.record_answer(language, extn);
        }
        // Who answers decides how long the call takes (see `proficiency`), whoever routed it.
        let needs = self.queues.get(c.origin_queue).map(|q| q.needs.as_slice());
        let factor = proficiency::talk_factor(
            self.skill_talk_factor,
            &self.users[a].skills,
            std::iter::once(c.attributes.language.as_str())
                .chain(needs.unwrap_or_default().iter().map(String::as_str)),
        );
        let talk = proficiency::scaled_talk(c.talk_ms, factor);
        self.events.schedule(
            self.now.plus(talk),
            Ev::TalkEnd {
                call: id,
                gen: talk_gen,
            },
        );
        self.users[a].activity = Activity::OnCall(id);
        self.touch_user(a);
        self.touch_call(id);
        for &o in &others {
            self.release_ringing(o, id);
        }
        self.dispatch_all(others);
    }

    pub(super) fn on_ring_timeout(&mut self, id: SimCallId, gen: u64) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.gen != gen || c.phase != CallPhase::Ringing || c.queue.is_none() {
            return;
        }
        let agents = std::mem::take(&mut c.ringing);
        c.tried.extend(agents.iter().copied());
        c.phase = CallPhase::Queued;
        c.gen += 1;
        for &a in &agents {
            self.release_ringing(a, id);
        }
        self.touch_call(id);
        self.hunt(id);
        self.dispatch_all(agents);
    }

    pub(super) fn on_direct_no_answer(&mut self, id: SimCallId, gen: u64) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        if c.gen != gen || c.phase != CallPhase::Ringing || c.queue.is_some() {
            return;
        }
        let released = self.leave_queue(id);
        self.send_to_personal_voicemail(id);
        self.dispatch_all(released);
    }

    pub(super) fn on_talk_end(&mut self, id: SimCallId, gen: u64) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        if c.gen != gen || c.phase != CallPhase::Connected {
            return;
        }
        let Some(a) = c.agent else {
            return self.remove_call(id);
        };
        let origin = c.origin_queue;
        let wrap = self.users[a]
            .wrap_up
            .clone()
            .or_else(|| {
                self.queues
                    .get(origin)
                    .and_then(|q| q.traffic.as_ref())
                    .and_then(|t| t.wrap_up.clone())
            })
            .unwrap_or_else(|| self.defaults.wrap_up.clone());
        let user = &mut self.users[a];
        let wrap_ms = wrap.sample(&mut user.rng).unwrap_or(0);
        if wrap_ms > 0 {
            user.activity = Activity::WrapUp(id);
            user.wrap_gen += 1;
            let wgen = user.wrap_gen;
            if let Some(c) = self.calls.get_mut(&id) {
                c.phase = CallPhase::AfterCall;
                c.gen += 1;
            }
            self.events
                .schedule(self.now.plus(wrap_ms), Ev::WrapEnd { user: a, gen: wgen });
            self.touch_user(a);
            self.touch_call(id);
        } else {
            self.remove_call(id);
            self.make_idle(a);
        }
    }

    pub(super) fn on_wrap_end(&mut self, a: usize, gen: u64) {
        let Some(u) = self.users.get(a) else {
            return;
        };
        if let (true, Activity::WrapUp(id)) = (u.wrap_gen == gen, u.activity) {
            self.remove_call(id);
            self.make_idle(a);
        }
    }

    /// The agent finished with a call: idle from now, and straight to the next waiting call.
    pub(super) fn make_idle(&mut self, a: usize) {
        if let Some(u) = self.users.get_mut(a) {
            u.activity = Activity::Idle;
            u.idle_since = self.now;
            self.touch_user(a);
            self.dispatch_agent(a);
        }
    }

    pub(super) fn on_abandon(&mut self, id: SimCallId) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        if c.answered || !matches!(c.phase, CallPhase::Queued | CallPhase::Ringing) {
            return;
        }
        let (origin, wait) = (c.origin_queue, self.now.since(c.arrived_at));
        let released = self.leave_queue(id);
        if let Some(s) = self.stats.get_mut(origin) {
            s.record_abandon(wait);
        }
        self.remove_call(id);
        self.dispatch_all(released);
    }

    pub(super) fn on_queue_timer(&mut self, id: SimCallId, queue_gen: u64, overflow: bool) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        if c.queue_gen != queue_gen || !c.queueing_in(c.queue.unwrap_or(usize::MAX)) {
            return;
        }
        let Some(q) = c.queue else { return };
        if overflow {
            return self.start_overflow(id, q);
        }
        let released = self.leave_queue(id);
        if let Some(c) = self.calls.get_mut(&id) {
            c.hops += 1;
        }
        self.send_to(id, Dest::Voicemail);
        self.dispatch_all(released);
    }

    /// The call's overflow time passed: it stays where it is and its overflow groups' members
    /// may answer it too (in group mode every call queued in its queue). A call ringing an
    /// agent finishes that ring first; its next hunt includes the overflow groups.
    fn start_overflow(&mut self, id: SimCallId, q: usize) {
        if self.queues[q].overflow_groups.is_empty() {
            return;
        }
        if let Some(c) = self.calls.get_mut(&id) {
            c.overflowing = true;
        }
        let group_mode = self.queues[q].overflow_mode == OverflowMode::Group;
        let newly: Vec<SimCallId> = if group_mode && !self.queues[q].in_overflow {
            self.queues[q].in_overflow = true;
            self.queues[q].waiting_calls().collect()
        } else {
            vec![id]
        };
        for call in newly {
            self.mark_overflowed(call);
            self.hunt(call);
        }
    }

    /// IP Office's Queue Limit: the caller goes to the queue's voicemail when it has one, or
    /// hears busy and is lost (counted as blocked).
    fn over_queue_limit(&mut self, id: SimCallId, q: usize) {
        if self.queues[q].voicemail {
            return self.send_to_voicemail(id);
        }
        let origin = self.calls.get(&id).map(|c| c.origin_queue);
        if let Some(s) = origin.and_then(|o| self.stats.get_mut(o)) {
            s.blocked += 1;
            s.record_abandon(0);
        }
        self.remove_call(id);
    }

    pub(super) fn mark_overflowed(&mut self, id: SimCallId) {
        if let Some(c) = self.calls.get_mut(&id) {
            if !c.overflowed && !c.answered {
                c.overflowed = true;
                if let Some(s) = self.stats.get_mut(c.origin_queue) {
                    s.overflowed += 1;
                }
            }
        }
    }

    /// The caller leaves a message in the queue's mailbox, then hangs up.
    pub(super) fn send_to_voicemail(&mut self, id: SimCallId) {
        self.leave_message(id, Mailbox::Queue);
    }

    /// The caller leaves a message in an agent's own mailbox, then hangs up.
    pub(super) fn send_to_personal_voicemail(&mut self, id: SimCallId) {
        self.leave_message(id, Mailbox::Personal);
    }

    fn leave_message(&mut self, id: SimCallId, mailbox: Mailbox) {
        let duration = self
            .voicemail_message
            .sample(&mut self.misc_rng)
            .unwrap_or(0);
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if c.phase == CallPhase::Voicemail {
            return;
        }
        if !c.answered {
            if let Some(s) = self.stats.get_mut(c.origin_queue) {
                s.voicemail += 1;
                if mailbox == Mailbox::Personal {
                    s.personal_voicemail += 1;
                }
            }
        }
        c.phase = CallPhase::Voicemail;
        c.gen += 1;
        let gen = c.gen;
        self.events
            .schedule(self.now.plus(duration), Ev::VoicemailEnd { call: id, gen });
        self.touch_call(id);
    }

    /// Clears the call whatever its state (DropCall, or its user was deleted).
    pub(super) fn drop_call(&mut self, id: SimCallId) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        let (phase, answered, origin, agent) = (c.phase, c.answered, c.origin_queue, c.agent);
        let released = self.leave_queue(id);
        if !answered && matches!(phase, CallPhase::Queued | CallPhase::Ringing) {
            if let Some(s) = self.stats.get_mut(origin) {
                s.dropped += 1;
            }
        }
        self.remove_call(id);
        if let (Some(a), CallPhase::Connected | CallPhase::AfterCall) = (agent, phase) {
            if let Some(u) = self.users.get_mut(a) {
                u.wrap_gen += 1;
            }
            self.make_idle(a);
        }
        self.dispatch_all(released);
    }

    /// Offers the first waiting call of the agent's queues, and of the queues in overflow to
    /// them, to a newly available agent; or adds the agent to a collective group's ringing call.
    pub(super) fn dispatch_agent(&mut self, a: usize) {
        if !self.users.get(a).is_some_and(|u| u.available()) {
            return;
        }
        // (whether the caller is past the service level when `in_time_first` asks, queue order,
        // the call's queue, the group `a` serves it through, the call)
        let mut best: Option<(bool, QueueOrder, usize, usize, SimCallId)> = None;
        let mut collective: Option<(QueueOrder, SimCallId)> = None;
        for (gi, group) in self.queues.iter().enumerate() {
            if group.deleted || !group.members.iter().any(|m| m.user == a && !m.disabled) {
                continue;
            }
            // Its own calls, when the group is in service, then those of the groups that
            // overflow to it (their service mode, not this group's, decides).
            let own = (group.service_mode == QueueServiceMode::Active).then_some(gi);
            for qi in own
                .into_iter()
                .chain(group.overflow_sources.iter().copied())
            {
                let queue = &self.queues[qi];
                if queue.deleted || queue.service_mode != QueueServiceMode::Active {
                    continue;
                }
                let overflow = qi != gi;
                for &(prio, seq, id) in &queue.waiting {
                    let Some(c) = self.calls.get(&id) else {
                        continue;
                    };
                    if overflow && !self.in_overflow(id) {
                        continue;
                    }
                    match c.phase {
                        CallPhase::Queued => {
                            let late =
                                self.in_time_first && self.now.since(c.arrived_at) >= self.sl_ms;
                            if best.is_none_or(|(l, k, _, _, _)| (late, (prio, seq)) < (l, k)) {
                                best = Some((late, (prio, seq), qi, gi, id));
                            }
                            // The queue's first call in time is its best; a late one before
                            // it is taken only if no queue has a call in time.
                            if !late {
                                break;
                            }
                        }
                        CallPhase::Ringing
                            if !overflow
                                && queue.ring_mode == RingMode::Collective
                                && collective.is_none_or(|(k, _)| (prio, seq) < k) =>
                        {
                            collective = Some(((prio, seq), id));
                        }
                        _ => {}
                    }
                }
            }
        }
        if let Some((_, _, q, group, id)) = best {
            self.note_rotary(group, a);
            self.ring(id, vec![a], Some(q));
        } else if let Some((_, id)) = collective {
            let Some(c) = self.calls.get_mut(&id) else {
                return;
            };
            c.ringing.push(a);
            let gen = c.gen;
            self.start_ringing(id, a, gen);
            self.touch_call(id);
        }
    }

    /// Dispatches every available member of a queue (after it reopens or gains members).
    pub(super) fn dispatch_queue(&mut self, q: usize) {
        let members: Vec<usize> = self
            .queues
            .get(q)
            .map(|queue| queue.members.iter().map(|m| m.user).collect())
            .unwrap_or_default();
        self.dispatch_all(members);
    }
}
