//! The simulator side of `acd bench-load`, run as a child process (`acd bench-sim`), so that
//! the engine's memory and CPU can be read from /proc without the simulator in them.
//!
//! It serves wss on loopback and offers load on command, one step at a time, over a line
//! protocol on stdin/stdout: it prints `ready ADDR FINGERPRINT`, then for each
//! `step CALLS_PER_S NOTIFIES_PER_S SECONDS` it injects calls and toggles agents'
//! do-not-disturb (each toggle is one user notify) at those rates and answers with one JSON
//! line ([`SimStep`]): what it offered, what it wrote, and its own CPU time, so the bench can
//! say which side saturated. `quit` (or end of input) stops it.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use acd_core::{CallAttributes, TrunkKind};
use serde::{Deserialize, Serialize};

use super::procfs;
use super::LoadError;
use crate::sim::model::{InjectedCall, ModelAction};
use crate::sim::server::{SimHandle, SimServer, SimServerConfig, TlsMode, MAX_CONNECTIONS};

/// What one step offered and cost, as the simulator saw it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SimStep {
    pub wall_s: f64,
    pub calls_injected: u64,
    /// Do-not-disturb changes made (each one user notify, unless folded into the next while
    /// the engine had not acknowledged the previous one).
    pub toggles: u64,
    /// Frames written to the engine, and NotifyAcks read back, during the step.
    pub frames_out: u64,
    pub acks_in: u64,
    /// Calls alive in the simulator at the end of the step.
    pub live_calls: u64,
    /// CPU seconds of the whole simulator process during the step.
    pub cpu_s: f64,
    /// The longest gap between two generator turns: if it grows far beyond the 0.2 ms the
    /// generator sleeps, the simulator could not keep its own schedule.
    pub max_gap_ms: f64,
}

/// Runs the child until `quit` or end of input.
pub fn run(users: usize, queues: usize, talk_ms: u64) -> Result<(), LoadError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let scenario = super::scenario(users, queues)?;
    let sim = rt.block_on(SimServer::start(SimServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        tls: TlsMode::SelfSigned,
        scenario,
        speed: 1.0,
        tick: Duration::from_millis(5),
        max_connections: MAX_CONNECTIONS,
        secondary_listen: None,
    }))?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "ready {} {}",
        sim.local_addr(),
        sim.cert_sha256().unwrap_or("-")
    )?;
    out.flush()?;
    let queue_names: Vec<String> = (0..queues).map(|q| format!("Q{q}")).collect();
    let mut generator = Generator {
        queue_names,
        talk_ms,
        next_queue: 0,
        next_user: 0,
    };
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["step", calls, notifies, seconds] => {
                let parse = |w: &str| {
                    w.parse::<f64>()
                        .map_err(|e| LoadError::Options(format!("bad step {line:?}: {e}")))
                };
                let step = generator.step(&sim, parse(calls)?, parse(notifies)?, parse(seconds)?);
                let json = serde_json::to_string(&step)
                    .map_err(|e| LoadError::Options(format!("cannot encode a step: {e}")))?;
                writeln!(out, "{json}")?;
                out.flush()?;
            }
            ["quit"] => break,
            _ => return Err(LoadError::Options(format!("unknown command {line:?}"))),
        }
    }
    rt.block_on(sim.shutdown());
    Ok(())
}

struct Generator {
    queue_names: Vec<String>,
    talk_ms: u64,
    next_queue: usize,
    next_user: usize,
}

impl Generator {
    /// Offers `calls` calls/s and `notifies` do-not-disturb changes/s for `seconds`.
    fn step(&mut self, sim: &SimHandle, calls: f64, notifies: f64, seconds: f64) -> SimStep {
        let (frames0, acks0) = sim.traffic();
        let cpu0 = procfs::process_cpu_s().unwrap_or(0.0);
        let start = Instant::now();
        let length = Duration::from_secs_f64(seconds.max(0.0));
        let mut step = SimStep::default();
        let mut last = Instant::now();
        while start.elapsed() < length {
            let gap = last.elapsed().as_secs_f64() * 1000.0;
            step.max_gap_ms = step.max_gap_ms.max(gap);
            last = Instant::now();
            let elapsed = start.elapsed().as_secs_f64();
            let due_calls = (elapsed * calls) as u64 - step.calls_injected;
            let due_toggles = (elapsed * notifies) as u64 - step.toggles;
            if due_calls + due_toggles > 0 {
                sim.with_model(|m| {
                    for _ in 0..due_calls {
                        self.inject(m);
                    }
                    let users = m.users().len();
                    if users == 0 {
                        return;
                    }
                    for _ in 0..due_toggles {
                        let u = self.next_user % users;
                        self.next_user += 1;
                        let user = &m.users()[u];
                        let action = ModelAction::SetDnd {
                            user: user.extn.clone(),
                            on: !user.dnd,
                        };
                        let _ = m.apply(action);
                    }
                });
                step.calls_injected += due_calls;
                step.toggles += due_toggles;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        step.wall_s = start.elapsed().as_secs_f64();
        let (frames1, acks1) = sim.traffic();
        step.frames_out = frames1 - frames0;
        step.acks_in = acks1 - acks0;
        step.cpu_s = procfs::process_cpu_s().unwrap_or(0.0) - cpu0;
        step.live_calls = sim.with_model(|m| m.calls().count() as u64);
        step
    }

    fn inject(&mut self, m: &mut crate::sim::model::Model) {
        let queue = &self.queue_names[self.next_queue % self.queue_names.len()];
        self.next_queue += 1;
        let _ = m.inject_call(
            queue,
            InjectedCall {
                attributes: CallAttributes {
                    calling_number: format!("+4930555{:06}", self.next_queue % 1_000_000),
                    did: "+493012340001".into(),
                    trunk: TrunkKind::Sip,
                    language: "deu".into(),
                    tag: String::new(),
                },
                priority: 1,
                talk_ms: self.talk_ms,
                patience_ms: None,
            },
        );
    }
}
