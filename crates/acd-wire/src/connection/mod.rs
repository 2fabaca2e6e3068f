//! The MT-CTI3 session as a sans-IO state machine, in the shape of quinn-proto's `Connection`:
//! the caller feeds it what happened (`handle_frame`, `handle_command`, `handle_timeout`, and
//! the socket's fate: `connected`, `connect_failed`, `connection_lost`) with the time it
//! happened, and polls what to do (`poll_transmit`: frames to send, `poll_event`: events for
//! the routing core, link changes and when to open a socket, `poll_timeout`: when to call
//! back). It never reads a clock and never touches a socket, so the daemon's tokio shell,
//! the routing study and the deterministic simulation run exactly this code.
//!
//! What lives here and not in [`link::Link`] outlives a single websocket: the translator (call
//! identities survive a reconnect for a grace period), the agents already reported to the core
//! (so those gone while disconnected are removed), and the reconnect pacing.

mod config;
mod fence;
mod keepalive;
mod lines;
mod link;
mod requests;
mod subscriptions;

pub use config::{
    AgentSelector, ConnectionConfig, QueueSelector, DEFAULT_PING_INTERVAL, DEFAULT_PONG_TIMEOUT,
    DEFAULT_QUEUE_CCFLAGS, DEFAULT_USER_CCFLAGS, DEFAULT_WRITE_TIMEOUT, EPHEMERAL_CCFLAG,
    LINES_FLAGS, QUEUE_FLAGS, SNAPSHOT_SETTLE,
};
pub use fence::Fence;

use crate::backoff::BackoffState;
use crate::framing;
use crate::metrics;
use crate::result_code::{ResultCode, WireResult};
use crate::translate::{command_label, Translator};
use acd_core::{AgentId, Command, CommandId, CommandOutcome, Event, Site, Timestamp};
use link::Link;
use rand::SeedableRng;
use requests::Pending;
use std::collections::{BTreeSet, VecDeque};
use tracing::{info, warn};

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

impl std::fmt::Display for LinkStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkStatus::Connecting { endpoint } => write!(f, "connecting to {endpoint}"),
            LinkStatus::Connected { endpoint } => write!(f, "connected to {endpoint}"),
            LinkStatus::Subscribed { users, queues } => {
                write!(f, "subscribed to {users} users and {queues} queues")
            }
            LinkStatus::Disconnected { reason } => write!(f, "disconnected: {reason}"),
        }
    }
}

/// What the connection asks of its caller.
#[derive(Debug, Clone)]
pub enum ConnectionEvent {
    /// For the routing core.
    Core(Event),
    /// The link changed (health, readiness, logs).
    Link(LinkStatus),
    /// Open a websocket to `endpoints[endpoint]`, then call `connected` or `connect_failed`.
    Connect { endpoint: usize },
    /// Close the websocket: the connection cannot go on (it is already counted as lost).
    Close { reason: String },
    /// Send a websocket ping on this connection's socket. It counts as a frame: report it in
    /// `handle_written` once written, and its answer with `handle_pong`.
    Ping,
}

/// Why a connection attempt failed, as far as pacing and metrics care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    /// IP Office refused the credentials (HTTP 401/403): retrying cannot help until an
    /// administrator acts, but it keeps retrying so the engine recovers by itself.
    Authentication,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting until this time before the next attempt.
    Waiting(Timestamp),
    Connecting(usize),
    Up(usize),
    /// `shutdown` was called: no reconnect; done once the SubscribeEnds are answered.
    ShuttingDown,
    Stopped,
}

pub struct Connection {
    config: ConnectionConfig,
    /// Which IP Office of a resilient pair this connection serves (its calls' id range).
    site: Site,
    endpoints: Vec<String>,
    translator: Translator,
    /// Agents reported to the core, so that ones gone while disconnected can be removed.
    known_agents: BTreeSet<AgentId>,
    link: Option<Link>,
    phase: Phase,
    backoff: BackoffState,
    rng: rand_chacha::ChaCha8Rng,
    endpoint: usize,
    connected_before: bool,
    /// The first Lines snapshot of the current link has not been compared yet.
    first_lines: bool,
    shutdown_requests: BTreeSet<i32>,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<ConnectionEvent>,
    /// Who may send now (a twin's fencing check; `Open` when the engine runs alone).
    fence: Fence,
    /// Commands the fence held back, in arrival order, each with the time it is given up
    /// (`NotSent`) unless the fence opens first.
    withheld: VecDeque<(Timestamp, CommandId)>,
}

impl Connection {
    /// A connection that will ask to connect to the first endpoint at once. `seed` drives the
    /// reconnect jitter (the daemon passes a random one, simulations a fixed one).
    pub fn new(config: ConnectionConfig, endpoints: Vec<String>, seed: u64) -> Connection {
        Connection::for_site(config, endpoints, Site::PRIMARY, seed)
    }

    /// A connection to one system of a resilient pair (see [`crate::LiveLive`]): its calls are
    /// numbered in `site`'s range and its restarts hold only them.
    pub fn for_site(
        config: ConnectionConfig,
        endpoints: Vec<String>,
        site: Site,
        seed: u64,
    ) -> Connection {
        metrics::describe();
        for endpoint in &endpoints {
            metrics::register_endpoint(endpoint);
        }
        let mut c = Connection {
            backoff: BackoffState::new(config.backoff),
            config,
            site,
            endpoints,
            translator: Translator::for_site(site),
            known_agents: BTreeSet::new(),
            link: None,
            phase: Phase::Stopped,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
            endpoint: 0,
            connected_before: false,
            first_lines: true,
            shutdown_requests: BTreeSet::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            fence: Fence::Open,
            withheld: VecDeque::new(),
        };
        if c.endpoints.is_empty() {
            c.events
                .push_back(ConnectionEvent::Link(LinkStatus::Disconnected {
                    reason: "no IP Office endpoint configured".into(),
                }));
        } else {
            c.start_attempt();
        }
        c
    }

    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    pub fn translator(&self) -> &Translator {
        &self.translator
    }

    pub fn site(&self) -> Site {
        self.site
    }

    /// Whether a websocket is up and serving.
    pub fn is_up(&self) -> bool {
        matches!(self.phase, Phase::Up(_))
    }

    /// The endpoint of the current or next attempt.
    pub fn endpoint_label(&self) -> &str {
        self.endpoints
            .get(self.endpoint % self.endpoints.len().max(1))
            .map_or("", String::as_str)
    }

    fn start_attempt(&mut self) {
        let endpoint = self.endpoint % self.endpoints.len().max(1);
        self.phase = Phase::Connecting(endpoint);
        let label = self.endpoint_label().to_string();
        metrics::connect_attempt(&label);
        self.events
            .push_back(ConnectionEvent::Link(LinkStatus::Connecting {
                endpoint: label,
            }));
        self.events.push_back(ConnectionEvent::Connect { endpoint });
    }

    /// The websocket asked for with `Connect` is up.
    pub fn connected(&mut self, now: Timestamp) {
        let Phase::Connecting(endpoint) = self.phase else {
            return;
        };
        let label = self.endpoint_label().to_string();
        self.backoff.reset();
        metrics::set_connected(&label, true);
        if self.connected_before {
            metrics::reconnected(&label);
        }
        self.connected_before = true;
        info!(endpoint = %label, "connected to IP Office");
        self.phase = Phase::Up(endpoint);
        self.first_lines = true;
        self.events
            .push_back(ConnectionEvent::Link(LinkStatus::Connected {
                endpoint: label,
            }));
        // Every subscription starts over: the core holds its calls until they are reported.
        self.events
            .push_back(ConnectionEvent::Core(Event::LinkRestarted(self.site)));
        self.translator.reset_connection(now);
        let mut link = Link::new(&self.config, now);
        link.subscribe(&mut self.translator, subscriptions::SubTarget::Lines, now);
        self.link = Some(link);
        self.flush(now);
    }

    /// The websocket asked for with `Connect` could not be opened.
    pub fn connect_failed(&mut self, now: Timestamp, reason: &str, failure: ConnectFailure) {
        if !matches!(self.phase, Phase::Connecting(_)) {
            return;
        }
        let label = self.endpoint_label().to_string();
        if failure == ConnectFailure::Authentication {
            metrics::auth_failure(&label);
        }
        // The next attempt tries the other IP Office, if there is one.
        self.endpoint += 1;
        self.schedule_reconnect(now, reason.to_string());
    }

    /// The websocket closed or failed.
    pub fn connection_lost(&mut self, now: Timestamp, reason: &str) {
        match self.phase {
            Phase::Up(_) => {
                warn!(endpoint = %self.endpoint_label(), reason = %reason, "the link to IP Office was lost");
                self.lose(now, reason.to_string())
            }
            Phase::ShuttingDown => {
                self.link = None;
                self.phase = Phase::Stopped;
            }
            _ => {}
        }
    }

    fn lose(&mut self, now: Timestamp, reason: String) {
        let label = self.endpoint_label().to_string();
        metrics::set_connected(&label, false);
        // What the core believes about this system's calls is stale from now on: it stops
        // offering them (a transfer could only be refused) until their queues report them
        // again. With a resilient pair the other system's calls go on being routed.
        self.events
            .push_back(ConnectionEvent::Core(Event::LinkRestarted(self.site)));
        if let Some(mut link) = self.link.take() {
            // Held for a fresh snapshot that will not come on this link: nothing was sent.
            for (kind, id) in link.take_held() {
                metrics::command(kind, "not_connected".to_string());
                self.events.push_back(ConnectionEvent::Core(command_failed(
                    id,
                    ResultCode::RequestInvalidContext,
                )));
            }
            // Commands whose answer died with the connection: their outcome is unknown, as
            // after a request timeout. The core must hear about every command it sent, or it
            // would wait for them forever.
            for pending in link.requests.drain() {
                if let Pending::Command { id, kind } = pending {
                    metrics::command(
                        kind,
                        WireResult::Known(ResultCode::RequestTimeout).metric_label(),
                    );
                    self.events.push_back(ConnectionEvent::Core(command_failed(
                        id,
                        ResultCode::RequestTimeout,
                    )));
                }
            }
        }
        self.schedule_reconnect(now, reason);
    }

    fn schedule_reconnect(&mut self, now: Timestamp, reason: String) {
        let delay = self.backoff.next_delay(&mut self.rng);
        info!(?delay, reason = %reason, "reconnecting after backoff");
        self.events
            .push_back(ConnectionEvent::Link(LinkStatus::Disconnected { reason }));
        self.phase = Phase::Waiting(now + delay);
    }

    /// Follows these extensions as agents too (agents a rules reload newly names): subscribed
    /// at once if the link is up and Lines lists them, and on every later connection.
    pub fn follow_agents(&mut self, now: Timestamp, extns: &[String]) {
        self.config.agents.add(extns);
        if let Some(link) = self.link.as_mut() {
            link.config.agents.add(extns);
            for extn in extns {
                link.follow_agent(&mut self.translator, extn, now);
            }
            self.flush(now);
        }
    }

    /// A binary websocket message arrived.
    pub fn handle_frame(&mut self, now: Timestamp, bytes: &[u8]) {
        if let Some(link) = self.link.as_mut() {
            link.received(&mut self.translator, bytes, now);
            self.flush(now);
        }
    }

    /// IP Office answered a websocket ping.
    pub fn handle_pong(&mut self, _now: Timestamp) {
        if let Some(link) = self.link.as_mut() {
            link.keepalive.pong();
        }
    }

    /// The caller wrote this many of the frames and pings it was handed (oldest first) to the
    /// socket. A frame not reported written within `write_timeout` ends the link: IP Office
    /// (or a proxy on the way) stopped reading.
    pub fn handle_written(&mut self, count: usize) {
        if let Some(link) = self.link.as_mut() {
            link.keepalive.written(count);
        }
    }

    /// Checks the link at once, for a shutdown that must not wait out a dead link's usual
    /// timeouts: a ping that must be answered, and what was handed out written, within
    /// `within`, or the link counts as lost (and the commands waiting on it are answered).
    pub fn probe(&mut self, now: Timestamp, within: std::time::Duration) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        if link.keepalive.probe(now, within) {
            self.events.push_back(ConnectionEvent::Ping);
        }
    }

    /// A text websocket message arrived: not part of MT-CTI3.
    pub fn handle_text(&mut self, len: usize) {
        if let Some(link) = self.link.as_mut() {
            link.frame_error(framing::FrameError::TextMessage { len });
        }
    }

    /// Who may send from now on. A fence that starts allowing (the engine took the lead)
    /// gives up every withheld command at once with `NotSent`, so the core routes those calls
    /// again from what IP Office reports rather than waiting out their deadlines.
    ///
    /// Taking the lead, the engine's view of the queues may lag what the old leader last did
    /// (its transfer reached IP Office, the notify showing it has not reached us): the core
    /// holds this system's calls (`LinkRestarted`) and every queue subscription starts over,
    /// so each call is routed from a snapshot taken after the takeover, never offered twice.
    pub fn set_fence(&mut self, now: Timestamp, fence: Fence) {
        let opened = !self.fence.allows(now) && fence.allows(now);
        self.fence = fence;
        if opened {
            if let (Phase::Up(_), Some(link)) = (self.phase, self.link.as_mut()) {
                self.events
                    .push_back(ConnectionEvent::Core(Event::LinkRestarted(self.site)));
                link.resubscribe_queues(&mut self.translator, now);
            }
            while let Some((_, id)) = self.withheld.pop_front() {
                self.events.push_back(ConnectionEvent::Core(not_sent(id)));
            }
            self.flush(now);
        }
    }

    pub fn fence(&self) -> Fence {
        self.fence
    }

    /// A command from the routing core. Its outcome comes back as `Event::CommandResult`.
    pub fn handle_command(&mut self, now: Timestamp, cmd: Command) {
        if !self.fence.allows(now) {
            // Not the leader (or no longer sure to be): nothing goes out. The outcome is given
            // later, never now, so the core cannot loop on it at one instant.
            metrics::command_withheld(command_label(&cmd.kind));
            self.withheld
                .push_back((now + self.config.request_timeout, cmd.id));
            return;
        }
        match (self.phase, self.link.as_mut()) {
            (Phase::Up(_), Some(link)) => {
                link.command(&mut self.translator, cmd, now);
                self.flush(now);
            }
            _ => {
                metrics::command(command_label(&cmd.kind), "not_connected".to_string());
                self.events.push_back(ConnectionEvent::Core(command_failed(
                    cmd.id,
                    ResultCode::RequestInvalidContext,
                )));
            }
        }
    }

    /// Time has come (see `poll_timeout`).
    pub fn handle_timeout(&mut self, now: Timestamp) {
        // Withheld commands whose time is up: nothing was sent, so nothing happened.
        let (due, kept): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.withheld)
            .into_iter()
            .partition(|(deadline, _)| *deadline <= now);
        self.withheld = kept;
        for (_, id) in due {
            self.events.push_back(ConnectionEvent::Core(not_sent(id)));
        }
        self.events.extend(
            self.translator
                .due_endings(now)
                .into_iter()
                .map(ConnectionEvent::Core),
        );
        if let Some(link) = self.link.as_mut() {
            link.timers(&mut self.translator, now);
            self.flush(now);
        }
        if let Phase::Waiting(at) = self.phase {
            if at <= now {
                self.start_attempt();
            }
        }
    }

    /// Ends every subscription and stops reconnecting. The caller sends what
    /// `poll_transmit` gives, waits (bounded) until `is_shut_down`, then closes the socket.
    pub fn shutdown(&mut self, now: Timestamp) {
        match (self.phase, self.link.as_mut()) {
            (Phase::Up(_), Some(link)) => {
                self.shutdown_requests = link.end_all(now).into_iter().collect();
                self.phase = Phase::ShuttingDown;
                self.flush(now);
            }
            _ => {
                self.link = None;
                self.phase = Phase::Stopped;
            }
        }
    }

    /// Some subscription IP Office terminated is not made again yet (its backoff runs, or its
    /// Subscribe awaits the answer): what the engine sees of that target is not current.
    pub fn resubscribing(&self) -> bool {
        self.link.as_ref().is_some_and(|l| {
            l.terminations.next_deadline().is_some() || l.requests.subscribes_pending() > 0
        })
    }

    /// After `shutdown`: every SubscribeEnd has been answered (or nothing was open).
    pub fn is_shut_down(&self) -> bool {
        match self.phase {
            Phase::Stopped => true,
            Phase::ShuttingDown => self.link.as_ref().is_none_or(|l| {
                self.shutdown_requests
                    .iter()
                    .all(|r| !l.requests.is_pending(*r))
            }),
            _ => false,
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<ConnectionEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let waiting = match self.phase {
            Phase::Waiting(at) => Some(at),
            _ => None,
        };
        let link = self.link.as_ref().and_then(Link::next_deadline);
        let withheld = self.withheld.iter().map(|(deadline, _)| *deadline).min();
        [waiting, link, self.translator.next_ending(), withheld]
            .into_iter()
            .flatten()
            .min()
    }

    /// Moves what the link produced to the caller's queues, in order: frames (acks first, as
    /// they were produced) and events.
    fn flush(&mut self, now: Timestamp) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        for msg in link.out.drain(..) {
            self.transmit
                .push_back(framing::encode(&msg, self.config.framing));
            link.keepalive.handed_out(now);
        }
        for ev in link.events.drain(..) {
            if let ConnectionEvent::Core(Event::AgentChanged(s)) = &ev {
                self.known_agents.insert(s.agent.clone());
            }
            if let ConnectionEvent::Core(Event::AgentRemoved(a)) = &ev {
                self.known_agents.remove(a);
            }
            self.events.push_back(ev);
        }
        if link.lines_ready && self.first_lines {
            self.first_lines = false;
            let gone: Vec<AgentId> = self
                .known_agents
                .iter()
                .filter(|a| !link.lines.has_user(&a.0))
                .cloned()
                .collect();
            for agent in gone {
                self.known_agents.remove(&agent);
                self.events
                    .push_back(ConnectionEvent::Core(Event::AgentRemoved(agent)));
            }
        }
        if let Some(reason) = link.fatal.take() {
            warn!(endpoint = %self.endpoint_label(), reason = %reason, "the connection to IP Office cannot go on");
            self.events.push_back(ConnectionEvent::Close {
                reason: reason.clone(),
            });
            if self.phase == Phase::ShuttingDown {
                // Leaving anyway: no reconnect, and nothing more to wait for.
                let label = self.endpoint_label().to_string();
                metrics::set_connected(&label, false);
                self.link = None;
                self.phase = Phase::Stopped;
            } else {
                self.lose(now, reason);
            }
        }
    }
}

pub(crate) fn command_failed(id: CommandId, code: ResultCode) -> Event {
    Event::CommandResult {
        id,
        outcome: CommandOutcome::Failed(code.code() as u32),
    }
}

fn not_sent(id: CommandId) -> Event {
    Event::CommandResult {
        id,
        outcome: CommandOutcome::NotSent,
    }
}

/// What an administrator can do about a refused Lines subscription.
pub fn hint_for(result: WireResult) -> &'static str {
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

#[cfg(test)]
mod deadline_tests;
#[cfg(test)]
mod tests;
