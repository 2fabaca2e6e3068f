//! What the disk tests do to a store: apply a version of a given size, list the history, and
//! wait a bounded time for work that sled may never finish.

use acd_core::Timestamp;
use acd_store::{NewVersion, RulesStore, SledRulesStore, SourceFile, StoreError};
use std::sync::mpsc;
use std::time::Duration;

pub fn apply(store: &SledRulesStore, n: u64, size: usize) -> Result<u64, StoreError> {
    let text = format!("# version {n}\n{}", "#\n".repeat(size / 2));
    store
        .apply(NewVersion {
            files: &[SourceFile::new("rules.toml", text)],
            message: "test",
            applied_at: Timestamp(n),
        })
        .map(|r| r.number)
}

pub fn numbers(store: &dyn RulesStore) -> Vec<u64> {
    store.history().unwrap().iter().map(|r| r.number).collect()
}

/// Runs `work` on its own thread and returns its result if it finishes within `limit`; a hung
/// thread is left behind (it ends with the test process).
pub fn closes_within<T: Send + 'static>(
    limit: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    rx.recv_timeout(limit).ok()
}
