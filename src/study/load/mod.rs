//! `acd bench-load`: the end-to-end load benchmark. The wire session and the routing core,
//! wired exactly as the daemon's run loop wires them, against the simulator over wss on
//! loopback, at rising call rates.
//!
//! It exists to back the performance claims with numbers anyone can reproduce: the time from a
//! call's queue notify reaching the engine to its transfer command being handed to the session,
//! the events ingested per second, CPU time of the engine's thread, peak memory, and the time
//! from connect to fully subscribed with thousands of users and a hundred queues.
//!
//! The engine (session task and run loop) runs on its own single-threaded runtime on its own
//! OS thread, so its CPU time can be read apart from the simulator's, which runs in the same
//! process on another runtime. Memory cannot be split by thread: the report gives the peak of
//! the whole process and the simulator's share measured before the engine connected.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant};

use acd_core::{
    AgentId, AgentProfile, CallAttributes, Command, CommandKind, PickStrategy, QueueId,
    QueuePolicy, RoutingConfig, TrunkKind,
};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::daemon::routing_loop::RoutingLoop;
use crate::daemon::runtime::{self, Control, LoopInputs, Probe};
use crate::sim::model::InjectedCall;
use crate::sim::server::{SimServer, SimServerConfig, TlsMode, MAX_CONNECTIONS};
use crate::sim::Scenario;
use crate::wire::connect::Endpoint;
use crate::wire::secret::Secret;
use crate::wire::session::{self, LinkStatus, QueueSelector, SessionConfig};

const SERVICE_USER: &str = "acd";
const SERVICE_PASSWORD: &str = "bench-secret";

#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Offered call rates to step through, calls per second.
    pub rates: Vec<u32>,
    /// How long each rate is held.
    pub seconds_per_rate: f64,
    pub users: usize,
    pub queues: usize,
    /// Talk time of every call (short, so that high rates do not run out of agents).
    pub talk_ms: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            rates: vec![100, 200, 500, 1000, 1500, 2000, 2500],
            seconds_per_rate: 5.0,
            users: 3000,
            queues: 100,
            talk_ms: 1000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("options: {0}")]
    Options(String),
    #[error("simulator: {0}")]
    Sim(#[from] crate::sim::SimError),
    #[error("engine thread: {0}")]
    Engine(String),
    #[error("cannot start a runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

/// One step of the rate ramp.
#[derive(Debug, Clone, Serialize)]
pub struct RateResult {
    pub offered_calls_per_s: u32,
    pub injected_calls: u64,
    pub transfers: u64,
    /// Queue notify event in → transfer command handed to the session, microseconds.
    pub latency_us_p50: f64,
    pub latency_us_p99: f64,
    pub latency_us_p999: f64,
    pub latency_us_max: f64,
    /// Core events the session delivered per second (one per notify that changed something).
    pub events_per_s: f64,
    /// CPU time of the engine thread (session + run loop) over wall time (1.0 = one core).
    pub engine_cpu_share: f64,
    /// Engine CPU per core event, microseconds.
    pub engine_cpu_us_per_event: f64,
    /// Live calls in the simulator at the end of the step.
    pub live_calls: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub users: usize,
    pub queues: usize,
    pub connect_to_subscribed_ms: f64,
    pub rates: Vec<RateResult>,
    /// Peak resident memory of the whole process (simulator included), from VmHWM.
    pub peak_rss_mb: f64,
    /// Resident memory with the simulator started and before the engine connected.
    pub rss_before_engine_mb: f64,
    pub max_live_calls: u64,
}

/// A scenario of `users` agents spread evenly over `queues` hunt groups, every member
/// disabled (the engine distributes), no Poisson traffic (the benchmark injects calls).
pub fn scenario(users: usize, queues: usize) -> Result<Scenario, crate::sim::SimError> {
    let mut text = format!(
        "[sim]\nseed = 1\nanswer_delay = {{ dist = \"fixed\", s = 0.1 }}\n\
         wrap_up = {{ dist = \"fixed\", s = 0 }}\n\
         [[service_user]]\nname = \"{SERVICE_USER}\"\npassword = \"{SERVICE_PASSWORD}\"\n"
    );
    for u in 0..users {
        text += &format!(
            "[[user]]\nextn = \"{}\"\nname = \"Agent {u}\"\n",
            100_000 + u
        );
    }
    for q in 0..queues {
        let members: Vec<String> = (0..users)
            .filter(|u| u % queues == q)
            .map(|u| format!("\"{}\"", 100_000 + u))
            .collect();
        let list = members.join(", ");
        text += &format!(
            "[[queue]]\nname = \"Q{q}\"\nextn = \"{}\"\nmembers = [{list}]\ndisabled_members = [{list}]\n",
            50_000 + q
        );
    }
    Scenario::from_toml_str(&text, std::path::Path::new("."))
}

/// Rules for that scenario: every queue routed, longest idle, its members as agents.
pub fn routing(users: usize, queues: usize) -> RoutingConfig {
    let mut config = RoutingConfig {
        default_wrap_up_ms: 0,
        ..RoutingConfig::default()
    };
    for u in 0..users {
        let id = AgentId(format!("{}", 100_000 + u));
        config.agents.insert(
            id.clone(),
            AgentProfile {
                agent: id,
                skills: Default::default(),
                wrap_up_ms: None,
            },
        );
    }
    for q in 0..queues {
        let id = QueueId(format!("Q{q}"));
        let agents = (0..users)
            .filter(|u| u % queues == q)
            .map(|u| AgentId(format!("{}", 100_000 + u)))
            .collect();
        config.queues.insert(
            id.clone(),
            QueuePolicy::new(id, PickStrategy::LongestIdle, agents),
        );
    }
    config
}

/// Per-step figures the engine thread collects.
#[derive(Debug, Default, Clone)]
struct StepStats {
    latencies_ns: Vec<u64>,
    events: u64,
    transfers: u64,
}

struct EngineThread {
    step: Arc<AtomicUsize>,
    stop: mpsc::Sender<Control>,
    subscribed: std_mpsc::Receiver<Duration>,
    done: std::thread::JoinHandle<Result<Vec<StepStats>, String>>,
    tid: u32,
}

fn spawn_engine(
    addr: SocketAddr,
    pin: Option<[u8; 32]>,
    config: RoutingConfig,
    queues: Vec<String>,
    steps: usize,
) -> Result<EngineThread, LoadError> {
    let step = Arc::new(AtomicUsize::new(0));
    let (stop, control) = mpsc::channel(4);
    let (sub_tx, sub_rx) = std_mpsc::channel();
    let (tid_tx, tid_rx) = std_mpsc::channel();
    let endpoint = Endpoint::parse(&format!("wss://{addr}"))
        .map_err(|e| LoadError::Engine(format!("endpoint: {e}")))?;
    let step2 = step.clone();
    let done = std::thread::Builder::new()
        .name("acd-engine".into())
        .spawn(move || -> Result<Vec<StepStats>, String> {
            let _ = tid_tx.send(thread_id());
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(engine_loop(
                endpoint, pin, config, queues, steps, step2, control, sub_tx,
            ))
        })?;
    let tid = tid_rx
        .recv_timeout(Duration::from_secs(5))
        .map_err(|e| LoadError::Engine(format!("no thread id: {e}")))?;
    Ok(EngineThread {
        step,
        stop,
        subscribed: sub_rx,
        done,
        tid,
    })
}

/// Times the daemon's own run loop from outside: which step each event fell in, and for a
/// call's queue notify, how long until its transfer was handed to the session.
struct LoadProbe {
    step: Arc<AtomicUsize>,
    steps: usize,
    stats: Vec<StepStats>,
    started: Instant,
    subscribed: std_mpsc::Sender<Duration>,
    reported: bool,
}

impl Probe for LoadProbe {
    fn handled(&mut self, kind: &'static str, received: Instant, commands: &[Command]) {
        let s = &mut self.stats[self.step.load(Ordering::Relaxed).min(self.steps)];
        s.events += 1;
        if commands
            .iter()
            .any(|c| matches!(c.kind, CommandKind::Transfer { .. }))
        {
            s.transfers += 1;
            if kind == "call_queued" {
                s.latencies_ns.push(received.elapsed().as_nanos() as u64);
            }
        }
    }

    fn link(&mut self, link: &LinkStatus) {
        if matches!(link, LinkStatus::Subscribed { .. }) && !self.reported {
            self.reported = true;
            let _ = self.subscribed.send(self.started.elapsed());
        }
    }
}

/// The daemon's run loop (`daemon::runtime::drive`) and session, without rules files, timed
/// by a probe.
#[allow(clippy::too_many_arguments)]
async fn engine_loop(
    endpoint: Endpoint,
    pin: Option<[u8; 32]>,
    config: RoutingConfig,
    queues: Vec<String>,
    steps: usize,
    step: Arc<AtomicUsize>,
    control: mpsc::Receiver<Control>,
    subscribed: std_mpsc::Sender<Duration>,
) -> Result<Vec<StepStats>, String> {
    let mut session_config = SessionConfig::new(
        vec![endpoint],
        SERVICE_USER,
        Secret::new(SERVICE_PASSWORD.to_string()),
    );
    session_config.tls.pin_sha256 = pin;
    session_config.protocol.routed_queues = queues.into_iter().map(QueueSelector::Name).collect();
    let mut probe = LoadProbe {
        step,
        steps,
        stats: vec![StepStats::default(); steps + 1],
        started: Instant::now(),
        subscribed,
        reported: false,
    };
    let (session, events) = session::spawn(session_config);
    let mut routing = RoutingLoop::new(Arc::new(config));
    let inputs = LoopInputs {
        control,
        rules: None,
        rule_changes: mpsc::channel(1).1,
        status: None,
        drain_timeout: Duration::from_secs(2),
        clock: crate::daemon::clock::EngineClock::real(),
    };
    runtime::drive(&mut routing, session, events, inputs, &mut probe).await;
    Ok(probe.stats)
}

/// Runs the whole benchmark and returns its report.
pub fn run_load(options: &LoadOptions) -> Result<LoadReport, LoadError> {
    if options.queues == 0 || options.users < options.queues {
        return Err(LoadError::Options(
            "need at least one queue and one user per queue".into(),
        ));
    }
    if !(options.seconds_per_rate.is_finite() && options.seconds_per_rate > 0.0) {
        return Err(LoadError::Options("seconds per rate must be > 0".into()));
    }
    let sim_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let scenario = scenario(options.users, options.queues)?;
    let sim = sim_rt.block_on(SimServer::start(SimServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        tls: TlsMode::SelfSigned,
        scenario,
        speed: 1.0,
        tick: Duration::from_millis(5),
        max_connections: MAX_CONNECTIONS,
    }))?;
    let pin = sim
        .cert_sha256()
        .and_then(|f| crate::daemon::config::parse_fingerprint(f).ok());
    let rss_before_engine_mb = proc_status_kb("VmRSS:").unwrap_or(0) as f64 / 1024.0;
    let queue_names: Vec<String> = (0..options.queues).map(|q| format!("Q{q}")).collect();
    let engine = spawn_engine(
        sim.local_addr(),
        pin,
        routing(options.users, options.queues),
        queue_names.clone(),
        options.rates.len(),
    )?;
    let connect = engine
        .subscribed
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| LoadError::Engine("not subscribed within 60 s".into()))?;
    // Let the first snapshots settle before offering traffic.
    std::thread::sleep(Duration::from_secs(3));

    let mut results = Vec::new();
    let mut cpu_marks = Vec::new();
    let mut max_live = 0u64;
    let mut next_queue = 0usize;
    for (i, &rate) in options.rates.iter().enumerate() {
        engine.step.store(i, Ordering::Relaxed);
        let cpu0 = thread_cpu_s(engine.tid).unwrap_or(0.0);
        let start = Instant::now();
        let length = Duration::from_secs_f64(options.seconds_per_rate);
        let mut injected = 0u64;
        while start.elapsed() < length {
            let due = (start.elapsed().as_secs_f64() * f64::from(rate)) as u64;
            if due > injected {
                let n = due - injected;
                sim.with_model(|m| {
                    for _ in 0..n {
                        let queue = &queue_names[next_queue % queue_names.len()];
                        next_queue += 1;
                        let _ = m.inject_call(
                            queue,
                            InjectedCall {
                                attributes: CallAttributes {
                                    calling_number: format!(
                                        "+4930555{:06}",
                                        next_queue % 1_000_000
                                    ),
                                    did: "+493012340001".into(),
                                    trunk: TrunkKind::Sip,
                                    language: "deu".into(),
                                    tag: String::new(),
                                },
                                priority: 1,
                                talk_ms: options.talk_ms,
                                patience_ms: None,
                            },
                        );
                    }
                });
                injected = due;
                let live = sim.with_model(|m| m.calls().count() as u64);
                max_live = max_live.max(live);
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        let wall = start.elapsed().as_secs_f64();
        let cpu = thread_cpu_s(engine.tid).unwrap_or(0.0) - cpu0;
        let live = sim.with_model(|m| m.calls().count() as u64);
        cpu_marks.push((rate, injected, wall, cpu, live));
    }
    engine.step.store(options.rates.len(), Ordering::Relaxed);
    let _ = engine.stop.try_send(Control::Stop);
    let stats = engine
        .done
        .join()
        .map_err(|_| LoadError::Engine("the engine thread panicked".into()))?
        .map_err(LoadError::Engine)?;
    sim_rt.block_on(sim.shutdown());
    for (i, (rate, injected, wall, cpu, live)) in cpu_marks.into_iter().enumerate() {
        let s = &stats[i];
        let mut lat = s.latencies_ns.clone();
        lat.sort_unstable();
        let pct = |p: f64| {
            if lat.is_empty() {
                0.0
            } else {
                let ix = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
                lat[ix] as f64 / 1000.0
            }
        };
        results.push(RateResult {
            offered_calls_per_s: rate,
            injected_calls: injected,
            transfers: s.transfers,
            latency_us_p50: pct(0.50),
            latency_us_p99: pct(0.99),
            latency_us_p999: pct(0.999),
            latency_us_max: lat.last().map_or(0.0, |v| *v as f64 / 1000.0),
            events_per_s: s.events as f64 / wall,
            engine_cpu_share: cpu / wall,
            engine_cpu_us_per_event: if s.events == 0 {
                0.0
            } else {
                cpu * 1e6 / s.events as f64
            },
            live_calls: live,
        });
    }
    Ok(LoadReport {
        users: options.users,
        queues: options.queues,
        connect_to_subscribed_ms: connect.as_secs_f64() * 1000.0,
        rates: results,
        peak_rss_mb: proc_status_kb("VmHWM:").unwrap_or(0) as f64 / 1024.0,
        rss_before_engine_mb,
        max_live_calls: max_live,
    })
}

/// A field of /proc/self/status in kB (Linux only; `None` elsewhere).
fn proc_status_kb(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// This thread's kernel id, from /proc/thread-self (Linux).
fn thread_id() -> u32 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse().ok())
        .unwrap_or(0)
}

/// User plus system CPU seconds of one thread of this process, from its stat file (fields 14
/// and 15, in clock ticks of 1/100 s on Linux).
fn thread_cpu_s(tid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: count fields after it.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// The report as a Markdown table.
pub fn markdown(r: &LoadReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "users {}, queues {}: connect -> fully subscribed {:.0} ms; peak RSS {:.1} MB (simulator alone before the engine connected: {:.1} MB); max live calls {}\n",
        r.users, r.queues, r.connect_to_subscribed_ms, r.peak_rss_mb, r.rss_before_engine_mb, r.max_live_calls
    );
    let _ = writeln!(out, "| calls/s offered | injected | transfers | p50 µs | p99 µs | p99.9 µs | max µs | events/s | engine CPU (cores) | CPU µs/event |");
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for s in &r.rates {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.1} |",
            s.offered_calls_per_s,
            s.injected_calls,
            s.transfers,
            s.latency_us_p50,
            s.latency_us_p99,
            s.latency_us_p999,
            s.latency_us_max,
            s.events_per_s,
            s.engine_cpu_share,
            s.engine_cpu_us_per_event
        );
    }
    out
}
