//! The engine side of `acd bench-load`: the daemon's own run loop (`daemon::runtime::drive`
//! around `RoutingLoop`) and wire session on a single-threaded runtime on a thread of its own,
//! so its CPU time can be read apart, timed from outside without changing it.
//!
//! Latency runs from a notify's websocket frame being read off the socket (the session stamps
//! each event with it) to the transfer it caused being written to the socket (the session's
//! `on_written` callback): decode, translation, decision, encode and both hand-overs, all of it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use acd_core::{Command, CommandId, CommandKind, RoutingConfig};
use tokio::sync::mpsc;

use super::{procfs, LoadError, SERVICE_PASSWORD, SERVICE_USER};
use crate::daemon::routing_loop::RoutingLoop;
use crate::daemon::runtime::{self, Control, LoopInputs, Probe};
use crate::wire::connect::Endpoint;
use crate::wire::secret::Secret;
use crate::wire::session::{self, CommandWritten, LinkStatus, QueueSelector, SessionConfig};

/// Per-step figures the engine thread collects.
#[derive(Debug, Default, Clone)]
pub struct StepStats {
    /// Notify in -> transfer out, nanoseconds.
    pub latencies_ns: Vec<u64>,
    pub events: u64,
    pub transfers: u64,
}

/// What the probe and the write callback share (both run on the engine thread; the lock is
/// never contended).
#[derive(Default)]
struct Timing {
    /// Transfers handed to the session and not written yet: when their notify arrived, and in
    /// which step.
    unwritten: HashMap<CommandId, (Instant, usize)>,
    stats: Vec<StepStats>,
}

pub struct EngineThread {
    pub step: Arc<AtomicUsize>,
    pub stop: mpsc::Sender<Control>,
    pub subscribed: std_mpsc::Receiver<Duration>,
    done: std::thread::JoinHandle<Result<(), String>>,
    timing: Arc<Mutex<Timing>>,
    pub tid: u32,
}

impl EngineThread {
    /// Stops the loop and returns each step's figures.
    pub fn finish(self) -> Result<Vec<StepStats>, LoadError> {
        let _ = self.stop.try_send(Control::Stop);
        self.done
            .join()
            .map_err(|_| LoadError::Engine("the engine thread panicked".into()))?
            .map_err(LoadError::Engine)?;
        let mut timing = self.timing.lock().unwrap_or_else(|e| e.into_inner());
        Ok(std::mem::take(&mut timing.stats))
    }
}

pub fn spawn(
    endpoint: Endpoint,
    pin: Option<[u8; 32]>,
    config: RoutingConfig,
    queues: Vec<String>,
    steps: usize,
) -> Result<EngineThread, LoadError> {
    let step = Arc::new(AtomicUsize::new(0));
    let (stop, control) = mpsc::channel(4);
    let (sub_tx, sub_rx) = std_mpsc::channel();
    let (tid_tx, tid_rx) = std_mpsc::channel();
    let timing = Arc::new(Mutex::new(Timing {
        unwritten: HashMap::new(),
        stats: vec![StepStats::default(); steps + 1],
    }));
    let probe = LoadProbe {
        step: step.clone(),
        steps,
        timing: timing.clone(),
        started: Instant::now(),
        subscribed: sub_tx,
        reported: false,
    };
    let done = std::thread::Builder::new()
        .name("acd-engine".into())
        .spawn(move || -> Result<(), String> {
            let _ = tid_tx.send(procfs::thread_id().unwrap_or(0));
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(engine_loop(endpoint, pin, config, queues, control, probe));
            Ok(())
        })?;
    let tid = tid_rx
        .recv_timeout(Duration::from_secs(5))
        .map_err(|e| LoadError::Engine(format!("no thread id: {e}")))?;
    Ok(EngineThread {
        step,
        stop,
        subscribed: sub_rx,
        done,
        timing,
        tid,
    })
}

/// Times the daemon's own run loop from outside: which step each event fell in, and for a
/// notify that made a transfer, when that notify arrived.
struct LoadProbe {
    step: Arc<AtomicUsize>,
    steps: usize,
    timing: Arc<Mutex<Timing>>,
    started: Instant,
    subscribed: std_mpsc::Sender<Duration>,
    reported: bool,
}

impl Probe for LoadProbe {
    fn handled(&mut self, kind: &'static str, received: Instant, commands: &[Command]) {
        let step = self.step.load(Ordering::Relaxed).min(self.steps);
        let mut timing = self.timing.lock().unwrap_or_else(|e| e.into_inner());
        timing.stats[step].events += 1;
        // Ticks and command results are not notifies: only notify-driven transfers are timed.
        let from_notify = !matches!(kind, "tick" | "command_result");
        for c in commands {
            if matches!(c.kind, CommandKind::Transfer { .. }) {
                timing.stats[step].transfers += 1;
                if from_notify {
                    timing.unwritten.insert(c.id, (received, step));
                }
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

/// The daemon's run loop and session, without rules files, timed by the probe.
async fn engine_loop(
    endpoint: Endpoint,
    pin: Option<[u8; 32]>,
    config: RoutingConfig,
    queues: Vec<String>,
    control: mpsc::Receiver<Control>,
    mut probe: LoadProbe,
) {
    let mut session_config = SessionConfig::new(
        vec![endpoint],
        SERVICE_USER,
        Secret::new(SERVICE_PASSWORD.to_string()),
    );
    session_config.tls.pin_sha256 = pin;
    session_config.protocol.routed_queues = queues.into_iter().map(QueueSelector::Name).collect();
    let timing = probe.timing.clone();
    session_config.on_written = Some(CommandWritten(Arc::new(move |cmd, at| {
        let mut timing = timing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((arrived, step)) = timing.unwritten.remove(&cmd.id) {
            let ns = at.saturating_duration_since(arrived).as_nanos() as u64;
            timing.stats[step].latencies_ns.push(ns);
        }
    })));
    let (session, events) = session::spawn(session_config);
    let mut routing = RoutingLoop::new(Arc::new(config));
    let inputs = LoopInputs {
        control,
        rules: None,
        rule_changes: mpsc::channel(1).1,
        status: None,
        drain_timeout: Duration::from_secs(2),
        clock: crate::daemon::clock::EngineClock::real(),
        twin: None,
    };
    runtime::drive(&mut routing, session, events, inputs, &mut probe).await;
}
