//! `acd sim`: runs the simulator standalone for a while, shows a live status line on stderr and
//! prints the JSON summary as the last line of stdout. The binary only parses flags into
//! [`SimCliOptions`]; everything else lives here so it is testable.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::error::SimError;
use super::scenario::Scenario;
use super::server::{SimServer, SimServerConfig, TlsMode, MAX_CONNECTIONS};
use super::stats::SimSummary;
use acd_wire::framing::Framing;

#[derive(Debug, Clone)]
pub struct SimCliOptions {
    pub listen: SocketAddr,
    /// Also serve the secondary of a resilient pair here.
    pub secondary_listen: Option<SocketAddr>,
    /// The share of callers arriving on the secondary (with `secondary_listen`).
    pub secondary_share: f64,
    /// `None`: the shipped default scenario.
    pub scenario: Option<PathBuf>,
    /// Real time to run for.
    pub duration: Duration,
    /// Virtual seconds per real second.
    pub speed: f64,
    pub tls: TlsMode,
    /// How often the status line is refreshed (zero: no status line).
    pub status_every: Duration,
    /// Keep the built-in scenario's hunt groups distributing natively (members enabled).
    pub native: bool,
}

impl Default for SimCliOptions {
    fn default() -> Self {
        SimCliOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            secondary_listen: None,
            secondary_share: 0.5,
            scenario: None,
            duration: Duration::from_secs(60),
            speed: 1.0,
            tls: TlsMode::SelfSigned,
            status_every: Duration::from_secs(1),
            native: false,
        }
    }
}

/// Runs the simulator until `duration` has passed or Ctrl-C, then prints and returns the
/// summary.
pub async fn run_cli(options: SimCliOptions) -> Result<SimSummary, SimError> {
    let scenario = match &options.scenario {
        Some(path) => Scenario::load(path)?,
        None => {
            let mut scenario = Scenario::default_scenario()?;
            if !options.native {
                // Ready for `acd run` as the README sets it up: the engine distributes.
                scenario.set_up_for_engine(|_| true);
            }
            scenario
        }
    };
    for q in &scenario.queues {
        let enabled = q
            .members
            .iter()
            .filter(|m| !q.disabled_members.contains(m))
            .count();
        if enabled > 0 {
            eprintln!(
                "acd sim: hunt group {} rings {enabled} enabled member(s) itself; an engine \
                 routing it will compete with it (disable its members, or run the built-in \
                 scenario without --native)",
                q.name
            );
        }
    }
    for user in &scenario.service_users {
        eprintln!(
            "acd sim: service user {:?} (password as in the scenario file)",
            user.name
        );
    }
    let config = SimServerConfig {
        listen: options.listen,
        tls: options.tls.clone(),
        scenario,
        speed: options.speed,
        tick: Duration::from_millis(50),
        max_connections: MAX_CONNECTIONS,
        secondary_listen: options.secondary_listen,
    };
    let handle = SimServer::start(config).await?;
    if let Some(secondary) = handle.secondary_endpoint() {
        handle.with_model(|m| m.set_secondary_share(options.secondary_share));
        eprintln!(
            "acd sim: its secondary on {secondary}, {:.0} % of callers arriving there",
            options.secondary_share.clamp(0.0, 1.0) * 100.0
        );
    }
    eprintln!(
        "acd sim: IP Office simulator on {}",
        handle.url(Framing::Framed)
    );
    if let Some(fp) = handle.cert_sha256() {
        eprintln!("acd sim: certificate SHA-256 fingerprint {fp}");
    }
    let deadline = tokio::time::Instant::now() + options.duration;
    let every = if options.status_every.is_zero() {
        options.duration.max(Duration::from_secs(1))
    } else {
        options.status_every
    };
    let mut ticker = tokio::time::interval(every);
    let terminal = std::io::stderr().is_terminal();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            _ = &mut ctrl_c => break,
            _ = ticker.tick() => {
                if !options.status_every.is_zero() {
                    let line = status_line(&handle.status(), handle.connections(), terminal);
                    let mut err = std::io::stderr().lock();
                    let _ = err.write_all(line.as_bytes());
                    let _ = err.flush();
                }
            }
        }
    }
    if !options.status_every.is_zero() && terminal {
        eprintln!();
    }
    let summary = handle.summary();
    handle.shutdown().await;
    println!("{}", summary.to_json_line());
    Ok(summary)
}

/// The live status line: redrawn in place (`\r`) on a terminal; one line per refresh in a
/// pipe or a log file, where a carriage return would pile every refresh onto one line.
fn status_line(status: &impl std::fmt::Display, connections: usize, terminal: bool) -> String {
    if terminal {
        format!("\r{status} connections={connections}  ")
    } else {
        format!("{status} connections={connections}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 24 (10): the status line used `\r` when stderr was a pipe or a file.
    #[test]
    fn off_a_terminal_each_status_is_a_line_of_its_own() {
        let line = status_line(&"t=10s waiting=2", 1, false);
        assert_eq!(line, "t=10s waiting=2 connections=1\n");
        assert!(status_line(&"t=10s", 1, true).starts_with('\r'));
    }

    fn options(native: bool) -> SimCliOptions {
        SimCliOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            duration: Duration::from_secs(30),
            speed: 120.0,
            tls: TlsMode::Plain,
            status_every: Duration::ZERO,
            native,
            ..SimCliOptions::default()
        }
    }

    /// By default the built-in scenario waits for an engine: IP Office queues the calls but
    /// rings nobody itself, so without one nobody answers.
    #[tokio::test(start_paused = true)]
    async fn the_default_scenario_waits_for_an_engine() {
        let summary = run_cli(options(false)).await.unwrap();
        assert!(summary.totals.offered > 50, "{:?}", summary.totals);
        assert_eq!(summary.totals.answered, 0, "{:?}", summary.totals);
    }

    #[tokio::test(start_paused = true)]
    async fn runs_the_default_scenario_natively_and_summarises() {
        let options = options(true);
        let summary = run_cli(options).await.unwrap();
        // 30 s at 120x is an hour of virtual traffic on two queues.
        assert!(
            summary.virtual_seconds >= 3_500.0,
            "{}",
            summary.virtual_seconds
        );
        assert!(summary.totals.offered > 50, "{:?}", summary.totals);
        assert!(summary.totals.answered > 0);
        assert_eq!(summary.queues.len(), 2);
        let json: serde_json::Value = serde_json::from_str(&summary.to_json_line()).unwrap();
        assert!(json["totals"]["service_level"].is_number());
    }
}
