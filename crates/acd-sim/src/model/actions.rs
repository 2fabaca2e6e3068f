//! Commands with IP Office's semantics: argument checks and result codes as the MT-CTI3 guide
//! documents them, and silent no-ops when the call's `featuresavailable` lacks the action's bit
//! (IP Office ignores such actions; "a command can answer success and still not happen").

use std::cmp::Reverse;

use acd_core::{Features, QueueMember, QueueServiceMode};

use super::{CallPhase, Ext, Member, Model, ModelAction, ResultCode, SimCallId, View};

/// BlindTransfer `/TYPE/…` types that still reach the destination as a normal call here.
const PLAIN_TRANSFER_TYPES: [&str; 3] = ["105", "107", "109"];
const VOICEMAIL_TYPE: &str = "102";

/// Where a BlindTransfer argument points.
enum TransferTarget {
    User(usize),
    Queue(usize),
    Voicemail,
}

impl Model {
    pub(super) fn apply_action(&mut self, action: ModelAction) -> ResultCode {
        match action {
            ModelAction::BlindTransfer { call, view, target } => {
                self.blind_transfer(call, &view, &target, Features::BLIND_TRANSFER)
            }
            ModelAction::Redirect { call, view, target } => {
                self.blind_transfer(call, &view, &target, Features::REDIRECT)
            }
            ModelAction::SetPriority { call, view, level } => {
                self.set_priority(call, &view, &level)
            }
            ModelAction::Finish { call, view, arg } => self.finish(call, &view, &arg),
            ModelAction::Drop { call, view } => match self.features_for(call, &view) {
                Err(code) => code,
                Ok(f) if !Features(f).has(Features::DROP) => ResultCode::Success,
                Ok(_) => {
                    self.drop_call(call);
                    ResultCode::Success
                }
            },
            ModelAction::Answer { call, user } => self.answer_now(call, &user),
            ModelAction::SetQueueMembers { queue, members } => {
                self.update_members(&queue, members, true)
            }
            ModelAction::UpsertQueueMembers { queue, members } => {
                self.update_members(&queue, members, false)
            }
            ModelAction::RemoveQueueMembers { queue, extns } => {
                let Some(q) = self.queue_by_name(&queue) else {
                    return ResultCode::NotFound;
                };
                let users: Vec<usize> = extns.iter().filter_map(|e| self.user_by_extn(e)).collect();
                if users.len() != extns.len() {
                    return ResultCode::NotFound;
                }
                self.queues[q].members.retain(|m| !users.contains(&m.user));
                self.touch_queue(q);
                ResultCode::Success
            }
            ModelAction::SetServiceMode { queue, mode } => {
                let Some(q) = self.queue_by_name(&queue) else {
                    return ResultCode::NotFound;
                };
                self.queues[q].service_mode = mode;
                self.touch_queue(q);
                if mode == QueueServiceMode::Active {
                    self.hunt_waiting(q);
                }
                ResultCode::Success
            }
            ModelAction::SetDnd { user, on } => {
                let Some(u) = self.user_by_extn(&user) else {
                    return ResultCode::UserNotFound;
                };
                self.users[u].dnd = on;
                self.touch_user(u);
                self.dispatch_agent(u);
                ResultCode::Success
            }
            ModelAction::SetForward { user, on } => {
                let Some(u) = self.user_by_extn(&user) else {
                    return ResultCode::UserNotFound;
                };
                self.users[u].fwdu = on;
                self.touch_user(u);
                self.dispatch_agent(u);
                ResultCode::Success
            }
        }
    }

    /// The `featuresavailable` the call shows on `view`, or 602 if the view cannot see it.
    fn features_for(&self, call: SimCallId, view: &View) -> Result<u32, ResultCode> {
        let c = self
            .calls
            .get(&call)
            .ok_or(ResultCode::CallControlCallNotFound)?;
        match view {
            View::Queue(name) => {
                let q = self
                    .queue_by_name(name)
                    .ok_or(ResultCode::CallControlCallNotFound)?;
                let visible = (c.report_queue == Some(q) && c.phase != CallPhase::AfterCall)
                    || c.queueing_in(q);
                if visible {
                    Ok(c.queue_features())
                } else {
                    Err(ResultCode::CallControlCallNotFound)
                }
            }
            View::User(extn) => {
                let u = self
                    .user_by_extn(extn)
                    .ok_or(ResultCode::CallControlCallNotFound)?;
                if c.involves_user(u) {
                    Ok(c.user_features(u))
                } else {
                    Err(ResultCode::CallControlCallNotFound)
                }
            }
        }
    }

    /// BlindTransfer and Redirect: the same move, each allowed by its own feature bit.
    fn blind_transfer(
        &mut self,
        call: SimCallId,
        view: &View,
        arg: &str,
        feature: u32,
    ) -> ResultCode {
        let f = match self.features_for(call, view) {
            Ok(f) => f,
            Err(code) => return code,
        };
        if !Features(f).has(feature) {
            return ResultCode::Success;
        }
        let length = arg.chars().count();
        if !(1..=78).contains(&length) {
            return ResultCode::CallControlBadFormatting;
        }
        let target = match self.parse_transfer_target(arg) {
            Ok(t) => t,
            Err(code) => return code,
        };
        match target {
            TransferTarget::Voicemail => {
                let released = self.detach_for_transfer(call);
                self.mark_overflowed(call);
                self.send_to_voicemail(call);
                self.dispatch_all(released);
            }
            TransferTarget::Queue(q) => {
                if self.calls.get(&call).is_some_and(|c| c.queueing_in(q)) {
                    return ResultCode::CallControlAlreadyDone;
                }
                let released = self.detach_for_transfer(call);
                self.mark_overflowed(call);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.hops = 0;
                }
                self.enter_queue(call, q);
                self.dispatch_all(released);
            }
            TransferTarget::User(u) if self.users[u].fwdu => {
                // IP Office sends a call for a user with forward unconditional on to the
                // forward destination: here the user's voicemail (`fwdtovm`). The queue and
                // the engine see the call leave; nobody's phone rings.
                self.observed.transfers_to_forwarded_users += 1;
                let released = self.detach_for_transfer(call);
                self.mark_overflowed(call);
                self.send_to_personal_voicemail(call);
                self.dispatch_all(released);
            }
            TransferTarget::User(u) => {
                let ringing = self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.phase == CallPhase::Ringing);
                if ringing {
                    self.observed.transfers_to_ringing_calls += 1;
                }
                if let Some(log) = self.transfer_log.as_mut() {
                    log.push((call, ringing));
                }
                let ok = self.users[u].available()
                    || self.users[u].activity == super::Activity::Ringing(call);
                if !ok {
                    return ResultCode::CallControlTransferFailed;
                }
                let released = self.detach_for_transfer(call);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.agent = None;
                }
                self.ring(call, vec![u], None);
                let others: Vec<usize> = released.into_iter().filter(|&a| a != u).collect();
                self.dispatch_all(others);
            }
        }
        ResultCode::Success
    }

    fn parse_transfer_target(&self, arg: &str) -> Result<TransferTarget, ResultCode> {
        let dest = if let Some(rest) = arg.strip_prefix('/') {
            let (kind, dest) = rest
                .split_once('/')
                .ok_or(ResultCode::CallControlBadFormatting)?;
            if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_digit()) {
                return Err(ResultCode::CallControlBadFormatting);
            }
            if kind == VOICEMAIL_TYPE {
                return Ok(TransferTarget::Voicemail);
            }
            if !PLAIN_TRANSFER_TYPES.contains(&kind) {
                return Err(ResultCode::CallControlTransferFailed);
            }
            dest
        } else {
            arg
        };
        match self.extensions.get(dest) {
            Some(Ext::User(u)) if !self.users[*u].deleted => Ok(TransferTarget::User(*u)),
            Some(Ext::Queue(q)) if !self.queues[*q].deleted => Ok(TransferTarget::Queue(*q)),
            _ => Err(ResultCode::CallControlTransferFailed),
        }
    }

    /// Frees the call from wherever it is (queue, ringing phones, connected agent) before it
    /// goes somewhere else. Returns the agents to dispatch afterwards.
    fn detach_for_transfer(&mut self, call: SimCallId) -> Vec<usize> {
        let agent = self.calls.get(&call).and_then(|c| match c.phase {
            CallPhase::Connected => c.agent,
            _ => None,
        });
        let mut released = self.leave_queue(call);
        if let Some(a) = agent {
            if let Some(c) = self.calls.get_mut(&call) {
                c.agent = None;
            }
            if let Some(u) = self.users.get_mut(a) {
                u.activity = super::Activity::Idle;
                u.idle_since = self.now;
                self.touch_user(a);
            }
            released.push(a);
        }
        released
    }

    fn set_priority(&mut self, call: SimCallId, view: &View, level: &str) -> ResultCode {
        let f = match self.features_for(call, view) {
            Ok(f) => f,
            Err(code) => return code,
        };
        if !Features(f).has(Features::SET_PRIORITY) {
            return ResultCode::Success;
        }
        let priority = match level {
            "1" => 1,
            "2" => 2,
            "3" => 3,
            _ => return ResultCode::CallControlBadFormatting,
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return ResultCode::CallControlCallNotFound;
        };
        let Some(q) = c.queue else {
            return ResultCode::CallControlInvalidCallState;
        };
        let waiting = &mut self.queues[q].waiting;
        waiting.remove(&(Reverse(c.priority), c.seq, call));
        c.priority = priority;
        waiting.insert((Reverse(priority), c.seq, call));
        self.touch_call(call);
        ResultCode::Success
    }

    fn finish(&mut self, call: SimCallId, view: &View, arg: &str) -> ResultCode {
        let View::Queue(name) = view else {
            return ResultCode::CallControlUnsupported;
        };
        let f = match self.features_for(call, view) {
            Ok(f) => f,
            Err(code) => return code,
        };
        if !Features(f).has(Features::FINISH) {
            return ResultCode::Success;
        }
        let report_next = match arg {
            "" => false,
            "1" => true,
            _ => return ResultCode::CallControlBadFormatting,
        };
        let Some(q) = self.queue_by_name(name) else {
            return ResultCode::CallControlCallNotFound;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return ResultCode::CallControlCallNotFound;
        };
        if c.report_queue == Some(q) {
            c.report_queue = None;
            if report_next {
                c.report_queue = c.queue.filter(|&cq| cq != q);
            }
            self.touch_call(call);
        }
        ResultCode::Success
    }

    fn answer_now(&mut self, call: SimCallId, user: &str) -> ResultCode {
        let Some(u) = self.user_by_extn(user) else {
            return ResultCode::UserNotFound;
        };
        let Some(c) = self.calls.get(&call) else {
            return ResultCode::CallControlCallNotFound;
        };
        if !c.involves_user(u) {
            return ResultCode::CallControlCallNotFound;
        }
        if c.phase != CallPhase::Ringing {
            return ResultCode::CallControlInvalidCallState;
        }
        let gen = c.gen;
        self.on_answer(call, u, gen);
        ResultCode::Success
    }

    fn update_members(
        &mut self,
        queue: &str,
        members: Vec<QueueMember>,
        replace: bool,
    ) -> ResultCode {
        let Some(q) = self.queue_by_name(queue) else {
            return ResultCode::NotFound;
        };
        let mut resolved = Vec::with_capacity(members.len());
        for m in &members {
            match self.user_by_extn(&m.agent.0) {
                Some(u) => resolved.push(Member {
                    user: u,
                    disabled: !m.enabled,
                }),
                None => return ResultCode::NotFound,
            }
        }
        let list = &mut self.queues[q].members;
        if replace {
            *list = resolved;
        } else {
            for m in resolved {
                match list.iter_mut().find(|x| x.user == m.user) {
                    Some(existing) => existing.disabled = m.disabled,
                    None => list.push(m),
                }
            }
        }
        self.touch_queue(q);
        self.hunt_waiting(q);
        ResultCode::Success
    }

    /// Re-runs the hunt for a queue's waiting calls (members or service mode changed).
    fn hunt_waiting(&mut self, q: usize) {
        let waiting: Vec<SimCallId> = self.queues[q].waiting_calls().collect();
        for id in waiting {
            self.hunt(id);
        }
        self.dispatch_queue(q);
    }
}
