//! The tokio shell around the sans-IO [`acd_wire::LiveLive`]: it owns the websockets (one per
//! configured IP Office: with a primary and a secondary both are open at once, live-live), the
//! timer and the daemon's command channel, feeds the connections what happened with the time it
//! happened, and carries out what they ask (send these frames, open a socket, close it). All
//! protocol logic (requests, subscriptions, acks, refresh, Lines, reconnect pacing,
//! translation, the merge of the two systems) is in `acd-wire`, so the deterministic
//! simulation runs the same code.
//!
//! It is one task owning all state (no locks). Frames the connections produced (acks first) are
//! written before the events they came with are handed on.

use super::connect::{self, ConnectError, ConnectParams, Connected, Endpoint, WsStream};
use super::secret::Secret;
use super::tls::TlsOptions;
use acd_core::{Command, Event, Site, Timestamp};
use acd_wire::connection::{ConnectFailure, Fence};
use acd_wire::{ConnectionEvent, LiveLive};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
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
        }
    }

    pub(crate) fn connect_params<'a>(&'a self, endpoint: &'a Endpoint) -> ConnectParams<'a> {
        ConnectParams {
            endpoint,
            framing: self.protocol.framing,
            username: &self.username,
            password: &self.password,
            tls: &self.tls,
            timeout: self.protocol.request_timeout,
            max_frame_bytes: self.protocol.max_frame_bytes,
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

    pub fn status(&self) -> watch::Receiver<LinkStatus> {
        self.status.clone()
    }

    /// Ends every subscription (waiting for IP Office to confirm, at most the request
    /// timeout), closes the websocket with status 1000 and waits for the task to finish.
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
    let shell = Shell {
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

type ConnectFuture = Pin<Box<dyn Future<Output = Result<Connected, ConnectError>> + Send>>;

/// One IP Office's websocket.
#[derive(Default)]
struct Socket {
    sink: Option<SplitSink<WsStream, WsMessage>>,
    stream: Option<SplitStream<WsStream>>,
    connecting: Option<ConnectFuture>,
}

struct Shell {
    config: SessionConfig,
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
                        let deadline = Instant::now() + self.config.protocol.request_timeout;
                        self.shutdown = Some((Some(ack), deadline));
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
                self.sockets[site].sink = Some(sink);
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
            Some(Ok(WsMessage::Close(frame))) => Some(match frame {
                Some(f) => format!("IP Office closed the connection ({} {})", f.code, f.reason),
                None => "IP Office closed the connection".to_string(),
            }),
            Some(Ok(_)) => None,
            Some(Err(e)) => Some(format!("websocket error: {e}")),
            None => Some("IP Office closed the connection".to_string()),
        };
        if let Some(reason) = lost {
            self.sockets[site].sink = None;
            self.sockets[site].stream = None;
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

    /// Does what the connection asked: frames out first (acks included), then events. The
    /// frames are written together and flushed once.
    async fn carry_out(&mut self) -> Result<(), Orphaned> {
        let mut fed = vec![false; self.sockets.len()];
        while let Some((site, bytes)) = self.connection.poll_transmit() {
            let i = usize::from(site.0);
            let Some(sink) = self.sockets.get_mut(i).and_then(|s| s.sink.as_mut()) else {
                continue;
            };
            match sink.feed(WsMessage::Binary(bytes.into())).await {
                Ok(()) => fed[i] = true,
                Err(e) => self.send_failed(i, &e),
            }
        }
        for (i, fed) in fed.into_iter().enumerate() {
            if !fed {
                continue;
            }
            if let Some(sink) = self.sockets[i].sink.as_mut() {
                if let Err(e) = sink.flush().await {
                    self.send_failed(i, &e);
                }
            }
        }
        if let Some(written) = &self.config.on_written {
            let at = std::time::Instant::now();
            for cmd in self.unwritten.drain(..) {
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
                    self.sockets[i].connecting = Some(Box::pin(async move {
                        connect::connect(&config.connect_params(&endpoint)).await
                    }));
                }
                ConnectionEvent::Close { reason } => {
                    let Some(socket) = self.sockets.get_mut(i) else {
                        continue;
                    };
                    if let Some(mut sink) = socket.sink.take() {
                        let _ = sink
                            .send(WsMessage::Close(Some(CloseFrame {
                                code: CloseCode::Policy,
                                reason: truncate_reason(&reason).into(),
                            })))
                            .await;
                    }
                    socket.stream = None;
                }
            }
        }
        Ok(())
    }

    fn send_failed(&mut self, site: usize, e: &tokio_tungstenite::tungstenite::Error) {
        self.sockets[site].sink = None;
        self.sockets[site].stream = None;
        let now = self.now();
        self.connection.connection_lost(
            now,
            Site(site as u8),
            &format!("sending to IP Office failed: {e}"),
        );
    }

    /// Closes the websockets with status 1000 (or abruptly when `reason` is `None`).
    async fn close(&mut self, reason: Option<&str>) {
        for socket in &mut self.sockets {
            if let (Some(mut sink), Some(reason)) = (socket.sink.take(), reason) {
                let _ = sink
                    .send(WsMessage::Close(Some(CloseFrame {
                        code: CloseCode::Normal,
                        reason: reason.to_string().into(),
                    })))
                    .await;
                let _ = sink.close().await;
            }
            socket.stream = None;
        }
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
