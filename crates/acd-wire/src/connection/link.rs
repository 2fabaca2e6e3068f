//! The protocol state of one websocket connection: its requests, its subscriptions, the Lines
//! table and what each incoming message means. A reconnect starts a new `Link` from nothing;
//! what must outlive a connection (the translator, the agents already reported) lives in
//! [`super::Connection`].

use super::config::{ConnectionConfig, QueueSelector, LINES_FLAGS, QUEUE_FLAGS, SNAPSHOT_SETTLE};
use super::keepalive::{Keepalive, KeepaliveDue};
use super::lines::LinesTable;
use super::requests::{Pending, Requests};
use super::subscriptions::{SubTarget, Subscription, Subscriptions, Terminations, Timer};
use super::{command_failed, hint_for, ConnectionEvent, LinkStatus};
use crate::framing::{self, FrameError};
use crate::metrics;
use crate::pb;
use crate::result_code::{ResultCode, WireResult};
use crate::translate::{command_label, CommandRefused, Translated, Translator};
use acd_core::{AgentId, Command, CommandOutcome, Event, QueueId, Timestamp};
use tracing::{debug, error, info, warn};

pub(crate) struct Link {
    pub config: ConnectionConfig,
    pub requests: Requests,
    pub subs: Subscriptions,
    next_sub: i32,
    pub lines: LinesTable,
    pub lines_ready: bool,
    last_subscribed: Option<(usize, usize)>,
    pub out: Vec<pb::Message>,
    pub events: Vec<ConnectionEvent>,
    /// Set when the connection cannot go on (Lines refused or unanswered).
    pub fatal: Option<String>,
    /// When this connection last resubscribed after notify gaps, newest last.
    gap_resyncs: std::collections::VecDeque<Timestamp>,
    /// The cap has been reached and said so: further gaps in the window are logged at debug.
    gap_cap_warned: bool,
    /// Pings and write deadlines: this websocket's own signs of life.
    pub keepalive: Keepalive,
    /// Subscriptions IP Office terminated, waiting out their backoff.
    pub(super) terminations: Terminations,
    /// Commands about calls whose queue is being subscribed again, waiting for its fresh
    /// snapshot (until the deadline) instead of being refused as if the call were gone.
    held: Vec<(Timestamp, Command)>,
}

/// At most this many resubscriptions for notify gaps per [`GAP_RESYNC_WINDOW`] on one
/// connection. Gap detection rests on IP Office numbering each subscription's notifies 1, 2, 3…
/// (as the protocol guide's examples show); should a release number them otherwise, every
/// notify would look like a gap, and resubscribing for each would flood IP Office. Past the
/// limit gaps are still counted, but the subscription is kept.
const GAP_RESYNC_LIMIT: usize = 5;
const GAP_RESYNC_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);

impl Link {
    /// The protocol state of a websocket that opened at `now`.
    pub fn new(config: &ConnectionConfig, now: Timestamp) -> Link {
        Link {
            keepalive: Keepalive::new(config, now),
            config: config.clone(),
            requests: Requests::default(),
            subs: Subscriptions::default(),
            next_sub: 0,
            lines: LinesTable::default(),
            lines_ready: false,
            last_subscribed: None,
            out: Vec::new(),
            events: Vec::new(),
            fatal: None,
            gap_resyncs: std::collections::VecDeque::new(),
            gap_cap_warned: false,
            terminations: Terminations::default(),
            held: Vec::new(),
        }
    }

    fn request(&mut self, what: Pending, now: Timestamp) -> i32 {
        self.requests.start(what, now + self.config.request_timeout)
    }

    /// Subscribes to `target` and returns the subscription's id; 0 (no subscription) while a
    /// termination of the same target waits out its backoff: it is made again then.
    pub fn subscribe(&mut self, t: &mut Translator, target: SubTarget, now: Timestamp) -> i32 {
        if self.terminations.pending(&target) {
            debug!(
                ?target,
                "not subscribing yet: IP Office terminated it, backing off"
            );
            return 0;
        }
        self.next_sub += 1;
        let subscribe_id = self.next_sub;
        let requestid = self.request(Pending::Subscribe(subscribe_id), now);
        use pb::subscribe::Payload;
        let payload = match &target {
            SubTarget::Lines => Payload::Lines(pb::SubscribeLines { flags: LINES_FLAGS }),
            SubTarget::Queue { queue, guid } => Payload::Queue(pb::SubscribeQueue {
                guid: guid.clone(),
                flags: QUEUE_FLAGS,
                ccflags: self.config.queue_ccflags as i32,
                // Without a GUID IP Office finds the queue by name.
                name: if guid.is_empty() {
                    queue.0.clone()
                } else {
                    String::new()
                },
            }),
            SubTarget::User { guid, .. } => Payload::User(pb::SubscribeUser {
                guid: guid.clone(),
                flags: self.config.user_flags as i32,
                ccflags: self.config.user_ccflags as i32,
            }),
        };
        debug!(subscribe_id, ?target, "subscribing");
        // Known to the translator at once: a notify may overtake the RequestResponse.
        match &target {
            SubTarget::Lines => {}
            SubTarget::Queue { queue, .. } => t.add_queue(subscribe_id, queue.clone()),
            SubTarget::User { agent, .. } => t.add_user(subscribe_id, agent.clone()),
        }
        self.subs.insert(subscribe_id, Subscription::new(target));
        self.out.push(pb::Message {
            payload: Some(pb::message::Payload::Subscribe(pb::Subscribe {
                requestid,
                subscribe_id,
                timeout: self.config.subscription_timeout_secs(),
                label: String::new(),
                payload: Some(payload),
            })),
        });
        subscribe_id
    }

    pub fn end(&mut self, t: &mut Translator, subscribe_id: i32, reason: &str, now: Timestamp) {
        if self.subs.remove(subscribe_id).is_none() {
            return;
        }
        t.remove_subscription(subscribe_id, now);
        let requestid = self.request(Pending::End, now);
        self.out.push(end_message(requestid, subscribe_id, reason));
    }

    /// Ends every subscription (Lines last: the others were found through it). Returns the
    /// request ids of the SubscribeEnds, so a shutdown can wait for their answers.
    pub fn end_all(&mut self, now: Timestamp) -> Vec<i32> {
        let mut ids: Vec<(bool, i32)> = self
            .subs
            .iter()
            .map(|(id, s)| (s.target == SubTarget::Lines, *id))
            .collect();
        ids.sort_unstable();
        let mut requests = Vec::with_capacity(ids.len());
        for (_, subscribe_id) in ids {
            let requestid = self.request(Pending::End, now);
            self.out
                .push(end_message(requestid, subscribe_id, "engine shutting down"));
            requests.push(requestid);
        }
        self.subs.clear();
        requests
    }

    pub fn next_deadline(&self) -> Option<Timestamp> {
        [
            self.requests.next_deadline(),
            self.subs.next_deadline(),
            self.keepalive.next_deadline(),
            self.terminations.next_deadline(),
            self.held.iter().map(|(at, _)| *at).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn frame_error(&mut self, e: FrameError) {
        metrics::frame_error(e.kind());
        warn!(
            kind = e.kind(),
            "ignoring a bad message from IP Office: {e}"
        );
    }

    pub fn command(&mut self, t: &mut Translator, cmd: Command, now: Timestamp) {
        let deadline = now + self.config.request_timeout;
        self.command_or_hold(t, cmd, deadline, now);
    }

    /// Sends `cmd`, or holds it until `deadline` while its call is unreported only because
    /// its queue's subscription is being made again (see `Translator::awaits_fresh_snapshot`).
    fn command_or_hold(
        &mut self,
        t: &mut Translator,
        cmd: Command,
        deadline: Timestamp,
        now: Timestamp,
    ) {
        let kind = command_label(&cmd.kind);
        let translated = t.command(&cmd);
        if let Err(CommandRefused::UnknownCall(call)) = &translated {
            if now < deadline && t.awaits_fresh_snapshot(*call) {
                debug!(command = kind, %call, "holding the command until the queue's fresh snapshot");
                self.held.push((deadline, cmd));
                return;
            }
        }
        match translated {
            Ok(Translated::AlreadyDone(why)) => {
                debug!(command = kind, "command not needed: {why}");
                metrics::command(kind, metrics::RESULT_NOT_NEEDED.to_string());
                self.events
                    .push(ConnectionEvent::Core(Event::CommandResult {
                        id: cmd.id,
                        outcome: CommandOutcome::Success,
                    }));
            }
            Ok(Translated::Send(wire)) => {
                t.command_sent(&cmd, now);
                let requestid = self.request(Pending::Command { id: cmd.id, kind }, now);
                debug!(
                    command = kind,
                    requestid,
                    subscribe_id = wire.subscribe_id,
                    "sending command"
                );
                self.out.push(pb::Message {
                    payload: Some(pb::message::Payload::Subscribecmd(pb::SubscribeCmd {
                        requestid,
                        subscribe_id: wire.subscribe_id,
                        payload: Some(wire.payload),
                    })),
                });
            }
            Err(refused) => {
                let code = refused.result_code();
                // A call no subscription knows has ended: most often the caller hung up just
                // as the engine acted, which is routine (the abandon is counted).
                if matches!(refused, CommandRefused::UnknownCall(_)) {
                    debug!(command = kind, "command not sent: {refused}");
                } else {
                    warn!(command = kind, "command not sent: {refused}");
                }
                metrics::command(kind, metrics::RESULT_REFUSED_LOCALLY.to_string());
                self.events
                    .push(ConnectionEvent::Core(command_failed(cmd.id, code)));
            }
        }
    }

    pub fn received(&mut self, t: &mut Translator, bytes: &[u8], now: Timestamp) {
        let msg = match framing::decode(bytes, self.config.framing, self.config.max_frame_bytes) {
            Ok(m) => m,
            Err(e) => return self.frame_error(e),
        };
        use pb::message::Payload;
        match msg.payload {
            Some(Payload::Response(r)) => self.response(t, r, now),
            Some(Payload::Notify(n)) => self.notify(t, n, now),
            Some(Payload::Subscribeterminated(term)) => {
                let Some(sub) = self.subs.remove(term.subscribe_id) else {
                    debug!(
                        subscribe_id = term.subscribe_id,
                        "termination of an unknown subscription"
                    );
                    return;
                };
                let plan = self.terminations.terminated(sub.target.clone(), now);
                let next_in = plan.at.duration_since(now);
                if plan.warn {
                    warn!(
                        subscribe_id = term.subscribe_id,
                        reason = %term.reason,
                        subscription = %describe(&sub.target),
                        in_a_row = plan.in_a_row,
                        ?next_in,
                        "IP Office terminated a subscription; subscribing again (backing off while it keeps doing so; warned again at twice the count)"
                    );
                } else {
                    debug!(
                        subscribe_id = term.subscribe_id,
                        in_a_row = plan.in_a_row,
                        ?next_in,
                        "IP Office terminated a subscription again"
                    );
                }
                t.remove_subscription(term.subscribe_id, now);
                if sub.target == SubTarget::Lines {
                    self.lines_ready = false;
                }
                self.resubscribe_terminated(t, now);
            }
            Some(Payload::Generaldata(_)) => {
                debug!("ignoring GeneralData (no general command sent)")
            }
            Some(other) => debug!(?other, "ignoring a message IP Office should not send"),
            None => debug!("ignoring a Message without payload"),
        }
    }

    fn response(&mut self, t: &mut Translator, r: pb::RequestResponse, now: Timestamp) {
        let Some(what) = self.requests.take(r.requestid) else {
            debug!(requestid = r.requestid, "response to an unknown request");
            return;
        };
        let result = WireResult::from_code(r.result);
        match what {
            Pending::Command { id, kind } => {
                metrics::command(kind, result.metric_label());
                if result == WireResult::Known(ResultCode::RequestTimeout) {
                    // 5001 says IP Office did not finish in time, not that it refused: the
                    // command may still take effect, so only the notifies can tell.
                    warn!(command = kind, "IP Office did not complete a command in time ({result}); the outcome is unknown until the notifies show it");
                } else if result == WireResult::Known(ResultCode::CallControlCallNotFound) {
                    // The call ended before the command reached it: a caller who hung up.
                    info!(
                        command = kind,
                        "IP Office no longer has the call (the caller hung up?): {result}"
                    );
                } else if !result.is_success() {
                    warn!(command = kind, "IP Office refused a command: {result}");
                }
                let outcome = if result.is_success() {
                    CommandOutcome::Success
                } else {
                    CommandOutcome::Failed(u32::try_from(result.code()).unwrap_or(u32::MAX))
                };
                self.events
                    .push(ConnectionEvent::Core(Event::CommandResult { id, outcome }));
            }
            Pending::Subscribe(sub_id) => self.subscribe_result(t, sub_id, result, now),
            Pending::Refresh(sub_id) => {
                if !result.is_success() {
                    warn!(
                        subscribe_id = sub_id,
                        "refresh refused ({result}); subscribing again"
                    );
                    self.resubscribe(t, sub_id, now);
                }
            }
            Pending::End => {}
        }
    }

    fn subscribe_result(
        &mut self,
        t: &mut Translator,
        sub_id: i32,
        result: WireResult,
        now: Timestamp,
    ) {
        let refresh = self.config.refresh_interval();
        let Some(sub) = self.subs.get_mut(sub_id) else {
            return;
        };
        if result.is_success() {
            sub.confirmed = true;
            self.subs.set_refresh(sub_id, refresh.map(|r| now + r));
            // Queues and users: only while no call notify has made the snapshot yet.
            if t.awaiting_snapshot(sub_id) {
                self.subs.set_snapshot(sub_id, Some(now + SNAPSHOT_SETTLE));
            }
            self.report_subscribed();
            return;
        }
        let target = sub.target.clone();
        self.subs.remove(sub_id);
        t.remove_subscription(sub_id, now);
        match target {
            SubTarget::Lines => {
                self.fatal = Some(format!(
                    "IP Office refused the Lines subscription: {result}{}",
                    hint_for(result)
                ));
            }
            SubTarget::Queue { queue, .. } => {
                error!(queue = %queue, "IP Office refused the queue subscription: {result}; calls in this queue are not routed");
                self.report_subscribed();
            }
            SubTarget::User { agent, .. } => {
                warn!(agent = %agent, "IP Office refused the user subscription: {result}");
                self.report_subscribed();
            }
        }
    }

    /// Every queue subscription starts over, for snapshots of what IP Office shows now (a
    /// twin's new leader: what its predecessor last did may not have reached it yet).
    pub fn resubscribe_queues(&mut self, t: &mut Translator, now: Timestamp) {
        let mut queues: Vec<i32> = self
            .subs
            .iter()
            .filter(|(_, s)| matches!(s.target, SubTarget::Queue { .. }))
            .map(|(id, _)| *id)
            .collect();
        // In id order, so the simulation's runs are the same run after run.
        queues.sort_unstable();
        for id in queues {
            self.resubscribe(t, id, now);
        }
    }

    fn resubscribe(&mut self, t: &mut Translator, sub_id: i32, now: Timestamp) {
        if let Some(sub) = self.subs.remove(sub_id) {
            t.remove_subscription(sub_id, now);
            self.subscribe(t, sub.target, now);
        }
    }

    /// Held commands whose call is reported again, or whose deadline has come, are sent (or
    /// refused) now, in the order they came.
    fn release_held(&mut self, t: &mut Translator, now: Timestamp) {
        if self.held.is_empty() {
            return;
        }
        for (deadline, cmd) in std::mem::take(&mut self.held) {
            let waits = matches!(
                t.command(&cmd),
                Err(CommandRefused::UnknownCall(call)) if t.awaits_fresh_snapshot(call)
            );
            if waits && now < deadline {
                self.held.push((deadline, cmd));
            } else {
                self.command_or_hold(t, cmd, now, now);
            }
        }
    }

    /// The held commands (label, id), taken (the link is gone: nothing was sent).
    pub fn take_held(&mut self) -> Vec<(&'static str, acd_core::CommandId)> {
        self.held
            .drain(..)
            .map(|(_, cmd)| (command_label(&cmd.kind), cmd.id))
            .collect()
    }

    /// Makes again the terminated subscriptions whose backoff is over (unless something else
    /// subscribed the same target meanwhile).
    fn resubscribe_terminated(&mut self, t: &mut Translator, now: Timestamp) {
        for target in self.terminations.take_due(now) {
            if !self.subs.has(&target) {
                self.subscribe(t, target, now);
            }
        }
    }

    pub fn report_subscribed(&mut self) {
        if self.requests.subscribes_pending() > 0 || !self.lines_ready {
            return;
        }
        let (users, queues) = self.subs.counts();
        if self.last_subscribed != Some((users, queues)) {
            self.last_subscribed = Some((users, queues));
            tracing::info!(users, queues, "subscriptions confirmed");
            self.events
                .push(ConnectionEvent::Link(LinkStatus::Subscribed {
                    users,
                    queues,
                }));
        }
    }

    pub fn timers(&mut self, t: &mut Translator, now: Timestamp) {
        match self.keepalive.due(now) {
            Some(KeepaliveDue::Ping) => self.events.push(ConnectionEvent::Ping),
            Some(KeepaliveDue::Dead(reason)) => {
                // Nothing else on a dead link matters: its requests die with it.
                self.fatal = Some(reason);
                return;
            }
            None => {}
        }
        self.resubscribe_terminated(t, now);
        self.release_held(t, now);
        for (requestid, what) in self.requests.expired(now) {
            match what {
                Pending::Command { id, kind } => {
                    warn!(command = kind, requestid, "no response from IP Office in time; the outcome is unknown until the notifies show it");
                    metrics::command(kind, "requesttimeout".to_string());
                    self.events.push(ConnectionEvent::Core(command_failed(
                        id,
                        ResultCode::RequestTimeout,
                    )));
                }
                Pending::Subscribe(sub_id) | Pending::Refresh(sub_id) => {
                    let is_lines = self
                        .subs
                        .get(sub_id)
                        .is_some_and(|s| s.target == SubTarget::Lines);
                    if is_lines {
                        self.fatal =
                            Some("IP Office did not answer the Lines subscription in time".into());
                    } else {
                        warn!(
                            subscribe_id = sub_id,
                            "subscription not answered in time; subscribing again"
                        );
                        self.resubscribe(t, sub_id, now);
                    }
                }
                Pending::End => {}
            }
        }
        for subscribe_id in self.subs.due(Timer::Refresh, now) {
            let next = self.config.refresh_interval().map(|r| now + r);
            self.subs.set_refresh(subscribe_id, next);
            let requestid = self.request(Pending::Refresh(subscribe_id), now);
            debug!(subscribe_id, "refreshing subscription");
            // A refresh carries only the subscribe_id and the new timeout.
            self.out.push(pb::Message {
                payload: Some(pb::message::Payload::Subscribe(pb::Subscribe {
                    requestid,
                    subscribe_id,
                    timeout: self.config.subscription_timeout_secs(),
                    ..Default::default()
                })),
            });
        }
        for subscribe_id in self.subs.due(Timer::Snapshot, now) {
            self.subs.set_snapshot(subscribe_id, None);
            if let Some(ev) = t.snapshot_settled(subscribe_id) {
                self.events.push(ConnectionEvent::Core(ev));
            }
        }
        // A settled snapshot may be the one held commands wait for.
        self.release_held(t, now);
    }

    fn notify(&mut self, t: &mut Translator, n: pb::Notify, now: Timestamp) {
        metrics::notify_received(notify_kind(&n));
        if n.notify_id != 0 {
            // IP Office holds the subscription's next notify until this ack arrives.
            self.out.push(pb::Message {
                payload: Some(pb::message::Payload::Notifyack(pb::NotifyAck {
                    subscribe_id: n.subscribe_id,
                    notify_id: n.notify_id,
                })),
            });
        }
        let Some(sub) = self.subs.get_mut(n.subscribe_id) else {
            debug!(
                subscribe_id = n.subscribe_id,
                "ignoring a notify for an unknown subscription"
            );
            return;
        };
        let missing = sub.note_notify(n.notify_id);
        match (&sub.target, &n.payload) {
            (SubTarget::Lines, Some(pb::notify::Payload::Lines(lines))) => {
                self.lines(t, lines, now)
            }
            (SubTarget::Lines, _) => {
                debug!("ignoring a non-Lines payload on the Lines subscription")
            }
            _ => {
                self.subs.set_snapshot(n.subscribe_id, None);
                let events = t.notify(&n, now);
                if self.config.agents.follows_members() {
                    for ev in &events {
                        if let Event::QueueChanged(q) = ev {
                            for m in &q.members {
                                self.follow_agent(t, &m.agent.0, now);
                            }
                        }
                    }
                }
                self.events
                    .extend(events.into_iter().map(ConnectionEvent::Core));
                // After the events: the core hears the fresh snapshot before the outcome of a
                // command that waited for it.
                self.release_held(t, now);
                // A queue's first call snapshot may have been emitted by the translator;
                // keep the settle timer only while it still waits.
                let confirmed = self.subs.get(n.subscribe_id).is_some_and(|s| s.confirmed);
                if confirmed && t.awaiting_snapshot(n.subscribe_id) {
                    self.subs
                        .set_snapshot(n.subscribe_id, Some(now + SNAPSHOT_SETTLE));
                }
            }
        }
        if missing > 0 {
            self.notify_gap(t, n.subscribe_id, n.notify_id, missing, now);
        }
    }

    /// A notify on this subscription was lost: what the engine believes about its calls may be
    /// stale and no later notify would tell, since each reports one call. The notify that
    /// showed the gap has been used (it is a full snapshot of its call); the subscription is
    /// then ended and made again, whose first notifies are a fresh snapshot that replaces the
    /// engine's belief, as after a SubscribeTerminated.
    fn notify_gap(
        &mut self,
        t: &mut Translator,
        subscribe_id: i32,
        notify_id: i32,
        missing: u64,
        now: Timestamp,
    ) {
        let Some(target) = self.subs.get(subscribe_id).map(|s| s.target.clone()) else {
            return;
        };
        metrics::notify_gap(subscription_kind(&target));
        while self
            .gap_resyncs
            .front()
            .is_some_and(|at| now.duration_since(*at) >= GAP_RESYNC_WINDOW)
        {
            self.gap_resyncs.pop_front();
        }
        if self.gap_resyncs.len() >= GAP_RESYNC_LIMIT {
            let message = "notify ids skipped again: too many resubscriptions for gaps on this connection already; keeping the subscription (lost notifies, or an IP Office that numbers notifies differently)";
            if self.gap_cap_warned {
                debug!(subscribe_id, notify_id, missing, "{message}");
            } else {
                warn!(subscribe_id, notify_id, missing, subscription = %describe(&target), "{message}");
                self.gap_cap_warned = true;
            }
            return;
        }
        self.gap_cap_warned = false;
        self.gap_resyncs.push_back(now);
        warn!(
            subscribe_id,
            notify_id,
            missing,
            subscription = %describe(&target),
            "notify ids skipped: IP Office sent notifies that never arrived; subscribing again for a fresh snapshot"
        );
        if target == SubTarget::Lines {
            self.lines_ready = false;
        }
        self.end(t, subscribe_id, "resynchronising after lost notifies", now);
        self.subscribe(t, target, now);
    }

    /// Subscribes to the user with extension `extn` unless already followed.
    pub fn follow_agent(&mut self, t: &mut Translator, extn: &str, now: Timestamp) {
        if self.subs.follows(extn) {
            return;
        }
        let Some(guid) = self.lines.guid_of(extn).map(<[u8]>::to_vec) else {
            debug!(extn, "agent not in the Lines list (yet)");
            return;
        };
        self.subscribe(
            t,
            SubTarget::User {
                agent: AgentId(extn.to_string()),
                guid,
            },
            now,
        );
    }

    /// Routed queues Lines does not list (another SCN node's, say) can still be subscribed by
    /// name, as the guide allows.
    pub fn subscribe_unlisted_queues(&mut self, t: &mut Translator, now: Timestamp) {
        let by_name: Vec<String> = self
            .config
            .routed_queues
            .iter()
            .filter_map(|s| match s {
                QueueSelector::Name(n) => Some(n.clone()),
                QueueSelector::Guid(_) => None,
            })
            .filter(|n| !self.lines.has_queue_named(n))
            .filter(|n| self.subs.queue_sub_named(n).is_none())
            .collect();
        // One line for them all: a rule set of 100,000 queues wrote 100,000 lines here.
        if !by_name.is_empty() {
            const SHOWN: usize = 10;
            let mut names = by_name[..by_name.len().min(SHOWN)].join(", ");
            if by_name.len() > SHOWN {
                names.push_str(&format!(" and {} more", by_name.len() - SHOWN));
            }
            warn!(
                count = by_name.len(),
                "{} routed queue(s) not in the Lines list; subscribing by name: {names}",
                by_name.len()
            );
        }
        for name in by_name {
            self.subscribe(
                t,
                SubTarget::Queue {
                    queue: QueueId(name),
                    guid: Vec::new(),
                },
                now,
            );
        }
    }
}

fn end_message(requestid: i32, subscribe_id: i32, reason: &str) -> pb::Message {
    pb::Message {
        payload: Some(pb::message::Payload::Subscribeend(pb::SubscribeEnd {
            requestid,
            subscribe_id,
            reason: reason.to_string(),
        })),
    }
}

fn notify_kind(n: &pb::Notify) -> &'static str {
    use pb::notify::Payload;
    match &n.payload {
        None => "empty",
        Some(Payload::Presence(_)) => "presence",
        Some(Payload::Callcontrol(_)) => "callcontrol",
        Some(Payload::Lines(_)) => "lines",
        Some(Payload::User(_)) => "user",
        Some(Payload::Queue(_)) => "queue",
        Some(Payload::Parkserver(_)) => "parkserver",
        Some(Payload::Refreshwrapper(_)) => "refreshwrapper",
    }
}

fn subscription_kind(target: &SubTarget) -> &'static str {
    match target {
        SubTarget::Lines => "lines",
        SubTarget::Queue { .. } => "queue",
        SubTarget::User { .. } => "user",
    }
}

fn describe(target: &SubTarget) -> String {
    match target {
        SubTarget::Lines => "lines".to_string(),
        SubTarget::Queue { queue, .. } => format!("queue {queue}"),
        SubTarget::User { agent, .. } => format!("user {agent}"),
    }
}
