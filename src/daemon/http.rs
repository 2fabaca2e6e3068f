//! The daemon's HTTP surface: `/metrics` for Prometheus, `/healthz` (the process is alive and its
//! loop turns) and `/readyz` (connected to IP Office and subscribed), for systemd watchdogs,
//! load balancers and Kubernetes-style probes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use tokio::sync::watch;

#[derive(Clone)]
struct HttpState {
    metrics: PrometheusHandle,
    ready: watch::Receiver<bool>,
}

/// The cause is part of the message and deliberately not a `source()`: printing the chain (as
/// `acd` does at exit) would otherwise show it twice.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve metrics on {addr}: {error}")]
pub struct HttpError {
    pub addr: SocketAddr,
    pub error: std::io::Error,
}

/// Binds `addr` and serves until `shutdown` resolves. Returns the bound address (useful with
/// port 0 in tests) and the server task.
pub async fn serve(
    addr: SocketAddr,
    metrics: PrometheusHandle,
    ready: watch::Receiver<bool>,
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
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readiness))
        .with_state(HttpState { metrics, ready });
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    Ok((local, task))
}

async fn metrics_page(State(state): State<HttpState>) -> String {
    state.metrics.render()
}

async fn readiness(State(state): State<HttpState>) -> (StatusCode, &'static str) {
    if *state.ready.borrow() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: not connected to IP Office or not yet subscribed\n",
        )
    }
}
