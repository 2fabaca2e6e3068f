//! The session shell against the real simulator server over a transport that fails the way
//! real links do: writes that stall (a peer or proxy that stops reading), reads that stop, a
//! black hole (nothing in, nothing out, nothing fails) and a half-close. Each is found dead
//! within its bound and the link comes back; readiness drops with a single IP Office; with a
//! pair, the healthy system goes on routing with no caller abandoned; a shutdown is prompt
//! while a write is stalled. Two tests use a loopback proxy and the default settings, so they
//! measure the detection time an operator gets.

mod sim_support;

use acd::daemon::clock::EngineClock;
use acd::daemon::routing_loop::{LiveStatus, RoutingLoop};
use acd::daemon::runtime::{self, Control, LoopInputs, NoProbe};
use acd::sim::server::SimHandle;
use acd::wire::backoff::Backoff;
use acd::wire::connect::{self, ConnectError, Connected, Transport};
use acd::wire::secret::Secret;
use acd::wire::session::{
    self, AgentSelector, Connector, LinkStatus, QueueSelector, SessionConfig, SessionEvent,
};
use sim_support::*;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// What a faulty transport does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pass,
    /// Writes never complete; reads go on (the peer still sends).
    StallWrites,
    /// Nothing is read any more; writes go on.
    StopReads,
    /// Writes vanish, nothing arrives, nothing fails.
    BlackHole,
    /// The peer closed its side: reads end.
    HalfClose,
}

/// Switches one connection's transport; wakes whatever it parked.
#[derive(Clone)]
struct Switch(Arc<Mutex<(Mode, Vec<Waker>)>>);

impl Switch {
    fn new() -> Switch {
        Switch(Arc::new(Mutex::new((Mode::Pass, Vec::new()))))
    }

    fn set(&self, mode: Mode) {
        let mut s = self.0.lock().unwrap();
        s.0 = mode;
        for w in s.1.drain(..) {
            w.wake();
        }
    }

    fn mode(&self) -> Mode {
        self.0.lock().unwrap().0
    }

    fn park<T>(&self, cx: &Context<'_>) -> Poll<T> {
        self.0.lock().unwrap().1.push(cx.waker().clone());
        Poll::Pending
    }
}

/// TCP to the simulator, through a [`Switch`].
struct Faulty {
    inner: TcpStream,
    switch: Switch,
}

impl AsyncRead for Faulty {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.switch.mode() {
            Mode::Pass | Mode::StallWrites => Pin::new(&mut self.inner).poll_read(cx, buf),
            Mode::StopReads | Mode::BlackHole => self.switch.park(cx),
            Mode::HalfClose => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for Faulty {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.switch.mode() {
            Mode::StallWrites => self.switch.park(cx),
            Mode::BlackHole => Poll::Ready(Ok(buf.len())),
            _ => Pin::new(&mut self.inner).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.switch.mode() {
            Mode::StallWrites => self.switch.park(cx),
            Mode::BlackHole => Poll::Ready(Ok(())),
            _ => Pin::new(&mut self.inner).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Every connection the session opened, with its system and its switch, oldest first; and
/// whether new ones are refused (IP Office unreachable).
#[derive(Clone, Default)]
struct Opened(Arc<Mutex<Vec<(usize, Switch)>>>, Arc<AtomicBool>);

impl Opened {
    fn count(&self, site: usize) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _)| *s == site)
            .count()
    }

    fn latest(&self, site: usize) -> Switch {
        let all = self.0.lock().unwrap();
        let found = all.iter().rev().find(|(s, _)| *s == site);
        found.expect("no connection to this system").1.clone()
    }

    /// Opens the session's websockets over TCP through a [`Faulty`] transport.
    fn connector(&self) -> Connector {
        let opened = self.clone();
        Connector(Arc::new(move |site, config: SessionConfig| {
            let opened = opened.clone();
            Box::pin(async move {
                let endpoint = config.endpoints[site].clone();
                if opened.1.load(Ordering::SeqCst) {
                    return Err(ConnectError::Unreachable {
                        endpoint: endpoint.to_string(),
                        reason: "refused by the test".into(),
                    });
                }
                let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
                    .await
                    .map_err(|e| ConnectError::Unreachable {
                        endpoint: endpoint.to_string(),
                        reason: e.to_string(),
                    })?;
                let switch = Switch::new();
                opened.0.lock().unwrap().push((site, switch.clone()));
                let transport = Transport::Other(Box::pin(Faulty { inner: tcp, switch }));
                let ws = connect::upgrade(&config.connect_params(&endpoint), transport).await?;
                Ok(Connected {
                    ws,
                    fingerprint: None,
                })
            })
        }))
    }
}

/// Deadlines short enough for a test; the bounds asserted are loose (behaviour, not speed).
const PING: Duration = Duration::from_millis(200);
const PONG: Duration = Duration::from_millis(600);
const WRITE: Duration = Duration::from_millis(600);
/// Loose: a loaded machine may be slow, but a link never found dead takes forever.
const FOUND_WITHIN: Duration = Duration::from_secs(8);

fn session_config(h: &SimHandle, opened: Option<&Opened>) -> SessionConfig {
    let mut endpoints = vec![h.endpoint()];
    endpoints.extend(h.secondary_endpoint());
    let mut c = SessionConfig::new(endpoints, USER, Secret::new(PASSWORD));
    c.protocol.routed_queues = vec![QueueSelector::Name("Sales".into())];
    c.protocol.backoff = Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
        jitter: 0.5,
    };
    if let Some(opened) = opened {
        c.connector = Some(opened.connector());
        c.protocol.ping_interval = Some(PING);
        c.protocol.pong_timeout = PONG;
        c.protocol.write_timeout = Some(WRITE);
    }
    c
}

fn with_default_deadlines(mut config: SessionConfig) -> SessionConfig {
    let defaults = acd::wire::session::ConnectionConfig::default();
    config.protocol.ping_interval = defaults.ping_interval;
    config.protocol.pong_timeout = defaults.pong_timeout;
    config.protocol.write_timeout = defaults.write_timeout;
    config
}

async fn next_link(events: &mut mpsc::Receiver<SessionEvent>, within: Duration) -> LinkStatus {
    loop {
        let ev = tokio::time::timeout(within, events.recv())
            .await
            .expect("no link change in time")
            .expect("the session ended");
        if let SessionEvent::Link(l) = ev {
            return l;
        }
    }
}

async fn subscribed(events: &mut mpsc::Receiver<SessionEvent>) {
    while !matches!(next_link(events, WAIT).await, LinkStatus::Subscribed { .. }) {}
}

/// The reason of the next `Disconnected`, and how long it took to come.
async fn lost(events: &mut mpsc::Receiver<SessionEvent>, within: Duration) -> (String, Duration) {
    let started = Instant::now();
    loop {
        if let LinkStatus::Disconnected { reason } = next_link(events, within).await {
            return (reason, started.elapsed());
        }
    }
}

#[tokio::test]
async fn each_way_a_link_fails_is_found_and_the_link_comes_back() {
    let cases = [
        (Mode::StallWrites, "stopped reading"),
        (Mode::StopReads, "no answer to a websocket ping"),
        (Mode::BlackHole, "no answer to a websocket ping"),
        (Mode::HalfClose, "closed the connection"),
    ];
    for (mode, cause) in cases {
        let h = start().await;
        let opened = Opened::default();
        let mut config = session_config(&h, Some(&opened));
        if mode == Mode::StallWrites {
            // Only the write deadline can find it: no pings.
            config.protocol.ping_interval = None;
        }
        let (handle, mut events) = session::spawn(config);
        subscribed(&mut events).await;
        opened.latest(0).set(mode);
        if mode == Mode::StallWrites {
            // Something to write: the NotifyAck of the queue's notify about a new call.
            inject(&h, "Sales", "eng");
        }
        let (reason, _) = lost(&mut events, FOUND_WITHIN).await;
        assert!(reason.contains(cause), "{mode:?}: {reason}");
        // The usual reconnect and resync over a fresh connection.
        subscribed(&mut events).await;
        assert_eq!(opened.count(0), 2, "{mode:?}");
        tokio::time::timeout(WAIT, handle.shutdown())
            .await
            .expect("shutdown");
        h.shutdown().await;
    }
}

/// The daemon's run loop around a session, on its own task.
struct Daemon {
    control: mpsc::Sender<Control>,
    status: watch::Receiver<LiveStatus>,
    task: tokio::task::JoinHandle<()>,
}

fn start_daemon(config: SessionConfig) -> Daemon {
    let rules = acd_rules::check_dir(Path::new("tests/fixtures/e2e/rules"))
        .expect("rules")
        .into_result()
        .expect("valid rules")
        .0;
    let (control, control_rx) = mpsc::channel(8);
    let (status_tx, status) = watch::channel(LiveStatus::default());
    let mut config = config;
    config.protocol.agents =
        AgentSelector::MembersAnd(rules.agents.keys().map(|a| a.0.clone()).collect());
    let task = tokio::spawn(async move {
        let mut routing = RoutingLoop::new(Arc::new(rules));
        let (session, events) = session::spawn(config);
        let inputs = LoopInputs {
            control: control_rx,
            rules: None,
            rule_changes: mpsc::channel(1).1,
            status: Some(status_tx),
            drain_timeout: Duration::from_secs(10),
            clock: EngineClock::real(),
            twin: None,
        };
        runtime::drive(&mut routing, session, events, inputs, &mut NoProbe).await;
    });
    Daemon {
        control,
        status,
        task,
    }
}

/// One engine-routed hunt group (members disabled), four agents who answer after 1 s, no
/// traffic but the calls a test injects.
const ROUTED: &str = r#"
[sim]
seed = 3
answer_delay = { dist = "fixed", s = 1 }
no_answer_probability = 0
wrap_up = { dist = "fixed", s = 0 }

[[service_user]]
name = "acd"
password = "secret"

[[user]]
extn = "2001"
name = "Anna"
language = "deu"
[[user]]
extn = "2002"
name = "Ben"
language = "deu"
[[user]]
extn = "2003"
name = "Clara"
language = "eng"
[[user]]
extn = "2004"
name = "David"
language = "eng"

[[queue]]
name = "Sales"
extn = "3001"
members = ["2001", "2002", "2003", "2004"]
disabled_members = ["2001", "2002", "2003", "2004"]
"#;

async fn routed_sim(pair: bool) -> SimHandle {
    start_with(ROUTED, |c| {
        c.speed = 1.0;
        if pair {
            c.secondary_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
        }
    })
    .await
}

async fn until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < within, "not in time: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn patient_call(language: &str) -> acd::sim::model::InjectedCall {
    let mut c = call(language);
    c.talk_ms = 2_000;
    c.patience_ms = Some(30_000);
    c
}

#[tokio::test]
async fn a_silent_ip_office_makes_the_engine_unready_until_the_link_is_back() {
    let h = routed_sim(false).await;
    let opened = Opened::default();
    let mut daemon = start_daemon(session_config(&h, Some(&opened)));
    until("ready", WAIT, || daemon.status.borrow().ready).await;
    // IP Office stays out of reach until the test says, so the drop cannot pass unseen.
    opened.1.store(true, Ordering::SeqCst);
    opened.latest(0).set(Mode::BlackHole);
    let started = Instant::now();
    // `/readyz` and `acd_ready` follow this status.
    until("readiness dropped", FOUND_WITHIN, || {
        !daemon.status.borrow_and_update().ready
    })
    .await;
    assert!(
        daemon.status.borrow().link.contains("websocket ping"),
        "{}",
        daemon.status.borrow().link
    );
    eprintln!(
        "readiness dropped {:?} after the link went silent",
        started.elapsed()
    );
    opened.1.store(false, Ordering::SeqCst);
    until("ready again", WAIT, || daemon.status.borrow().ready).await;
    assert_eq!(opened.count(0), 2);
    daemon.control.send(Control::Stop).await.unwrap();
    tokio::time::timeout(WAIT, daemon.task)
        .await
        .expect("stop")
        .unwrap();
    h.shutdown().await;
}

#[tokio::test]
async fn a_stalled_primary_never_holds_up_the_secondary() {
    let h = routed_sim(true).await;
    let opened = Opened::default();
    // The default deadlines: the healthy system must not depend on how fast the stall is found.
    let daemon = start_daemon(with_default_deadlines(session_config(&h, Some(&opened))));
    until("both systems connected and ready", WAIT, || {
        opened.count(1) == 1 && h.connections() == 2 && daemon.status.borrow().ready
    })
    .await;
    // Both links settle their subscriptions.
    tokio::time::sleep(Duration::from_millis(500)).await;
    opened.latest(0).set(Mode::StallWrites);
    let stalled = Instant::now();
    h.with_model(|m| m.set_secondary_share(1.0));
    let calls = 8;
    for i in 0..calls {
        let language = if i % 2 == 0 { "eng" } else { "deu" };
        h.with_model(|m| m.inject_call("Sales", patient_call(language)))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    until(
        "every secondary caller answered",
        Duration::from_secs(30),
        || h.summary().totals.answered >= calls,
    )
    .await;
    let totals = h.summary().totals;
    assert_eq!(totals.abandoned, 0, "{totals:?}");
    assert!(
        daemon.status.borrow().ready,
        "the pair stays ready on its healthy system"
    );
    eprintln!("{totals:?}");
    // The stalled primary is found dead (within 13 s) and connected afresh.
    until("the primary reconnected", Duration::from_secs(30), || {
        opened.count(0) >= 2
    })
    .await;
    eprintln!(
        "primary reconnected {:?} after its writes stalled",
        stalled.elapsed()
    );
    daemon.control.send(Control::Stop).await.unwrap();
    tokio::time::timeout(WAIT, daemon.task)
        .await
        .expect("stop")
        .unwrap();
    h.shutdown().await;
}

#[tokio::test]
async fn a_stop_is_honoured_promptly_while_a_write_is_stalled() {
    let h = routed_sim(false).await;
    let opened = Opened::default();
    // The default deadlines (8 to 10 s): only the shutdown's own bounds can make it prompt.
    let daemon = start_daemon(with_default_deadlines(session_config(&h, Some(&opened))));
    until("ready", WAIT, || daemon.status.borrow().ready).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    opened.latest(0).set(Mode::StallWrites);
    // A caller: the engine's transfer is written nowhere and waits for its answer.
    h.with_model(|m| m.inject_call("Sales", patient_call("eng")))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    daemon.control.send(Control::Stop).await.unwrap();
    tokio::time::timeout(Duration::from_secs(6), daemon.task)
        .await
        .expect("the run loop did not stop while a write was stalled")
        .unwrap();
    eprintln!("stopped {:?} after the request", started.elapsed());
    h.shutdown().await;
}

/// A loopback proxy in front of the simulator that can stop forwarding either way.
struct Proxy {
    addr: std::net::SocketAddr,
    /// Stop reading what the engine sends (it may still receive).
    stop_upstream: Arc<AtomicBool>,
    /// Stop forwarding what IP Office sends.
    stop_downstream: Arc<AtomicBool>,
}

impl Proxy {
    async fn start(to: std::net::SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop_upstream = Arc::new(AtomicBool::new(false));
        let stop_downstream = Arc::new(AtomicBool::new(false));
        let (up, down) = (stop_upstream.clone(), stop_downstream.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(to).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, up.clone()));
                tokio::spawn(pump(sr, cw, down.clone()));
            }
        });
        Proxy {
            addr,
            stop_upstream,
            stop_downstream,
        }
    }
}

/// Copies one way until told to stop; then reads nothing more and keeps the socket open.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    stop: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if stop.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let read = tokio::select! {
            r = from.read(&mut buf) => r,
            _ = tokio::time::sleep(Duration::from_millis(50)) => continue,
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stop.load(Ordering::SeqCst) || to.write_all(&buf[..n]).await.is_err() {
                    continue;
                }
            }
        }
    }
}

/// With the settings an operator gets by default, over real sockets: the time from the link
/// going wrong to the engine declaring it lost.
async fn detected_with_defaults(upstream: bool, downstream: bool) -> Duration {
    let h = start().await;
    let proxy = Proxy::start(h.local_addr()).await;
    let mut config = session_config(&h, None);
    config.endpoints = vec![acd::wire::connect::Endpoint {
        secure: false,
        host: "127.0.0.1".into(),
        port: proxy.addr.port(),
    }];
    let (handle, mut events) = session::spawn(config);
    subscribed(&mut events).await;
    proxy.stop_upstream.store(upstream, Ordering::SeqCst);
    proxy.stop_downstream.store(downstream, Ordering::SeqCst);
    let (reason, took) = lost(&mut events, Duration::from_secs(40)).await;
    eprintln!("declared lost after {took:?}: {reason}");
    handle.shutdown().await;
    h.shutdown().await;
    took
}

#[tokio::test]
async fn with_the_default_settings_a_silent_link_is_lost_within_15_s() {
    let took = detected_with_defaults(true, true).await;
    assert!(took <= Duration::from_secs(20), "{took:?}");
}

#[tokio::test]
async fn with_the_default_settings_a_link_that_stops_reading_is_lost_within_15_s() {
    let took = detected_with_defaults(true, false).await;
    assert!(took <= Duration::from_secs(20), "{took:?}");
}
