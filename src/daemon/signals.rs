//! Unix signals as a stream of daemon requests: SIGTERM/SIGINT drain and stop, SIGHUP reloads
//! the routing rules.

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalRequest {
    Stop,
    ReloadRules,
}

/// Installs the handlers and forwards requests on the returned channel.
pub fn listen() -> std::io::Result<mpsc::Receiver<SignalRequest>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        loop {
            let req = tokio::select! {
                _ = term.recv() => SignalRequest::Stop,
                _ = int.recv() => SignalRequest::Stop,
                _ = hup.recv() => SignalRequest::ReloadRules,
            };
            if tx.send(req).await.is_err() {
                break;
            }
        }
    });
    Ok(rx)
}
