//! The MT-CTI3 protocol server: the simulator seen through a socket, as an ACD sees a real
//! IP Office. It advances the model in real time (times a speed factor) and serves each
//! connection from [`session`], which renders the model into Notifies.
//!
//! Tests and the daemon start it in-process with [`SimServer::start`] on `127.0.0.1:0`.

mod faults;
mod handshake;
mod interest;
mod render;
pub mod session;
mod tls;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use acd_core::Timestamp;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::error::SimError;
use super::model::{Model, Status};
use super::scenario::Scenario;
use super::stats::SimSummary;
use acd_wire::endpoint::Endpoint;
pub use acd_wire::flags::{ccflags, lines as lines_flags, queue::MEMBERS as QUEUE_FLAG_MEMBERS};
use acd_wire::framing::Framing;
use faults::ConnFault;
pub use faults::{CommandFaults, FaultInjector};
pub use session::SimConnection;
pub use tls::TlsMode;

/// IP Office accepts at most this many MT-CTI3 connections.
pub const MAX_CONNECTIONS: usize = 10;

#[derive(Debug, Clone)]
pub struct SimServerConfig {
    pub listen: SocketAddr,
    pub tls: TlsMode,
    pub scenario: Scenario,
    /// Virtual seconds per real second; 0 stops the clock (tests then use `SimHandle::advance`).
    pub speed: f64,
    /// How often the clock task advances the model.
    pub tick: Duration,
    pub max_connections: usize,
    /// A resilient pair: where the secondary IP Office listens. Connections there are to the
    /// secondary (its queues show only the calls queueing on it; users and their calls are
    /// shown by both); `None`: one IP Office.
    pub secondary_listen: Option<SocketAddr>,
}

impl SimServerConfig {
    /// Plain ws on an ephemeral localhost port, real-time clock: what tests usually want.
    pub fn local(scenario: Scenario) -> SimServerConfig {
        SimServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: TlsMode::Plain,
            scenario,
            speed: 1.0,
            tick: Duration::from_millis(50),
            max_connections: MAX_CONNECTIONS,
            secondary_listen: None,
        }
    }
}

/// State shared by the clock, the acceptor and every session.
pub(crate) struct Shared {
    model: Mutex<Model>,
    changed: watch::Sender<u64>,
    conn_faults: broadcast::Sender<ConnFault>,
    command_faults: Mutex<CommandFaults>,
    active: AtomicUsize,
    max_connections: usize,
    epoch: AtomicI32,
    credentials: Vec<(String, String)>,
    /// Virtual milliseconds added by `SimHandle::advance`.
    manual_offset_ms: Mutex<u64>,
    /// Frames written to clients and NotifyAcks read from them, over every connection (what
    /// the load benchmark reads to say how much the simulator really offered).
    pub(crate) frames_out: AtomicU64,
    pub(crate) acks_in: AtomicU64,
    /// A system of the pair that has failed: it accepts no connection until restored.
    pub(crate) site_down: [AtomicBool; 2],
}

impl Shared {
    pub(crate) fn model(&self) -> MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn command_faults(&self) -> MutexGuard<'_, CommandFaults> {
        self.command_faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes every session if the model changed.
    pub(crate) fn publish(&self, version: u64) {
        self.changed.send_if_modified(|v| {
            let modified = *v != version;
            *v = version;
            modified
        });
    }
}

/// A running simulator.
pub struct SimHandle {
    local_addr: SocketAddr,
    secondary_addr: Option<SocketAddr>,
    tls: bool,
    cert_pem: Option<String>,
    fingerprint: Option<String>,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

pub struct SimServer;

impl SimServer {
    /// Binds, starts the clock and the acceptor, and returns at once.
    pub async fn start(config: SimServerConfig) -> Result<SimHandle, SimError> {
        let tls = tls::setup(&config.tls)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: config.listen.to_string(),
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: config.listen.to_string(),
            source,
        })?;
        let model = Model::new(&config.scenario)?;
        let (changed, _) = watch::channel(model.version());
        let (conn_faults, _) = broadcast::channel(64);
        let shared = Arc::new(Shared {
            model: Mutex::new(model),
            changed,
            conn_faults,
            command_faults: Mutex::new(CommandFaults::default()),
            active: AtomicUsize::new(0),
            max_connections: config.max_connections,
            epoch: AtomicI32::new(0),
            credentials: config
                .scenario
                .service_users
                .iter()
                .map(|s| (s.name.clone(), s.password.clone()))
                .collect(),
            manual_offset_ms: Mutex::new(0),
            frames_out: AtomicU64::new(0),
            acks_in: AtomicU64::new(0),
            site_down: [AtomicBool::new(false), AtomicBool::new(false)],
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let clock = tokio::spawn(run_clock(
            shared.clone(),
            config.speed,
            config.tick,
            shutdown_rx.clone(),
        ));
        let (cert_pem, fingerprint) = match &tls {
            Some(t) => (Some(t.cert_pem.clone()), Some(t.fingerprint.clone())),
            None => (None, None),
        };
        let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
        let mut tasks = vec![clock];
        let mut secondary_addr = None;
        if let Some(addr) = config.secondary_listen {
            let bind = |source| SimError::Bind {
                addr: addr.to_string(),
                source,
            };
            let listener = TcpListener::bind(addr).await.map_err(bind)?;
            secondary_addr = Some(listener.local_addr().map_err(bind)?);
            tasks.push(tokio::spawn(accept_loop(
                listener,
                acceptor.clone(),
                shared.clone(),
                shutdown_rx.clone(),
                1,
            )));
        }
        tasks.push(tokio::spawn(accept_loop(
            listener,
            acceptor,
            shared.clone(),
            shutdown_rx,
            0,
        )));
        Ok(SimHandle {
            local_addr,
            secondary_addr,
            tls: cert_pem.is_some(),
            cert_pem,
            fingerprint,
            shared,
            shutdown,
            tasks,
        })
    }
}

impl SimHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `ws://…/tpkt/openapi` or `wss://…` for the given service.
    pub fn url(&self, framing: Framing) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}{}", self.local_addr, framing.path())
    }

    /// Where the engine's wire layer should connect to reach this simulator.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            secure: self.tls,
            host: self.local_addr.ip().to_string(),
            port: self.local_addr.port(),
        }
    }

    /// Where the engine reaches the secondary IP Office of the pair, if there is one.
    pub fn secondary_endpoint(&self) -> Option<Endpoint> {
        self.secondary_addr.map(|a| Endpoint {
            secure: self.tls,
            host: a.ip().to_string(),
            port: a.port(),
        })
    }

    /// SHA-256 fingerprint of the server certificate (None for plain ws).
    pub fn cert_sha256(&self) -> Option<&str> {
        self.fingerprint.as_deref()
    }

    /// PEM of the server certificate, for clients to trust a self-signed one.
    pub fn cert_pem(&self) -> Option<&str> {
        self.cert_pem.as_deref()
    }

    pub fn summary(&self) -> SimSummary {
        self.shared.model().summary()
    }

    pub fn status(&self) -> Status {
        self.shared.model().status()
    }

    /// Frames written to clients and NotifyAcks received, since start, over all connections.
    pub fn traffic(&self) -> (u64, u64) {
        (
            self.shared.frames_out.load(Ordering::Relaxed),
            self.shared.acks_in.load(Ordering::Relaxed),
        )
    }

    /// Open MT-CTI3 connections.
    pub fn connections(&self) -> usize {
        self.shared.active.load(Ordering::SeqCst)
    }

    pub fn faults(&self) -> FaultInjector {
        FaultInjector {
            shared: self.shared.clone(),
        }
    }

    /// Runs `f` on the model (inject calls, administer users and queues) and publishes the
    /// change to every connection.
    pub fn with_model<R>(&self, f: impl FnOnce(&mut Model) -> R) -> R {
        let mut model = self.shared.model();
        let r = f(&mut model);
        let version = model.version();
        drop(model);
        self.shared.publish(version);
        r
    }

    /// Moves virtual time forward by `by` at once (on top of the clock's own progress).
    pub fn advance(&self, by: Duration) {
        let mut offset = self
            .shared
            .manual_offset_ms
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *offset += by.as_millis() as u64;
        let target = *offset;
        drop(offset);
        self.with_model(|m| {
            let t = Timestamp(m.now().as_millis().max(target));
            m.advance_to(t)
        });
    }

    /// Stops accepting, closes every connection and waits for the tasks to end.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Advances the model by real elapsed time times `speed`.
async fn run_clock(
    shared: Arc<Shared>,
    speed: f64,
    tick: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let start = Instant::now();
    let mut interval = tokio::time::interval(tick.max(Duration::from_millis(1)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.changed() => return,
        }
        let offset = *shared
            .manual_offset_ms
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let real_ms = start.elapsed().as_secs_f64() * 1000.0;
        let virtual_ms = offset + (real_ms * speed.max(0.0)) as u64;
        let mut model = shared.model();
        let target = Timestamp(virtual_ms.max(model.now().as_millis()));
        model.advance_to(target);
        let version = model.version();
        drop(model);
        shared.publish(version);
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    site: u8,
) {
    loop {
        let (tcp, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!("simulator accept failed: {e}");
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        if shared.site_down[usize::from(site)].load(Ordering::SeqCst) {
            // A failed system: the connection is refused.
            drop(tcp);
            continue;
        }
        let _ = tcp.set_nodelay(true);
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve(tcp, shared, shutdown, site).await,
                Some(acceptor) => match acceptor.accept(tcp).await {
                    Ok(stream) => serve(stream, shared, shutdown, site).await,
                    Err(e) => tracing::debug!("simulator TLS handshake failed: {e}"),
                },
            }
        });
    }
}

// The callback's error type is fixed by tungstenite's handshake contract.
#[allow(clippy::result_large_err)]
async fn serve<S>(stream: S, shared: Arc<Shared>, shutdown: watch::Receiver<bool>, site: u8)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let accepted = Arc::new(Mutex::new(handshake::Accepted::default()));
    let callback = {
        let (shared, accepted) = (shared.clone(), accepted.clone());
        move |req: &handshake_types::Request, resp: handshake_types::Response| {
            handshake::check(&shared, &accepted, req, resp)
        }
    };
    // Reads zero their buffer first; the default 128 KiB made that memset a visible cost per
    // NotifyAck read (acks and commands are a few dozen bytes).
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(16 * 1024);
    let ws = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)).await;
    let (framing, slot) = {
        let a = accepted.lock().unwrap_or_else(|e| e.into_inner());
        (a.framing, a.slot)
    };
    match ws {
        Ok(ws) => session::run(ws, framing, shared.clone(), shutdown, site).await,
        Err(e) => tracing::debug!("simulator websocket handshake refused: {e}"),
    }
    if slot {
        shared.active.fetch_sub(1, Ordering::SeqCst);
    }
}

mod handshake_types {
    pub use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
}
