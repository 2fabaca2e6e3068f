//! A write to a full disk, in a test process of its own: the store refuses it before sled
//! attempts it. Now and then sled's background flusher meets the full disk by itself and its
//! close hangs, holding sled's process-wide transaction lock; alone in its process that can
//! block no other test.

#[path = "support/store_ops.rs"]
mod store_ops;
#[path = "support/tiny_fs.rs"]
#[allow(dead_code)] // remount is for disk_faults.rs
mod tiny_fs;

use acd_core::Timestamp;
use acd_store::{RulesStore, SledRulesStore, StoreError};
use std::sync::mpsc;
use std::time::Duration;
use store_ops::{apply, closes_within, numbers};
use tiny_fs::TinyFs;

/// The disk fills while the store is open (an engine between reloads, a supervisor's `apply`):
/// the write is refused before sled attempts it, the error says so with the numbers, and the
/// store still closes (a failed sled write would hang the close for good, see below).
#[test]
fn a_write_to_a_full_disk_is_refused_before_sled_attempts_it() {
    let Some(fs) = TinyFs::mount(
        "8m",
        "a_write_to_a_full_disk_is_refused_before_sled_attempts_it",
    ) else {
        return;
    };
    let dir = fs.path().join("rules");
    let store = SledRulesStore::open(&dir).unwrap();
    apply(&store, 1, 100).unwrap();
    let filler = fs.fill();
    let (results_tx, results_rx) = mpsc::channel();
    let closed = closes_within(Duration::from_secs(30), move || {
        let results: Vec<_> = (2..=6).map(|n| apply(&store, n, 20_000)).collect();
        let running = store.record_running(acd_store::RunningRecord {
            version: 1,
            since: Timestamp(7),
        });
        let history = numbers(&store);
        let _ = results_tx.send((results, running, history));
        drop(store);
    });
    let (results, running, history) = results_rx.try_recv().expect("the writes returned");
    if closed.is_none() {
        // Seen 1 run in 4 under load: sled's background flusher met the full disk on its own
        // (not a refused write) and its close hangs. The free-space check cannot prevent that;
        // see BENCHMARKS.md ("What remains sled's").
        eprintln!("WARNING: sled did not close within 30 s after the disk filled");
    }
    for result in results {
        let err = result.unwrap_err();
        assert!(matches!(err, StoreError::NoSpace { .. }), "{err}");
        assert!(err.to_string().contains("not enough free space"), "{err}");
    }
    assert!(
        matches!(running, Err(StoreError::NoSpace { .. })),
        "{running:?}"
    );
    assert_eq!(history, [1]);
    std::fs::remove_file(filler).unwrap();
    // A store whose close hung still holds its lock; only a closed one can be reopened here.
    if closed.is_some() {
        let store = SledRulesStore::open(&dir).unwrap();
        assert_eq!(apply(&store, 2, 100).unwrap(), 2);
    }
}
