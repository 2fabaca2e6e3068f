//! Rules reloads off the run loop.
//!
//! A reload reads files, parses and compiles the ruleset and writes the store (sled): blocking
//! work that takes seconds for a large ruleset. Done inside the run loop it stopped routing for
//! that long, so it runs here instead, on tokio's blocking pool, one reload at a time; the loop
//! only receives the compiled config, swaps it in and follows the new agents.
//!
//! Ordering: requests that arrive while a reload runs coalesce into one more reload after it
//! (which reads the files as they are then, so the last edit wins), and results come back in
//! the order the reloads ran, so an older compile is never applied after a newer one.

use super::clock::EngineClock;
use super::rules_manager::{Reload, RulesManager};
use acd_core::{RoutingConfig, Timestamp};
use std::sync::Arc;
use tokio::sync::mpsc;

/// How long after a failed store access the worker reloads again by itself, so a version
/// that could not be stored (full disk, read-only data directory) is stored once the disk is
/// fixed, without a SIGHUP.
pub const STORE_RETRY: std::time::Duration = std::time::Duration::from_secs(30);

/// Something that re-reads the rules: the [`RulesManager`], or a stand-in in tests.
pub trait Reloader: Send + 'static {
    fn reload(&mut self, now: Timestamp) -> Reload;
    /// Whether the last reload (or the start) left something unstored: then the worker
    /// reloads again after [`STORE_RETRY`].
    fn store_pending(&self) -> bool {
        false
    }
}

impl Reloader for RulesManager {
    fn reload(&mut self, now: Timestamp) -> Reload {
        RulesManager::reload(self, now)
    }

    fn store_pending(&self) -> bool {
        RulesManager::store_pending(self)
    }
}

/// The run loop's end of the rules task.
pub struct RulesWorker {
    /// Capacity 1: a request already waiting absorbs the ones after it.
    requests: mpsc::Sender<()>,
    applied: mpsc::Receiver<Arc<RoutingConfig>>,
}

impl RulesWorker {
    /// Starts the task that owns `reloader`; it ends when this handle is dropped (after the
    /// reload in progress, if any).
    pub fn spawn(reloader: impl Reloader, clock: EngineClock) -> RulesWorker {
        let (requests, requests_rx) = mpsc::channel(1);
        let (applied_tx, applied) = mpsc::channel(1);
        tokio::spawn(work(reloader, clock, requests_rx, applied_tx));
        RulesWorker { requests, applied }
    }

    /// Asks for a reload without waiting for it.
    pub fn request(&self) {
        match self.requests.try_send(()) {
            // Full: one is already waiting, and it will read the files this request is about.
            Ok(()) | Err(mpsc::error::TrySendError::Full(())) => {}
            Err(mpsc::error::TrySendError::Closed(())) => {
                tracing::error!("the rules task has stopped; rules changes are not applied");
            }
        }
    }

    /// The next ruleset a reload applied, in the order they were applied.
    pub async fn applied(&mut self) -> Option<Arc<RoutingConfig>> {
        self.applied.recv().await
    }
}

async fn work<R: Reloader>(
    mut reloader: R,
    clock: EngineClock,
    mut requests: mpsc::Receiver<()>,
    applied: mpsc::Sender<Arc<RoutingConfig>>,
) {
    loop {
        let retry = reloader.store_pending();
        tokio::select! {
            request = requests.recv() => if request.is_none() { return },
            () = tokio::time::sleep(STORE_RETRY), if retry => {}
        }
        let now = clock.now();
        let job = tokio::task::spawn_blocking(move || {
            let outcome = reloader.reload(now);
            (reloader, outcome)
        });
        let outcome = match job.await {
            Ok((back, outcome)) => {
                reloader = back;
                outcome
            }
            Err(e) => {
                // The reloader went down with the blocking task: the running rules stay.
                tracing::error!(error = %e, "the rules reload failed; rules changes are no longer applied");
                return;
            }
        };
        if let Reload::Applied(config) = outcome {
            if applied.send(config).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc as std_mpsc;

    /// A reload that blocks until the test lets it finish, then applies the next version.
    struct Gated {
        started: std_mpsc::Sender<u64>,
        release: std_mpsc::Receiver<()>,
        version: u64,
    }

    impl Reloader for Gated {
        fn reload(&mut self, _now: Timestamp) -> Reload {
            self.version += 1;
            let _ = self.started.send(self.version);
            let _ = self.release.recv();
            Reload::Applied(Arc::new(RoutingConfig {
                version: self.version,
                ..RoutingConfig::default()
            }))
        }
    }

    fn gated() -> (Gated, std_mpsc::Receiver<u64>, std_mpsc::Sender<()>) {
        let (started, started_rx) = std_mpsc::channel();
        let (release_tx, release) = std_mpsc::channel();
        let g = Gated {
            started,
            release,
            version: 0,
        };
        (g, started_rx, release_tx)
    }

    /// A reloader whose store failed: pending until its third reload, counting them.
    struct StoreDown {
        reloads: Arc<std::sync::atomic::AtomicU64>,
    }

    impl Reloader for StoreDown {
        fn reload(&mut self, _now: Timestamp) -> Reload {
            let n = self
                .reloads
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1;
            if n < 3 {
                Reload::Refused {
                    rendered: "No space left on device".into(),
                }
            } else {
                Reload::Applied(Arc::new(RoutingConfig {
                    version: n,
                    ..RoutingConfig::default()
                }))
            }
        }

        fn store_pending(&self) -> bool {
            self.reloads.load(std::sync::atomic::Ordering::SeqCst) < 3
        }
    }

    /// Without a request, a pending store is tried again every STORE_RETRY until it takes
    /// the version, then the worker waits for requests again.
    #[tokio::test(start_paused = true)]
    async fn a_pending_store_is_retried_by_itself_until_it_takes_the_version() {
        let reloads = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut worker = RulesWorker::spawn(
            StoreDown {
                reloads: reloads.clone(),
            },
            EngineClock::real(),
        );
        worker.request();
        let applied = tokio::time::timeout(STORE_RETRY * 3, worker.applied())
            .await
            .expect("the retries apply the version")
            .unwrap();
        assert_eq!(applied.version, 3);
        tokio::time::sleep(STORE_RETRY * 4).await;
        assert_eq!(reloads.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_during_a_reload_coalesce_into_one_more_and_results_keep_their_order() {
        let (g, started, release) = gated();
        let mut worker = RulesWorker::spawn(g, EngineClock::real());
        worker.request();
        // The first reload is running (blocked): three more requests arrive meanwhile.
        let first = tokio::task::spawn_blocking(move || {
            let v = started.recv().unwrap();
            (v, started)
        });
        let (v, started) = first.await.unwrap();
        assert_eq!(v, 1);
        worker.request();
        worker.request();
        worker.request();
        release.send(()).unwrap();
        assert_eq!(worker.applied().await.unwrap().version, 1);
        // Exactly one more reload runs for the three requests.
        let (v, started) = tokio::task::spawn_blocking(move || (started.recv().unwrap(), started))
            .await
            .unwrap();
        assert_eq!(v, 2);
        release.send(()).unwrap();
        assert_eq!(worker.applied().await.unwrap().version, 2);
        drop(worker);
        // No third reload was started.
        assert!(started.recv().is_err());
    }
}
