//! The tokio shell around the sans-IO [`acd_wire::LiveLive`]: it owns the websockets (one per
//! configured IP Office: with a primary and a secondary both are open at once, live-live), the
//! timer and the daemon's command channel, feeds the connections what happened with the time it
//! happened, and carries out what they ask (send these frames, open a socket, close it). All
//! protocol logic (requests, subscriptions, acks, refresh, Lines, reconnect pacing,
//! translation, the merge of the two systems) is in `acd-wire`, so the deterministic
//! simulation runs the same code.
//!
//! It is one task owning all state (no locks), and it never waits on a socket: each socket's
//! writes go through a writer task of its own with a bounded queue ([`super::writer`]), so a
//! peer that stops reading stalls only its writer, and its connection's write deadline and
//! pings declare that link dead while the other system of a pair goes on being served. Frames
//! the connections produced (acks first) are queued for writing before the events they came
//! with are handed on.

use super::connect::{self, ConnectError, ConnectParams, Connected, Endpoint, WsStream};
use super::secret::Secret;
use super::tls::TlsOptions;
use super::writer::{self, Writer, WriterReport};
use acd_core::{Command, Event, Site, Timestamp};
use acd_wire::connection::{ConnectFailure, Fence};
use acd_wire::{ConnectionEvent, LiveLive};
use futures_util::stream::SplitStream;
use futures_util::{FutureExt, StreamExt};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tracing::{error, info, warn};

pub use acd_wire::connection::hint_for;
pub use acd_wire::connection::{
    AgentSelector, ConnectionConfig, QueueSelector, DEFAULT_QUEUE_CCFLAGS, DEFAULT_USER_CCFLAGS,
    EPHEMERAL_CCFLAG, LINES_FLAGS, SNAPSHOT_SETTLE,
};
pub use acd_wire::LinkStatus;

/// How long a shutdown waits for IP Office to confirm the end of the subscriptions (at most
/// the request timeout): SIGTERM must be honoured within 2 s whatever the link does.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

/// How long a closing socket may take to write its close frame before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// How long a link checked at shutdown ([`SessionHandle::probe`]) has to answer.
const PROBE_WITHIN: Duration = Duration::from_secs(1);

/// Most frames handled per loop turn when several are readable at once: enough to write
/// their acks together, few enough that the first frame's events are not held back long.
const READ_BURST: usize = 32;

/// Everything a session needs: where and how to connect (this shell's part) and the protocol
/// settings (the connection's part).
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Primary first, then an optional secondary: both connected at once (live-live).
    pub endpoints: Vec<Endpoint>,
    pub username: String,
    pub password: Secret,
    pub tls: TlsOptions,
    pub protocol: ConnectionConfig,
    /// Told when each command's frame has been written to the socket (the load benchmark's
    /// end of "notify in -> command out"); `None` in the daemon.
    pub on_written: Option<CommandWritten>,
    /// TCP keepalive on each socket: probes after this long without traffic.
    pub tcp_keepalive: Option<Duration>,
    /// Opens the websockets; `None`: [`connect::connect`] (TCP, TLS, upgrade). Tests put a
    /// transport there that can stall, go silent or half-close.
    pub connector: Option<Connector>,
}

/// The default TCP keepalive: probes after 5 s without traffic (the kernel gives up after
/// about 15 s of silence, the websocket's pings notice first).
pub const DEFAULT_TCP_KEEPALIVE: Duration = Duration::from_secs(5);

/// Opens one IP Office's websocket, given the system's index (0 primary) and its parameters.
#[derive(Clone)]
pub struct Connector(pub std::sync::Arc<ConnectFn>);

/// What a [`Connector`] calls.
pub type ConnectFn = dyn Fn(usize, SessionConfig) -> ConnectFuture + Send + Sync;

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connector(..)")
    }
}

/// A callback for each command written to the socket, with the time the write completed.
#[derive(Clone)]
pub struct CommandWritten(pub std::sync::Arc<WrittenFn>);

/// What [`CommandWritten`] calls: the command, and when its write completed.
pub type WrittenFn = dyn Fn(&Command, std::time::Instant) + Send + Sync;

impl std::fmt::Debug for CommandWritten {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommandWritten(..)")
    }
}

impl SessionConfig {
    /// A configuration with the documented defaults.
    pub fn new(endpoints: Vec<Endpoint>, username: impl Into<String>, password: Secret) -> Self {
        SessionConfig {
            endpoints,
            username: username.into(),
            password,
            tls: TlsOptions::default(),
            protocol: ConnectionConfig::default(),
            on_written: None,
            tcp_keepalive: Some(DEFAULT_TCP_KEEPALIVE),
            connector: None,
        }
    }

    /// What [`connect::connect`] needs to open `endpoint`'s websocket.
    pub fn connect_params<'a>(&'a self, endpoint: &'a Endpoint) -> ConnectParams<'a> {
        ConnectParams {
            endpoint,
            framing: self.protocol.framing,
            username: &self.username,
            password: &self.password,
            tls: &self.tls,
            timeout: self.protocol.request_timeout,
            max_frame_bytes: self.protocol.max_frame_bytes,
            tcp_keepalive: self.tcp_keepalive,
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
}

#[derive(Debug, Clone)]
pub enum SessionEvent {
    /// A core event, with when what produced it reached the session (the websocket frame read
    /// off the socket, the timer, or the command): latency is measured from there.
    Core(Event, std::time::Instant),
    Link(LinkStatus),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the PBX session has shut down")]
pub struct SessionClosed;

/// Who may send, as the daemon knows it: a lease's end on tokio's clock. The shell turns it
/// into the connection's [`Fence`] on the connection's own clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionFence {
    Open,
    LeaderUntil(Instant),
    Closed,
}

enum Control {
    Command(Command),
    Fence(SessionFence),
    FollowAgents(Vec<String>),
    Probe,
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

    /// Follows these extensions as agents too (agents a rules reload newly names).
    pub fn follow_agents(&self, extns: Vec<String>) -> Result<(), SessionClosed> {
        self.control
            .send(Control::FollowAgents(extns))
            .map_err(|_| SessionClosed)
    }

    /// Who may send from now on (a twin's leadership); commands queued before it are judged
    /// by the fence in force when the session takes them.
    pub fn set_fence(&self, fence: SessionFence) -> Result<(), SessionClosed> {
        self.control
            .send(Control::Fence(fence))
            .map_err(|_| SessionClosed)
    }

    /// Checks every link at once: a link that does not answer a ping (or take what is queued
    /// for it) within 1 s counts as lost, and the commands waiting on it are answered. A
    /// shutdown calls it first, so a dead link cannot hold SIGTERM up for its usual timeouts.
    pub fn probe(&self) -> Result<(), SessionClosed> {
        self.control.send(Control::Probe).map_err(|_| SessionClosed)
    }

    pub fn status(&self) -> watch::Receiver<LinkStatus> {
        self.status.clone()
    }

    /// Ends every subscription (waiting for IP Office to confirm, at most 1 s), closes the
    /// websockets with status 1000 and waits for the task to finish.
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
    config.warn_if_insecure();
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let (events_tx, events_rx) = mpsc::channel(1024);
    let (status_tx, status_rx) = watch::channel(LinkStatus::Disconnected {
        reason: "not connected yet".to_string(),
    });
    let labels: Vec<String> = config.endpoints.iter().map(|e| e.to_string()).collect();
    let sockets = (0..labels.len().max(1))
        .map(|_| Socket::default())
        .collect();
    let connection = LiveLive::new(config.protocol.clone(), labels, rand::random());
    let (reports_tx, reports) = mpsc::unbounded_channel();
    let shell = Shell {
        reports_tx,
        reports,
        generation: 0,
        config,
        connection,
        control: control_rx,
        events: events_tx,
        status: status_tx,
        started: Instant::now(),
        sockets,
        next_read: 0,
        shutdown: None,
        arrived: std::time::Instant::now(),
        stamped: std::collections::VecDeque::new(),
        unwritten: Vec::new(),
        yield_after: false,
    };
    let task = tokio::spawn(shell.run());
    (
        SessionHandle {
            control: control_tx,
            status: status_rx,
            task,
        },
        events_rx,
    )
}

/// A websocket being opened.
pub type ConnectFuture = Pin<Box<dyn Future<Output = Result<Connected, ConnectError>> + Send>>;

/// One IP Office's websocket: its writer task and its reading half.
#[derive(Default)]
struct Socket {
    writer: Option<Writer>,
    stream: Option<SplitStream<WsStream>>,
    connecting: Option<ConnectFuture>,
}

impl Socket {
    /// The link is gone: the socket is dropped at once.
    fn drop_now(&mut self) {
        if let Some(w) = self.writer.take() {
            w.abort();
        }
        self.stream = None;
    }

    /// Closes with a close frame, given [`CLOSE_GRACE`] to go out.
    fn close(&mut self, frame: Option<CloseFrame>) -> Option<tokio::task::JoinHandle<()>> {
        self.stream = None;
        self.writer.take().map(|w| w.close(frame, CLOSE_GRACE))
    }
}

struct Shell {
    config: SessionConfig,
    /// What the writer tasks report (written, failed), and the sender they get a copy of.
    reports: mpsc::UnboundedReceiver<writer::Report>,
    reports_tx: mpsc::UnboundedSender<writer::Report>,
    /// Numbers each writer, so a report from one replaced by a reconnect is ignored.
    generation: u64,
    connection: LiveLive,
    control: mpsc::UnboundedReceiver<Control>,
    events: mpsc::Sender<SessionEvent>,
    status: watch::Sender<LinkStatus>,
    started: Instant,
    /// One per configured IP Office, primary first.
    sockets: Vec<Socket>,
    /// The socket read first next time, so a busy one cannot starve the other.
    next_read: usize,
    /// Shutdown requested: who to tell, and when to stop waiting for IP Office.
    shutdown: Option<(Option<oneshot::Sender<()>>, Instant)>,
    /// When the input the connection is handling now reached the session.
    arrived: std::time::Instant,
    /// Events of frames handled in a burst, each with its own frame's arrival, waiting for
    /// the burst's frames (acks) to be written first.
    stamped: std::collections::VecDeque<(Site, ConnectionEvent, std::time::Instant)>,
    /// Commands handed to the connection whose frames are not written yet (only kept when
    /// `on_written` is set).
    unwritten: Vec<Command>,
    /// Frames were read: yield to the run loop after handing their events on.
    yield_after: bool,
}

/// The daemon dropped its receiver or handle: nobody listens any more.
struct Orphaned;

impl Shell {
    /// The connection's clock: milliseconds since the session started (tokio's clock, so
    /// paused-time tests drive it).
    fn now(&self) -> Timestamp {
        Timestamp(self.started.elapsed().as_millis() as u64)
    }

    fn instant(&self, at: Timestamp) -> Instant {
        self.started + Duration::from_millis(at.0)
    }

    async fn run(mut self) {
        loop {
            if self.carry_out().await.is_err() {
                self.close(None).await;
                return;
            }
            if std::mem::take(&mut self.yield_after) {
                tokio::task::yield_now().await;
            }
            if let Some((_, deadline)) = &self.shutdown {
                if self.connection.is_shut_down() || Instant::now() >= *deadline {
                    let ack = self.shutdown.take().and_then(|(ack, _)| ack);
                    self.close(Some("engine shutting down")).await;
                    let _ = self.status.send(LinkStatus::Disconnected {
                        reason: "shut down".to_string(),
                    });
                    if let Some(ack) = ack {
                        let _ = ack.send(());
                    }
                    return;
                }
            }
            let timeout = self.connection.poll_timeout().map(|t| self.instant(t));
            let shutdown_at = self.shutdown.as_ref().map(|(_, d)| *d);
            let wake = [timeout, shutdown_at].into_iter().flatten().min();
            let first = self.next_read;
            let sockets = &mut self.sockets;
            // Commands first: under a notify flood a command handed over by the run loop
            // otherwise waited behind random picks of the (always ready) socket and its bursts.
            tokio::select! {
                biased;
                control = self.control.recv(), if self.shutdown.is_none() => {
                self.arrived = std::time::Instant::now();
                match control {
                    None => {
                        self.close(None).await;
                        return;
                    }
                    Some(Control::Shutdown(ack)) => {
                        let now = self.now();
                        self.connection.shutdown(now);
                        for socket in &mut self.sockets {
                            socket.connecting = None;
                        }
                        let wait = SHUTDOWN_WAIT.min(self.config.protocol.request_timeout);
                        self.shutdown = Some((Some(ack), Instant::now() + wait));
                    }
                    Some(Control::Probe) => {
                        let now = self.now();
                        self.connection.probe(now, PROBE_WITHIN);
                    }
                    Some(Control::Command(cmd)) => {
                        let now = self.now();
                        if self.config.on_written.is_some() {
                            self.unwritten.push(cmd.clone());
                        }
                        self.connection.handle_command(now, cmd);
                    }
                    Some(Control::Fence(fence)) => {
                        let now = self.now();
                        let fence = match fence {
                            SessionFence::Open => Fence::Open,
                            SessionFence::LeaderUntil(at) => Fence::LeaderUntil(Timestamp(
                                at.saturating_duration_since(self.started).as_millis() as u64,
                            )),
                            SessionFence::Closed => Fence::Closed,
                        };
                        self.connection.set_fence(now, fence);
                    }
                    Some(Control::FollowAgents(extns)) => {
                        let now = self.now();
                        self.connection.follow_agents(now, &extns);
                    }
                }},
                happened = on_socket(sockets, first) => match happened {
                SocketEvent::Opened(site, result) => {
                    self.sockets[site].connecting = None;
                    self.connect_done(site, *result);
                }
                SocketEvent::Read(site, msg) => {
                    self.next_read = (site + 1) % self.sockets.len().max(1);
                    self.received(site, msg);
                    self.received_burst(site);
                    // Give the run loop its turn once the burst's events are handed on: on a
                    // busy socket this task could otherwise read on until tokio's budget ran
                    // out, with the run loop's events queueing behind (milliseconds of
                    // latency under a notify flood).
                    self.yield_after = true;
                }
                },
                Some(report) = self.reports.recv() => self.writer_report(report),
                _ = async { match wake { Some(at) => sleep_until(at).await, None => std::future::pending().await } } => {
                    self.arrived = std::time::Instant::now();
                    let now = self.now();
                    self.connection.handle_timeout(now);
                }
            }
        }
    }

    fn label(&self, site: usize) -> String {
        self.config
            .endpoints
            .get(site)
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    fn connect_done(&mut self, site: usize, result: Result<Connected, ConnectError>) {
        let now = self.now();
        let label = self.label(site);
        let id = Site(site as u8);
        match result {
            Ok(c) => {
                match &c.fingerprint {
                    Some(f) => info!(endpoint = %label, fingerprint = %f, "websocket open"),
                    None => info!(endpoint = %label, "websocket open"),
                }
                let (sink, stream) = c.ws.split();
                self.generation += 1;
                self.sockets[site].writer = Some(Writer::spawn(
                    sink,
                    site,
                    self.generation,
                    self.reports_tx.clone(),
                    self.config.on_written.clone(),
                ));
                self.sockets[site].stream = Some(stream);
                self.connection.connected(now, id);
            }
            Err(e) => {
                log_connect_error(&label, &e);
                let failure = match e {
                    ConnectError::Unauthorized | ConnectError::Forbidden => {
                        ConnectFailure::Authentication
                    }
                    _ => ConnectFailure::Other,
                };
                self.connection
                    .connect_failed(now, id, &e.to_string(), failure);
            }
        }
    }

    fn received(
        &mut self,
        site: usize,
        msg: Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>,
    ) {
        self.arrived = std::time::Instant::now();
        let now = self.now();
        let id = Site(site as u8);
        let lost = match msg {
            Some(Ok(WsMessage::Binary(bytes))) => {
                self.connection.handle_frame(now, id, &bytes);
                while let Some((from, ev)) = self.connection.poll_event() {
                    self.stamped.push_back((from, ev, self.arrived));
                }
                None
            }
            Some(Ok(WsMessage::Text(text))) => {
                self.connection.handle_text(id, text.len());
                None
            }
            Some(Ok(WsMessage::Pong(_))) => {
                self.connection.handle_pong(now, id);
                None
            }
            Some(Ok(WsMessage::Close(frame))) => Some(match frame {
                Some(f) => format!("IP Office closed the connection ({} {})", f.code, f.reason),
                None => "IP Office closed the connection".to_string(),
            }),
            Some(Ok(_)) => None,
            Some(Err(e)) => Some(read_error(&e, self.config.protocol.max_frame_bytes)),
            None => Some("IP Office closed the connection".to_string()),
        };
        if let Some(reason) = lost {
            self.sockets[site].drop_now();
            self.connection.connection_lost(now, id, &reason);
        }
    }

    /// Handles the frames that are already readable without waiting, up to [`READ_BURST`],
    /// so that their acks go out in one write (a write per ack was a fifth of the engine's
    /// time under a notify flood) and the loop turns once per burst, not per frame.
    fn received_burst(&mut self, site: usize) {
        for _ in 0..READ_BURST {
            let Some(stream) = self.sockets[site].stream.as_mut() else {
                return;
            };
            match stream.next().now_or_never() {
                Some(msg) => self.received(site, msg),
                None => return,
            }
        }
    }

    /// Does what the connection asked: frames out first (acks included), queued for each
    /// socket's writer as one batch, then events. Nothing here waits on a socket.
    async fn carry_out(&mut self) -> Result<(), Orphaned> {
        let mut batches: Vec<Vec<WsMessage>> = vec![Vec::new(); self.sockets.len()];
        while let Some((site, bytes)) = self.connection.poll_transmit() {
            if let Some(batch) = batches.get_mut(usize::from(site.0)) {
                batch.push(WsMessage::Binary(bytes.into()));
            }
        }
        let mut commands = std::mem::take(&mut self.unwritten);
        for (i, batch) in batches.into_iter().enumerate() {
            if !batch.is_empty() {
                // The load bench's commands ride with the batch and are told when it is written.
                self.write(i, batch, std::mem::take(&mut commands));
            }
        }
        if let Some(written) = &self.config.on_written {
            let at = std::time::Instant::now();
            for cmd in commands {
                (written.0)(&cmd, at);
            }
        }
        while let Some((site, ev, arrived)) = self.stamped.pop_front().or_else(|| {
            self.connection
                .poll_event()
                .map(|(site, ev)| (site, ev, self.arrived))
        }) {
            let i = usize::from(site.0);
            match ev {
                ConnectionEvent::Core(e) => self
                    .events
                    .send(SessionEvent::Core(e, arrived))
                    .await
                    .map_err(|_| Orphaned)?,
                ConnectionEvent::Link(l) => {
                    if self.sockets.len() > 1 {
                        info!(system = %site, link = %l, "IP Office link");
                    }
                    // The run loop and health checks see the pair's best link: routing goes
                    // on while either system is subscribed.
                    let merged = self.connection.link_status();
                    let _ = self.status.send(merged.clone());
                    self.events
                        .send(SessionEvent::Link(merged))
                        .await
                        .map_err(|_| Orphaned)?;
                }
                ConnectionEvent::Connect { .. } => {
                    let Some(endpoint) = self.config.endpoints.get(i).cloned() else {
                        continue;
                    };
                    info!(endpoint = %endpoint, "connecting to IP Office");
                    let config = self.config.clone();
                    self.sockets[i].connecting = Some(match &self.config.connector {
                        Some(connector) => (connector.0)(i, config),
                        None => Box::pin(async move {
                            connect::connect(&config.connect_params(&endpoint)).await
                        }),
                    });
                }
                ConnectionEvent::Close { reason } => {
                    if let Some(socket) = self.sockets.get_mut(i) {
                        // Not waited for: a peer that stopped reading never takes it.
                        socket.close(Some(CloseFrame {
                            code: CloseCode::Policy,
                            reason: truncate_reason(&reason).into(),
                        }));
                    }
                }
                ConnectionEvent::Ping => {
                    self.write(i, vec![WsMessage::Ping(Vec::new().into())], Vec::new())
                }
            }
        }
        Ok(())
    }

    /// Queues messages for a socket's writer. A queue still full means the peer has not
    /// read for a long while: the link is lost.
    fn write(&mut self, site: usize, messages: Vec<WsMessage>, commands: Vec<Command>) {
        let Some(writer) = self.sockets.get(site).and_then(|s| s.writer.as_ref()) else {
            return;
        };
        if writer.send(messages, commands).is_err() {
            self.lost(
                site,
                format!(
                    "IP Office is not taking the engine's data: {} writes are waiting",
                    writer::QUEUE_BATCHES
                ),
            );
        }
    }

    fn writer_report(&mut self, report: writer::Report) {
        let current = self
            .sockets
            .get(report.site)
            .and_then(|s| s.writer.as_ref())
            .is_some_and(|w| w.generation == report.generation);
        if !current {
            return;
        }
        self.arrived = std::time::Instant::now();
        match report.what {
            WriterReport::Written { count } => self
                .connection
                .handle_written(Site(report.site as u8), count),
            WriterReport::Failed { reason } => self.lost(report.site, reason),
        }
    }

    fn lost(&mut self, site: usize, reason: String) {
        self.sockets[site].drop_now();
        let now = self.now();
        self.connection
            .connection_lost(now, Site(site as u8), &reason);
    }

    /// Closes the websockets with status 1000 (or abruptly when `reason` is `None`), each
    /// given [`CLOSE_GRACE`] for its close frame.
    async fn close(&mut self, reason: Option<&str>) {
        let mut closing = Vec::new();
        for socket in &mut self.sockets {
            match reason {
                Some(reason) => closing.extend(socket.close(Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: reason.to_string().into(),
                }))),
                None => socket.drop_now(),
            }
        }
        for task in closing {
            let _ = task.await;
        }
    }
}

/// Why reading failed, in words: a message over the limit and text that is not UTF-8 are IP
/// Office's (or a proxy's) doing and said so, not a generic websocket error.
fn read_error(e: &tokio_tungstenite::tungstenite::Error, max_frame_bytes: usize) -> String {
    use tokio_tungstenite::tungstenite::error::CapacityError;
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Capacity(CapacityError::MessageTooLong { size, max_size }) => format!(
            "IP Office sent a message of {size} bytes, over the {max_size} bytes the engine \
             reads at most (frames up to {max_frame_bytes} bytes are expected)"
        ),
        Error::Capacity(other) => format!("IP Office sent a message too large to read: {other}"),
        Error::Utf8(_) => format!("IP Office sent a text message that is not valid UTF-8: {e}"),
        Error::Protocol(
            tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => "IP Office closed the connection without a websocket close".to_string(),
        other => format!("websocket error: {other}"),
    }
}

type WsRead = Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>;

/// What happened on one of the sockets.
enum SocketEvent {
    /// Its connection attempt finished.
    Opened(usize, Box<Result<Connected, ConnectError>>),
    /// It has a message (or closed).
    Read(usize, WsRead),
}

/// The next thing to happen on any socket: attempts that finished first, then reads, starting
/// at `first` so a busy socket cannot starve the other.
async fn on_socket(sockets: &mut [Socket], first: usize) -> SocketEvent {
    let n = sockets.len();
    std::future::poll_fn(|cx| {
        for (i, socket) in sockets.iter_mut().enumerate() {
            if let Some(f) = socket.connecting.as_mut() {
                if let Poll::Ready(result) = f.as_mut().poll(cx) {
                    return Poll::Ready(SocketEvent::Opened(i, Box::new(result)));
                }
            }
        }
        for k in 0..n {
            let i = (first + k) % n;
            if let Some(stream) = sockets[i].stream.as_mut() {
                if let Poll::Ready(msg) = stream.poll_next_unpin(cx) {
                    return Poll::Ready(SocketEvent::Read(i, msg));
                }
            }
        }
        Poll::Pending
    })
    .await
}

/// A close frame's reason must fit in 123 bytes.
fn truncate_reason(reason: &str) -> String {
    let mut end = reason.len().min(120);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}

fn log_connect_error(endpoint: &str, e: &ConnectError) {
    match e {
        ConnectError::Unreachable { .. } | ConnectError::Timeout { .. } => {
            warn!(endpoint, kind = e.kind(), "cannot connect: {e}")
        }
        _ => error!(endpoint, kind = e.kind(), "cannot connect: {e}"),
    }
}
