//! The daemon's HTTP surface: `/metrics` for Prometheus, `/healthz` (the process is alive and its
//! loop turns; its body names the engine's role in its twin) and `/readyz` (connected to IP Office and subscribed), for systemd watchdogs,
//! load balancers and Kubernetes-style probes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::watch;

mod bounded;
mod open_connections;

/// How much the HTTP port may take from the process; see [`bounded`] for why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections open at once; at the cap the oldest idle one is closed for the newest.
    /// Never more than a quarter of the process's descriptor limit.
    pub max_connections: usize,
    /// Time a client has to send a request's header (also ends a silent keep-alive).
    pub header_read_timeout: Duration,
    /// A connection on which nothing moves for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for HttpLimits {
    /// Plenty for Prometheus, probes and a person with curl, and room enough that a probe
    /// arriving within a crowd is read before the crowd pushes it out; a whole header takes
    /// one packet, so 2 s is long for any real client.
    fn default() -> Self {
        HttpLimits {
            max_connections: 256,
            header_read_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// What `/readyz` answers: ready or not, and the link to IP Office in words (so a wrong
/// password or a refused licence is visible to whoever probes readiness, not only in the log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub link: String,
    /// The engine's role in its twin (alone, leader, follower), in words.
    pub role: String,
}

#[derive(Clone)]
struct HttpState {
    metrics: PrometheusHandle,
    ready: watch::Receiver<Readiness>,
}

/// The cause is part of the message and deliberately not a `source()`: printing the chain (as
/// `acd` does at exit) would otherwise show it twice.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve metrics on {addr}: {error}")]
pub struct HttpError {
    pub addr: SocketAddr,
    pub error: std::io::Error,
}

/// [`serve_with`] the default [`HttpLimits`].
pub async fn serve(
    addr: SocketAddr,
    metrics: PrometheusHandle,
    ready: watch::Receiver<Readiness>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), HttpError> {
    serve_with(addr, HttpLimits::default(), metrics, ready, shutdown).await
}

/// Binds `addr` and serves until `shutdown` resolves. Returns the bound address (useful with
/// port 0 in tests) and the server task.
pub async fn serve_with(
    addr: SocketAddr,
    limits: HttpLimits,
    metrics: PrometheusHandle,
    ready: watch::Receiver<Readiness>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), HttpError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| HttpError { addr, error })?;
    let local = listener
        .local_addr()
        .map_err(|error| HttpError { addr, error })?;
    let app = Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(health))
        .route("/readyz", get(readiness))
        .with_state(HttpState { metrics, ready });
    let task = tokio::spawn(bounded::serve(listener, app, limits, shutdown));
    Ok((local, task))
}

async fn metrics_page(State(state): State<HttpState>) -> String {
    // The twin's role as of this scrape, not as of the last time its task ran.
    crate::daemon::leadership::refresh_published();
    state.metrics.render()
}

/// Alive, and which part the engine plays in its twin: a follower is healthy but not sending.
async fn health(State(state): State<HttpState>) -> String {
    let role = state.ready.borrow().role.clone();
    if role.is_empty() {
        "ok\n".to_string()
    } else {
        format!("ok: {role}\n")
    }
}

async fn readiness(State(state): State<HttpState>) -> (StatusCode, String) {
    let r = state.ready.borrow().clone();
    let link = if r.link.is_empty() {
        "not connected to IP Office or not yet subscribed".to_string()
    } else {
        r.link
    };
    if r.ready {
        (StatusCode::OK, format!("ready: {link}\n"))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {link}\n"),
        )
    }
}
