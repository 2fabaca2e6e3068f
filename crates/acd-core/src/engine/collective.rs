//! Collective delivery (issue 25): instead of transferring a waiting call to one agent, the
//! engine keeps the agents it chose enabled as members of the queue's IP Office hunt group
//! (ring mode Collective, set by the administrator) and IP Office rings them together.
//!
//! Why: one agent at a time loses the whole ring time to every agent away from the phone;
//! IP Office's collective ringing loses none. The engine keeps what it is good at (who may take
//! calls: tiers, skills, wrap-up, not-ready) by choosing *which* members are enabled.
//!
//! The guide (`UpdateQueue`): "You can also use addmember to change a member status from
//! enabled to disabled in the queue. addmember is an update if the member already exists", so
//! each change is one `SetQueueMember` on a member IP Office already lists; the engine never
//! adds members. After every event the wanted set is recomputed from the queue's head call
//! (the call IP Office serves next: priority, then arrival, skipping calls already ringing) and
//! compared with IP Office's reported membership; what was sent is remembered until IP Office
//! reports it (or `MEMBER_RESEND_MS` passes), so a report older than the command causes no
//! second command. A member ringing for a call of the queue is never disabled (the guide does
//! not say whether that would cancel the ring).

use super::state::{Pending, Phase};
use super::Engine;
use crate::command::{CommandId, CommandKind};
use crate::config::Delivery;
use crate::event::{CommandOutcome, PhoneState};
use crate::ids::CallId;
use crate::time::{Millis, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

/// How long a membership change may go unreported by IP Office before it is sent again, if
/// still wanted: twice IP Office's request timeout.
pub(crate) const MEMBER_RESEND_MS: Millis = 10_000;
/// How long after IP Office refused a membership change (or did not answer) it is tried again:
/// long enough not to hammer a refusing system, short enough that an agent IP Office may ring
/// is not kept from other queues' calls for long (as a refused transfer's agent).
pub(crate) const MEMBER_RETRY_AFTER_REFUSAL_MS: Millis = 5_000;

/// A membership change the engine sent and IP Office has not reported yet.
#[derive(Debug, Clone, Copy)]
struct Sent {
    enabled: bool,
    at: Timestamp,
    cmd: CommandId,
    /// IP Office refused it (or it was not sent, or not answered): the reported state stands,
    /// and the change is not tried again before `at + MEMBER_RETRY_AFTER_REFUSAL_MS`.
    refused: bool,
}

impl Sent {
    fn lapses_at(&self) -> Timestamp {
        self.at.plus(if self.refused {
            MEMBER_RETRY_AFTER_REFUSAL_MS
        } else {
            MEMBER_RESEND_MS
        })
    }
}

/// What the engine tracks for collective delivery, per (queue, agent) slot pair.
#[derive(Debug, Clone, Default)]
pub(crate) struct CollectiveState {
    sent: BTreeMap<(usize, usize), Sent>,
    /// Members this engine enabled and has not seen disabled since: taken back even when their
    /// queue is no longer collective (a rules change).
    enabled_by_engine: BTreeSet<(usize, usize)>,
    /// Agents whose phone rings for a call of a queue whose membership the engine manages.
    ringing: BTreeMap<usize, CallId>,
    /// Agents enabled (or being enabled, or not yet seen disabled) in a managed group: IP
    /// Office rings them or may at any moment, so they take no offers of other queues' calls.
    engaged: BTreeSet<usize>,
    /// Some queue's rules ask for collective delivery (kept by `reindex_all`).
    pub any_collective: bool,
}

/// The call IP Office serves next in a queue, as far as the engine knows.
enum Head {
    Call(CallId),
    /// Only calls not reported again since the link restarted: whether they still wait is not
    /// known yet, so membership stays as it is.
    Unknown,
    Nobody,
}

impl CollectiveState {
    fn has_work(&self) -> bool {
        self.any_collective || !self.enabled_by_engine.is_empty() || !self.sent.is_empty()
    }
}

impl Engine {
    /// Whether the rules ask for collective delivery in queue `q`.
    pub(super) fn delivers_collectively(&self, q: usize) -> bool {
        self.queues[q]
            .policy
            .as_ref()
            .is_some_and(|p| p.delivery == Delivery::Collective)
    }

    /// Whether the engine manages the membership of queue `q`'s hunt group: it is collective,
    /// or the engine enabled members there that it still has to take back.
    pub(super) fn manages_members(&self, q: usize) -> bool {
        let state = &self.collective;
        self.delivers_collectively(q)
            || state
                .enabled_by_engine
                .range((q, 0)..=(q, usize::MAX))
                .next()
                .is_some()
            || state.sent.range((q, 0)..=(q, usize::MAX)).next().is_some()
    }

    /// Whether IP Office's hunt group rings `call` at some member now.
    pub(super) fn rings_at_members(&self, call: CallId) -> bool {
        self.collective.ringing.values().any(|c| *c == call)
    }

    /// Whether IP Office may ring agent `a` for a managed group's call at any moment.
    pub(super) fn engaged_collectively(&self, a: usize) -> bool {
        self.collective.engaged.contains(&a)
    }

    /// Whether agent `a` is listed in a hunt group other than `q` whose membership the engine
    /// manages: IP Office may ring them for that group's calls.
    pub(super) fn rung_by_another_group(&self, a: usize, q: usize) -> bool {
        let id = &self.agents[a].id;
        (0..self.queues.len()).any(|other| {
            other != q
                && self.manages_members(other)
                && self.queues[other]
                    .pbx_members
                    .iter()
                    .any(|m| &m.agent == id)
        })
    }

    /// IP Office's hunt group rings `call` at agent `a`.
    pub(super) fn note_member_ringing(&mut self, a: usize, call: CallId) {
        self.collective.ringing.insert(a, call);
    }

    /// Agent `a`'s phone no longer rings: the call it rang for may be offered again once it
    /// rings nowhere (its queue may no longer be collective).
    pub(super) fn member_stopped_ringing(&mut self, a: usize) {
        if let Some(call) = self.collective.ringing.remove(&a) {
            if !self.rings_at_members(call) && self.calls.contains_key(&call) {
                self.dirty_calls.insert(call);
            }
        }
    }

    /// The call was answered or is gone: it rings nowhere any more.
    pub(super) fn forget_member_rings(&mut self, call: CallId) {
        if self.collective.ringing.values().any(|c| *c == call) {
            self.collective.ringing.retain(|_, c| *c != call);
        }
    }

    /// When a membership change of queue `q` should be looked at again (sent again if still
    /// wanted and IP Office has not reported it).
    pub(super) fn member_resend_due(&self, q: usize) -> Option<Timestamp> {
        self.collective
            .sent
            .range((q, 0)..=(q, usize::MAX))
            .map(|(_, s)| s.lapses_at())
            .min()
    }

    /// Brings the membership of every managed hunt group in line with what the engine wants
    /// now. Runs after every event, before offers are made, so an agent IP Office may ring
    /// is never also offered another queue's call.
    pub(super) fn sync_collective(&mut self, now: Timestamp) {
        if !self.collective.has_work() {
            return;
        }
        let mut engaged = BTreeSet::new();
        for q in 0..self.queues.len() {
            if self.manages_members(q) {
                self.sync_queue(q, now, &mut engaged);
            }
        }
        let released: Vec<usize> = self
            .collective
            .engaged
            .difference(&engaged)
            .copied()
            .collect();
        // Back in the pool for other queues' calls.
        self.dirty_agents.extend(released);
        self.collective.engaged = engaged;
    }

    fn sync_queue(&mut self, q: usize, now: Timestamp, engaged: &mut BTreeSet<usize>) {
        let collective = self.delivers_collectively(q);
        let listed: Vec<(usize, bool)> = self.queues[q]
            .pbx_members
            .clone()
            .into_iter()
            .map(|m| (self.agent_slot(&m.agent), m.enabled))
            .collect();
        // What IP Office reported settles what was sent; a change unreported for too long
        // lapses and is sent again below if still wanted.
        let reported: BTreeMap<usize, bool> = listed.iter().copied().collect();
        let keys: Vec<(usize, usize)> = self
            .collective
            .sent
            .range((q, 0)..=(q, usize::MAX))
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            let Some(sent) = self.collective.sent.get(&key).copied() else {
                continue;
            };
            let confirmed = !sent.refused && reported.get(&key.1) == Some(&sent.enabled);
            let unlisted = !reported.contains_key(&key.1);
            if confirmed || unlisted || now >= sent.lapses_at() {
                self.collective.sent.remove(&key);
            }
        }
        for (&a, &enabled) in &reported {
            if !enabled && !self.collective.sent.contains_key(&(q, a)) {
                self.collective.enabled_by_engine.remove(&(q, a));
            }
        }
        self.collective
            .enabled_by_engine
            .retain(|(eq, ea)| *eq != q || reported.contains_key(ea));

        let wanted = if collective {
            self.wanted_members(q, now)
        } else {
            Some(BTreeSet::new())
        };
        // Never disable a member while it may ring for one of this queue's calls: shown
        // ringing for one, or ringing and not yet shown for which call (the phone's state and
        // the call's ring come as separate events), unless the engine's own offer rings it.
        // (Only kept: a phone ringing is no reason to enable anyone.)
        let may_ring_here = |a: usize| {
            let agent = &self.agents[a];
            match self.collective.ringing.get(&a) {
                Some(call) => self.calls.get(call).is_some_and(|c| c.queue == q),
                None => agent.phone == PhoneState::Ringing && agent.reserved_for.is_none(),
            }
        };
        let kept: BTreeSet<usize> = listed
            .iter()
            .map(|(a, _)| *a)
            .filter(|a| may_ring_here(*a))
            .collect();
        let mut changed = false;
        for &(a, reported_enabled) in &listed {
            if !collective && !self.collective.enabled_by_engine.contains(&(q, a)) {
                // The administrator's own setting in a queue the engine does not deliver.
                continue;
            }
            let sent = self.collective.sent.get(&(q, a)).copied();
            let believed = match sent {
                Some(s) if !s.refused => s.enabled,
                _ => reported_enabled,
            };
            // Until IP Office reports a member disabled, it may still ring them.
            if believed || reported_enabled {
                engaged.insert(a);
            }
            // Unknown (only calls not yet reported again since the link restarted): as it is.
            let want = wanted.as_ref().map_or(believed, |w| w.contains(&a))
                || (believed && kept.contains(&a));
            // A refused change is tried again only once it lapses; a change of mind while
            // one is on its way is sent at once (it is not a repeat).
            if want == believed || sent.is_some_and(|s| s.refused) {
                continue;
            }
            let cmd = self.emit(
                CommandKind::SetQueueMember {
                    queue: self.queues[q].id.clone(),
                    agent: self.agents[a].id.clone(),
                    enabled: want,
                },
                Pending::Member { queue: q, agent: a },
            );
            self.collective.sent.insert(
                (q, a),
                Sent {
                    enabled: want,
                    at: now,
                    cmd,
                    refused: false,
                },
            );
            if want {
                self.collective.enabled_by_engine.insert((q, a));
                engaged.insert(a);
            }
            changed = true;
        }
        if changed {
            self.schedule_queue(q, now);
        }
    }

    /// The members IP Office should ring for queue `q` now: those of the best tier (first
    /// choice, else backup, else helpers while active) who are free and meet the requirement
    /// of the call IP Office serves next. IP Office rings every enabled member at once, so
    /// only one tier at a time. `None`: unknown until the queue is reported again.
    fn wanted_members(&self, q: usize, now: Timestamp) -> Option<BTreeSet<usize>> {
        let head_id = match self.collective_head(q) {
            Head::Call(id) => id,
            Head::Unknown => return None,
            Head::Nobody => return Some(BTreeSet::new()),
        };
        let Some(head) = self.calls.get(&head_id) else {
            return Some(BTreeSet::new());
        };
        let mut best: Option<u8> = None;
        let mut chosen = BTreeSet::new();
        for &a in &self.queues[q].members {
            // A member ringing for the head call holds its tier: the next tier joins the ring
            // only when none of this one is free or ringing for it. (Members ringing for an
            // older call do not: IP Office cannot ring them for this one.)
            let rings_here = self.collective.ringing.get(&a) == Some(&head_id);
            let Ok(pref) = self.preference(head, a, now, !rings_here) else {
                continue;
            };
            match best {
                Some(tier) if pref.tier > tier => {}
                Some(tier) if pref.tier == tier => {
                    chosen.insert(a);
                }
                _ => {
                    best = Some(pref.tier);
                    chosen = BTreeSet::from([a]);
                }
            }
        }
        Some(chosen)
    }

    /// The call of queue `q` IP Office serves next, as IP Office orders its queue (priority,
    /// then arrival): the first one not yet ringing, since a newly enabled member is rung for
    /// a call still waiting before it joins one already ringing; else the first ringing one.
    /// Calls no queue has reported since the link restarted are not known to wait (as for
    /// offers); with only such calls the head is unknown.
    fn collective_head(&self, q: usize) -> Head {
        let mut waiting = None;
        let mut ringing = None;
        let mut unknown = false;
        for call in self.calls.values().filter(|c| c.queue == q) {
            if call.unconfirmed {
                unknown |= call.phase == Phase::Waiting;
                continue;
            }
            let rings = self.rings_at_members(call.id);
            let queued = match call.phase {
                Phase::Waiting => call.deferred_answer.is_none(),
                Phase::LeftQueue { .. } => rings,
                _ => false,
            };
            if !queued {
                continue;
            }
            let key = self.wait_key(call);
            let slot = if rings { &mut ringing } else { &mut waiting };
            if slot.as_ref().is_none_or(|(k, _)| key < *k) {
                *slot = Some((key, call.id));
            }
        }
        match waiting.or(ringing) {
            Some((_, id)) => Head::Call(id),
            None if unknown => Head::Unknown,
            None => Head::Nobody,
        }
    }

    /// IP Office's answer to a membership change: a refusal (or a command a twin's follower
    /// did not send) leaves the reported state standing until the change is tried again.
    pub(super) fn member_result(
        &mut self,
        now: Timestamp,
        id: CommandId,
        q: usize,
        a: usize,
        outcome: CommandOutcome,
    ) {
        let Some(sent) = self.collective.sent.get_mut(&(q, a)) else {
            return;
        };
        if sent.cmd != id || outcome == CommandOutcome::Success {
            return;
        }
        // The retry counts from the refusal, not from the sending.
        sent.refused = true;
        sent.at = now;
        self.schedule_queue(q, now);
    }
}
