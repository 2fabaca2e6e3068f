//! The protocol-agnostic model of an IP Office: users, hunt groups and calls, driven by a
//! discrete-event scheduler in virtual time.
//!
//! It exists so that the same behaviour (traffic, agents, native hunt-group distribution,
//! command semantics and result codes) backs both the MT-CTI3 protocol server, which advances
//! it in real time, and the virtual-time driver, which runs an hour of traffic against the
//! routing core in seconds. Nothing in here knows protobuf or sockets.
//!
//! Mutations mark calls, users and queues dirty; after each event (or action) the dirty set is
//! turned into complete snapshots, so observers see IP Office's "every notify is a complete
//! snapshot, states may be skipped" semantics for free.

mod actions;
mod hunt;
pub mod journal;
pub mod proficiency;
mod sites;
mod traffic;
pub mod types;

pub use journal::Touched;
pub use traffic::InjectedCall;

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use acd_core::{
    CallAttributes, Features, Millis, PhoneState, QueueMember, QueueServiceMode, Timestamp,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use super::dist::{seconds_to_ms, Dist};
use super::error::SimError;
use super::scenario::{OverflowMode, RingMode, Scenario, ScheduleEntry, ServiceModeSpec, UserSpec};
use super::scheduler::Scheduler;
use super::stats::{Observed, QueueStats, SimSummary};
use traffic::{TraceCall, Traffic};
pub use types::*;

/// What a user's phone is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Idle,
    Ringing(SimCallId),
    OnCall(SimCallId),
    WrapUp(SimCallId),
}

pub struct User {
    pub extn: String,
    pub name: String,
    pub full_name: String,
    pub guid: Vec<u8>,
    pub language: String,
    pub logged_in: bool,
    pub dnd: bool,
    /// Forward unconditional (`fwdu`) is on, to voicemail (`fwdtovm`): hunt groups skip the
    /// user, and a call transferred to the user goes to voicemail.
    pub fwdu: bool,
    /// `fwdhg`: hunt-group calls follow the forward (rather than skipping the user).
    pub fwdhg: bool,
    pub phone_fault: bool,
    pub voicemail: bool,
    pub deleted: bool,
    pub activity: Activity,
    pub idle_since: Timestamp,
    no_answer_ms: Millis,
    answer_delay: Dist,
    no_answer_probability: f64,
    wrap_up: Option<Dist>,
    /// Proficiency per skill, for the talk-time rule in `proficiency`.
    skills: BTreeMap<String, u8>,
    wrap_gen: u64,
    rng: ChaCha8Rng,
}

impl User {
    /// Can a hunt group ring this user now?
    pub fn available(&self) -> bool {
        !self.deleted
            && self.logged_in
            && !self.dnd
            && !self.fwdu
            && !self.phone_fault
            && self.activity == Activity::Idle
    }

    pub fn phone_state(&self) -> PhoneState {
        match self.activity {
            Activity::Idle => PhoneState::Idle,
            Activity::Ringing(_) => PhoneState::Ringing,
            Activity::OnCall(_) => PhoneState::OnCall,
            Activity::WrapUp(_) => PhoneState::AfterCallWork,
        }
    }
}

/// One answered call: the caller as they arrived and the agent who answered, so a study can
/// judge afterwards whether the right agent took it, whoever distributed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The queue the call first arrived at (the one its figures count for).
    pub queue: String,
    pub attributes: CallAttributes,
    pub arrived_at: Timestamp,
    /// The answering agent's extension.
    pub agent: String,
}

/// Whose mailbox a caller ends in: the queue's (its voicemail timer, queue limit, night
/// service, a transfer to voicemail) or an agent's own (a transfer that rang out at an agent
/// with voicemail on, or went to an agent forwarded to voicemail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mailbox {
    Queue,
    Personal,
}

/// Where a call goes when a queue sends it away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    Queue(usize),
    Voicemail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub user: usize,
    pub disabled: bool,
}

pub struct Queue {
    pub name: String,
    pub extn: String,
    pub guid: Vec<u8>,
    pub ring_mode: RingMode,
    pub no_answer_ms: Millis,
    pub members: Vec<Member>,
    pub service_mode: QueueServiceMode,
    pub voicemail: bool,
    pub voicemail_after_ms: Option<Millis>,
    /// IP Office's Overflow Time.
    pub overflow_after_ms: Option<Millis>,
    /// The Overflow Group List (queue indexes).
    pub overflow_groups: Vec<usize>,
    pub overflow_mode: OverflowMode,
    /// Group overflow mode: a call of this queue has overflowed, so every queued call is
    /// presented to the overflow groups too, until the queue empties.
    pub in_overflow: bool,
    pub queue_limit: Option<u32>,
    /// Queues whose Overflow Group List names this one.
    pub overflow_sources: Vec<usize>,
    pub night_target: Dest,
    pub deleted: bool,
    /// Calls in the queue (waiting or ringing from it), in service order: higher priority
    /// first, then first come first served.
    waiting: BTreeSet<(Reverse<u8>, u64, SimCallId)>,
    rotary_last: Option<usize>,
    traffic: Option<Traffic>,
    /// Skills a call of this queue needs besides its language (proficiency rule).
    needs: Vec<String>,
}

impl Queue {
    /// Number of calls currently in the queue.
    pub fn waiting_count(&self) -> usize {
        self.waiting.len()
    }

    /// Calls in the queue in service order.
    pub fn waiting_calls(&self) -> impl Iterator<Item = SimCallId> + '_ {
        self.waiting.iter().map(|(_, _, c)| *c)
    }
}

pub struct Call {
    pub id: SimCallId,
    pub gcid: Vec<u8>,
    /// The IP Office of a resilient pair the call queues on (0 primary, 1 secondary): only
    /// that system's queue subscriptions show it (see [`Model::set_secondary_share`]).
    pub site: u8,
    pub attributes: CallAttributes,
    pub calling_name: String,
    pub origin_queue: usize,
    pub arrived_at: Timestamp,
    pub queue: Option<usize>,
    pub entered_queue_at: Timestamp,
    pub report_queue: Option<usize>,
    pub priority: u8,
    pub phase: CallPhase,
    pub ringing: Vec<usize>,
    pub agent: Option<usize>,
    pub answered: bool,
    pub overflowed: bool,
    /// Its queue's overflow time passed (call overflow mode): presented to the overflow
    /// groups' members as well as its own queue's.
    pub overflowing: bool,
    talk_ms: Millis,
    gen: u64,
    queue_gen: u64,
    seq: u64,
    tried: Vec<usize>,
    hops: u32,
}

impl Call {
    /// `featuresavailable` on a queue's view of this call.
    pub fn queue_features(&self) -> u32 {
        match self.phase {
            CallPhase::Queued | CallPhase::Ringing if self.queue.is_some() => {
                features::QUEUE_WAITING
            }
            // Ringing a user after a transfer: no longer in a queue, so no SetPriority.
            CallPhase::Ringing => features::QUEUE_WAITING & !Features::SET_PRIORITY,
            CallPhase::Connected => features::QUEUE_CONNECTED,
            CallPhase::Voicemail => features::QUEUE_VOICEMAIL,
            CallPhase::AfterCall => 0,
            CallPhase::Queued => features::QUEUE_WAITING,
        }
    }

    /// `featuresavailable` on `user`'s view of this call.
    pub fn user_features(&self, user: usize) -> u32 {
        match self.phase {
            CallPhase::Ringing if self.ringing.contains(&user) => features::USER_RINGING,
            CallPhase::Connected if self.agent == Some(user) => features::USER_CONNECTED,
            CallPhase::AfterCall if self.agent == Some(user) => features::USER_AFTER_CALL,
            _ => 0,
        }
    }

    /// Does `user` have an appearance of this call?
    pub fn involves_user(&self, user: usize) -> bool {
        match self.phase {
            CallPhase::Ringing => self.ringing.contains(&user),
            CallPhase::Connected | CallPhase::AfterCall => self.agent == Some(user),
            _ => false,
        }
    }

    /// Is the call waiting in `queue` (what an ephemeral subscription shows)?
    pub fn queueing_in(&self, queue: usize) -> bool {
        self.queue == Some(queue) && matches!(self.phase, CallPhase::Queued | CallPhase::Ringing)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ev {
    Arrival(usize),
    TraceArrival(usize),
    Schedule(usize),
    Answer {
        call: SimCallId,
        user: usize,
        gen: u64,
    },
    RingTimeout {
        call: SimCallId,
        gen: u64,
    },
    DirectNoAnswer {
        call: SimCallId,
        gen: u64,
    },
    TalkEnd {
        call: SimCallId,
        gen: u64,
    },
    WrapEnd {
        user: usize,
        gen: u64,
    },
    Abandon {
        call: SimCallId,
    },
    Overflow {
        call: SimCallId,
        queue_gen: u64,
    },
    QueueVoicemail {
        call: SimCallId,
        queue_gen: u64,
    },
    VoicemailEnd {
        call: SimCallId,
        gen: u64,
    },
}

/// Extension lookup: users and queues share IP Office's dial plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ext {
    User(usize),
    Queue(usize),
}

pub struct Model {
    now: Timestamp,
    users: Vec<User>,
    queues: Vec<Queue>,
    calls: BTreeMap<SimCallId, Call>,
    extensions: HashMap<String, Ext>,
    queue_names: HashMap<String, usize>,
    events: Scheduler<Ev>,
    schedule: Vec<ScheduleEntry>,
    trace: Vec<TraceCall>,
    stats: Vec<QueueStats>,
    observed: Observed,
    sl_ms: Millis,
    /// `sim.in_time_first`: free agents serve callers within `sl_ms` first.
    in_time_first: bool,
    voicemail_message: Dist,
    defaults: AgentDefaults,
    /// `k` of the proficiency rule.
    skill_talk_factor: f64,
    misc_rng: ChaCha8Rng,
    seed: u64,
    next_call: SimCallId,
    next_seq: u64,
    version: u64,
    recording: bool,
    /// No new Poisson callers (a simulation winding down to quiescence).
    arrivals_stopped: bool,
    /// A resilient pair: the share of callers arriving on the secondary's trunks, the systems
    /// that are down, and the draw of each caller's system (a stream of its own, so a world
    /// with a pair keeps every other draw of its seed).
    sites: sites::Sites,
    /// Transfers to a user, with whether the call was already ringing, while someone
    /// watches who sends them (the simulation's twin of engines); `None`: not kept.
    transfer_log: Option<Vec<(SimCallId, bool)>>,
    /// Every answer, when asked for (`sim.answer_log`, [`Model::keep_answer_log`]).
    answer_log: Option<Vec<Answer>>,
    /// What each change touched, for protocol sessions to render only what it concerns.
    journal: journal::Journal,
    dirty_calls: BTreeSet<SimCallId>,
    dirty_users: BTreeSet<usize>,
    dirty_queues: BTreeSet<usize>,
    gone: Vec<ModelNotification>,
    notifications: Vec<(Timestamp, ModelNotification)>,
}

struct AgentDefaults {
    answer_delay: Dist,
    no_answer_probability: f64,
    wrap_up: Dist,
}

/// A GUID derived from a name, so the same scenario always shows the same GUIDs.
fn guid_for(kind: &str, key: &str) -> Vec<u8> {
    let digest = Sha256::digest(format!("{kind}:{key}").as_bytes());
    digest[..16].to_vec()
}

fn service_mode(spec: ServiceModeSpec) -> QueueServiceMode {
    match spec {
        ServiceModeSpec::Active => QueueServiceMode::Active,
        ServiceModeSpec::NightService => QueueServiceMode::NightService,
        ServiceModeSpec::OutOfService => QueueServiceMode::OutOfService,
    }
}

/// Derives independent, reproducible random streams from the scenario seed.
fn stream(seed: u64, kind: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(kind.wrapping_mul(1_000_003).wrapping_add(index));
    rng
}

impl Model {
    /// Builds the model from a validated scenario, with traffic and schedules queued at time 0.
    pub fn new(scenario: &Scenario) -> Result<Model, SimError> {
        scenario.validate()?;
        let seed = scenario.sim.seed;
        let s = &scenario.sim;
        let mut model = Model {
            now: Timestamp::ZERO,
            users: Vec::new(),
            queues: Vec::new(),
            calls: BTreeMap::new(),
            extensions: HashMap::new(),
            queue_names: HashMap::new(),
            events: Scheduler::default(),
            schedule: scenario.schedule.clone(),
            trace: Vec::new(),
            stats: Vec::new(),
            observed: Observed::default(),
            sl_ms: seconds_to_ms(s.service_level_s),
            in_time_first: s.in_time_first,
            voicemail_message: s.voicemail_message.clone(),
            defaults: AgentDefaults {
                answer_delay: s.answer_delay.clone(),
                no_answer_probability: s.no_answer_probability,
                wrap_up: s.wrap_up.clone(),
            },
            skill_talk_factor: s.skill_talk_factor,
            misc_rng: stream(seed, 3, 0),
            seed,
            next_call: 1,
            next_seq: 0,
            version: 0,
            recording: false,
            arrivals_stopped: false,
            sites: sites::Sites::new(stream(seed, 4, 0)),
            transfer_log: None,
            answer_log: s.answer_log.then(Vec::new),
            journal: journal::Journal::new(0),
            dirty_calls: BTreeSet::new(),
            dirty_users: BTreeSet::new(),
            dirty_queues: BTreeSet::new(),
            gone: Vec::new(),
            notifications: Vec::new(),
        };
        for u in &scenario.users {
            model.push_user(u);
        }
        for (i, q) in scenario.queues.iter().enumerate() {
            model.queue_names.insert(q.name.clone(), i);
            model.extensions.insert(q.extn.clone(), Ext::Queue(i));
        }
        for (i, q) in scenario.queues.iter().enumerate() {
            let dest = |name: &Option<String>| match name.as_deref() {
                None | Some("voicemail") => Dest::Voicemail,
                Some(n) => model
                    .queue_names
                    .get(n)
                    .map(|&i| Dest::Queue(i))
                    .unwrap_or(Dest::Voicemail),
            };
            let members = q
                .members
                .iter()
                .filter_map(|m| match model.extensions.get(m) {
                    Some(Ext::User(u)) => Some(Member {
                        user: *u,
                        disabled: q.disabled_members.contains(m),
                    }),
                    _ => None,
                })
                .collect();
            let traffic = match &q.traffic {
                Some(t) => Some(Traffic::new(t, stream(seed, 1, i as u64))?),
                None => None,
            };
            model.queues.push(Queue {
                name: q.name.clone(),
                extn: q.extn.clone(),
                guid: guid_for("queue", &q.name),
                ring_mode: q.ring_mode,
                no_answer_ms: seconds_to_ms(q.no_answer_s),
                members,
                service_mode: service_mode(q.service_mode),
                voicemail: q.voicemail,
                voicemail_after_ms: q.voicemail_after_s.map(seconds_to_ms),
                overflow_after_ms: q.overflow_after_s.map(seconds_to_ms),
                // Filled in below, once every queue has an index.
                overflow_groups: Vec::new(),
                overflow_mode: q.overflow_mode,
                in_overflow: false,
                queue_limit: q.queue_limit,
                overflow_sources: Vec::new(),
                night_target: dest(&q.night_service_to),
                deleted: false,
                waiting: BTreeSet::new(),
                rotary_last: None,
                traffic,
                needs: q
                    .traffic
                    .as_ref()
                    .map(|t| t.needs.clone())
                    .unwrap_or_default(),
            });
            model.stats.push(QueueStats::default());
        }
        for (i, q) in scenario.queues.iter().enumerate() {
            let groups: Vec<usize> = q
                .overflow_to
                .iter()
                .filter_map(|n| model.queue_names.get(n).copied())
                .collect();
            for &g in &groups {
                model.queues[g].overflow_sources.push(i);
            }
            model.queues[i].overflow_groups = groups;
        }
        for i in 0..model.queues.len() {
            model.schedule_next_arrival(i);
        }
        if let Some(path) = &scenario.sim.trace_file {
            let path = scenario.base_dir.join(path);
            model.trace = traffic::load_trace(&path, &model.queue_names)?;
            for (i, t) in model.trace.iter().enumerate() {
                model.events.schedule(t.at, Ev::TraceArrival(i));
            }
        }
        for (i, e) in model.schedule.iter().enumerate() {
            model
                .events
                .schedule(Timestamp(seconds_to_ms(e.at_s)), Ev::Schedule(i));
        }
        Ok(model)
    }

    fn push_user(&mut self, u: &UserSpec) -> usize {
        let idx = self.users.len();
        self.users.push(User {
            extn: u.extn.clone(),
            name: u.name.clone(),
            full_name: u.full_name.clone(),
            guid: guid_for("user", &u.extn),
            language: u.language.clone(),
            logged_in: u.logged_in,
            dnd: u.dnd,
            fwdu: false,
            fwdhg: true,
            phone_fault: u.phone_fault,
            voicemail: u.voicemail,
            deleted: false,
            activity: Activity::Idle,
            idle_since: self.now,
            no_answer_ms: seconds_to_ms(u.no_answer_s),
            answer_delay: u
                .answer_delay
                .clone()
                .unwrap_or_else(|| self.defaults.answer_delay.clone()),
            no_answer_probability: u
                .no_answer_probability
                .unwrap_or(self.defaults.no_answer_probability),
            wrap_up: u.wrap_up.clone(),
            skills: u.skills.clone(),
            wrap_gen: 0,
            rng: stream(self.seed, 2, idx as u64),
        });
        self.extensions.insert(u.extn.clone(), Ext::User(idx));
        idx
    }

    // ----------------------------------------------------------------------------------------
    // Observation

    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Increases on every change: observers compare it to know whether to look again.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// What changed after `version` (see [`journal`]); `None` when the journal no longer
    /// reaches back that far, and the caller must look at everything.
    pub fn changes_since(&self, version: u64) -> Option<impl Iterator<Item = Touched> + '_> {
        self.journal.since(version)
    }

    pub fn users(&self) -> &[User] {
        &self.users
    }

    pub fn queues(&self) -> &[Queue] {
        &self.queues
    }

    pub fn calls(&self) -> impl Iterator<Item = &Call> {
        self.calls.values()
    }

    pub fn call(&self, id: SimCallId) -> Option<&Call> {
        self.calls.get(&id)
    }

    pub fn user_by_extn(&self, extn: &str) -> Option<usize> {
        match self.extensions.get(extn) {
            Some(Ext::User(u)) if !self.users[*u].deleted => Some(*u),
            _ => None,
        }
    }

    pub fn user_by_guid(&self, guid: &[u8]) -> Option<usize> {
        self.users.iter().position(|u| !u.deleted && u.guid == guid)
    }

    pub fn queue_by_name(&self, name: &str) -> Option<usize> {
        self.queue_names
            .get(name)
            .copied()
            .filter(|&q| !self.queues[q].deleted)
    }

    pub fn queue_by_guid(&self, guid: &[u8]) -> Option<usize> {
        self.queues
            .iter()
            .position(|q| !q.deleted && q.guid == guid)
    }

    /// Turns notification recording on or off (off costs nothing: the Erlang runs use it).
    pub fn set_recording(&mut self, on: bool) {
        self.recording = on;
    }

    /// The notifications produced since the last call, each with the virtual time it happened.
    pub fn take_notifications(&mut self) -> Vec<(Timestamp, ModelNotification)> {
        std::mem::take(&mut self.notifications)
    }

    /// Complete snapshots of everything, for a router that starts late.
    pub fn full_snapshot(&self) -> Vec<ModelNotification> {
        let mut out = Vec::new();
        for u in self.users.iter().filter(|u| !u.deleted) {
            out.push(ModelNotification::User(self.user_snapshot(u)));
        }
        for q in 0..self.queues.len() {
            if !self.queues[q].deleted {
                out.push(ModelNotification::Queue(self.queue_snapshot(q)));
            }
        }
        for c in self.calls.values() {
            out.push(ModelNotification::Call(self.call_snapshot(c)));
        }
        out
    }

    pub fn call_snapshot(&self, c: &Call) -> CallSnapshot {
        let name = |q: Option<usize>| q.and_then(|q| self.queues.get(q)).map(|q| q.name.clone());
        let extn = |u: usize| {
            self.users
                .get(u)
                .map(|u| u.extn.clone())
                .unwrap_or_default()
        };
        CallSnapshot {
            call: c.id,
            attributes: c.attributes.clone(),
            phase: c.phase,
            queue: name(c.queue),
            report_queue: name(c.report_queue),
            ringing: c.ringing.iter().map(|&u| extn(u)).collect(),
            agent: c.agent.map(extn),
            priority: c.priority,
            queue_features: Features(c.queue_features()),
            arrived_at: c.arrived_at,
        }
    }

    pub fn user_snapshot(&self, u: &User) -> UserSnapshot {
        UserSnapshot {
            extn: u.extn.clone(),
            name: u.name.clone(),
            logged_in: u.logged_in,
            dnd: u.dnd,
            forwarded: u.fwdu,
            phone_fault: u.phone_fault,
            phone: u.phone_state(),
        }
    }

    pub fn queue_snapshot(&self, q: usize) -> QueueSnapshot {
        let queue = &self.queues[q];
        QueueSnapshot {
            name: queue.name.clone(),
            extn: queue.extn.clone(),
            members: queue
                .members
                .iter()
                .map(|m| QueueMember {
                    agent: acd_core::AgentId(self.users[m.user].extn.clone()),
                    enabled: !m.disabled,
                })
                .collect(),
            service_mode: queue.service_mode,
        }
    }

    pub fn status(&self) -> Status {
        let mut st = Status {
            now: self.now,
            ..Status::default()
        };
        for s in &self.stats {
            st.offered += s.offered;
            st.answered += s.answered;
            st.abandoned += s.abandoned;
        }
        st.waiting = self.queues.iter().map(|q| q.waiting.len() as u64).sum();
        for u in self.users.iter().filter(|u| !u.deleted) {
            if u.available() {
                st.agents_available += 1;
            } else if u.activity != Activity::Idle {
                st.agents_busy += 1;
            }
        }
        st
    }

    pub fn summary(&self) -> SimSummary {
        let mut summary = SimSummary::build(
            self.now.as_millis(),
            self.sl_ms,
            self.queues
                .iter()
                .zip(&self.stats)
                .map(|(q, s)| (q.name.as_str(), s)),
        );
        summary.observed = self.observed.clone();
        summary
    }

    /// Raw counters per queue (origin queue of each call), in scenario order.
    pub fn queue_stats(&self) -> impl Iterator<Item = (&str, &QueueStats)> {
        self.queues
            .iter()
            .zip(&self.stats)
            .map(|(q, s)| (q.name.as_str(), s))
    }

    // ----------------------------------------------------------------------------------------
    // Time

    /// From now on no new Poisson caller arrives; calls already in progress go on.
    pub fn stop_arrivals(&mut self) {
        self.arrivals_stopped = true;
    }

    /// When the next internal event is due.
    pub fn next_event_at(&self) -> Option<Timestamp> {
        self.events.next_at()
    }

    /// Runs every event due at or before `t`, then sets the clock to `t`.
    pub fn advance_to(&mut self, t: Timestamp) {
        while let Some((at, ev)) = self.events.pop_due(t) {
            self.now = self.now.max(at);
            self.handle(ev);
            self.flush();
        }
        self.now = self.now.max(t);
    }

    /// The caller of the call with global id `gcid` hangs up now, whatever the call is doing:
    /// a fault the simulation injects at a chosen moment (while the engine transfers the call,
    /// say), not one drawn from the traffic. Counted as abandoned unless someone answered it.
    /// Returns whether such a call existed.
    pub fn hang_up(&mut self, gcid: &[u8]) -> bool {
        let Some((id, waiting)) = self
            .calls
            .iter()
            .find(|(_, c)| c.gcid == gcid)
            .map(|(id, c)| {
                let waiting =
                    !c.answered && matches!(c.phase, CallPhase::Queued | CallPhase::Ringing);
                (*id, waiting)
            })
        else {
            return false;
        };
        if waiting {
            self.on_abandon(id);
        } else {
            self.drop_call(id);
        }
        self.flush();
        true
    }

    /// Keeps a log of every answer from now on, for [`Model::answers`].
    pub fn keep_answer_log(&mut self) {
        self.answer_log.get_or_insert_with(Vec::new);
    }

    /// Every answer since the log was asked for, in order (empty when it was not).
    pub fn answers(&self) -> &[Answer] {
        self.answer_log.as_deref().unwrap_or_default()
    }

    /// Keeps a log of transfers to users from now on, for [`Model::take_transfers`].
    pub fn log_transfers(&mut self) {
        self.transfer_log.get_or_insert_with(Vec::new);
    }

    /// The transfers to a user since the last call, each with whether the call was already
    /// ringing at an agent (a second router acting on it).
    pub fn take_transfers(&mut self) -> Vec<(SimCallId, bool)> {
        self.transfer_log
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Applies an action at the current time and returns IP Office's result code.
    pub fn apply(&mut self, action: ModelAction) -> ResultCode {
        let name = action.name();
        let code = self.apply_action(action);
        self.observed.record_command(name, code.code());
        self.flush();
        code
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Arrival(q) => {
                if !self.arrivals_stopped {
                    self.poisson_arrival(q)
                }
            }
            Ev::TraceArrival(i) => self.trace_arrival(i),
            Ev::Schedule(i) => self.run_schedule(i),
            Ev::Answer { call, user, gen } => self.on_answer(call, user, gen),
            Ev::RingTimeout { call, gen } => self.on_ring_timeout(call, gen),
            Ev::DirectNoAnswer { call, gen } => self.on_direct_no_answer(call, gen),
            Ev::TalkEnd { call, gen } => self.on_talk_end(call, gen),
            Ev::WrapEnd { user, gen } => self.on_wrap_end(user, gen),
            Ev::Abandon { call } => self.on_abandon(call),
            Ev::Overflow { call, queue_gen } => self.on_queue_timer(call, queue_gen, true),
            Ev::QueueVoicemail { call, queue_gen } => self.on_queue_timer(call, queue_gen, false),
            Ev::VoicemailEnd { call, gen } => {
                if self.calls.get(&call).is_some_and(|c| c.gen == gen) {
                    self.remove_call(call);
                }
            }
        }
    }

    fn run_schedule(&mut self, i: usize) {
        let Some(entry) = self.schedule.get(i).cloned() else {
            return;
        };
        let Some(u) = self.user_by_extn(&entry.user) else {
            return;
        };
        use super::scenario::ScheduleAction::*;
        let user = &mut self.users[u];
        match entry.action {
            Login => user.logged_in = true,
            Logout => user.logged_in = false,
            DndOn => user.dnd = true,
            DndOff => user.dnd = false,
        }
        self.touch_user(u);
        self.dispatch_agent(u);
    }

    // ----------------------------------------------------------------------------------------
    // Change tracking

    fn touch_call(&mut self, id: SimCallId) {
        self.version += 1;
        self.journal.record(self.version, Touched::Call(id));
        if self.recording {
            self.dirty_calls.insert(id);
        }
    }

    fn touch_user(&mut self, u: usize) {
        self.version += 1;
        self.journal.record(self.version, Touched::User(u));
        if self.recording {
            self.dirty_users.insert(u);
        }
    }

    fn touch_queue(&mut self, q: usize) {
        self.version += 1;
        self.journal.record(self.version, Touched::Queue(q));
        if self.recording {
            self.dirty_queues.insert(q);
        }
    }

    fn flush(&mut self) {
        if !self.recording {
            return;
        }
        let now = self.now;
        for q in std::mem::take(&mut self.dirty_queues) {
            if !self.queues[q].deleted {
                let snap = ModelNotification::Queue(self.queue_snapshot(q));
                self.notifications.push((now, snap));
            }
        }
        for u in std::mem::take(&mut self.dirty_users) {
            if !self.users[u].deleted {
                let snap = ModelNotification::User(self.user_snapshot(&self.users[u]));
                self.notifications.push((now, snap));
            }
        }
        for id in std::mem::take(&mut self.dirty_calls) {
            if let Some(c) = self.calls.get(&id) {
                let snap = ModelNotification::Call(self.call_snapshot(c));
                self.notifications.push((now, snap));
            }
        }
        for n in std::mem::take(&mut self.gone) {
            self.notifications.push((now, n));
        }
    }

    fn remove_call(&mut self, id: SimCallId) {
        if let Some(c) = self.calls.remove(&id) {
            if let Some(q) = c.queue {
                self.queues[q]
                    .waiting
                    .remove(&(Reverse(c.priority), c.seq, id));
            }
            self.version += 1;
            self.journal.record(self.version, Touched::Call(id));
            if self.recording {
                self.dirty_calls.remove(&id);
                self.gone.push(ModelNotification::CallGone { call: id });
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // Administration (what a system administrator would change in IP Office Manager)

    /// Adds a user (shows up as `adduser` on lines subscriptions).
    pub fn add_user(&mut self, spec: &UserSpec) -> Result<(), SimError> {
        if self.extensions.contains_key(&spec.extn) {
            return Err(SimError::Scenario(format!(
                "extension {} already exists",
                spec.extn
            )));
        }
        let u = self.push_user(spec);
        self.touch_user(u);
        self.journal.record(self.version, Touched::Everything);
        self.flush();
        Ok(())
    }

    /// Deletes a queue: its calls go to voicemail, subscriptions on it are terminated.
    pub fn delete_queue(&mut self, name: &str) -> Result<(), SimError> {
        let q = self
            .queue_by_name(name)
            .ok_or_else(|| SimError::Scenario(format!("no queue named {name}")))?;
        let calls: Vec<SimCallId> = self.queues[q].waiting_calls().collect();
        for c in calls {
            self.leave_queue(c);
            self.send_to_voicemail(c);
        }
        self.queues[q].deleted = true;
        self.version += 1;
        self.journal.record(self.version, Touched::Everything);
        if self.recording {
            self.gone.push(ModelNotification::QueueDeleted {
                name: name.to_string(),
            });
        }
        self.flush();
        Ok(())
    }

    /// Deletes a user (shows up as `deleteuser`; the user's calls are dropped).
    pub fn delete_user(&mut self, extn: &str) -> Result<(), SimError> {
        let u = self
            .user_by_extn(extn)
            .ok_or_else(|| SimError::Scenario(format!("no user with extension {extn}")))?;
        let involved: Vec<SimCallId> = self
            .calls
            .values()
            .filter(|c| c.involves_user(u))
            .map(|c| c.id)
            .collect();
        for c in involved {
            self.drop_call(c);
        }
        for q in &mut self.queues {
            q.members.retain(|m| m.user != u);
        }
        self.users[u].deleted = true;
        self.version += 1;
        self.journal.record(self.version, Touched::Everything);
        if self.recording {
            self.gone.push(ModelNotification::UserDeleted {
                extn: extn.to_string(),
            });
        }
        self.flush();
        Ok(())
    }
}
