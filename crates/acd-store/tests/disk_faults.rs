//! The store on a real tiny filesystem: a full disk and a read-only remount may fail a write
//! or an open, with the cause named, but never lose a version or turn the history into
//! "corrupted". Needs root to mount (CI); skips loudly elsewhere (see `support/tiny_fs.rs`).

#[path = "support/tiny_fs.rs"]
mod tiny_fs;

use acd_core::Timestamp;
use acd_store::{NewVersion, ReadOnlyCopy, RulesStore, SledRulesStore, SourceFile, StoreError};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;
use tiny_fs::TinyFs;

fn apply(store: &SledRulesStore, n: u64, size: usize) -> Result<u64, StoreError> {
    let text = format!("# version {n}\n{}", "#\n".repeat(size / 2));
    store
        .apply(NewVersion {
            files: &[SourceFile::new("rules.toml", text)],
            message: "test",
            applied_at: Timestamp(n),
        })
        .map(|r| r.number)
}

fn numbers(store: &dyn RulesStore) -> Vec<u64> {
    store.history().unwrap().iter().map(|r| r.number).collect()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|n| n.ends_with(".generating"))
        .collect()
}

/// Versions applied, then the disk fills: the next open fails on sled's snapshot write. That
/// used to leave an empty `snap.*.generating`, and every open after it, even with space
/// freed, said "corrupted" (3 of 3 times by hand on a 1 MB filesystem; `rebuild-store` then
/// restarted the history at 1).
#[test]
fn a_full_disk_fails_an_open_with_its_cause_and_loses_nothing() {
    let Some(fs) = TinyFs::mount(
        "8m",
        "a_full_disk_fails_an_open_with_its_cause_and_loses_nothing",
    ) else {
        return;
    };
    let dir = fs.path().join("rules");
    // Two sessions, so sled has written a snapshot and the log has grown past it: the next
    // open must write a new snapshot.
    for round in 0..2u64 {
        let store = SledRulesStore::open(&dir).unwrap();
        for n in 1..=2 {
            apply(&store, round * 2 + n, 100).unwrap();
        }
    }
    let filler = fs.fill();
    for attempt in 0..3 {
        let err = SledRulesStore::open(&dir).unwrap_err();
        assert!(!err.is_corruption(), "open {attempt} while full: {err}");
        assert!(
            err.to_string().contains("No space left on device"),
            "open {attempt} while full: {err}"
        );
        assert_eq!(
            leftovers(&dir),
            Vec::<String>::new(),
            "after open {attempt}"
        );
    }
    // A read-only copy cannot be made on the full filesystem itself, but it can elsewhere.
    let copy = ReadOnlyCopy::open(&dir).unwrap();
    assert_eq!(numbers(&copy), [1, 2, 3, 4]);
    drop(copy);
    std::fs::remove_file(filler).unwrap();
    let store = SledRulesStore::open(&dir).unwrap();
    assert_eq!(numbers(&store), [1, 2, 3, 4]);
    // And the history goes on from there, not from 1.
    assert_eq!(apply(&store, 5, 100).unwrap(), 5);
}

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

/// Runs `work` on its own thread and returns its result if it finishes within `limit`; a hung
/// thread is left behind (it ends with the test process).
fn closes_within<T: Send + 'static>(
    limit: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    rx.recv_timeout(limit).ok()
}

/// A filesystem remounted read-only (as after disk errors): sled cannot open the store at all,
/// and says why; a read-only copy still reads every version; after the remount back to
/// read-write the store opens with its whole history.
#[test]
fn a_read_only_remount_is_named_and_the_copy_reads_every_version() {
    let Some(fs) = TinyFs::mount(
        "4m",
        "a_read_only_remount_is_named_and_the_copy_reads_every_version",
    ) else {
        return;
    };
    let dir = fs.path().join("rules");
    for round in 0..2u64 {
        let store = SledRulesStore::open(&dir).unwrap();
        apply(&store, round + 1, 100).unwrap();
    }
    fs.remount("ro");
    let err = SledRulesStore::open(&dir).unwrap_err();
    assert!(!err.is_corruption(), "{err}");
    assert!(err.to_string().contains("Read-only file system"), "{err}");
    let copy = ReadOnlyCopy::open(&dir).unwrap();
    assert_eq!(numbers(&copy), [1, 2]);
    assert!(matches!(
        copy.apply(NewVersion {
            files: &[],
            message: "",
            applied_at: Timestamp(3)
        }),
        Err(StoreError::ReadOnly { .. })
    ));
    drop(copy);
    fs.remount("rw");
    let store = SledRulesStore::open(&dir).unwrap();
    assert_eq!(numbers(&store), [1, 2]);
    assert_eq!(apply(&store, 3, 100).unwrap(), 3);
}
