//! The MT-CTI3 session: one task that keeps a websocket to IP Office, subscribes to Lines, the
//! routed queues and the agents, acknowledges notifies, refreshes and re-establishes
//! subscriptions, reconnects with backoff (failing over to a secondary IP Office when one is
//! configured), and exchanges the routing core's events and commands with the daemon.
//!
//! It is one task owning all state (no locks): the socket, the timers and the daemon's commands
//! are multiplexed in one `select!`, and outgoing messages (acks first) are flushed before the
//! events a notify produced are handed on.

use super::backoff::{Backoff, BackoffState};
use super::connect::{self, ConnectError, ConnectParams, Endpoint, WsStream};
use super::framing::{self, Framing, DEFAULT_MAX_FRAME_BYTES};
use super::metrics;
use super::pb;
use super::result_code::{ResultCode, WireResult};
use super::secret::Secret;
use super::tls::TlsOptions;
use super::translate::{command_label, Translated, Translator};
use acd_core::{AgentId, Command, CommandId, CommandOutcome, Event, QueueId};
use futures_util::{SinkExt, StreamExt};
use rand::SeedableRng;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tracing::{debug, error, info, warn};

/// Lines flags: list all users (bit 0) and all groups (bit 1).
pub const LINES_FLAGS: i32 = 0x3;
/// Queue flags: include the hunt-group member list (bit 1).
pub const QUEUE_FLAGS: i32 = 0x2;
/// Ephemeral (bit 30) | targets (bit 18) | language (bit 7) | extended queue information
/// (bit 6) | trunk detail with DID (bit 5) | primary (bit 0): rules match on language, DID and trunk.
pub const DEFAULT_QUEUE_CCFLAGS: u32 = 0x4004_00E1;
/// Primary data, dial info, extended queue information, language (the guide's suggestion).
pub const DEFAULT_USER_CCFLAGS: u32 = 0x99;
/// How long a queue subscription may stay without any call notify before it is taken as empty.
pub const SNAPSHOT_SETTLE: Duration = Duration::from_secs(2);
/// Refresh a subscription when this share of its timeout has passed.
const REFRESH_AT: f64 = 0.8;

/// A routed queue, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueSelector {
    Name(String),
    /// The queue's GUID from the Lines table.
    Guid(Vec<u8>),
}

impl QueueSelector {
    /// `guid:` followed by hex selects by GUID; anything else is a queue name.
    pub fn parse(text: &str) -> QueueSelector {
        match text.strip_prefix("guid:").map(hex::decode) {
            Some(Ok(g)) if !g.is_empty() => QueueSelector::Guid(g),
            _ => QueueSelector::Name(text.to_string()),
        }
    }

    fn matches(&self, q: &pb::LinesQueue) -> bool {
        match self {
            QueueSelector::Name(n) => *n == q.name,
            QueueSelector::Guid(g) => *g == q.guid,
        }
    }
}

/// Which users the session follows as agents.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AgentSelector {
    All,
    /// The members of the routed queues (from their member lists).
    #[default]
    MembersOfRoutedQueues,
    Extensions(Vec<String>),
    /// The members of the routed queues and these extensions (agents the rules name who are
    /// not, or not yet, members in IP Office).
    MembersAnd(Vec<String>),
}

/// Everything a session needs.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Primary first, then an optional secondary for failover.
    pub endpoints: Vec<Endpoint>,
    pub username: String,
    pub password: Secret,
    pub tls: TlsOptions,
    pub framing: Framing,
    pub routed_queues: Vec<QueueSelector>,
    pub queue_ccflags: u32,
    pub user_flags: u32,
    pub user_ccflags: u32,
    pub agents: AgentSelector,
    pub request_timeout: Duration,
    /// `None`: subscriptions never expire. `Some(t)`: refreshed at ~80 % of `t`.
    pub subscription_timeout: Option<Duration>,
    pub max_frame_bytes: usize,
    pub backoff: Backoff,
}

impl SessionConfig {
    /// A configuration with the documented defaults.
    pub fn new(endpoints: Vec<Endpoint>, username: impl Into<String>, password: Secret) -> Self {
        SessionConfig {
            endpoints,
            username: username.into(),
            password,
            tls: TlsOptions::default(),
            framing: Framing::Framed,
            routed_queues: Vec::new(),
            queue_ccflags: DEFAULT_QUEUE_CCFLAGS,
            user_flags: 0,
            user_ccflags: DEFAULT_USER_CCFLAGS,
            agents: AgentSelector::default(),
            request_timeout: Duration::from_secs(10),
            subscription_timeout: None,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            backoff: Backoff::default(),
        }
    }

    pub(crate) fn connect_params<'a>(&'a self, endpoint: &'a Endpoint) -> ConnectParams<'a> {
        ConnectParams {
            endpoint,
            framing: self.framing,
            username: &self.username,
            password: &self.password,
            tls: &self.tls,
            timeout: self.request_timeout,
            max_frame_bytes: self.max_frame_bytes,
        }
    }

    pub(crate) fn warn_if_insecure(&self) {
        if self.tls.insecure {
            warn!(
                "TLS certificate verification is DISABLED (tls.insecure = true): anyone between \
                 this engine and IP Office can read and change calls; use a CA file or a pin"
            );
        }
    }

    fn subscription_timeout_secs(&self) -> i32 {
        self.subscription_timeout
            .map_or(0, |t| i32::try_from(t.as_secs()).unwrap_or(i32::MAX))
    }
}

/// The state of the link, for health checks and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkStatus {
    Connecting {
        endpoint: String,
    },
    Connected {
        endpoint: String,
    },
    /// Every subscription requested so far is confirmed.
    Subscribed {
        users: usize,
        queues: usize,
    },
    Disconnected {
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub enum SessionEvent {
    Core(Event),
    Link(LinkStatus),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the PBX session has shut down")]
pub struct SessionClosed;

enum Control {
    Command(Command),
    Shutdown(oneshot::Sender<()>),
}

/// The daemon's side of a running session.
#[derive(Debug)]
pub struct SessionHandle {
    /// Unbounded on purpose: the run loop must never block on the session while the session
    /// blocks on handing the run loop events (each side would wait for the other).
    control: mpsc::UnboundedSender<Control>,
    status: watch::Receiver<LinkStatus>,
    task: tokio::task::JoinHandle<()>,
}

impl SessionHandle {
    /// Queues a command; its outcome arrives as `Event::CommandResult`.
    pub async fn send(&self, cmd: Command) -> Result<(), SessionClosed> {
        self.control
            .send(Control::Command(cmd))
            .map_err(|_| SessionClosed)
    }

    pub fn status(&self) -> watch::Receiver<LinkStatus> {
        self.status.clone()
    }

    /// Ends every subscription, closes the websocket and waits for the task to finish.
    pub async fn shutdown(self) {
        let (tx, rx) = oneshot::channel();
        if self.control.send(Control::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
        let _ = self.task.await;
    }
}

/// Starts the session task: connect, subscribe, reconnect until shutdown.
pub fn spawn(config: SessionConfig) -> (SessionHandle, mpsc::Receiver<SessionEvent>) {
    metrics::describe();
    config.warn_if_insecure();
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let (events_tx, events_rx) = mpsc::channel(1024);
    let (status_tx, status_rx) = watch::channel(LinkStatus::Disconnected {
        reason: "not connected yet".to_string(),
    });
    let session = Session {
        backoff: BackoffState::new(config.backoff),
        config,
        control: control_rx,
        events: events_tx,
        status: status_tx,
        translator: Translator::new(),
        known_agents: HashSet::new(),
    };
    let task = tokio::spawn(session.run());
    (
        SessionHandle {
            control: control_tx,
            status: status_rx,
            task,
        },
        events_rx,
    )
}

/// Why a connection ended.
enum Exit {
    Shutdown(Option<oneshot::Sender<()>>),
    Lost(String),
}

/// The daemon dropped its receiver or handle: nobody listens any more.
struct Orphaned;

struct Session {
    config: SessionConfig,
    backoff: BackoffState,
    control: mpsc::UnboundedReceiver<Control>,
    events: mpsc::Sender<SessionEvent>,
    status: watch::Sender<LinkStatus>,
    translator: Translator,
    /// Agents reported to the core, so that ones gone while disconnected can be removed.
    known_agents: HashSet<AgentId>,
}

impl Session {
    async fn run(mut self) {
        let mut rng = rand_chacha::ChaCha8Rng::from_os_rng();
        let mut index = 0usize;
        let mut attempts = 0u64;
        if self.config.endpoints.is_empty() {
            error!("no IP Office endpoint configured; the PBX session does not start");
            return;
        }
        loop {
            let endpoint = self.config.endpoints[index % self.config.endpoints.len()].clone();
            let label = endpoint.to_string();
            if attempts > 0 {
                metrics::reconnect(&label);
            }
            attempts += 1;
            if self
                .link(LinkStatus::Connecting {
                    endpoint: label.clone(),
                })
                .await
                .is_err()
            {
                return;
            }
            info!(endpoint = %label, "connecting to IP Office");
            let connected = connect::connect(&self.config.connect_params(&endpoint)).await;
            let reason = match connected {
                Ok(c) => {
                    self.backoff.reset();
                    metrics::set_connected(&label, true);
                    info!(endpoint = %label, fingerprint = ?c.fingerprint, "connected to IP Office");
                    let exit = match self
                        .link(LinkStatus::Connected {
                            endpoint: label.clone(),
                        })
                        .await
                    {
                        Ok(()) => self.connection(c.ws).await,
                        Err(Orphaned) => Exit::Shutdown(None),
                    };
                    metrics::set_connected(&label, false);
                    match exit {
                        Exit::Shutdown(ack) => {
                            let _ = self.status.send(LinkStatus::Disconnected {
                                reason: "shut down".to_string(),
                            });
                            if let Some(ack) = ack {
                                let _ = ack.send(());
                            }
                            return;
                        }
                        Exit::Lost(reason) => reason,
                    }
                }
                Err(e) => {
                    index += 1;
                    log_connect_error(&label, &e);
                    e.to_string()
                }
            };
            if self
                .link(LinkStatus::Disconnected {
                    reason: reason.clone(),
                })
                .await
                .is_err()
            {
                return;
            }
            let delay = self.backoff.next_delay(&mut rng);
            info!(?delay, "reconnecting after backoff");
            if let Some(ack) = self.wait_disconnected(Instant::now() + delay).await {
                if let Some(ack) = ack {
                    let _ = ack.send(());
                }
                return;
            }
        }
    }

    /// Sleeps until `until`, answering commands with a failure meanwhile. Returns
    /// `Some(ack)` when shutdown was requested.
    async fn wait_disconnected(&mut self, until: Instant) -> Option<Option<oneshot::Sender<()>>> {
        loop {
            tokio::select! {
                _ = sleep_until(until) => return None,
                control = self.control.recv() => match control {
                    None => return Some(None),
                    Some(Control::Shutdown(ack)) => return Some(Some(ack)),
                    Some(Control::Command(cmd)) => {
                        metrics::command(command_label(&cmd.kind), "not_connected".to_string());
                        let ev = command_failed(cmd.id, ResultCode::RequestInvalidContext);
                        if self.emit(ev).await.is_err() {
                            return Some(None);
                        }
                    }
                },
            }
        }
    }

    async fn link(&mut self, status: LinkStatus) -> Result<(), Orphaned> {
        let _ = self.status.send(status.clone());
        self.events
            .send(SessionEvent::Link(status))
            .await
            .map_err(|_| Orphaned)
    }

    async fn emit(&mut self, event: Event) -> Result<(), Orphaned> {
        self.events
            .send(SessionEvent::Core(event))
            .await
            .map_err(|_| Orphaned)
    }

    async fn connection(&mut self, ws: WsStream) -> Exit {
        let mut conn = Connection::new(&self.config);
        let exit = self.serve_connection(ws, &mut conn).await;
        if let Exit::Lost(_) = &exit {
            // Commands whose answer died with the connection: their outcome is unknown, as
            // after a request timeout. The core must hear about every command it sent, or it
            // would wait for them forever.
            for (_, (_, pending)) in conn.pending.drain() {
                if let Pending::Command { id, kind } = pending {
                    metrics::command(
                        kind,
                        WireResult::Known(ResultCode::RequestTimeout).metric_label(),
                    );
                    if self
                        .emit(command_failed(id, ResultCode::RequestTimeout))
                        .await
                        .is_err()
                    {
                        return Exit::Shutdown(None);
                    }
                }
            }
        }
        exit
    }

    async fn serve_connection(&mut self, ws: WsStream, conn: &mut Connection) -> Exit {
        let (mut sink, mut stream) = ws.split();
        let now = Instant::now();
        self.translator.reset_connection(now);
        conn.subscribe(&mut self.translator, SubTarget::Lines, now);
        loop {
            // Outgoing first (acks included), then the events the last input produced.
            for msg in conn.out.drain(..) {
                let bytes = framing::encode(&msg, self.config.framing);
                if let Err(e) = sink.send(WsMessage::Binary(bytes.into())).await {
                    return Exit::Lost(format!("sending to IP Office failed: {e}"));
                }
            }
            for ev in std::mem::take(&mut conn.events) {
                let sent = match ev {
                    SessionEvent::Core(e) => {
                        if let Event::AgentChanged(s) = &e {
                            self.known_agents.insert(s.agent.clone());
                        }
                        self.emit(e).await
                    }
                    SessionEvent::Link(l) => self.link(l).await,
                };
                if sent.is_err() {
                    return Exit::Shutdown(None);
                }
            }
            if let Some(reason) = conn.fatal.take() {
                let _ = sink.close().await;
                return Exit::Lost(reason);
            }
            let deadline = [conn.next_deadline(), self.translator.next_ending()]
                .into_iter()
                .flatten()
                .min();
            tokio::select! {
                control = self.control.recv() => match control {
                    None => return Exit::Shutdown(None),
                    Some(Control::Shutdown(ack)) => {
                        conn.end_all(Instant::now());
                        for msg in conn.out.drain(..) {
                            let bytes = framing::encode(&msg, self.config.framing);
                            let _ = sink.send(WsMessage::Binary(bytes.into())).await;
                        }
                        let _ = sink.close().await;
                        return Exit::Shutdown(Some(ack));
                    }
                    Some(Control::Command(cmd)) => conn.command(&mut self.translator, cmd, Instant::now()),
                },
                msg = stream.next() => match msg {
                    None => return Exit::Lost("IP Office closed the connection".to_string()),
                    Some(Err(e)) => return Exit::Lost(format!("websocket error: {e}")),
                    Some(Ok(WsMessage::Binary(bytes))) => conn.received(&mut self.translator, &bytes, Instant::now()),
                    Some(Ok(WsMessage::Text(text))) => {
                        conn.frame_error(framing::FrameError::TextMessage { len: text.len() })
                    }
                    Some(Ok(WsMessage::Close(frame))) => {
                        return Exit::Lost(match frame {
                            Some(f) => format!("IP Office closed the connection ({} {})", f.code, f.reason),
                            None => "IP Office closed the connection".to_string(),
                        })
                    }
                    Some(Ok(_)) => {}
                },
                _ = sleep_until(deadline.unwrap_or_else(far_future)), if deadline.is_some() => {
                    conn.timers(&mut self.translator, Instant::now());
                }
            }
            if conn.lines_ready && conn.first_lines {
                conn.first_lines = false;
                let gone: Vec<AgentId> = self
                    .known_agents
                    .iter()
                    .filter(|a| !conn.lines_extns.contains_key(&a.0))
                    .cloned()
                    .collect();
                for agent in gone {
                    self.known_agents.remove(&agent);
                    conn.events
                        .push(SessionEvent::Core(Event::AgentRemoved(agent)));
                }
            }
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365)
}

fn log_connect_error(endpoint: &str, e: &ConnectError) {
    match e {
        ConnectError::Unreachable { .. } | ConnectError::Timeout { .. } => {
            warn!(endpoint, kind = e.kind(), "cannot connect: {e}")
        }
        _ => error!(endpoint, kind = e.kind(), "cannot connect: {e}"),
    }
}

fn command_failed(id: CommandId, code: ResultCode) -> Event {
    Event::CommandResult {
        id,
        outcome: CommandOutcome::Failed(code.code() as u32),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SubTarget {
    Lines,
    Queue { queue: QueueId, guid: Vec<u8> },
    User { agent: AgentId, guid: Vec<u8> },
}

#[derive(Debug)]
struct Subscription {
    target: SubTarget,
    confirmed: bool,
    refresh_at: Option<Instant>,
    snapshot_at: Option<Instant>,
}

#[derive(Debug)]
enum Pending {
    Subscribe(i32),
    Refresh(i32),
    End,
    Command { id: CommandId, kind: &'static str },
}

#[derive(Debug, Clone)]
struct LineEntry {
    extn: String,
    name: String,
}

/// The state of one websocket connection. Subscriptions, request ids and the Lines table are
/// per connection: a reconnect starts from nothing and rebuilds everything.
struct Connection {
    framing: Framing,
    framing_max: usize,
    request_timeout: Duration,
    sub_timeout: i32,
    queue_ccflags: i32,
    user_flags: i32,
    user_ccflags: i32,
    routed: Vec<QueueSelector>,
    agents: AgentSelector,
    next_request: i32,
    next_sub: i32,
    pending: HashMap<i32, (Instant, Pending)>,
    subs: HashMap<i32, Subscription>,
    /// Indexes kept beside `subs`, `pending` and `lines_users` (changed only through
    /// `add_sub`/`remove_sub`, `request`/`take_pending` and `lines`) so that subscribing
    /// thousands of users does not scan every subscription once per user.
    /// Extension -> how many user subscriptions follow it (one, in practice).
    followed: HashMap<String, usize>,
    user_subs: usize,
    queue_subs: usize,
    pending_subscribes: usize,
    /// Extension -> GUID of the users in the Lines table.
    lines_extns: HashMap<String, Vec<u8>>,
    lines_users: HashMap<Vec<u8>, LineEntry>,
    lines_queues: HashMap<Vec<u8>, LineEntry>,
    lines_ready: bool,
    first_lines: bool,
    last_subscribed: Option<(usize, usize)>,
    out: Vec<pb::Message>,
    events: Vec<SessionEvent>,
    fatal: Option<String>,
}

impl Connection {
    fn new(config: &SessionConfig) -> Connection {
        Connection {
            framing: config.framing,
            framing_max: config.max_frame_bytes,
            request_timeout: config.request_timeout,
            sub_timeout: config.subscription_timeout_secs(),
            queue_ccflags: config.queue_ccflags as i32,
            user_flags: config.user_flags as i32,
            user_ccflags: config.user_ccflags as i32,
            routed: config.routed_queues.clone(),
            agents: config.agents.clone(),
            next_request: 0,
            next_sub: 0,
            pending: HashMap::new(),
            subs: HashMap::new(),
            followed: HashMap::new(),
            user_subs: 0,
            queue_subs: 0,
            pending_subscribes: 0,
            lines_extns: HashMap::new(),
            lines_users: HashMap::new(),
            lines_queues: HashMap::new(),
            lines_ready: false,
            first_lines: true,
            last_subscribed: None,
            out: Vec::new(),
            events: Vec::new(),
            fatal: None,
        }
    }

    fn request(&mut self, what: Pending, now: Instant) -> i32 {
        loop {
            self.next_request = if self.next_request == i32::MAX {
                1
            } else {
                self.next_request + 1
            };
            if !self.pending.contains_key(&self.next_request) {
                break;
            }
        }
        if matches!(what, Pending::Subscribe(_)) {
            self.pending_subscribes += 1;
        }
        self.pending
            .insert(self.next_request, (now + self.request_timeout, what));
        self.next_request
    }

    fn take_pending(&mut self, requestid: i32) -> Option<(Instant, Pending)> {
        let taken = self.pending.remove(&requestid);
        if let Some((_, Pending::Subscribe(_))) = &taken {
            self.pending_subscribes -= 1;
        }
        taken
    }

    fn add_sub(&mut self, subscribe_id: i32, sub: Subscription) {
        match &sub.target {
            SubTarget::Lines => {}
            SubTarget::Queue { .. } => self.queue_subs += 1,
            SubTarget::User { agent, .. } => {
                self.user_subs += 1;
                *self.followed.entry(agent.0.clone()).or_default() += 1;
            }
        }
        if let Some(old) = self.subs.insert(subscribe_id, sub) {
            self.forget(&old);
        }
    }

    fn remove_sub(&mut self, subscribe_id: i32) -> Option<Subscription> {
        let sub = self.subs.remove(&subscribe_id)?;
        self.forget(&sub);
        Some(sub)
    }

    fn forget(&mut self, sub: &Subscription) {
        match &sub.target {
            SubTarget::Lines => {}
            SubTarget::Queue { .. } => self.queue_subs -= 1,
            SubTarget::User { agent, .. } => {
                self.user_subs -= 1;
                if let Some(n) = self.followed.get_mut(&agent.0) {
                    *n -= 1;
                    if *n == 0 {
                        self.followed.remove(&agent.0);
                    }
                }
            }
        }
    }

    fn subscribe(&mut self, translator: &mut Translator, target: SubTarget, now: Instant) -> i32 {
        self.next_sub += 1;
        let subscribe_id = self.next_sub;
        let requestid = self.request(Pending::Subscribe(subscribe_id), now);
        use pb::subscribe::Payload;
        let payload = match &target {
            SubTarget::Lines => Payload::Lines(pb::SubscribeLines { flags: LINES_FLAGS }),
            SubTarget::Queue { queue, guid } => Payload::Queue(pb::SubscribeQueue {
                guid: guid.clone(),
                flags: QUEUE_FLAGS,
                ccflags: self.queue_ccflags,
                // Without a GUID IP Office finds the queue by name.
                name: if guid.is_empty() {
                    queue.0.clone()
                } else {
                    String::new()
                },
            }),
            SubTarget::User { guid, .. } => Payload::User(pb::SubscribeUser {
                guid: guid.clone(),
                flags: self.user_flags,
                ccflags: self.user_ccflags,
            }),
        };
        debug!(subscribe_id, ?target, "subscribing");
        // Known to the translator at once: a notify may overtake the RequestResponse.
        self.track(translator, subscribe_id, &target);
        self.add_sub(
            subscribe_id,
            Subscription {
                target,
                confirmed: false,
                refresh_at: None,
                snapshot_at: None,
            },
        );
        self.out.push(pb::Message {
            payload: Some(pb::message::Payload::Subscribe(pb::Subscribe {
                requestid,
                subscribe_id,
                timeout: self.sub_timeout,
                label: String::new(),
                payload: Some(payload),
            })),
        });
        subscribe_id
    }

    fn end(&mut self, translator: &mut Translator, subscribe_id: i32, reason: &str, now: Instant) {
        if self.remove_sub(subscribe_id).is_none() {
            return;
        }
        translator.remove_subscription(subscribe_id, now);
        let requestid = self.request(Pending::End, now);
        self.out.push(pb::Message {
            payload: Some(pb::message::Payload::Subscribeend(pb::SubscribeEnd {
                requestid,
                subscribe_id,
                reason: reason.to_string(),
            })),
        });
    }

    fn end_all(&mut self, now: Instant) {
        let mut ids: Vec<(bool, i32)> = self
            .subs
            .iter()
            .map(|(id, s)| (s.target == SubTarget::Lines, *id))
            .collect();
        // Lines last: the others were found through it.
        ids.sort_unstable();
        let ids = ids.into_iter().map(|(_, id)| id);
        for subscribe_id in ids {
            let requestid = self.request(Pending::End, now);
            self.out.push(pb::Message {
                payload: Some(pb::message::Payload::Subscribeend(pb::SubscribeEnd {
                    requestid,
                    subscribe_id,
                    reason: "engine shutting down".to_string(),
                })),
            });
        }
        self.subs.clear();
        self.followed.clear();
        (self.user_subs, self.queue_subs) = (0, 0);
    }

    fn next_deadline(&self) -> Option<Instant> {
        let pending = self.pending.values().map(|(d, _)| *d);
        let subs = self
            .subs
            .values()
            .flat_map(|s| [s.refresh_at, s.snapshot_at])
            .flatten();
        pending.chain(subs).min()
    }

    fn frame_error(&mut self, e: framing::FrameError) {
        metrics::frame_error(e.kind());
        warn!(
            kind = e.kind(),
            "ignoring a bad message from IP Office: {e}"
        );
    }

    fn command(&mut self, translator: &mut Translator, cmd: Command, now: Instant) {
        let kind = command_label(&cmd.kind);
        match translator.command(&cmd) {
            Ok(Translated::AlreadyDone(why)) => {
                debug!(command = kind, "command not needed: {why}");
                metrics::command(kind, WireResult::Known(ResultCode::Success).metric_label());
                self.events.push(SessionEvent::Core(Event::CommandResult {
                    id: cmd.id,
                    outcome: CommandOutcome::Success,
                }));
            }
            Ok(Translated::Send(wire)) => {
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
                warn!(command = kind, "command not sent: {refused}");
                metrics::command(kind, WireResult::Known(code).metric_label());
                self.events
                    .push(SessionEvent::Core(command_failed(cmd.id, code)));
            }
        }
    }

    fn received(&mut self, translator: &mut Translator, bytes: &[u8], now: Instant) {
        let msg = match framing::decode(bytes, self.framing_kind(), self.framing_max) {
            Ok(m) => m,
            Err(e) => return self.frame_error(e),
        };
        use pb::message::Payload;
        match msg.payload {
            Some(Payload::Response(r)) => self.response(translator, r, now),
            Some(Payload::Notify(n)) => self.notify(translator, n, now),
            Some(Payload::Subscribeterminated(t)) => {
                let Some(sub) = self.remove_sub(t.subscribe_id) else {
                    debug!(
                        subscribe_id = t.subscribe_id,
                        "termination of an unknown subscription"
                    );
                    return;
                };
                warn!(
                    subscribe_id = t.subscribe_id,
                    reason = %t.reason,
                    "IP Office terminated a subscription; subscribing again"
                );
                translator.remove_subscription(t.subscribe_id, now);
                if sub.target == SubTarget::Lines {
                    self.lines_ready = false;
                }
                self.subscribe(translator, sub.target, now);
            }
            Some(Payload::Generaldata(_)) => {
                debug!("ignoring GeneralData (no general command sent)")
            }
            Some(other) => debug!(?other, "ignoring a message IP Office should not send"),
            None => debug!("ignoring a Message without payload"),
        }
    }

    fn framing_kind(&self) -> Framing {
        self.framing
    }

    /// Registers a new subscription with the translator so its notifies are understood.
    fn track(&mut self, translator: &mut Translator, subscribe_id: i32, target: &SubTarget) {
        match target {
            SubTarget::Lines => {}
            SubTarget::Queue { queue, .. } => translator.add_queue(subscribe_id, queue.clone()),
            SubTarget::User { agent, .. } => translator.add_user(subscribe_id, agent.clone()),
        }
    }

    fn response(&mut self, translator: &mut Translator, r: pb::RequestResponse, now: Instant) {
        let Some((_, what)) = self.take_pending(r.requestid) else {
            debug!(requestid = r.requestid, "response to an unknown request");
            return;
        };
        let result = WireResult::from_code(r.result);
        match what {
            Pending::Command { id, kind } => {
                metrics::command(kind, result.metric_label());
                if !result.is_success() {
                    warn!(command = kind, "IP Office refused a command: {result}");
                }
                let outcome = if result.is_success() {
                    CommandOutcome::Success
                } else {
                    CommandOutcome::Failed(u32::try_from(result.code()).unwrap_or(u32::MAX))
                };
                self.events
                    .push(SessionEvent::Core(Event::CommandResult { id, outcome }));
            }
            Pending::Subscribe(sub_id) => {
                self.subscribe_result(translator, sub_id, result, now);
            }
            Pending::Refresh(sub_id) => {
                if !result.is_success() {
                    warn!(
                        subscribe_id = sub_id,
                        "refresh refused ({result}); subscribing again"
                    );
                    self.resubscribe(translator, sub_id, now);
                }
            }
            Pending::End => {}
        }
    }

    fn subscribe_result(
        &mut self,
        translator: &mut Translator,
        sub_id: i32,
        result: WireResult,
        now: Instant,
    ) {
        let refresh = self.refresh_interval();
        let Some(sub) = self.subs.get_mut(&sub_id) else {
            return;
        };
        if result.is_success() {
            sub.confirmed = true;
            sub.refresh_at = refresh.map(|r| now + r);
            if let SubTarget::Queue { .. } = sub.target {
                sub.snapshot_at = Some(now + SNAPSHOT_SETTLE);
            }
            self.report_subscribed();
            return;
        }
        let target = sub.target.clone();
        self.remove_sub(sub_id);
        translator.remove_subscription(sub_id, now);
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

    fn refresh_interval(&self) -> Option<Duration> {
        (self.sub_timeout > 0)
            .then(|| Duration::from_secs(self.sub_timeout as u64).mul_f64(REFRESH_AT))
    }

    fn resubscribe(&mut self, translator: &mut Translator, sub_id: i32, now: Instant) {
        if let Some(sub) = self.remove_sub(sub_id) {
            translator.remove_subscription(sub_id, now);
            self.subscribe(translator, sub.target, now);
        }
    }

    fn report_subscribed(&mut self) {
        if self.pending_subscribes > 0 || !self.lines_ready {
            return;
        }
        let (users, queues) = (self.user_subs, self.queue_subs);
        if self.last_subscribed != Some((users, queues)) {
            self.last_subscribed = Some((users, queues));
            info!(users, queues, "subscriptions confirmed");
            self.events
                .push(SessionEvent::Link(LinkStatus::Subscribed { users, queues }));
        }
    }

    fn timers(&mut self, translator: &mut Translator, now: Instant) {
        self.events.extend(
            translator
                .due_endings(now)
                .into_iter()
                .map(SessionEvent::Core),
        );
        let expired: Vec<i32> = self
            .pending
            .iter()
            .filter(|(_, (d, _))| *d <= now)
            .map(|(id, _)| *id)
            .collect();
        for requestid in expired {
            let Some((_, what)) = self.take_pending(requestid) else {
                continue;
            };
            match what {
                Pending::Command { id, kind } => {
                    warn!(
                        command = kind,
                        requestid, "no response from IP Office in time"
                    );
                    metrics::command(kind, "requesttimeout".to_string());
                    self.events.push(SessionEvent::Core(command_failed(
                        id,
                        ResultCode::RequestTimeout,
                    )));
                }
                Pending::Subscribe(sub_id) | Pending::Refresh(sub_id) => {
                    let is_lines = self
                        .subs
                        .get(&sub_id)
                        .is_some_and(|s| s.target == SubTarget::Lines);
                    if is_lines {
                        self.fatal =
                            Some("IP Office did not answer the Lines subscription in time".into());
                    } else {
                        warn!(
                            subscribe_id = sub_id,
                            "subscription not answered in time; subscribing again"
                        );
                        self.resubscribe(translator, sub_id, now);
                    }
                }
                Pending::End => {}
            }
        }
        let due: Vec<i32> = self
            .subs
            .iter()
            .filter(|(_, s)| s.refresh_at.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for subscribe_id in due {
            let next = self.refresh_interval().map(|r| now + r);
            if let Some(sub) = self.subs.get_mut(&subscribe_id) {
                sub.refresh_at = next;
            }
            let requestid = self.request(Pending::Refresh(subscribe_id), now);
            debug!(subscribe_id, "refreshing subscription");
            // A refresh carries only the subscribe_id and the new timeout.
            self.out.push(pb::Message {
                payload: Some(pb::message::Payload::Subscribe(pb::Subscribe {
                    requestid,
                    subscribe_id,
                    timeout: self.sub_timeout,
                    ..Default::default()
                })),
            });
        }
        let settled: Vec<i32> = self
            .subs
            .iter()
            .filter(|(_, s)| s.snapshot_at.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for subscribe_id in settled {
            if let Some(sub) = self.subs.get_mut(&subscribe_id) {
                sub.snapshot_at = None;
            }
            if let Some(ev) = translator.snapshot_settled(subscribe_id) {
                self.events.push(SessionEvent::Core(ev));
            }
        }
    }

    fn notify(&mut self, translator: &mut Translator, n: pb::Notify, now: Instant) {
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
        let Some(sub) = self.subs.get(&n.subscribe_id) else {
            debug!(
                subscribe_id = n.subscribe_id,
                "ignoring a notify for an unknown subscription"
            );
            return;
        };
        match (&sub.target, &n.payload) {
            (SubTarget::Lines, Some(pb::notify::Payload::Lines(lines))) => {
                self.lines(translator, lines, now)
            }
            (SubTarget::Lines, _) => {
                debug!("ignoring a non-Lines payload on the Lines subscription")
            }
            _ => {
                if let Some(sub) = self.subs.get_mut(&n.subscribe_id) {
                    sub.snapshot_at = None;
                }
                let events = translator.notify(&n, now);
                if matches!(
                    self.agents,
                    AgentSelector::MembersOfRoutedQueues | AgentSelector::MembersAnd(_)
                ) {
                    for ev in &events {
                        if let Event::QueueChanged(q) = ev {
                            for m in &q.members {
                                self.follow_agent(translator, &m.agent.0, now);
                            }
                        }
                    }
                }
                self.events
                    .extend(events.into_iter().map(SessionEvent::Core));
                // A queue's first call snapshot may have been emitted by the translator;
                // keep the settle timer only while it still waits.
                if let Some(sub) = self.subs.get_mut(&n.subscribe_id) {
                    if translator.awaiting_snapshot(n.subscribe_id) {
                        sub.snapshot_at = Some(now + SNAPSHOT_SETTLE);
                    }
                }
            }
        }
    }

    fn lines(&mut self, translator: &mut Translator, lines: &pb::NotifyLines, now: Instant) {
        for u in lines.adduser.iter().chain(&lines.changeuser) {
            let entry = LineEntry {
                extn: u.extn.clone(),
                name: u.name.clone(),
            };
            let previous = self.lines_users.insert(u.guid.clone(), entry);
            if let Some(prev) = &previous {
                if self.lines_extns.get(&prev.extn) == Some(&u.guid) {
                    self.lines_extns.remove(&prev.extn);
                }
            }
            self.lines_extns.insert(u.extn.clone(), u.guid.clone());
            if let Some(prev) = previous.filter(|p| p.extn != u.extn) {
                // The agent's identity is its extension: a renumbered user is a new agent.
                if let Some(id) = self.user_sub(&u.guid) {
                    self.end(translator, id, "extension changed", now);
                    self.events
                        .push(SessionEvent::Core(Event::AgentRemoved(AgentId(
                            prev.extn.clone(),
                        ))));
                }
            }
            if self.agent_selected(&u.extn) {
                self.follow_agent(translator, &u.extn, now);
            }
        }
        for u in &lines.deleteuser {
            if let Some(prev) = self.lines_users.remove(&u.guid) {
                if self.lines_extns.get(&prev.extn) == Some(&u.guid) {
                    self.lines_extns.remove(&prev.extn);
                }
            }
            if let Some(id) = self.user_sub(&u.guid) {
                self.end(translator, id, "user deleted", now);
                self.events
                    .push(SessionEvent::Core(Event::AgentRemoved(AgentId(
                        u.extn.clone(),
                    ))));
            }
        }
        for q in lines.addqueue.iter().chain(&lines.changequeue) {
            self.lines_queues.insert(
                q.guid.clone(),
                LineEntry {
                    extn: q.extn.clone(),
                    name: q.name.clone(),
                },
            );
            if self.routed.iter().any(|s| s.matches(q)) && self.queue_sub(&q.guid).is_none() {
                let target = SubTarget::Queue {
                    queue: QueueId(q.name.clone()),
                    guid: q.guid.clone(),
                };
                self.subscribe(translator, target, now);
            }
        }
        for q in &lines.deletequeue {
            self.lines_queues.remove(&q.guid);
            if let Some(id) = self.queue_sub(&q.guid) {
                self.end(translator, id, "queue deleted", now);
                self.events
                    .push(SessionEvent::Core(Event::QueueRemoved(QueueId(
                        q.name.clone(),
                    ))));
            }
        }
        if !self.lines_ready {
            self.lines_ready = true;
            // Routed queues Lines does not list (another SCN node's, say) can still be
            // subscribed by name, as the guide allows.
            let by_name: Vec<String> = self
                .routed
                .iter()
                .filter_map(|s| match s {
                    QueueSelector::Name(n) => Some(n.clone()),
                    QueueSelector::Guid(_) => None,
                })
                .filter(|n| !self.lines_queues.values().any(|q| &q.name == n))
                .filter(|n| {
                    !self.subs.values().any(
                        |s| matches!(&s.target, SubTarget::Queue { queue, .. } if &queue.0 == n),
                    )
                })
                .collect();
            for name in by_name {
                warn!(queue = %name, "routed queue not in the Lines list; subscribing by name");
                self.subscribe(
                    translator,
                    SubTarget::Queue {
                        queue: QueueId(name),
                        guid: Vec::new(),
                    },
                    now,
                );
            }
            self.report_subscribed();
        }
    }

    fn agent_selected(&self, extn: &str) -> bool {
        match &self.agents {
            AgentSelector::All => true,
            AgentSelector::Extensions(list) | AgentSelector::MembersAnd(list) => {
                list.iter().any(|e| e == extn)
            }
            AgentSelector::MembersOfRoutedQueues => false,
        }
    }

    /// Subscribes to the user with extension `extn` unless already followed.
    fn follow_agent(&mut self, translator: &mut Translator, extn: &str, now: Instant) {
        if self.followed.contains_key(extn) {
            return;
        }
        let Some(guid) = self.lines_extns.get(extn).cloned() else {
            debug!(extn, "agent not in the Lines list (yet)");
            return;
        };
        self.subscribe(
            translator,
            SubTarget::User {
                agent: AgentId(extn.to_string()),
                guid,
            },
            now,
        );
    }

    fn user_sub(&self, guid: &[u8]) -> Option<i32> {
        self.subs
            .iter()
            .find(|(_, s)| matches!(&s.target, SubTarget::User { guid: g, .. } if g == guid))
            .map(|(id, _)| *id)
    }

    fn queue_sub(&self, guid: &[u8]) -> Option<i32> {
        self.subs
            .iter()
            .find(|(_, s)| matches!(&s.target, SubTarget::Queue { guid: g, .. } if g == guid))
            .map(|(id, _)| *id)
    }
}

/// What an administrator can do about a refused Lines subscription.
pub(crate) fn hint_for(result: WireResult) -> &'static str {
    match result {
        WireResult::Known(ResultCode::TooMany) => {
            " — IP Office allows at most 10 MT-CTI3 connections; close other applications' connections"
        }
        WireResult::Known(ResultCode::ServiceNotAvailable) => {
            " — check the CTI Link Pro licence(s) and that \"Avaya HTTP Clients only\" is disabled"
        }
        WireResult::Known(ResultCode::NotAllowed) => {
            " — the service user's rights group needs \"Enhanced TSPI Access\""
        }
        _ => "",
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

#[cfg(test)]
mod tests {
    use super::*;
    use acd_core::CommandKind;

    fn config() -> SessionConfig {
        let mut c = SessionConfig::new(
            vec![Endpoint::parse("ws://127.0.0.1:1").unwrap()],
            "u",
            Secret::new("p"),
        );
        c.routed_queues = vec![QueueSelector::Name("Sales".into())];
        c.subscription_timeout = Some(Duration::from_secs(100));
        c
    }

    fn response(conn: &mut Connection, t: &mut Translator, requestid: i32, result: i32) {
        let msg = pb::Message {
            payload: Some(pb::message::Payload::Response(pb::RequestResponse {
                requestid,
                result,
                additional: String::new(),
            })),
        };
        conn.received(t, &framing::encode(&msg, Framing::Framed), Instant::now());
    }

    fn last_subscribe(conn: &mut Connection) -> pb::Subscribe {
        match conn.out.pop().and_then(|m| m.payload) {
            Some(pb::message::Payload::Subscribe(s)) => s,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn refresh_at_80_percent_and_command_timeout() {
        let cfg = config();
        let mut t = Translator::new();
        let mut conn = Connection::new(&cfg);
        conn.subscribe(&mut t, SubTarget::Lines, Instant::now());
        let s = last_subscribe(&mut conn);
        assert_eq!(s.timeout, 100);
        response(&mut conn, &mut t, s.requestid, 0);
        assert!(conn.pending.is_empty());

        let deadline = conn.next_deadline().unwrap();
        assert_eq!(deadline - Instant::now(), Duration::from_secs(80));
        tokio::time::advance(Duration::from_secs(79)).await;
        conn.timers(&mut t, Instant::now());
        assert!(conn.out.is_empty());
        tokio::time::advance(Duration::from_secs(1)).await;
        conn.timers(&mut t, Instant::now());
        let refresh = last_subscribe(&mut conn);
        assert_eq!(
            (refresh.subscribe_id, refresh.timeout),
            (s.subscribe_id, 100)
        );
        assert!(refresh.payload.is_none());

        // A command without an answer becomes REQUESTTIMEOUT after request_timeout.
        t.add_queue(50, QueueId::from("Sales"));
        conn.command(
            &mut t,
            Command {
                id: CommandId(9),
                kind: CommandKind::SetServiceMode {
                    queue: QueueId::from("Sales"),
                    mode: acd_core::ServiceMode::Active,
                },
            },
            Instant::now(),
        );
        tokio::time::advance(cfg.request_timeout).await;
        conn.timers(&mut t, Instant::now());
        assert!(conn.events.iter().any(|e| matches!(
            e,
            SessionEvent::Core(Event::CommandResult {
                id: CommandId(9),
                outcome: CommandOutcome::Failed(5001)
            })
        )));
    }

    #[tokio::test(start_paused = true)]
    async fn lines_refusal_and_silence_are_fatal_for_the_connection() {
        let cfg = config();
        let mut t = Translator::new();
        let mut conn = Connection::new(&cfg);
        conn.subscribe(&mut t, SubTarget::Lines, Instant::now());
        let s = last_subscribe(&mut conn);
        response(&mut conn, &mut t, s.requestid, 5);
        let fatal = conn.fatal.take().unwrap();
        assert!(
            fatal.contains("TOOMANY") && fatal.contains("10 MT-CTI3"),
            "{fatal}"
        );

        let mut conn = Connection::new(&cfg);
        conn.subscribe(&mut t, SubTarget::Lines, Instant::now());
        tokio::time::advance(cfg.request_timeout).await;
        conn.timers(&mut t, Instant::now());
        assert!(conn.fatal.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn empty_queue_snapshot_after_settle() {
        let cfg = config();
        let mut t = Translator::new();
        let mut conn = Connection::new(&cfg);
        conn.subscribe(
            &mut t,
            SubTarget::Queue {
                queue: QueueId::from("Sales"),
                guid: vec![1],
            },
            Instant::now(),
        );
        let s = last_subscribe(&mut conn);
        response(&mut conn, &mut t, s.requestid, 0);
        tokio::time::advance(SNAPSHOT_SETTLE - Duration::from_millis(1)).await;
        conn.timers(&mut t, Instant::now());
        assert!(conn.events.is_empty());
        tokio::time::advance(Duration::from_millis(1)).await;
        conn.timers(&mut t, Instant::now());
        assert!(matches!(
            &conn.events[..],
            [SessionEvent::Core(Event::QueueSnapshotCalls { calls, .. })] if calls.is_empty()
        ));
    }

    fn lines_notify(conn: &mut Connection, t: &mut Translator, notify_id: i32, n: pb::NotifyLines) {
        let msg = pb::Message {
            payload: Some(pb::message::Payload::Notify(pb::Notify {
                subscribe_id: 1,
                notify_id,
                label: String::new(),
                payload: Some(pb::notify::Payload::Lines(n)),
            })),
        };
        conn.received(t, &framing::encode(&msg, Framing::Framed), Instant::now());
    }

    fn line_user(i: u8) -> pb::LinesUser {
        pb::LinesUser {
            guid: vec![i],
            extn: format!("2{i:02}"),
            name: format!("A{i}"),
        }
    }

    /// The indexes agree with a scan of what they index.
    fn assert_indexes(conn: &Connection) {
        let scan_pending = conn
            .pending
            .values()
            .filter(|(_, p)| matches!(p, Pending::Subscribe(_)))
            .count();
        assert_eq!(conn.pending_subscribes, scan_pending);
        let mut followed: HashMap<String, usize> = HashMap::new();
        let mut queues = 0;
        for s in conn.subs.values() {
            match &s.target {
                SubTarget::User { agent, .. } => *followed.entry(agent.0.clone()).or_default() += 1,
                SubTarget::Queue { .. } => queues += 1,
                SubTarget::Lines => {}
            }
        }
        assert_eq!(conn.user_subs, followed.values().sum::<usize>());
        assert_eq!(conn.followed, followed);
        assert_eq!(conn.queue_subs, queues);
        let extns: HashMap<String, Vec<u8>> = conn
            .lines_users
            .iter()
            .map(|(g, u)| (u.extn.clone(), g.clone()))
            .collect();
        assert_eq!(conn.lines_extns, extns);
    }

    fn take_subscribes(conn: &mut Connection) -> Vec<pb::Subscribe> {
        conn.out
            .drain(..)
            .filter_map(|m| match m.payload {
                Some(pb::message::Payload::Subscribe(s)) => Some(s),
                _ => None,
            })
            .collect()
    }

    fn subscribed(conn: &mut Connection) -> Vec<(usize, usize)> {
        conn.events
            .drain(..)
            .filter_map(|e| match e {
                SessionEvent::Link(LinkStatus::Subscribed { users, queues }) => {
                    Some((users, queues))
                }
                _ => None,
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn subscription_indexes_follow_every_change() {
        let mut cfg = config();
        cfg.agents = AgentSelector::All;
        let mut t = Translator::new();
        let mut conn = Connection::new(&cfg);
        conn.subscribe(&mut t, SubTarget::Lines, Instant::now());
        let s = last_subscribe(&mut conn);
        response(&mut conn, &mut t, s.requestid, 0);
        assert_indexes(&conn);

        let users: Vec<pb::LinesUser> = (0..30).map(line_user).collect();
        let sales = pb::LinesQueue {
            guid: vec![200],
            extn: "500".into(),
            name: "Sales".into(),
        };
        lines_notify(
            &mut conn,
            &mut t,
            1,
            pb::NotifyLines {
                adduser: users.clone(),
                addqueue: vec![sales],
                ..Default::default()
            },
        );
        let subs = take_subscribes(&mut conn);
        assert_eq!(subs.len(), 31);
        assert_indexes(&conn);
        // The same users again: already followed, nothing new.
        lines_notify(
            &mut conn,
            &mut t,
            2,
            pb::NotifyLines {
                changeuser: users.clone(),
                ..Default::default()
            },
        );
        assert!(take_subscribes(&mut conn).is_empty());

        // Readiness only once the last subscribe is answered; a refused one does not count.
        let (last, rest) = subs.split_last().unwrap();
        response(&mut conn, &mut t, rest[0].requestid, 21);
        for s in &rest[1..] {
            response(&mut conn, &mut t, s.requestid, 0);
            assert!(subscribed(&mut conn).is_empty());
        }
        response(&mut conn, &mut t, last.requestid, 0);
        assert_eq!(subscribed(&mut conn), vec![(29, 1)]);
        assert_indexes(&conn);

        // A deleted user is forgotten; added back under a new extension it is followed again.
        let mut renumbered = users[5].clone();
        lines_notify(
            &mut conn,
            &mut t,
            3,
            pb::NotifyLines {
                deleteuser: vec![renumbered.clone()],
                ..Default::default()
            },
        );
        assert_indexes(&conn);
        assert!(!conn.followed.contains_key(&renumbered.extn));
        renumbered.extn = "999".into();
        lines_notify(
            &mut conn,
            &mut t,
            4,
            pb::NotifyLines {
                adduser: vec![renumbered],
                ..Default::default()
            },
        );
        let again = take_subscribes(&mut conn);
        assert_eq!(again.len(), 1);
        assert_indexes(&conn);
        response(&mut conn, &mut t, again[0].requestid, 0);
        // Same counts as already reported: no new Subscribed.
        assert!(subscribed(&mut conn).is_empty());
        assert_eq!((conn.user_subs, conn.queue_subs), (29, 1));
        assert!(conn.followed.contains_key("999"));

        conn.end_all(Instant::now());
        assert_indexes(&conn);
    }

    #[test]
    fn request_ids_wrap_and_skip_pending_ones() {
        let cfg = config();
        let mut conn = Connection::new(&cfg);
        let now = Instant::now();
        conn.next_request = i32::MAX - 1;
        assert_eq!(conn.request(Pending::End, now), i32::MAX);
        conn.pending.insert(1, (now, Pending::End));
        assert_eq!(conn.request(Pending::End, now), 2);
    }

    #[test]
    fn queue_selectors_parse() {
        assert_eq!(
            QueueSelector::parse("Sales"),
            QueueSelector::Name("Sales".into())
        );
        assert_eq!(
            QueueSelector::parse("guid:0a0b"),
            QueueSelector::Guid(vec![10, 11])
        );
        assert_eq!(
            QueueSelector::parse("guid:zz"),
            QueueSelector::Name("guid:zz".into())
        );
    }
}
