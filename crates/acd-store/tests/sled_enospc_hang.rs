//! sled itself on a full disk, in a test process of its own: once a write has failed for lack
//! of space, sled's close hangs for good, and the hung close keeps a read guard on sled's
//! process-wide transaction lock, so every other sled store in the same process blocks on its
//! next transaction. In `disk_faults.rs` this test made the store's own tests hang (seen in a
//! full `cargo test` run); here the hung thread ends with this process. It is also why the
//! store refuses a write before sled attempts it (`free_space.rs`).

#[path = "support/tiny_fs.rs"]
#[allow(dead_code)] // remount is for disk_faults.rs
mod tiny_fs;

use sled::transaction::TransactionError;
use sled::Transactional;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;
use tiny_fs::TinyFs;

/// Why the store checks for room first: sled itself, once a write has failed for lack of
/// space, never finishes closing (its flush on drop waits for good). If this test ever fails
/// because sled closed, sled has been fixed and the free-space margin could be relaxed.
#[test]
fn sled_itself_cannot_close_after_a_write_failed_for_lack_of_space() {
    let Some(fs) = TinyFs::mount(
        "8m",
        "sled_itself_cannot_close_after_a_write_failed_for_lack_of_space",
    ) else {
        return;
    };
    let dir = fs.path().join("raw");
    // Two earlier sessions, as a store used for a while has had.
    for round in 0..2u8 {
        let db = open_raw(&dir);
        db.insert([round], vec![round; 100]).unwrap();
        db.flush().unwrap();
    }
    let db = open_raw(&dir);
    let versions = db.open_tree("versions").unwrap();
    let meta = db.open_tree("meta").unwrap();
    versions.insert(b"first", vec![1u8; 100]).unwrap();
    db.flush().unwrap();
    let _filler = fs.fill();
    let (failed_tx, failed) = mpsc::channel();
    let closed = closes_within(Duration::from_secs(5), move || {
        let mut error = None;
        for n in 0u32..200 {
            // As the store writes: a record and a pointer in one transaction, then a flush.
            let write = (&versions, &meta)
                .transaction(|(versions, meta)| {
                    versions.insert(&n.to_be_bytes(), vec![7u8; 20_000])?;
                    meta.insert(b"active", &n.to_be_bytes())?;
                    Ok(())
                })
                .map_err(|e: TransactionError<()>| match e {
                    TransactionError::Storage(e) => e,
                    TransactionError::Abort(()) => unreachable!("nothing aborts"),
                })
                .and_then(|()| db.flush());
            if let Err(e) = write {
                error = Some(e.to_string());
                break;
            }
        }
        let _ = failed_tx.send(error);
        // The thread stays blocked here when sled hangs; the test process ends without it.
        drop((versions, meta, db));
    });
    let error = failed.recv_timeout(Duration::from_secs(30)).unwrap();
    let error = error.expect("a write fails on the full filesystem");
    assert!(error.contains("No space left on device"), "{error}");
    assert!(
        closed.is_none(),
        "sled closed after `{error}`: it has been fixed, see free_space.rs"
    );
}

/// Opens sled directly, waiting while the previous session's background flusher still holds
/// its file lock (sled releases it a moment after the `Db` is dropped).
fn open_raw(dir: &Path) -> sled::Db {
    let start = std::time::Instant::now();
    loop {
        match sled::open(dir) {
            Ok(db) => return db,
            Err(e) if start.elapsed() < Duration::from_secs(10) => {
                assert!(e.to_string().contains("could not acquire lock"), "{e}");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
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
