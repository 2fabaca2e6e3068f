//! `acd run`: the daemon's whole life: logging, metrics, the run loop, signals, exit.

use super::config::{ConfigFile, DaemonConfig};
use super::runtime::{self, Control, LiveStatus, RunReport};
use super::{http, logging, signals, telemetry};
use tokio::sync::{mpsc, watch};

/// Each cause is either shown in the message or is the `source()` (transparent variants), never
/// both, so `acd`'s error chain prints it once.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot install the metrics recorder: {0}")]
    Metrics(metrics_exporter_prometheus::BuildError),
    #[error(transparent)]
    Http(#[from] http::HttpError),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error(transparent)]
    Run(#[from] runtime::RunError),
    #[error("the run loop stopped abnormally: {0}")]
    Join(tokio::task::JoinError),
}

impl From<metrics_exporter_prometheus::BuildError> for ServeError {
    fn from(e: metrics_exporter_prometheus::BuildError) -> Self {
        ServeError::Metrics(e)
    }
}

impl From<tokio::task::JoinError> for ServeError {
    fn from(e: tokio::task::JoinError) -> Self {
        ServeError::Join(e)
    }
}

/// Runs the daemon until SIGTERM/SIGINT; SIGHUP reloads the rules.
pub async fn serve(file: ConfigFile) -> Result<RunReport, ServeError> {
    logging::init(file.daemon.log_format, &file.daemon.log_level);
    file.log_warnings();
    let ConfigFile {
        daemon: config,
        http: limits,
        ..
    } = file;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        endpoints = %config.pbx.endpoints.join(", "),
        queues = %config.routing.queues.join(", "),
        "acd starting"
    );
    let metrics = telemetry::install(&service_level_thresholds(&config))?;
    let (status_tx, status_rx) = watch::channel(LiveStatus::default());
    let ready = readiness(status_rx);
    let (stop_http_tx, stop_http_rx) = tokio::sync::oneshot::channel::<()>();
    let (addr, http_task) =
        http::serve_with(config.metrics_listen, limits, metrics, ready, async move {
            let _ = stop_http_rx.await;
        })
        .await?;
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");

    let (control_tx, control_rx) = mpsc::channel(8);
    let mut signals = signals::listen().map_err(ServeError::Signals)?;
    let forward = tokio::spawn(async move {
        while let Some(req) = signals.recv().await {
            let (control, request) = match req {
                signals::SignalRequest::Stop => (Control::Stop, "stop"),
                signals::SignalRequest::ReloadRules => (Control::ReloadRules, "reload rules"),
            };
            tracing::info!(request, "signal received");
            if control_tx.send(control).await.is_err() {
                break;
            }
        }
    });
    let report = runtime::run(config, control_rx, status_tx).await;
    forward.abort();
    let _ = stop_http_tx.send(());
    let _ = http_task.await;
    let report = report?;
    super::log_limit::flush();
    tracing::info!("acd stopped cleanly");
    Ok(report)
}

/// The service-level thresholds (seconds) of the rules the engine is about to run, so the
/// wait histograms get a bucket exactly at each. Histogram buckets are fixed when the recorder
/// is installed: a threshold added by a later reload is served by the nearest bucket until the
/// next restart. The run loop decides (and reports) which rules really run; here a missing or
/// broken ruleset only means the default threshold.
fn service_level_thresholds(config: &DaemonConfig) -> Vec<f64> {
    let from_files = acd_rules::check_dir(&config.routing.rules_dir)
        .ok()
        .and_then(|checked| checked.into_result().ok())
        .map(|(routing, _)| routing);
    let routing = from_files.or_else(|| {
        let store = acd_rules::commands::open_store(&config.data_dir).ok()?;
        acd_rules::commands::load_active(&store)
            .ok()
            .flatten()
            .map(|(routing, _)| routing)
    });
    let mut thresholds: Vec<f64> = routing
        .iter()
        .flat_map(|r| r.queues.values())
        .flat_map(|q| q.service_level_ms.iter().map(|ms| *ms as f64 / 1000.0))
        .collect();
    if thresholds.is_empty() {
        thresholds.push(20.0);
    }
    thresholds
}

/// `/readyz` follows the run loop's published readiness.
pub fn readiness(
    mut status: watch::Receiver<LiveStatus>,
) -> watch::Receiver<super::http::Readiness> {
    let (tx, rx) = watch::channel(super::http::Readiness::default());
    tokio::spawn(async move {
        while status.changed().await.is_ok() {
            let ready = {
                let s = status.borrow();
                super::http::Readiness {
                    ready: s.ready,
                    link: s.link.clone(),
                    role: s.role.clone(),
                }
            };
            if tx.send(ready).is_err() {
                break;
            }
        }
    });
    rx
}
