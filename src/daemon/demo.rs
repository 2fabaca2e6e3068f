//! `acd demo`: the whole product on one machine in one command. The simulator plays IP Office
//! (default scenario), the engine connects to it over the real protocol (wss on loopback, the
//! simulator's self-signed certificate pinned by fingerprint), routes with the example rules,
//! serves metrics, prints a live line every second, then IP Office's own hunt groups on the
//! same callers side by side with the engine (`demo_comparison`), and a JSON summary.

use super::config::{DaemonConfig, LogFormat, PbxConfig, RoutingSection};
use super::demo_comparison::{self, DemoComparison};
use super::runtime::{self, Control, LiveStatus, RunReport};
use super::{example_rules, http, logging, serve, telemetry};
use crate::sim::server::{SimServer, SimServerConfig, TlsMode};
use crate::sim::{Scenario, SimError, SimSummary};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub duration: Duration,
    pub metrics_addr: SocketAddr,
    /// Where the rules store lives; a temporary directory when not given.
    pub data_dir: Option<PathBuf>,
    /// Rules to run; the built-in example ruleset when not given.
    pub rules_dir: Option<PathBuf>,
    /// Simulator scenario; the built-in default when not given.
    pub scenario: Option<PathBuf>,
    /// Simulated seconds per real second.
    pub speed: f64,
    /// Print the live line (off in tests).
    pub live: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error("cannot prepare the demo's directories: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot install the metrics recorder: {0}")]
    Metrics(#[from] metrics_exporter_prometheus::BuildError),
    #[error(transparent)]
    Http(#[from] http::HttpError),
    #[error(transparent)]
    Run(#[from] runtime::RunError),
    #[error("the engine stopped abnormally: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("the routing rules are not valid:\n{0}")]
    Rules(String),
}

/// What the demo prints as its last line.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    pub real_seconds: f64,
    pub speed: f64,
    /// Seconds that passed on the engine's clock: the simulator's `virtual_seconds`, since both
    /// run on one clock.
    pub engine_seconds: f64,
    pub routed_queues: Vec<String>,
    /// Queues the rules define that IP Office (the simulator) does not have, each with what
    /// that means; they are left out of `engine.queues`, where they showed as zeros that read
    /// like a queue nobody called.
    pub not_in_ip_office: Vec<String>,
    pub engine: RunReport,
    pub simulator: SimSummary,
    /// The engine beside IP Office's hunt groups alone, on the same callers.
    pub comparison: DemoComparison,
}

pub async fn demo(opts: DemoOptions) -> Result<DemoSummary, DemoError> {
    logging::init(LogFormat::Text, "warn");
    let temp = tempfile::tempdir()?;
    let rules_dir = match &opts.rules_dir {
        Some(d) => d.clone(),
        None => {
            let d = temp.path().join("routing-rules");
            example_rules::write_to(&d)?;
            d
        }
    };
    let data_dir = opts
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().join("data"));
    std::fs::create_dir_all(&data_dir)?;

    let checked = acd_rules::check_dir(&rules_dir).map_err(|e| DemoError::Rules(e.to_string()))?;
    let (routing, _) = checked
        .into_result()
        .map_err(|report| DemoError::Rules(report.render()))?;

    let mut scenario = match &opts.scenario {
        Some(path) => Scenario::load(path)?,
        None => Scenario::default_scenario()?,
    };
    // As an operator would configure IP Office for engine-routed hunt groups: members stay in
    // the group (for reporting) but are disabled, so IP Office queues the calls and the engine
    // does the ringing.
    let is_routed = |name: &str| routing.queues.keys().any(|id| id.0 == name);
    let routed: Vec<String> = scenario
        .queues
        .iter()
        .filter(|q| is_routed(&q.name))
        .map(|q| q.name.clone())
        .collect();
    let rule_queues: Vec<String> = routing.queues.keys().map(|q| q.0.clone()).collect();
    // Who answered each call, so both sides are judged by the rules alike.
    scenario.sim.answer_log = true;
    let as_configured = scenario.clone();
    scenario.set_up_for_engine(is_routed);
    let credentials = scenario.service_users.first().cloned().ok_or_else(|| {
        DemoError::Rules("the scenario has no [[service_user]] to log in with".into())
    })?;

    let sim = SimServer::start(SimServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        tls: TlsMode::SelfSigned,
        scenario,
        speed: opts.speed,
        tick: clock_tick(opts.speed),
        max_connections: crate::sim::server::MAX_CONNECTIONS,
        secondary_listen: None,
    })
    .await?;
    let pin = sim
        .cert_sha256()
        .and_then(|f| super::config::parse_fingerprint(f).ok());

    let config = DaemonConfig {
        pbx: PbxConfig {
            endpoints: vec![format!("wss://{}", sim.local_addr())],
            username: credentials.name,
            password: credentials.password.into(),
            unframed: false,
            ca_file: None,
            pin_sha256: pin,
            insecure: false,
            request_timeout: Duration::from_secs(5),
            subscription_timeout: None,
            ephemeral_queues: true,
            deadlines: Default::default(),
        },
        routing: RoutingSection {
            queues: routed.clone(),
            rules_dir,
            watch_rules: opts.rules_dir.is_some(),
        },
        data_dir,
        metrics_listen: opts.metrics_addr,
        log_format: LogFormat::Text,
        log_level: "warn".into(),
        drain_timeout: Duration::from_secs(3),
        twin: None,
    };

    let thresholds: Vec<f64> = routing
        .queues
        .values()
        .flat_map(|q| q.service_level_ms.iter().map(|ms| *ms as f64 / 1000.0))
        .collect();
    let metrics = telemetry::install(&thresholds)?;
    let (status_tx, status_rx) = watch::channel(LiveStatus::default());
    let ready = serve::readiness(status_rx.clone());
    let (stop_http_tx, stop_http_rx) = tokio::sync::oneshot::channel::<()>();
    let (addr, http_task) = http::serve(opts.metrics_addr, metrics, ready, async move {
        let _ = stop_http_rx.await;
    })
    .await?;
    let absent = absent_queues(&rule_queues, &routed);
    if opts.live {
        eprintln!(
            "acd demo: simulator at {} (wss, pinned), metrics at http://{addr}/metrics, \
             {}x simulated time, routed queues: {}",
            sim.local_addr(),
            opts.speed,
            routed.join(", ")
        );
        for q in &absent {
            eprintln!("acd demo: {}", not_in_ip_office(q));
        }
    }

    let (control_tx, control_rx) = mpsc::channel(4);
    // One clock for both: the engine's timers (wrap-up, steps, ring-no-answer) run as fast as
    // the simulator's callers, so the demo shows what the engine really does.
    let engine_clock = super::clock::EngineClock::scaled(opts.speed);
    let engine_start = engine_clock.now();
    let engine = tokio::spawn(runtime::run_with_clock(
        config,
        control_rx,
        status_tx,
        engine_clock,
    ));
    let started = std::time::Instant::now();
    let mut every_second = tokio::time::interval(Duration::from_secs(1));
    while started.elapsed() < opts.duration {
        every_second.tick().await;
        if opts.live {
            live_line(started.elapsed(), &status_rx.borrow());
        }
    }
    let _ = control_tx.send(Control::Stop).await;
    let mut report = engine.await??;
    for q in &absent {
        report.queues.remove(q);
    }
    if opts.live && std::io::stderr().is_terminal() {
        eprintln!();
    }
    let simulator = sim.summary();
    let engine_answers = sim.with_model(|m| m.answers().to_vec());
    sim.shutdown().await;
    let duration_ms = (simulator.virtual_seconds * 1000.0).round() as u64;
    let comparison = demo_comparison::compare(
        &as_configured,
        &routing,
        &is_routed,
        duration_ms,
        &simulator,
        &engine_answers,
    )?;
    if opts.live {
        eprint!("{}", demo_comparison::render(&comparison));
    }
    let _ = stop_http_tx.send(());
    let _ = http_task.await;
    Ok(DemoSummary {
        real_seconds: started.elapsed().as_secs_f64(),
        speed: opts.speed,
        engine_seconds: engine_clock.now().since(engine_start) as f64 / 1000.0,
        routed_queues: routed,
        not_in_ip_office: absent.iter().map(|q| not_in_ip_office(q)).collect(),
        engine: report,
        simulator,
        comparison,
    })
}

/// How often the simulator's clock advances, in real time: often enough that one step is at
/// most 0.2 simulated seconds up to 100× (a step of 1.2 s at 60× would delay every ring,
/// answer and transfer by up to that much and cost callers their service level), and never
/// more often than every 2 ms, so faster speeds take longer steps.
fn clock_tick(speed: f64) -> Duration {
    Duration::from_secs_f64((0.2 / speed.max(1.0)).clamp(0.002, 0.02))
}

/// The rules' queues that IP Office does not have (`routed` holds those it has).
fn absent_queues(rule_queues: &[String], routed: &[String]) -> Vec<String> {
    rule_queues
        .iter()
        .filter(|q| !routed.contains(q))
        .cloned()
        .collect()
}

fn not_in_ip_office(queue: &str) -> String {
    format!("{queue}: not in IP Office — no calls can reach it")
}

fn live_line(elapsed: Duration, s: &LiveStatus) {
    let sl = s
        .service_level
        .map_or("-".to_string(), |v| format!("{:.0}%", v * 100.0));
    let agents: Vec<String> = s
        .agents
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(state, n)| format!("{state} {n}"))
        .collect();
    let mut err = std::io::stderr().lock();
    // On a terminal the line is redrawn in place; in a log each second gets its own line.
    let (start, end) = if err.is_terminal() {
        ("\r", "\x1b[K")
    } else {
        ("", "\n")
    };
    let _ = write!(
        err,
        "{start}[{:>4}s] {} rules v{} | waiting {} | offered {} answered {} abandoned {} overflowed {} | SL {} | agents: {}{end}",
        elapsed.as_secs(),
        if s.ready { "online " } else { "offline" },
        s.rules_version,
        s.waiting,
        s.offered,
        s.answered,
        s.abandoned,
        s.overflowed,
        sl,
        agents.join(", ")
    );
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rules_queue_ip_office_lacks_is_flagged_not_counted() {
        let rules = ["Billing", "Sales", "Support"].map(String::from);
        let routed = ["Sales", "Support"].map(String::from);
        let absent = absent_queues(&rules, &routed);
        assert_eq!(absent, vec!["Billing".to_string()]);
        assert_eq!(
            not_in_ip_office(&absent[0]),
            "Billing: not in IP Office — no calls can reach it"
        );
        assert!(absent_queues(&routed, &routed).is_empty());
    }

    #[test]
    fn the_simulated_clock_steps_at_most_a_fifth_of_a_second() {
        for speed in [1.0, 10.0, 60.0, 100.0] {
            let step = clock_tick(speed).as_secs_f64() * speed;
            assert!(step <= 0.2 + 1e-9, "speed {speed}: {step} s a step");
        }
        // Never busier than every 2 ms, whatever the speed.
        assert_eq!(clock_tick(1000.0), Duration::from_millis(2));
        assert_eq!(clock_tick(1.0), Duration::from_millis(20));
    }
}
