//! One MT-CTI3 connection: subscriptions, commands, NotifyAck gating and timeouts.
//!
//! A session never queues events. Whenever the model changes (or an ack arrives) it renders
//! what each subscription should show and sends the difference from what it showed last as
//! one Notify carrying a `notify_id`; until that Notify is acked the subscription sends
//! nothing more, and later changes are folded into the next snapshot, as IP Office does.
//!
//! Rendering is a pure function of the model, so a subscription can only have something new
//! to show when the model changed something it looks at, when it was just made, or when its
//! ack arrived (it may have skipped changes while waiting). A flush renders only those, and
//! of a subscription's calls only those that changed: the model's journal names what each
//! change touched, and [`super::interest`] which subscriptions that concerns. Rendering every
//! subscription against every live call on every change made the simulator, not the engine,
//! the bottleneck of every load test; a full render is still what a fresh subscription, an
//! added or deleted user or queue, or a journal that no longer reaches back gets.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use acd_core::Timestamp;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use super::faults::{malformed_frame, CommandFaults, ConnFault};
use super::interest::{Concern, Interest, Pending};
use super::render;
use super::Shared;
use crate::model::{Model, ModelAction, ResultCode, SimCallId, Touched, View};
use acd_wire::flags::lines as lines_flags;
use acd_wire::framing::{self, Framing, DEFAULT_MAX_FRAME_BYTES};
use acd_wire::pb;
use pb::call_function::Action;

/// Callids of successive restarts live in disjoint ranges of this size.
const CALLID_EPOCH_SPAN: i32 = 1_000_000;
/// Presence subscriptions must ask for a timeout in this range (seconds).
const PRESENCE_TIMEOUT_S: std::ops::RangeInclusive<i32> = 60..=86_400;
/// CallLost reason "normal clearing".
const REASON_NORMAL: i32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubKind {
    Lines {
        flags: i32,
    },
    User {
        user: usize,
        ccflags: i32,
    },
    Queue {
        queue: usize,
        flags: i32,
        ccflags: i32,
    },
}

#[derive(Default)]
struct Shown {
    lines_users: BTreeMap<Vec<u8>, pb::LinesUser>,
    lines_queues: BTreeMap<Vec<u8>, pb::LinesQueue>,
    user: Option<pb::NotifyUser>,
    queue: Option<pb::NotifyQueue>,
    /// Calls currently shown: model id -> (callid on this subscription, last CallInfo).
    calls: BTreeMap<SimCallId, (i32, pb::CallInfo)>,
}

struct Subscription {
    kind: SubKind,
    expires: Option<Timestamp>,
    awaiting_ack: Option<i32>,
    next_notify_id: i32,
    /// Nothing has been sent yet: the first Notify goes out even if it is empty.
    fresh: bool,
    shown: Shown,
    /// What changed since it last rendered (kept while it waits for an ack).
    pending: Pending,
}

impl Subscription {
    /// Does it show calls at all (ccflags set on a user or queue subscription)?
    fn shows_calls(&self) -> bool {
        match self.kind {
            SubKind::Lines { .. } => false,
            SubKind::User { ccflags, .. } | SubKind::Queue { ccflags, .. } => ccflags != 0,
        }
    }
}

/// The protocol side of one simulated IP Office connection, without I/O: frames in, frames
/// out, the model read and changed by the caller's lock. The tokio server below and the
/// deterministic simulation both drive it.
pub struct SimConnection {
    framing: Framing,
    /// Which system of a resilient pair this connection is to: its queue subscriptions show
    /// only the calls queueing there (users and their calls are shown by both).
    site: u8,
    subs: BTreeMap<i32, Subscription>,
    next_callid: i32,
    outbox: Vec<Vec<u8>>,
    delayed: Vec<(Timestamp, Vec<u8>)>,
    /// The model version of the last flush; `None` before the first one.
    flushed_version: Option<u64>,
    /// Subscriptions with something pending, to render at the next flush (in id order, as a
    /// full render would).
    dirty: BTreeSet<i32>,
    /// Which subscriptions each user, queue and shown call concerns.
    interest: Interest,
    /// Subscriptions rendered so far (tests count them to check the flush stays incremental).
    renders: u64,
    /// NotifyAcks received since the caller last took the count.
    pub acks: u64,
    /// No subscription expires before this (it may be earlier than the true first expiry:
    /// waking early only costs a check). Saves scanning every subscription per frame.
    expiry_bound: Option<Timestamp>,
}

fn msg(payload: pb::message::Payload) -> pb::Message {
    pb::Message {
        payload: Some(payload),
    }
}

pub(super) async fn run<S>(
    ws: WebSocketStream<S>,
    framing: Framing,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    site: u8,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    let epoch = shared.epoch.load(Ordering::SeqCst);
    let mut session = SimConnection::for_site(framing, epoch, site);
    let started = Instant::now();
    let clock = || Timestamp(started.elapsed().as_millis() as u64);
    let mut changed = shared.changed.subscribe();
    let mut faults = shared.conn_faults.subscribe();
    let far = Duration::from_secs(86_400);
    'conn: loop {
        let deadline = session.next_deadline().map_or_else(
            || Instant::now() + far,
            |t| started + Duration::from_millis(t.0),
        );
        tokio::select! {
            m = stream.next() => match m {
                Some(Ok(WsMessage::Binary(bytes))) => {
                    let faults = *shared.command_faults();
                    let mut model = shared.model();
                    let outcome = session.on_frame(clock(), &bytes, &mut model, faults);
                    shared.acks_in.fetch_add(std::mem::take(&mut session.acks), Ordering::Relaxed);
                    let version = model.version();
                    drop(model);
                    if outcome.rejected {
                        shared.command_faults().consume_rejection();
                    }
                    shared.publish(version);
                }
                Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => break 'conn,
                Some(Ok(_)) => {}
            },
            r = changed.changed() => if r.is_err() { break 'conn },
            f = faults.recv() => match f {
                Ok(ConnFault::Drop) | Err(broadcast::error::RecvError::Closed) => break 'conn,
                Ok(ConnFault::DropSite(s)) if s == site => break 'conn,
                Ok(ConnFault::DropSite(_)) => {}
                Ok(ConnFault::TerminateSubscriptions) => session.terminate_all("terminated"),
                Ok(ConnFault::Malformed) => session.push_malformed(),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
            },
            _ = tokio::time::sleep_until(deadline) => session.on_timer(clock()),
            _ = shutdown.changed() => break 'conn,
        }
        session.flush(&shared.model());
        let due = session.take_due(clock());
        if due.is_empty() {
            continue;
        }
        shared
            .frames_out
            .fetch_add(due.len() as u64, Ordering::Relaxed);
        // Fed then flushed once: a flush per frame cost a write per notify.
        for bytes in due {
            if sink.feed(WsMessage::Binary(bytes.into())).await.is_err() {
                break 'conn;
            }
        }
        if sink.flush().await.is_err() {
            break 'conn;
        }
    }
    // Dropping the sink and stream closes the TCP connection (abruptly for a Drop fault).
}

/// What one incoming frame did, for the caller's bookkeeping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameOutcome {
    /// A command was refused by a `reject` fault (one fewer left to reject).
    pub rejected: bool,
}

impl SimConnection {
    /// A new connection; `epoch` counts IP Office restarts (callids differ per epoch).
    pub fn new(framing: Framing, epoch: i32) -> SimConnection {
        SimConnection {
            framing,
            site: 0,
            subs: BTreeMap::new(),
            next_callid: 1 + epoch.wrapping_mul(CALLID_EPOCH_SPAN),
            outbox: Vec::new(),
            delayed: Vec::new(),
            flushed_version: None,
            dirty: BTreeSet::new(),
            interest: Interest::default(),
            renders: 0,
            acks: 0,
            expiry_bound: None,
        }
    }

    /// A connection to the given system of a resilient pair (see `Model::set_secondary_share`).
    pub fn for_site(framing: Framing, epoch: i32, site: u8) -> SimConnection {
        SimConnection {
            site,
            ..SimConnection::new(framing, epoch)
        }
    }

    /// Queues a frame no client can read (the malformed-frame fault).
    pub fn push_malformed(&mut self) {
        self.outbox.push(malformed_frame(self.framing));
    }

    /// When `on_timer` next has something to do (an expiry or a held-back response).
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let delayed = self.delayed.iter().map(|(at, _)| *at);
        self.expiry_bound.into_iter().chain(delayed).min()
    }

    fn send(&mut self, m: pb::Message) {
        self.outbox.push(framing::encode(&m, self.framing));
    }

    /// Frames to send now: those queued, and held-back responses whose time has come.
    pub fn take_due(&mut self, now: Timestamp) -> Vec<Vec<u8>> {
        let mut out = std::mem::take(&mut self.outbox);
        if self.delayed.is_empty() {
            return out;
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.delayed)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.delayed = later;
        out.extend(due.into_iter().map(|(_, b)| b));
        out
    }

    fn respond(&mut self, now: Timestamp, requestid: i32, code: ResultCode, delay: Duration) {
        if requestid == 0 {
            return;
        }
        let m = msg(pb::message::Payload::Response(pb::RequestResponse {
            requestid,
            result: code.code(),
            additional: String::new(),
        }));
        if delay.is_zero() {
            self.send(m);
        } else {
            let bytes = framing::encode(&m, self.framing);
            self.delayed.push((now + delay, bytes));
        }
    }

    /// Expires subscriptions whose timeout passed.
    pub fn on_timer(&mut self, now: Timestamp) {
        let expired: Vec<i32> = self
            .subs
            .iter()
            .filter(|(_, s)| s.expires.is_some_and(|e| e <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.remove_sub(id);
            self.send_terminated(id, "subscription timed out");
        }
        self.expiry_bound = self.subs.values().filter_map(|s| s.expires).min();
    }

    /// A subscription's expiry was set: the bound must not be later than it.
    fn expires_at(&mut self, at: Option<Timestamp>) {
        if let Some(at) = at {
            self.expiry_bound = Some(self.expiry_bound.map_or(at, |b| b.min(at)));
        }
    }

    fn send_terminated(&mut self, subscribe_id: i32, reason: &str) {
        self.send(msg(pb::message::Payload::Subscribeterminated(
            pb::SubscribeTerminated {
                subscribe_id,
                reason: reason.to_string(),
            },
        )));
    }

    /// Sends SubscribeTerminated for every subscription and forgets them.
    pub fn terminate_all(&mut self, reason: &str) {
        let ids: Vec<i32> = self.subs.keys().copied().collect();
        self.subs.clear();
        self.interest = Interest::default();
        self.dirty.clear();
        for id in ids {
            self.send_terminated(id, reason);
        }
    }

    /// One binary message from the client. Commands change `model`; the caller publishes
    /// the model's new version so every connection flushes.
    pub fn on_frame(
        &mut self,
        now: Timestamp,
        bytes: &[u8],
        model: &mut Model,
        faults: CommandFaults,
    ) -> FrameOutcome {
        let mut outcome = FrameOutcome::default();
        let m = match framing::decode(bytes, self.framing, DEFAULT_MAX_FRAME_BYTES) {
            Ok(m) => m,
            Err(e) => {
                // IP Office cannot answer a message it cannot read (no requestid to use).
                tracing::debug!("simulator ignored an undecodable message: {e}");
                return outcome;
            }
        };
        let delay = faults.response_delay;
        use pb::message::Payload as P;
        match m.payload {
            Some(P::Subscribe(s)) => {
                let code = self.subscribe(now, &s, model);
                self.respond(now, s.requestid, code, delay);
            }
            Some(P::Subscribecmd(c)) => {
                let code = match faults.reject {
                    Some((code, _)) => {
                        outcome.rejected = true;
                        code
                    }
                    None => self.command(now, &c, model),
                };
                self.respond(now, c.requestid, code, delay);
            }
            Some(P::Subscribeend(e)) => {
                let code = if self.remove_sub(e.subscribe_id).is_some() {
                    ResultCode::Success
                } else {
                    ResultCode::SubscriptionInvalidId
                };
                self.respond(now, e.requestid, code, delay);
            }
            Some(P::Notifyack(a)) => self.ack(&a),
            Some(P::Generalcmd(g)) => {
                let code = match g.payload {
                    Some(pb::general_cmd::Payload::Getfile(_)) => ResultCode::NotFound,
                    None => ResultCode::GenCmdInvalidPayload,
                };
                self.respond(now, g.requestid, code, delay);
            }
            // Messages only IP Office sends, or an empty envelope: nothing to do.
            _ => {}
        }
        outcome
    }

    /// Forgets a subscription and everything indexed about it.
    fn remove_sub(&mut self, id: i32) -> Option<Subscription> {
        let sub = self.subs.remove(&id)?;
        let (user, queue) = match sub.kind {
            SubKind::User { user, .. } => (Some(user), None),
            SubKind::Queue { queue, .. } => (None, Some(queue)),
            SubKind::Lines { .. } => (None, None),
        };
        self.interest
            .forget(id, user, queue, sub.shown.calls.keys().copied());
        self.dirty.remove(&id);
        Some(sub)
    }

    fn ack(&mut self, a: &pb::NotifyAck) {
        self.acks += 1;
        if let Some(s) = self.subs.get_mut(&a.subscribe_id) {
            if s.awaiting_ack == Some(a.notify_id) {
                s.awaiting_ack = None;
                // Changes it skipped while waiting go out at the next flush.
                self.dirty.insert(a.subscribe_id);
            }
        }
    }

    fn subscribe(&mut self, now: Timestamp, s: &pb::Subscribe, model: &Model) -> ResultCode {
        use pb::subscribe::Payload as P;
        if s.timeout < 0 {
            return ResultCode::SubscriptionTimeoutTooSmall;
        }
        let expires =
            (s.timeout > 0).then(|| now + Duration::from_secs(u64::from(s.timeout.unsigned_abs())));
        // Recorded even if the request fails below: an early wake-up is harmless.
        self.expires_at(expires);
        let Some(payload) = &s.payload else {
            // A refresh: same subscribe_id, only a new timeout.
            return match self.subs.get_mut(&s.subscribe_id) {
                Some(sub) => {
                    sub.expires = expires;
                    ResultCode::Success
                }
                None => ResultCode::SubscriptionInvalidId,
            };
        };
        if self.subs.contains_key(&s.subscribe_id) {
            return ResultCode::SubscriptionInvalidId;
        }
        let kind = match payload {
            P::Lines(l) => {
                if self
                    .subs
                    .values()
                    .any(|s| matches!(s.kind, SubKind::Lines { .. }))
                {
                    return ResultCode::TooMany;
                }
                SubKind::Lines { flags: l.flags }
            }
            P::User(u) => match model.user_by_guid(&u.guid) {
                Some(user) => SubKind::User {
                    user,
                    ccflags: u.ccflags,
                },
                None => return ResultCode::UserNotFound,
            },
            P::Queue(q) => {
                let found = if q.guid.is_empty() {
                    model.queue_by_name(&q.name)
                } else {
                    model.queue_by_guid(&q.guid)
                };
                match found {
                    Some(queue) => SubKind::Queue {
                        queue,
                        flags: q.flags,
                        ccflags: q.ccflags,
                    },
                    None => return ResultCode::NotFound,
                }
            }
            P::Presence(_) => {
                if !PRESENCE_TIMEOUT_S.contains(&s.timeout) {
                    return ResultCode::SubscriptionTimeoutTooSmall;
                }
                return ResultCode::ServiceNotAvailable;
            }
            P::Parkserver(_) | P::Refreshwrapper(_) => return ResultCode::ServiceNotAvailable,
        };
        self.subs.insert(
            s.subscribe_id,
            Subscription {
                kind,
                expires,
                awaiting_ack: None,
                next_notify_id: 1,
                fresh: true,
                shown: Shown::default(),
                pending: Pending {
                    all: true,
                    ..Pending::default()
                },
            },
        );
        match kind {
            SubKind::User { user, .. } => self.interest.watch_user(user, s.subscribe_id),
            SubKind::Queue { queue, .. } => self.interest.watch_queue(queue, s.subscribe_id),
            SubKind::Lines { .. } => {}
        }
        self.dirty.insert(s.subscribe_id);
        ResultCode::Success
    }

    fn command(&mut self, now: Timestamp, c: &pb::SubscribeCmd, model: &mut Model) -> ResultCode {
        use pb::subscribe_cmd::Payload as P;
        let Some(sub) = self.subs.get_mut(&c.subscribe_id) else {
            return ResultCode::SubscriptionInvalidId;
        };
        let Some(payload) = &c.payload else {
            return ResultCode::RequestInvalidPayload;
        };
        match payload {
            P::Timeout(t) => {
                if *t < 0 {
                    return ResultCode::SubscriptionTimeoutTooSmall;
                }
                sub.expires =
                    (*t > 0).then(|| now + Duration::from_secs(u64::from(t.unsigned_abs())));
                let expires = sub.expires;
                self.expires_at(expires);
                ResultCode::Success
            }
            P::Callcontrol(cc) => call_control(sub, cc, model),
            P::User(update) => {
                let SubKind::User { user, .. } = sub.kind else {
                    return ResultCode::SubscriptionInvalid;
                };
                let extn = model.users()[user].extn.clone();
                // (DND or forward, on or off), in the order the update gives them.
                let mut actions = Vec::new();
                if let Some(sac) = &update.sac {
                    actions.push((false, sac.set != 0));
                }
                if let Some(fwdu) = &update.fwdu {
                    actions.push((true, fwdu.set));
                }
                for sc in &update.shortcodedata {
                    // The guide's user short codes: 0/1 set/unset forward unconditional,
                    // 7/8 set/unset DND.
                    match sc.code {
                        0 => actions.push((true, true)),
                        1 => actions.push((true, false)),
                        7 => actions.push((false, true)),
                        8 => actions.push((false, false)),
                        _ => return ResultCode::CallControlUnsupported,
                    }
                }
                if actions.is_empty() {
                    return ResultCode::CallControlUnsupported;
                }
                let mut code = ResultCode::Success;
                for (forward, on) in actions {
                    let user = extn.clone();
                    code = model.apply(if forward {
                        ModelAction::SetForward { user, on }
                    } else {
                        ModelAction::SetDnd { user, on }
                    });
                }
                code
            }
            P::Queue(update) => {
                let SubKind::Queue { queue, .. } = sub.kind else {
                    return ResultCode::SubscriptionInvalid;
                };
                update_queue(queue, update, model)
            }
            P::Presence(_) => ResultCode::ServiceNotAvailable,
        }
    }

    /// Sends, for every subscription not waiting for an ack, what changed since last time.
    /// Only subscriptions that can show something new are rendered (see the module docs).
    pub fn flush(&mut self, model: &Model) {
        self.note_changes(model);
        let dirty = std::mem::take(&mut self.dirty);
        for id in dirty {
            let Some(sub) = self.subs.get_mut(&id) else {
                continue;
            };
            if sub.awaiting_ack.is_some() {
                // Its ack puts it back in `dirty`; what is pending stays with it until then.
                continue;
            }
            if let SubKind::Queue { queue, .. } = sub.kind {
                if model.queues().get(queue).is_none_or(|q| q.deleted) {
                    self.remove_sub(id);
                    self.send_terminated(id, "queue deleted");
                    continue;
                }
            }
            if let SubKind::User { user, .. } = sub.kind {
                if model.users().get(user).is_none_or(|u| u.deleted) {
                    self.remove_sub(id);
                    self.send_terminated(id, "user deleted");
                    continue;
                }
            }
            self.renders += 1;
            let mut shown_changes = ShownChanges::default();
            let payload = next_notify(
                sub,
                model,
                self.site,
                &mut self.next_callid,
                &mut shown_changes,
            );
            for call in shown_changes.added {
                self.interest.shown(call, id);
            }
            for call in shown_changes.removed {
                self.interest.unshown(call, id);
            }
            if let Some(payload) = payload {
                let notify_id = sub.next_notify_id;
                sub.next_notify_id = sub.next_notify_id.wrapping_add(1).max(1);
                sub.awaiting_ack = Some(notify_id);
                sub.fresh = false;
                self.send(msg(pb::message::Payload::Notify(pb::Notify {
                    subscribe_id: id,
                    notify_id,
                    label: String::new(),
                    payload: Some(payload),
                })));
            }
            // A user notify goes out before the calls it held back: render again after the ack.
            if let Some(sub) = self.subs.get(&id) {
                if !sub.pending.is_empty() && sub.awaiting_ack.is_none() {
                    self.dirty.insert(id);
                }
            }
        }
    }

    /// Turns what the model changed since the last flush into pending work on the
    /// subscriptions it concerns.
    fn note_changes(&mut self, model: &Model) {
        let version = model.version();
        if self.flushed_version == Some(version) {
            return;
        }
        let since = self
            .flushed_version
            .and_then(|v| model.changes_since(v))
            .map(|changes| changes.collect::<Vec<Touched>>());
        self.flushed_version = Some(version);
        let everything = match &since {
            None => true,
            Some(changes) => changes.contains(&Touched::Everything),
        };
        if everything {
            for (id, sub) in &mut self.subs {
                sub.pending.all = true;
                self.dirty.insert(*id);
            }
            return;
        }
        let (subs, dirty) = (&mut self.subs, &mut self.dirty);
        for touched in since.into_iter().flatten() {
            self.interest.concerned(touched, model, |concern| {
                let (id, call) = match concern {
                    Concern::Own(id) => (id, None),
                    Concern::Call(id, call) => (id, Some(call)),
                };
                let Some(sub) = subs.get_mut(&id) else {
                    return;
                };
                match call {
                    None => sub.pending.own = true,
                    Some(_) if !sub.shows_calls() => return,
                    Some(call) => {
                        sub.pending.calls.insert(call);
                    }
                }
                dirty.insert(id);
            });
        }
    }
}

/// Calls a render started or stopped showing, for the interest index.
#[derive(Default)]
struct ShownChanges {
    added: Vec<SimCallId>,
    removed: Vec<SimCallId>,
}

/// The next Notify payload for a subscription, if anything changed. What it looks at is what
/// is pending: a full render when `all`, else its own state if touched, then the touched calls.
/// Both paths diff calls with [`calls_diff`], so they send the same bytes.
fn next_notify(
    sub: &mut Subscription,
    model: &Model,
    site: u8,
    next_callid: &mut i32,
    changes: &mut ShownChanges,
) -> Option<pb::notify::Payload> {
    use pb::notify::Payload as P;
    let all = sub.pending.all || sub.fresh;
    match sub.kind {
        SubKind::Lines { flags } => {
            sub.pending = Pending::default();
            if !all {
                return None;
            }
            lines_diff(sub, model, flags).map(P::Lines)
        }
        SubKind::User { user, ccflags } => {
            if all || sub.pending.own {
                sub.pending.own = false;
                let now = render::notify_user(model, user);
                if sub.fresh || now != sub.shown.user {
                    sub.shown.user = now.clone();
                    return now.map(P::User);
                }
            }
            let visible = |c: &crate::model::Call| {
                c.involves_user(user)
                    .then(|| render::call_info(model, c, Some(user), ccflags))
            };
            calls_pending(sub, model, ccflags, all, visible, next_callid, changes)
                .map(P::Callcontrol)
        }
        SubKind::Queue {
            queue,
            flags,
            ccflags,
        } => {
            if all || sub.pending.own {
                sub.pending.own = false;
                let now = render::notify_queue(model, queue, flags);
                if sub.fresh || now != sub.shown.queue {
                    sub.shown.queue = now.clone();
                    return now.map(P::Queue);
                }
            }
            let visible = |c: &crate::model::Call| {
                (c.site == site && render::queue_shows(c, queue, ccflags))
                    .then(|| render::call_info(model, c, None, ccflags))
            };
            calls_pending(sub, model, ccflags, all, visible, next_callid, changes)
                .map(P::Callcontrol)
        }
    }
}

/// Diffs the calls a subscription has pending: every live call and every shown one when `all`,
/// else only the touched ones (a call nobody touched shows as it did: its `CallInfo` depends
/// on the call, and on users' and queues' names, which change only with `Everything`).
fn calls_pending(
    sub: &mut Subscription,
    model: &Model,
    ccflags: i32,
    all: bool,
    visible: impl Fn(&crate::model::Call) -> Option<pb::CallInfo>,
    next_callid: &mut i32,
    changes: &mut ShownChanges,
) -> Option<pb::NotifyCallControl> {
    let pending = std::mem::take(&mut sub.pending);
    if ccflags == 0 {
        return None;
    }
    let mut now: BTreeMap<SimCallId, Option<pb::CallInfo>> = BTreeMap::new();
    if all {
        for id in sub.shown.calls.keys() {
            now.insert(*id, None);
        }
        for c in model.calls() {
            if let Some(info) = visible(c) {
                now.insert(c.id, Some(info));
            }
        }
    } else {
        for id in pending.calls {
            now.insert(id, model.call(id).and_then(&visible));
        }
    }
    calls_diff(&mut sub.shown, now, next_callid, changes)
}

fn lines_diff(sub: &mut Subscription, model: &Model, flags: i32) -> Option<pb::NotifyLines> {
    let users: BTreeMap<Vec<u8>, pb::LinesUser> = if flags & lines_flags::USERS != 0 {
        render::lines_users(model)
            .into_iter()
            .map(|u| (u.guid.clone(), u))
            .collect()
    } else {
        BTreeMap::new()
    };
    let queues: BTreeMap<Vec<u8>, pb::LinesQueue> = if flags & lines_flags::GROUPS != 0 {
        render::lines_queues(model)
            .into_iter()
            .map(|q| (q.guid.clone(), q))
            .collect()
    } else {
        BTreeMap::new()
    };
    let mut n = pb::NotifyLines {
        // Bit 0: the park server can be subscribed (it cannot in the simulator).
        flags: 0,
        ..Default::default()
    };
    let shown = &mut sub.shown;
    diff_lines(
        &shown.lines_users,
        &users,
        [&mut n.adduser, &mut n.changeuser, &mut n.deleteuser],
    );
    diff_lines(
        &shown.lines_queues,
        &queues,
        [&mut n.addqueue, &mut n.changequeue, &mut n.deletequeue],
    );
    shown.lines_users = users;
    shown.lines_queues = queues;
    let empty = n.adduser.is_empty()
        && n.changeuser.is_empty()
        && n.deleteuser.is_empty()
        && n.addqueue.is_empty()
        && n.changequeue.is_empty()
        && n.deletequeue.is_empty();
    (sub.fresh || !empty).then_some(n)
}

/// The difference between the calls shown and `now` (each call concerned: its `CallInfo` if
/// the subscription shows it now, `None` if not), applied to `shown`. Calls come in id order,
/// so new callids are handed out, and entries listed, in the order a full render gives them.
fn calls_diff(
    shown: &mut Shown,
    now: BTreeMap<SimCallId, Option<pb::CallInfo>>,
    next_callid: &mut i32,
    changes: &mut ShownChanges,
) -> Option<pb::NotifyCallControl> {
    let mut out = pb::NotifyCallControl {
        refreshinstance: 1,
        ..Default::default()
    };
    for (id, info) in now {
        match info {
            Some(mut info) => {
                let callid = match shown.calls.get(&id) {
                    Some((callid, _)) => *callid,
                    None => {
                        let c = *next_callid;
                        *next_callid = next_callid.wrapping_add(1).max(1);
                        changes.added.push(id);
                        c
                    }
                };
                info.callid = callid;
                if shown.calls.get(&id).is_none_or(|(_, old)| *old != info) {
                    out.callinfo.push(info.clone());
                    shown.calls.insert(id, (callid, info));
                }
            }
            None => {
                if let Some((callid, _)) = shown.calls.remove(&id) {
                    changes.removed.push(id);
                    out.calllost.push(pb::CallLost {
                        callid,
                        reason: REASON_NORMAL,
                        ..Default::default()
                    });
                }
            }
        }
    }
    (!out.callinfo.is_empty() || !out.calllost.is_empty()).then_some(out)
}

fn call_control(sub: &Subscription, cc: &pb::UpdateCallControl, model: &mut Model) -> ResultCode {
    let (view, user) = match sub.kind {
        SubKind::Queue { queue, ccflags, .. } if ccflags != 0 => {
            (View::Queue(model.queues()[queue].name.clone()), None)
        }
        SubKind::User { user, ccflags } if ccflags != 0 => {
            let extn = model.users()[user].extn.clone();
            (View::User(extn.clone()), Some(extn))
        }
        _ => return ResultCode::SubscriptionInvalid,
    };
    if cc.makecall.is_some() || cc.unparkcall.is_some() {
        return ResultCode::CallControlUnsupported;
    }
    let Some(f) = &cc.callfunction else {
        return ResultCode::RequestInvalidPayload;
    };
    let Some(call) = sub
        .shown
        .calls
        .iter()
        .find(|(_, (callid, _))| *callid == cc.callid)
        .map(|(id, _)| *id)
    else {
        return ResultCode::CallControlCallNotFound;
    };
    let action = match Action::try_from(f.action) {
        Ok(Action::DropCall) => ModelAction::Drop { call, view },
        Ok(Action::AnswerCall) => match user {
            Some(user) => ModelAction::Answer { call, user },
            None => return ResultCode::CallControlUnsupported,
        },
        Ok(Action::BlindTransfer) => ModelAction::BlindTransfer {
            call,
            view,
            target: f.arg1.clone(),
        },
        Ok(Action::Redirect) => ModelAction::Redirect {
            call,
            view,
            target: f.arg1.clone(),
        },
        Ok(Action::SetPriority) => ModelAction::SetPriority {
            call,
            view,
            level: f.arg1.clone(),
        },
        Ok(Action::Finish) => ModelAction::Finish {
            call,
            view,
            arg: f.arg1.clone(),
        },
        Ok(_) => return ResultCode::CallControlUnsupported,
        Err(_) => return ResultCode::CallControlBadFormatting,
    };
    model.apply(action)
}

fn update_queue(queue: usize, update: &pb::UpdateQueue, model: &mut Model) -> ResultCode {
    use pb::notify_queue::ServiceMode as M;
    let name = model.queues()[queue].name.clone();
    let members = |list: &[pb::QueueMember]| -> Vec<acd_core::QueueMember> {
        list.iter()
            .map(|m| acd_core::QueueMember {
                agent: acd_core::AgentId(m.extn.clone()),
                enabled: !m.disabled,
            })
            .collect()
    };
    let mut actions = Vec::new();
    if let Some(sm) = &update.setservicemode {
        let mode = match M::try_from(sm.servicemode) {
            Ok(M::Active) => acd_core::QueueServiceMode::Active,
            Ok(M::Ns) => acd_core::QueueServiceMode::NightService,
            Ok(M::Oos) => acd_core::QueueServiceMode::OutOfService,
            Ok(M::Unset) | Err(_) => return ResultCode::CallControlBadFormatting,
        };
        actions.push(ModelAction::SetServiceMode {
            queue: name.clone(),
            mode,
        });
    }
    if let Some(m) = &update.members {
        actions.push(ModelAction::SetQueueMembers {
            queue: name.clone(),
            members: members(&m.member),
        });
    }
    if !update.addmember.is_empty() {
        actions.push(ModelAction::UpsertQueueMembers {
            queue: name.clone(),
            members: members(&update.addmember),
        });
    }
    if !update.deletemember.is_empty() {
        actions.push(ModelAction::RemoveQueueMembers {
            queue: name.clone(),
            extns: update.deletemember.iter().map(|m| m.extn.clone()).collect(),
        });
    }
    if update.setvoicemail.is_some() {
        return ResultCode::CallControlUnsupported;
    }
    if actions.is_empty() {
        return ResultCode::RequestInvalidPayload;
    }
    for a in actions {
        let code = model.apply(a);
        if !code.is_success() {
            return code;
        }
    }
    ResultCode::Success
}

/// What changed between the lines shown last and now, by GUID: `[added, changed, deleted]`.
fn diff_lines<K: Ord, V: Clone + PartialEq>(
    shown: &BTreeMap<K, V>,
    now: &BTreeMap<K, V>,
    [added, changed, deleted]: [&mut Vec<V>; 3],
) {
    for (key, entry) in now {
        match shown.get(key) {
            None => added.push(entry.clone()),
            Some(old) if old != entry => changed.push(entry.clone()),
            _ => {}
        }
    }
    for (key, entry) in shown {
        if !now.contains_key(key) {
            deleted.push(entry.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    const USERS: usize = 40;

    fn model() -> Model {
        let mut text = String::from("[sim]\nseed = 1\n");
        for u in 0..USERS {
            text += &format!("[[user]]\nextn = \"{}\"\nname = \"A{u}\"\n", 200 + u);
        }
        text += "[[queue]]\nname = \"Q\"\nextn = \"500\"\nmembers = [\"200\", \"201\"]\n";
        Model::new(&Scenario::from_toml_str(&text, std::path::Path::new(".")).unwrap()).unwrap()
    }

    fn session() -> SimConnection {
        SimConnection::new(Framing::Framed, 0)
    }

    fn subscribe(
        session: &mut SimConnection,
        model: &Model,
        id: i32,
        payload: pb::subscribe::Payload,
    ) {
        let s = pb::Subscribe {
            requestid: id,
            subscribe_id: id,
            payload: Some(payload),
            ..Default::default()
        };
        assert_eq!(
            session.subscribe(Timestamp(0), &s, model),
            ResultCode::Success
        );
    }

    /// The Notifies in the outbox, emptying it.
    fn sent(session: &mut SimConnection) -> Vec<pb::Notify> {
        session
            .outbox
            .drain(..)
            .filter_map(
                |b| match framing::decode(&b, Framing::Framed, DEFAULT_MAX_FRAME_BYTES) {
                    Ok(pb::Message {
                        payload: Some(pb::message::Payload::Notify(n)),
                    }) => Some(n),
                    _ => None,
                },
            )
            .collect()
    }

    fn ack_all(session: &mut SimConnection, notifies: &[pb::Notify]) {
        for n in notifies {
            session.ack(&pb::NotifyAck {
                subscribe_id: n.subscribe_id,
                notify_id: n.notify_id,
            });
        }
    }

    /// A full re-render of every subscription finds nothing the incremental path missed.
    fn assert_nothing_missed(session: &mut SimConnection, model: &Model) {
        session.flushed_version = None;
        session.flush(model);
        assert!(
            sent(session).is_empty(),
            "the incremental flush missed a change"
        );
    }

    #[test]
    fn flush_renders_only_new_acked_or_changed_subscriptions() {
        let mut model = model();
        let mut session = session();
        subscribe(
            &mut session,
            &model,
            1,
            pb::subscribe::Payload::Lines(pb::SubscribeLines { flags: 3 }),
        );
        session.flush(&model);
        let first = sent(&mut session);
        assert_eq!((first.len(), session.renders), (1, 1));
        ack_all(&mut session, &first);

        // Subscribing user by user, acking as notifies come, as the engine does: each frame
        // renders only the subscription it concerns, not every one made so far.
        let guids: Vec<Vec<u8>> = model.users().iter().map(|u| u.guid.clone()).collect();
        for (i, guid) in guids.iter().enumerate() {
            let id = 10 + i as i32;
            subscribe(
                &mut session,
                &model,
                id,
                pb::subscribe::Payload::User(pb::SubscribeUser {
                    guid: guid.clone(),
                    ccflags: 0x99,
                    ..Default::default()
                }),
            );
            session.flush(&model);
            let notifies = sent(&mut session);
            assert_eq!(notifies.len(), 1);
            assert_eq!(notifies[0].subscribe_id, id);
            ack_all(&mut session, &notifies);
            session.flush(&model);
            assert!(sent(&mut session).is_empty());
        }
        // Lines once, then per user one render when subscribed and one when acked.
        assert_eq!(session.renders, 2 + 2 * USERS as u64);
        assert_nothing_missed(&mut session, &model);

        // A model change is shown to every subscription it concerns.
        let before = session.renders;
        assert!(model
            .apply(ModelAction::SetDnd {
                user: "203".into(),
                on: true,
            })
            .is_success());
        session.flush(&model);
        assert_eq!(
            session.renders - before,
            1,
            "only the user's own subscription"
        );
        let notifies = sent(&mut session);
        assert_eq!(notifies.len(), 1);
        assert!(matches!(
            &notifies[0].payload,
            Some(pb::notify::Payload::User(u)) if u.extn == "203" && u.dnd
        ));
        assert_nothing_missed(&mut session, &model);
    }

    /// Subscribes `session` to lines, every user, and every queue twice (ephemeral and
    /// reporting ccflags), as the engine and a reporting client would.
    fn subscribe_everything(session: &mut SimConnection, model: &Model) {
        subscribe(
            session,
            model,
            1,
            pb::subscribe::Payload::Lines(pb::SubscribeLines { flags: 3 }),
        );
        let mut id = 2;
        for u in model.users() {
            let payload = pb::subscribe::Payload::User(pb::SubscribeUser {
                guid: u.guid.clone(),
                ccflags: acd_wire::flags::ccflags::ENGINE_USER,
                ..Default::default()
            });
            subscribe(session, model, id, payload);
            id += 1;
        }
        for q in model.queues() {
            use acd_wire::flags::ccflags::{ENGINE_QUEUE, EPHEMERAL};
            for cc in [ENGINE_QUEUE, ENGINE_QUEUE & !EPHEMERAL] {
                let payload = pb::subscribe::Payload::Queue(pb::SubscribeQueue {
                    guid: q.guid.clone(),
                    flags: 1,
                    ccflags: cc,
                    ..Default::default()
                });
                subscribe(session, model, id, payload);
                id += 1;
            }
        }
    }

    /// The change tracking cannot silently miss an update: with native hunt groups ringing,
    /// answering, abandoning and overflowing, and agents changing state, a session that renders
    /// only what the journal names sends byte for byte what a session rendering every
    /// subscription against every call sends, at every step.
    #[test]
    fn incremental_flush_sends_exactly_what_a_full_render_sends() {
        let scenario = Scenario::default_scenario().unwrap();
        let mut model = Model::new(&scenario).unwrap();
        let (mut incremental, mut full) = (session(), session());
        subscribe_everything(&mut incremental, &model);
        subscribe_everything(&mut full, &model);
        let extns: Vec<String> = model.users().iter().map(|u| u.extn.clone()).collect();
        let mut frames = 0;
        let mut calls_seen = 0;
        for step in 0..6_000u64 {
            model.advance_to(Timestamp(step * 200));
            if step % 7 == 0 {
                let extn = extns[(step / 7) as usize % extns.len()].clone();
                let on = (step / 7 / extns.len() as u64) % 2 == 0;
                model.apply(ModelAction::SetDnd { user: extn, on });
            }
            if step % 500 == 250 {
                let name = model.queues()[0].name.clone();
                let mode = if step % 1000 == 250 {
                    acd_core::QueueServiceMode::NightService
                } else {
                    acd_core::QueueServiceMode::Active
                };
                model.apply(ModelAction::SetServiceMode { queue: name, mode });
            }
            calls_seen = calls_seen.max(model.calls().count());
            incremental.flush(&model);
            full.flushed_version = None;
            full.flush(&model);
            let (a, b) = (
                std::mem::take(&mut incremental.outbox),
                std::mem::take(&mut full.outbox),
            );
            assert_eq!(
                a, b,
                "step {step}: the incremental flush sent something else"
            );
            frames += a.len();
            incremental.outbox = a;
            let notifies = sent(&mut incremental);
            ack_all(&mut incremental, &notifies);
            ack_all(&mut full, &notifies);
        }
        assert!(calls_seen >= 5, "the scenario must keep several calls live");
        assert!(frames > 1_000, "too few notifies to compare: {frames}");
        assert!(
            incremental.renders * 10 < full.renders,
            "the incremental flush rendered {} subscriptions, the full one {}",
            incremental.renders,
            full.renders
        );
    }

    #[test]
    fn expiry_deadline_tracks_subscribe_refresh_and_timeout() {
        let model = model();
        let mut session = session();
        assert_eq!(session.next_deadline(), None);
        let start = Timestamp(5_000);
        let guid = model.users()[0].guid.clone();
        let mut s = pb::Subscribe {
            requestid: 1,
            subscribe_id: 3,
            timeout: 60,
            payload: Some(pb::subscribe::Payload::User(pb::SubscribeUser {
                guid,
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(session.subscribe(start, &s, &model), ResultCode::Success);
        assert_eq!(
            session.next_deadline(),
            Some(start + Duration::from_secs(60))
        );
        // A refresh to 120 s: waking at 60 s is early but harmless, and finds the new expiry.
        s.payload = None;
        s.timeout = 120;
        assert_eq!(session.subscribe(start, &s, &model), ResultCode::Success);
        session.on_timer(start + Duration::from_secs(60));
        assert!(session.subs.contains_key(&3));
        assert_eq!(
            session.next_deadline(),
            Some(start + Duration::from_secs(120))
        );
        session.on_timer(start + Duration::from_secs(120));
        assert!(session.subs.is_empty());
        assert_eq!(session.next_deadline(), None);
    }

    #[test]
    fn a_change_during_an_unacked_notify_goes_out_after_the_ack() {
        let mut model = model();
        let mut session = session();
        let guid = model.users()[5].guid.clone();
        subscribe(
            &mut session,
            &model,
            7,
            pb::subscribe::Payload::User(pb::SubscribeUser {
                guid,
                ccflags: 0x99,
                ..Default::default()
            }),
        );
        session.flush(&model);
        let first = sent(&mut session);
        assert_eq!(first.len(), 1);

        // The change arrives while the first Notify waits for its ack: held back.
        assert!(model
            .apply(ModelAction::SetDnd {
                user: "205".into(),
                on: true,
            })
            .is_success());
        session.flush(&model);
        assert!(sent(&mut session).is_empty());
        // The model does not move again; the ack alone must release the change.
        ack_all(&mut session, &first);
        session.flush(&model);
        let second = sent(&mut session);
        assert!(matches!(
            &second[..],
            [pb::Notify { payload: Some(pb::notify::Payload::User(u)), notify_id: 2, .. }] if u.dnd
        ));
        ack_all(&mut session, &second);
        assert_nothing_missed(&mut session, &model);
    }
}
