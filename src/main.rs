//! `acd`: the command line of the engine. Everything here is argument parsing and wiring; the
//! work is done by the libraries (`acd::…`, `acd_rules`, `acd_core`).

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "acd",
    version,
    about = "Skills-based call distribution for Avaya IP Office"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine against IP Office, as configured in FILE.
    Run {
        /// The engine's config file (TOML), e.g. /etc/acd/acd.toml.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run the engine against the embedded IP Office simulator, with the example rules, over
    /// the real protocol (wss on loopback); prints a live line, then IP Office's own hunt groups
    /// on the same callers beside the engine, and a JSON summary at the end. By default one
    /// simulated hour in a minute.
    Demo {
        /// How long to run (real time).
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        duration: std::time::Duration,
        /// Where to serve /metrics, /healthz and /readyz.
        #[arg(long, default_value = "127.0.0.1:9464")]
        metrics_addr: std::net::SocketAddr,
        /// Simulated seconds per real second. The engine runs on the same simulated clock, so its
        /// wrap-up, steps and ring timeouts last what they would for real callers.
        #[arg(long, default_value_t = 60.0)]
        speed: f64,
        /// Rules directory (default: the built-in example ruleset).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Simulator scenario (default: the built-in scenario).
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Data directory for the rules store (default: a temporary directory).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Run the IP Office simulator: an MT-CTI3 peer with simulated traffic and agents.
    ///
    /// The built-in scenario accepts the service user `acd` with password `acd-secret`, and its
    /// hunt groups are set up for the engine (members disabled, IP Office's overflow and
    /// voicemail timers off), so `acd run` can be pointed at it as at a real IP Office.
    Sim {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: std::net::SocketAddr,
        /// Scenario file (TOML); the built-in default scenario when left out.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Also serve the secondary of a resilient pair on this address (point the engine's
        /// second endpoint at it: live-live); this share of callers arrives on it.
        #[arg(long)]
        secondary_listen: Option<std::net::SocketAddr>,
        /// With --secondary-listen: the share of callers arriving on the secondary.
        #[arg(long, default_value_t = 0.5)]
        secondary_share: f64,
        /// With --secondary-listen: the primary fails this long after the start (real time,
        /// e.g. 60s): its callers are cut off, its connections dropped and refused, and new
        /// callers arrive on the secondary.
        #[arg(long, value_parser = humantime::parse_duration, requires = "secondary_listen")]
        fail_primary_at: Option<std::time::Duration>,
        /// With --fail-primary-at: the primary is back this long after the start (real time).
        #[arg(long, value_parser = humantime::parse_duration, requires = "fail_primary_at")]
        restore_primary_at: Option<std::time::Duration>,
        /// Let the built-in scenario's hunt groups distribute calls themselves (members
        /// enabled), as IP Office does without an engine.
        #[arg(long)]
        native: bool,
        /// How long to run (real time).
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        duration: std::time::Duration,
        /// Simulated seconds per real second.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Serve plain ws:// instead of wss:// (local tests only).
        #[arg(long, conflicts_with_all = ["cert", "key"])]
        plain: bool,
        /// PEM certificate chain to serve (with --key); a self-signed one is generated otherwise.
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        /// PEM private key for --cert.
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
        /// Keep the self-signed certificate in this directory (made on the first start, read
        /// later), so a configuration pinning its fingerprint survives simulator restarts.
        #[arg(long, conflicts_with_all = ["plain", "cert"])]
        cert_dir: Option<PathBuf>,
    },
    /// Routing-quality study in virtual time: the engine against IP Office's native hunt-group
    /// modes on the same seeded callers; prints a table per study and a JSON line.
    Study {
        /// Study file (scenario + rules + [study]); the shipped studies in scenarios/ when left out.
        #[arg(long, value_name = "FILE")]
        scenario: Option<PathBuf>,
        /// Virtual hours to simulate (default: the study file's `hours`).
        #[arg(long)]
        hours: Option<f64>,
        /// Seed for every random stream (default: the scenario's); with --seeds, the first.
        #[arg(long)]
        seed: Option<u64>,
        /// Run this many seeds (from --seed up) and report means and spreads (default: the
        /// study file's `seeds`, else 1).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
        seeds: Option<u32>,
        /// When virtual time begins: 2026-12-07T08:00 is local time in the rules' zone,
        /// 2026-12-07T08:00Z is UTC (default: the study file's `start`, else 1970-01-01 00:00
        /// UTC, a Thursday night, when real calendars are closed).
        #[arg(long, value_name = "DATE'T'TIME")]
        start: Option<acd::study::StudyStart>,
        /// Run the engine with this rules directory instead of the study file's `[rules]`.
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
    },
    /// End-to-end load benchmark: the wire session and the engine against the simulator over
    /// wss on loopback at rising call rates; prints a table and a JSON line. Run it from a
    /// release build.
    BenchLoad {
        /// Call rates to step through, calls per second.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "100,200,500,1000,1500,2000,2500"
        )]
        rates: Vec<u32>,
        /// Seconds to hold each rate.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        #[arg(long, default_value_t = 3000)]
        users: usize,
        #[arg(long, default_value_t = 100)]
        queues: usize,
        /// Talk time of every call, milliseconds.
        #[arg(long, default_value_t = 1000)]
        talk_ms: u64,
        /// Then notify rates to step through (agents' do-not-disturb changes per second, no
        /// calls): the engine's ingest ceiling.
        #[arg(long, value_delimiter = ',')]
        notify_rates: Vec<u32>,
    },
    /// The simulator side of bench-load, as its child process (line protocol on stdin/stdout).
    #[command(hide = true)]
    BenchSim {
        #[arg(long)]
        users: usize,
        #[arg(long)]
        queues: usize,
        #[arg(long)]
        talk_ms: u64,
    },
    /// Deterministic simulation of the real path (wire connection, translator, engine) against
    /// the simulator with seeded faults; checks invariants after every step. Exit status 1 when
    /// a seed fails; each failure prints the command that replays it.
    Dst {
        /// How many seeds to run, starting at --start.
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        /// First seed.
        #[arg(long, default_value_t = 1)]
        start: u64,
        /// Run exactly this seed (same as --start S --seeds 1).
        #[arg(long, conflicts_with_all = ["seeds", "start"])]
        seed: Option<u64>,
        /// Print each seed's plan and trace hash (and, for one seed, its last steps).
        #[arg(long)]
        trace: bool,
        /// Run every seed twice and fail if the traces differ.
        #[arg(long)]
        check_determinism: bool,
        /// Worker threads (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// File of seeds known to fail (`SEED INVARIANT` per line): they are reported but do
        /// not fail the run unless they fail differently.
        #[arg(long, value_name = "FILE")]
        known_failures: Option<PathBuf>,
    },
    /// Test the connection to IP Office: connect, authenticate, subscribe to Lines, report.
    CheckConnection {
        /// The engine's config file (TOML): the [pbx] section is tested.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// MT-CTI3 wire tools for support engineers.
    #[command(subcommand)]
    Wire(WireCommand),
    /// Routing rules: check, apply, history, diff, rollback, explain, rebuild-store.
    #[command(subcommand)]
    Rules(RulesCommand),
}

#[derive(Subcommand)]
enum WireCommand {
    /// Decode one message (framed or bare, hex) and print it as JSON.
    Decode {
        /// The message as hex (spaces and colons allowed).
        #[arg(required_unless_present = "file")]
        hex: Option<String>,
        /// Read the message from a file (raw bytes, or hex text).
        #[arg(long, conflicts_with = "hex")]
        file: Option<PathBuf>,
    },
}

#[derive(Args)]
struct DataDir {
    /// The engine's data directory (the rules store lives in DIR/rules). Defaults to the
    /// `storage.data_dir` of --config, else /var/lib/acd.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Read the data directory from this daemon config file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl DataDir {
    fn resolve(&self) -> anyhow::Result<PathBuf> {
        if let Some(d) = &self.data_dir {
            return Ok(d.clone());
        }
        if let Some(file) = &self.config {
            let env = |k: &str| std::env::var(k).ok();
            let config = acd::daemon::config::DaemonConfig::load(file, &env)
                .with_context(|| format!("reading {}", file.display()))?;
            return Ok(config.data_dir);
        }
        if let Ok(d) = std::env::var(acd::daemon::config::ENV_DATA_DIR) {
            return Ok(PathBuf::from(d));
        }
        Ok(PathBuf::from(acd::daemon::config::DEFAULT_DATA_DIR))
    }
}

impl DataDir {
    /// The rules directory the engine watches: `explicit` (`--rules-dir`), else the
    /// `routing.rules_dir` of --config, else `ACD_RULES_DIR`, else the default. The second
    /// value says whether it was named at all (the default may not exist on this machine).
    fn rules_dir(&self, explicit: Option<PathBuf>) -> anyhow::Result<(PathBuf, bool)> {
        if let Some(dir) = explicit {
            return Ok((dir, true));
        }
        if let Some(file) = &self.config {
            let env = |k: &str| std::env::var(k).ok();
            let config = acd::daemon::config::DaemonConfig::load(file, &env)
                .with_context(|| format!("reading {}", file.display()))?;
            return Ok((config.routing.rules_dir, true));
        }
        if let Ok(d) = std::env::var(acd::daemon::config::ENV_RULES_DIR) {
            return Ok((PathBuf::from(d), true));
        }
        Ok((PathBuf::from(acd::daemon::config::DEFAULT_RULES_DIR), false))
    }
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Validate a rules directory; exits non-zero on errors, shows warnings.
    Check {
        /// Rules directory: every *.toml file in it, merged in file-name order.
        dir: PathBuf,
    },
    /// Validate and store DIR as the new active version.
    Apply {
        /// Rules directory to store: every *.toml file in it, merged in file-name order.
        dir: PathBuf,
        /// Why this change: stored with the version and shown by `acd rules history`.
        #[arg(short, long)]
        message: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// List stored versions: `*` marks the store's active version, `running` the one the
    /// engine recorded it runs; also says whether the rules directory has unapplied edits.
    History {
        /// The rules directory to compare with the active version (default: the
        /// `routing.rules_dir` of --config, else $ACD_RULES_DIR, else /etc/acd/routing-rules
        /// if it exists).
        #[arg(long, visible_alias = "dir", value_name = "DIR")]
        rules_dir: Option<PathBuf>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Show what changed between two versions.
    Diff {
        /// The version to compare from (see `acd rules history`).
        a: u64,
        /// The version to compare to.
        b: u64,
        #[command(flatten)]
        data: DataDir,
    },
    /// Make version N active again: the rules directory is rewritten to hold exactly N's
    /// files, and a new version with N's content is stored. Refused while the directory holds
    /// unapplied edits, unless --discard-unapplied (which saves a copy first).
    Rollback {
        /// The stored version whose content becomes active again.
        n: u64,
        /// The rules directory the engine watches (default: the `routing.rules_dir` of
        /// --config, else $ACD_RULES_DIR, else /etc/acd/routing-rules).
        #[arg(long, visible_alias = "dir", value_name = "DIR")]
        rules_dir: Option<PathBuf>,
        /// Roll back even though the directory holds edits no version has; they are saved
        /// under DATA_DIR/discarded-rules/ first.
        #[arg(long)]
        discard_unapplied: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// Rebuild a corrupted rules store from DIR (the damaged store is moved aside).
    RebuildStore {
        dir: PathBuf,
        #[command(flatten)]
        data: DataDir,
    },
    /// Explain how a hypothetical call would be routed, e.g.
    /// `--call queue=Sales language=deu did=4930123456 at=2026-12-25T12:30` (local time in
    /// the rules' zone; also `date=2026-12-25 time=12:30`, or `time=` alone for today). The
    /// queue's calendar is applied at that instant.
    Explain {
        /// Call attributes as key=value words.
        #[arg(long, num_args = 1.., required = true, value_name = "KEY=VALUE")]
        call: Vec<String>,
        /// Explain under this rules directory instead of the active stored version.
        #[arg(long)]
        dir: Option<PathBuf>,
        #[command(flatten)]
        data: DataDir,
    },
}

/// Once connected, `check-connection` compares the agents the rules name with IP Office's
/// users: an extension no user has stays "logged off" for the engine, which reads like an
/// absent agent rather than a typo. Rules that cannot be read are left to `acd rules check`.
fn warn_unknown_agents(report: &acd::wire::check_connection::ConnectionReport, rules_dir: &Path) {
    let Ok(checked) = acd_rules::check_dir(rules_dir) else {
        return;
    };
    let unknown = report.unknown_agents(checked.config.agents.keys().map(|a| a.0.as_str()));
    if !unknown.is_empty() {
        println!(
            "warning: the rules in {} name agents IP Office does not know (no user has these \
             extensions): {}; the engine would show them logged off. Correct [agents.EXTENSION] \
             in the rules or add the users in IP Office.",
            rules_dir.display(),
            unknown.join(", ")
        );
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.command.writes_for_a_pipe() {
        die_quietly_on_closed_pipe();
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::from(2)
        }
    }
}

impl Command {
    /// One-shot commands whose output is read by people and pipes (`| head`, `| less`).
    /// The long-running ones (run, demo, sim) are left out on purpose: see
    /// [`die_quietly_on_closed_pipe`].
    fn writes_for_a_pipe(&self) -> bool {
        !matches!(
            self,
            Command::Run { .. } | Command::Demo { .. } | Command::Sim { .. }
        )
    }
}

/// Rust ignores SIGPIPE, so `print!` to a pipe whose reader has gone (`acd rules diff 1 2 |
/// head`) panics, exit 101, and the printing sits in several libraries (the study prints its
/// own tables). Restoring the default makes a one-shot command end silently like any Unix
/// filter, whoever prints. The daemon keeps SIGPIPE ignored: a restarted journald or a reset
/// socket must come back as an error the engine handles, never as a signal that kills routing.
fn die_quietly_on_closed_pipe() {
    // SAFETY: called first thing in `main`, before any thread exists; SIG_DFL is always a
    // valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The error and its causes, each once. Several errors from the libraries put their cause in
/// their own message and also return it as `source()`; anyhow's `{:#}` would print it twice
/// (`Address already in use (os error 98): Address already in use (os error 98)`).
fn error_chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let message = cause.to_string();
        if text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Rules(cmd) => rules(cmd),
        Command::Run { config } => {
            let file = load_config_file(&config)?;
            runtime()?.block_on(acd::daemon::serve::serve(file))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            duration,
            metrics_addr,
            speed,
            rules,
            scenario,
            data_dir,
        } => {
            if !(speed > 0.0 && speed <= 1000.0) {
                anyhow::bail!("--speed must be above 0 and at most 1000");
            }
            let options = acd::daemon::demo::DemoOptions {
                duration,
                metrics_addr,
                data_dir,
                rules_dir: rules,
                scenario,
                speed,
                live: true,
            };
            let summary = runtime()?.block_on(acd::daemon::demo::demo(options))?;
            println!("{}", serde_json::to_string(&summary)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Sim {
            listen,
            secondary_listen,
            secondary_share,
            fail_primary_at,
            restore_primary_at,
            scenario,
            native,
            duration,
            speed,
            plain,
            cert,
            key,
            cert_dir,
        } => {
            use acd::sim::server::TlsMode;
            if !(speed > 0.0 && speed <= 1000.0) {
                anyhow::bail!("--speed must be above 0 and at most 1000");
            }
            let tls = match (plain, cert, key) {
                (true, _, _) => TlsMode::Plain,
                (false, Some(cert), Some(key)) => TlsMode::FromFiles { cert, key },
                _ => match cert_dir {
                    Some(dir) => TlsMode::SelfSignedIn(dir),
                    None => TlsMode::SelfSigned,
                },
            };
            if !(0.0..=1.0).contains(&secondary_share) {
                anyhow::bail!("--secondary-share must be between 0 and 1");
            }
            let options = acd::sim::cli::SimCliOptions {
                listen,
                secondary_listen,
                secondary_share,
                scenario,
                duration,
                speed,
                tls,
                native,
                fail_primary_at,
                restore_primary_at,
                ..acd::sim::cli::SimCliOptions::default()
            };
            runtime()?.block_on(acd::sim::cli::run_cli(options))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Study {
            scenario,
            hours,
            seed,
            seeds,
            start,
            rules,
        } => {
            if hours.is_some_and(|h| !(h.is_finite() && h > 0.0)) {
                anyhow::bail!("--hours must be a positive number");
            }
            let options = acd::study::StudyCliOptions {
                scenario,
                run: acd::study::RunOptions { hours, seed, seeds },
                start,
                rules,
            };
            acd::study::run_cli(&options)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::BenchLoad {
            rates,
            seconds,
            users,
            queues,
            talk_ms,
            notify_rates,
        } => {
            let options = acd::study::load::LoadOptions {
                rates,
                notify_rates,
                seconds_per_rate: seconds,
                users,
                queues,
                talk_ms,
            };
            let report = acd::study::load::run_load(&options)?;
            println!("{}", acd::study::load::markdown(&report));
            println!("{}", serde_json::to_string(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::BenchSim {
            users,
            queues,
            talk_ms,
        } => {
            acd::study::load::sim_process::run(users, queues, talk_ms)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dst {
            seeds,
            start,
            seed,
            trace,
            check_determinism,
            jobs,
            known_failures,
        } => {
            let (start, seeds) = seed.map_or((start, seeds), |s| (s, 1));
            let known = match known_failures {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    acd::dst::cli::KnownFailures::parse(&text)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                }
                None => acd::dst::cli::KnownFailures::default(),
            };
            let options = acd::dst::cli::DstOptions {
                start,
                seeds,
                trace,
                check_determinism,
                jobs: jobs
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
                known,
            };
            let summary = acd::dst::cli::run_cli(&options)?;
            Ok(if summary.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::CheckConnection { config } => {
            let file = load_config_file(&config)?;
            // Warnings (insecure TLS, ignored trust settings, an open password file) matter
            // most while testing a set-up: they go to stderr like the daemon's.
            acd::daemon::logging::init(acd::daemon::config::LogFormat::Text, "warn");
            file.log_warnings();
            let config = file.daemon;
            let session = acd::daemon::pbx_link::session_config(
                &config,
                config.routing.queues.clone(),
                Vec::new(),
            )?;
            match runtime()?.block_on(acd::wire::check_connection::run(&session)) {
                Ok(report) => {
                    print!("{report}");
                    warn_unknown_agents(&report, &config.routing.rules_dir);
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("connection check failed: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Wire(WireCommand::Decode { hex, file }) => {
            let json = match (hex, file) {
                (Some(hex), _) => {
                    let bytes = acd::wire::decode::parse_hex(&hex)?;
                    acd::wire::decode::decode_to_json(&bytes)?
                }
                (None, Some(file)) => {
                    let content = std::fs::read(&file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    acd::wire::decode::decode_file_to_json(&content)?
                }
                (None, None) => anyhow::bail!("give the message as HEX or --file F"),
            };
            println!("{json}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load_config_file(path: &Path) -> anyhow::Result<acd::daemon::config::ConfigFile> {
    let env = |k: &str| std::env::var(k).ok();
    Ok(acd::daemon::config::ConfigFile::load(path, &env)?)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn print_output(out: acd_rules::commands::CommandOutput) -> ExitCode {
    print!("{}", out.text);
    ExitCode::from(u8::try_from(out.exit_code).unwrap_or(2))
}

fn rules(cmd: RulesCommand) -> anyhow::Result<ExitCode> {
    use acd_rules::commands as rc;
    let now = acd::daemon::clock::now();
    Ok(match cmd {
        RulesCommand::Check { dir } => print_output(rc::check(&dir)),
        RulesCommand::Apply { dir, message, data } => {
            print_output(rc::apply(&data.resolve()?, &dir, message.as_deref(), now))
        }
        RulesCommand::History { rules_dir, data } => {
            let (dir, named) = data.rules_dir(rules_dir)?;
            let dir = (named || dir.is_dir()).then_some(dir);
            print_output(rc::history(&data.resolve()?, dir.as_deref()))
        }
        RulesCommand::Diff { a, b, data } => print_output(rc::diff(&data.resolve()?, a, b)),
        RulesCommand::Rollback {
            n,
            rules_dir,
            discard_unapplied,
            data,
        } => {
            let (dir, _) = data.rules_dir(rules_dir)?;
            print_output(rc::rollback(
                &data.resolve()?,
                &dir,
                n,
                discard_unapplied,
                now,
            ))
        }
        RulesCommand::RebuildStore { dir, data } => {
            print_output(rc::rebuild_store(&data.resolve()?, &dir, now))
        }
        RulesCommand::Explain { call, dir, data } => print_output(rc::explain(
            &data.resolve()?,
            dir.as_deref().map(Path::new),
            &call,
            now,
        )),
    })
}
