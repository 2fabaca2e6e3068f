//! `acd sim`: runs the simulator standalone for a while, shows a live status line on stderr and
//! prints the JSON summary as the last line of stdout. The binary only parses flags into
//! [`SimCliOptions`]; everything else lives here so it is testable.
//!
//! With a secondary, the primary can fail and come back on a schedule (`--fail-primary-at`,
//! `--restore-primary-at`), so a live-live engine can be watched riding out the loss of one
//! system without writing a test for it.

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
    /// With `secondary_listen`: the primary fails this long after the start (real time).
    pub fail_primary_at: Option<Duration>,
    /// With `fail_primary_at`: the primary is back this long after the start (real time).
    pub restore_primary_at: Option<Duration>,
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
            fail_primary_at: None,
            restore_primary_at: None,
        }
    }
}

impl SimCliOptions {
    /// The primary's schedule makes sense: it needs a secondary to fail over to, a restore
    /// needs a failure before it, and both fall within the run.
    pub fn check_primary_schedule(&self) -> Result<(), SimError> {
        let bad = |m: &str| Err(SimError::Options(m.to_string()));
        if self.fail_primary_at.is_some() && self.secondary_listen.is_none() {
            return bad("--fail-primary-at needs --secondary-listen: with no secondary, failing the primary is only stopping the simulator");
        }
        match (self.fail_primary_at, self.restore_primary_at) {
            (None, Some(_)) => bad("--restore-primary-at needs --fail-primary-at before it"),
            (Some(fail), Some(restore)) if restore <= fail => {
                bad("--restore-primary-at must come after --fail-primary-at")
            }
            (Some(fail), _) if fail >= self.duration => {
                bad("--fail-primary-at falls after the end of the run (--duration)")
            }
            _ => Ok(()),
        }
    }
}

/// Runs the simulator until `duration` has passed or Ctrl-C, then prints and returns the
/// summary.
pub async fn run_cli(options: SimCliOptions) -> Result<SimSummary, SimError> {
    options.check_primary_schedule()?;
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
    let started = tokio::time::Instant::now();
    let deadline = started + options.duration;
    let mut fail_at = options.fail_primary_at.map(|d| started + d);
    let mut restore_at = options.restore_primary_at.map(|d| started + d);
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
            _ = tokio::time::sleep_until(fail_at.unwrap_or(deadline)), if fail_at.is_some() => {
                fail_at = None;
                handle.faults().fail_primary();
                eprintln!("\nacd sim: the primary fails (--fail-primary-at): its callers are cut off, its connections dropped and refused; new callers arrive on the secondary");
            }
            _ = tokio::time::sleep_until(restore_at.unwrap_or(deadline)), if restore_at.is_some() => {
                restore_at = None;
                handle.faults().restore_primary();
                eprintln!("\nacd sim: the primary is back (--restore-primary-at): it accepts connections again");
            }
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

    #[test]
    fn a_primary_schedule_that_cannot_happen_is_refused() {
        let s = Duration::from_secs;
        let with = |secondary: bool, fail: Option<u64>, restore: Option<u64>| SimCliOptions {
            secondary_listen: secondary.then(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            fail_primary_at: fail.map(s),
            restore_primary_at: restore.map(s),
            ..options(false)
        };
        assert!(with(true, Some(5), Some(10))
            .check_primary_schedule()
            .is_ok());
        assert!(with(true, Some(5), None).check_primary_schedule().is_ok());
        assert!(with(false, None, None).check_primary_schedule().is_ok());
        for (opts, says) in [
            (with(false, Some(5), None), "--secondary-listen"),
            (with(true, None, Some(5)), "needs --fail-primary-at"),
            (with(true, Some(10), Some(5)), "after --fail-primary-at"),
            (with(true, Some(60), None), "--duration"),
        ] {
            let err = opts.check_primary_schedule().unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
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
