//! `acd bench-load`: the end-to-end load benchmark. The wire session and the routing core,
//! wired exactly as the daemon's run loop wires them ([`engine`]), against the simulator over
//! wss on loopback, at rising call rates and then rising notify rates.
//!
//! It exists to back the performance claims with numbers anyone can reproduce: the time from a
//! notify's frame reaching the engine's socket to the transfer it caused leaving it, the
//! events ingested per second, CPU time of the engine's thread, the engine's peak memory, and
//! the time from connect to fully subscribed with thousands of users and a hundred queues.
//!
//! The simulator runs as a child process ([`sim_process`], `acd bench-sim`), so this process
//! holds the engine alone and its memory is the engine's. Both sides report their CPU per
//! step, and each row says which side saturated: a load figure is only a figure of the engine
//! if the simulator kept up.

mod engine;
mod procfs;
pub mod sim_process;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command as Process, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use acd_core::{AgentId, AgentProfile, PickStrategy, QueueId, QueuePolicy, RoutingConfig};
use serde::Serialize;

use crate::sim::Scenario;
use crate::wire::connect::Endpoint;
use sim_process::SimStep;

const SERVICE_USER: &str = "acd";
const SERVICE_PASSWORD: &str = "bench-secret";

#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Offered call rates to step through, calls per second.
    pub rates: Vec<u32>,
    /// Then offered notify rates (agents' do-not-disturb changes, no calls), per second.
    pub notify_rates: Vec<u32>,
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
            notify_rates: Vec::new(),
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
    #[error("simulator process: {0}")]
    SimProcess(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// One step of the ramp.
#[derive(Debug, Clone, Serialize)]
pub struct RateResult {
    /// "calls" (calls/s offered) or "notifies" (do-not-disturb changes/s offered).
    pub mode: &'static str,
    pub offered_per_s: u32,
    /// Calls injected or notifies (DND changes) made by the simulator.
    pub injected: u64,
    pub transfers: u64,
    /// Notify frame read off the engine's socket -> transfer frame written to it, microseconds.
    pub latency_samples: usize,
    pub latency_us_p50: f64,
    pub latency_us_p99: f64,
    pub latency_us_p999: f64,
    pub latency_us_max: f64,
    /// Core events the session delivered per second.
    pub events_per_s: f64,
    /// Frames the simulator wrote per second, and NotifyAcks it got back per second.
    pub frames_in_per_s: f64,
    pub acks_per_s: f64,
    /// CPU time of the engine thread (session + run loop) over wall time (1.0 = one core).
    pub engine_cpu_share: f64,
    /// Engine CPU per frame received, microseconds (decode, ack, translate, decide, encode).
    pub engine_cpu_us_per_frame: f64,
    /// CPU of the whole simulator process over wall time.
    pub sim_cpu_share: f64,
    /// Simulator CPU per frame it wrote, microseconds.
    pub sim_cpu_us_per_frame: f64,
    /// The simulator's longest gap between generator turns, milliseconds.
    pub sim_max_gap_ms: f64,
    /// Live calls in the simulator at the end of the step.
    pub live_calls: u64,
    /// CPUs of the machine (shared by both sides, and by whatever else runs on it).
    pub cpus: usize,
    /// Which side ran out of CPU (or of schedule), if any.
    pub saturated: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub users: usize,
    pub queues: usize,
    pub connect_to_subscribed_ms: f64,
    pub rates: Vec<RateResult>,
    /// Peak resident memory of the engine's process (the simulator is a child process).
    pub engine_peak_rss_mb: f64,
    /// Resident memory of the engine's process before it connected, and at the end.
    pub engine_rss_before_connect_mb: f64,
    pub engine_rss_end_mb: f64,
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
                takes_calls_when_forwarded: false,
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

/// The simulator child process and its line protocol (see [`sim_process`]).
struct SimChild {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl SimChild {
    /// Starts `acd bench-sim` and waits for its address and certificate fingerprint.
    fn start(options: &LoadOptions) -> Result<(SimChild, String, String), LoadError> {
        let exe = std::env::current_exe()?;
        let mut child = Process::new(exe)
            .args([
                "bench-sim",
                "--users",
                &options.users.to_string(),
                "--queues",
                &options.queues.to_string(),
                "--talk-ms",
                &options.talk_ms.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(LoadError::SimProcess("no pipes to the child".into()));
        };
        let mut sim = SimChild {
            child,
            stdin,
            stdout: BufReader::new(stdout),
        };
        let line = sim.read_line()?;
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("ready"), Some(addr), Some(fp)) => {
                let (addr, fp) = (addr.to_string(), fp.to_string());
                Ok((sim, addr, fp))
            }
            _ => Err(LoadError::SimProcess(format!(
                "unexpected start line {line:?}"
            ))),
        }
    }

    fn read_line(&mut self) -> Result<String, LoadError> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err(LoadError::SimProcess("the simulator exited".into()));
        }
        Ok(line.trim().to_string())
    }

    fn step(&mut self, calls: u32, notifies: u32, seconds: f64) -> Result<SimStep, LoadError> {
        writeln!(self.stdin, "step {calls} {notifies} {seconds}")?;
        self.stdin.flush()?;
        let line = self.read_line()?;
        serde_json::from_str(&line)
            .map_err(|e| LoadError::SimProcess(format!("bad step report {line:?}: {e}")))
    }

    fn quit(mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}

/// A side counts as saturated from this share of a core up.
const SATURATED_CPU: f64 = 0.85;
/// Both sides together use this share of the machine's cores.
const SHARED_CORES: f64 = 0.75;
/// The simulator lost its schedule when a generator turn came this late (it sleeps 0.2 ms).
const SIM_LATE_MS: f64 = 50.0;

/// Runs the whole benchmark and returns its report. The simulator is started as
/// `<this executable> bench-sim`, so this runs from the `acd` binary, not from a test harness.
pub fn run_load(options: &LoadOptions) -> Result<LoadReport, LoadError> {
    if options.queues == 0 || options.users < options.queues {
        return Err(LoadError::Options(
            "need at least one queue and one user per queue".into(),
        ));
    }
    if !(options.seconds_per_rate.is_finite() && options.seconds_per_rate > 0.0) {
        return Err(LoadError::Options("seconds per rate must be > 0".into()));
    }
    let (mut sim, addr, fingerprint) = SimChild::start(options)?;
    let result = drive_steps(options, &mut sim, &addr, &fingerprint);
    sim.quit();
    result
}

fn drive_steps(
    options: &LoadOptions,
    sim: &mut SimChild,
    addr: &str,
    fingerprint: &str,
) -> Result<LoadReport, LoadError> {
    let pin = crate::daemon::config::parse_fingerprint(fingerprint).ok();
    let endpoint = Endpoint::parse(&format!("wss://{addr}"))
        .map_err(|e| LoadError::Engine(format!("endpoint: {e}")))?;
    let rss_before = procfs::status_kb("VmRSS:").unwrap_or(0) as f64 / 1024.0;
    let queue_names: Vec<String> = (0..options.queues).map(|q| format!("Q{q}")).collect();
    let plan: Vec<(&'static str, u32)> = options
        .rates
        .iter()
        .map(|&r| ("calls", r))
        .chain(options.notify_rates.iter().map(|&r| ("notifies", r)))
        .collect();
    let engine = engine::spawn(
        endpoint,
        pin,
        routing(options.users, options.queues),
        queue_names,
        plan.len(),
    )?;
    let connect = engine
        .subscribed
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| LoadError::Engine("not subscribed within 60 s".into()))?;
    // Let the first snapshots settle before offering traffic (agents become offerable once
    // their first call snapshot, or the settle time, has shown their phones).
    std::thread::sleep(Duration::from_secs(3));

    let mut marks = Vec::new();
    for (i, &(mode, rate)) in plan.iter().enumerate() {
        engine.step.store(i, Ordering::Relaxed);
        let cpu0 = procfs::thread_cpu_s(engine.tid).unwrap_or(0.0);
        let (calls, notifies) = match mode {
            "calls" => (rate, 0),
            _ => (0, rate),
        };
        let step = sim.step(calls, notifies, options.seconds_per_rate)?;
        let cpu = procfs::thread_cpu_s(engine.tid).unwrap_or(0.0) - cpu0;
        marks.push((mode, rate, step, cpu));
    }
    engine.step.store(plan.len(), Ordering::Relaxed);
    let tid_stats = engine.finish()?;
    let mut rates = Vec::new();
    let mut max_live = 0;
    for (i, (mode, rate, step, cpu)) in marks.into_iter().enumerate() {
        let s = &tid_stats[i];
        max_live = max_live.max(step.live_calls);
        rates.push(row(mode, rate, &step, cpu, s));
    }
    Ok(LoadReport {
        users: options.users,
        queues: options.queues,
        connect_to_subscribed_ms: connect.as_secs_f64() * 1000.0,
        rates,
        engine_peak_rss_mb: procfs::status_kb("VmHWM:").unwrap_or(0) as f64 / 1024.0,
        engine_rss_before_connect_mb: rss_before,
        engine_rss_end_mb: procfs::status_kb("VmRSS:").unwrap_or(0) as f64 / 1024.0,
        max_live_calls: max_live,
    })
}

/// One row of the report from both sides' figures.
fn row(
    mode: &'static str,
    rate: u32,
    step: &SimStep,
    engine_cpu: f64,
    s: &engine::StepStats,
) -> RateResult {
    let mut lat = s.latencies_ns.clone();
    lat.sort_unstable();
    let pct = |p: f64| {
        if lat.is_empty() {
            return 0.0;
        }
        let ix = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[ix] as f64 / 1000.0
    };
    let wall = step.wall_s.max(1e-9);
    let per = |cpu: f64, n: u64| if n == 0 { 0.0 } else { cpu * 1e6 / n as f64 };
    let engine_share = engine_cpu / wall;
    let sim_share = step.cpu_s / wall;
    let sim_busy = sim_share >= SATURATED_CPU || step.max_gap_ms >= SIM_LATE_MS;
    let engine_busy = engine_share >= SATURATED_CPU;
    let cpus = procfs::cpus();
    // Neither side alone at a core, but together most of the machine: they compete for it
    // (with anything else running there), and neither figure is a ceiling.
    let shared_full = engine_share + sim_share >= SHARED_CORES * cpus as f64;
    let saturated = match (sim_busy, engine_busy, shared_full) {
        (true, true, _) => "both".to_string(),
        (true, false, _) => "simulator".to_string(),
        (false, true, _) => "engine".to_string(),
        (false, false, true) => format!("the machine's {cpus} cores, shared"),
        (false, false, false) => "neither".to_string(),
    };
    RateResult {
        mode,
        offered_per_s: rate,
        injected: if mode == "calls" {
            step.calls_injected
        } else {
            step.toggles
        },
        transfers: s.transfers,
        latency_samples: lat.len(),
        latency_us_p50: pct(0.50),
        latency_us_p99: pct(0.99),
        latency_us_p999: pct(0.999),
        latency_us_max: lat.last().map_or(0.0, |v| *v as f64 / 1000.0),
        events_per_s: s.events as f64 / wall,
        frames_in_per_s: step.frames_out as f64 / wall,
        acks_per_s: step.acks_in as f64 / wall,
        engine_cpu_share: engine_share,
        engine_cpu_us_per_frame: per(engine_cpu, step.frames_out),
        sim_cpu_share: sim_share,
        sim_cpu_us_per_frame: per(step.cpu_s, step.frames_out),
        sim_max_gap_ms: step.max_gap_ms,
        live_calls: step.live_calls,
        cpus,
        saturated,
    }
}

/// The report as Markdown.
pub fn markdown(r: &LoadReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "users {}, queues {}: connect -> fully subscribed {:.0} ms; engine process (simulator excluded): RSS {:.1} MB before connecting, peak {:.1} MB, {:.1} MB at the end; max live calls {}\n",
        r.users,
        r.queues,
        r.connect_to_subscribed_ms,
        r.engine_rss_before_connect_mb,
        r.engine_peak_rss_mb,
        r.engine_rss_end_mb,
        r.max_live_calls
    );
    let _ = writeln!(out, "| offered | injected | transfers | notify→command p50 / p99 / p99.9 / max µs (n) | events/s | frames/s in | acks/s | engine CPU | engine µs/frame | sim CPU | sim µs/frame | sim max gap ms | live calls | saturated |");
    let _ = writeln!(
        out,
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for s in &r.rates {
        let unit = if s.mode == "calls" {
            "calls/s"
        } else {
            "notifies/s"
        };
        let latency = if s.latency_samples == 0 {
            "–".to_string()
        } else {
            format!(
                "{:.0} / {:.0} / {:.0} / {:.0} ({})",
                s.latency_us_p50,
                s.latency_us_p99,
                s.latency_us_p999,
                s.latency_us_max,
                s.latency_samples
            )
        };
        let _ = writeln!(
            out,
            "| {} {unit} | {} | {} | {latency} | {:.0} | {:.0} | {:.0} | {:.2} | {:.1} | {:.2} | {:.1} | {:.1} | {} | {} |",
            s.offered_per_s,
            s.injected,
            s.transfers,
            s.events_per_s,
            s.frames_in_per_s,
            s.acks_per_s,
            s.engine_cpu_share,
            s.engine_cpu_us_per_frame,
            s.sim_cpu_share,
            s.sim_cpu_us_per_frame,
            s.sim_max_gap_ms,
            s.live_calls,
            s.saturated
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(cpu_s: f64, max_gap_ms: f64) -> SimStep {
        SimStep {
            wall_s: 1.0,
            frames_out: 1_000,
            acks_in: 1_000,
            cpu_s,
            max_gap_ms,
            ..SimStep::default()
        }
    }

    fn verdict(engine_cpu: f64, sim: SimStep) -> String {
        row(
            "notifies",
            1_000,
            &sim,
            engine_cpu,
            &engine::StepStats::default(),
        )
        .saturated
    }

    #[test]
    fn each_row_names_the_side_that_ran_out() {
        assert_eq!(verdict(0.2, step(0.2, 1.0)), "neither");
        assert_eq!(verdict(0.9, step(0.2, 1.0)), "engine");
        assert_eq!(verdict(0.2, step(0.9, 1.0)), "simulator");
        assert_eq!(
            verdict(0.2, step(0.2, 80.0)),
            "simulator",
            "a late schedule"
        );
        assert_eq!(verdict(0.9, step(0.9, 1.0)), "both");
        let shared = verdict(0.8, step(0.8, 1.0));
        if procfs::cpus() <= 2 {
            assert!(shared.contains("shared"), "{shared}");
        }
    }

    #[test]
    fn percentiles_and_per_frame_costs_come_from_the_step() {
        let stats = engine::StepStats {
            latencies_ns: (1..=1_000).map(|i| i * 1_000).collect(),
            events: 2_000,
            transfers: 1_000,
        };
        let r = row("calls", 1_000, &step(0.5, 1.0), 0.25, &stats);
        assert_eq!((r.latency_us_p50, r.latency_us_p99), (500.0, 990.0));
        assert_eq!(r.latency_us_max, 1_000.0);
        assert!((r.engine_cpu_us_per_frame - 250.0).abs() < 1e-9);
        assert!((r.sim_cpu_us_per_frame - 500.0).abs() < 1e-9);
    }
}
