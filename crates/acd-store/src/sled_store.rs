//! The sled implementation of [`RulesStore`].
//!
//! Layout: tree `versions` maps the big-endian version number to the JSON record; tree `meta`
//! holds `active`, the number of the active version, and `running`, the JSON
//! [`RunningRecord`] the engine writes when it starts running a version. A version is committed by one sled
//! transaction over both trees (record and pointer together) followed by a flush, so a crash
//! before the flush completes leaves the previous version active and the store readable.
//!
//! Opening waits a bounded while for sled's exclusive file lock, because `acd rules apply` and
//! the engine's reload may meet, and a few seconds' patience is better than a raw `WouldBlock`.
//! Damage that sled detects (checksums) or records that no longer decode are reported as
//! [`StoreError::Corrupted`], which names the store and the way out.
//!
//! A [`FaultHook`] is called at each write step; tests use it to abort the process (or fail the
//! write) exactly there and prove the claim above.

use crate::error::is_lock_error;
use crate::free_space::check_room;
use crate::leftovers::remove_unfinished_snapshots;
use crate::{
    content_hash, FileLock, NewVersion, RulesStore, RunningRecord, SourceFile, StoreError,
    VersionRecord,
};
use acd_core::Timestamp;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long [`SledRulesStore::open`] waits for another process to release the store: longer
/// than any apply or reload takes, short enough that a stuck holder is reported promptly.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

const ACTIVE_KEY: &[u8] = b"active";
const RUNNING_KEY: &[u8] = b"running";

/// A plain file beside sled's own, holding the number of the last durably applied version.
/// sled recovers a damaged log by dropping what fails its checksums, which can leave a store
/// that opens "empty": without this witness, every version would vanish silently and the next
/// apply would start again at 1.
const WITNESS_FILE: &str = "acd-active-version";

/// acd's lock on the store directory, taken before sled opens and held while it is open, so
/// that tidying sled's leftovers ([`remove_unfinished_snapshots`]) never races another process
/// that is opening the store.
pub const STORE_LOCK_FILE: &str = "acd-store.lock";

/// The points of an apply at which the [`FaultHook`] is consulted, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyStep {
    /// Nothing written yet.
    Begin,
    /// Inside the transaction: the record is written, the active pointer is not.
    RecordWritten,
    /// Inside the transaction: record and pointer written, transaction not yet committed.
    PointerWritten,
    /// Transaction committed in memory, not yet flushed to disk.
    Committed,
    /// Flushed: the new version is durable.
    Flushed,
}

impl ApplyStep {
    pub const ALL: [ApplyStep; 5] = [
        ApplyStep::Begin,
        ApplyStep::RecordWritten,
        ApplyStep::PointerWritten,
        ApplyStep::Committed,
        ApplyStep::Flushed,
    ];
}

/// Called at each [`ApplyStep`]; returning `Err(reason)` makes the apply fail there (the
/// in-transaction steps then roll back). Production code installs none.
pub type FaultHook = Arc<dyn Fn(ApplyStep) -> Result<(), String> + Send + Sync>;

pub struct SledRulesStore {
    path: PathBuf,
    db: sled::Db,
    versions: sled::Tree,
    meta: sled::Tree,
    hook: Option<FaultHook>,
    /// acd's own lock on the store, held while sled has it open (see [`STORE_LOCK_FILE`]).
    _lock: FileLock,
}

impl std::fmt::Debug for SledRulesStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledRulesStore")
            .field("versions", &self.versions.len())
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

impl SledRulesStore {
    /// Opens (creating if needed) the store in directory `path`, and checks that the active
    /// pointer resolves so a damaged store is reported at open rather than at first use. Waits
    /// up to [`LOCK_WAIT`] while another process holds the store.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_waiting(path, LOCK_WAIT)
    }

    /// [`open`](Self::open) with a chosen lock wait (zero: fail at once when locked).
    pub fn open_waiting(path: &Path, lock_wait: Duration) -> Result<Self, StoreError> {
        let start = Instant::now();
        let lock = lock_store(path, lock_wait)?;
        // Leftovers of an earlier failed open would make sled call the store corrupted. A
        // failure to remove them (a read-only filesystem) shows as sled's own error below.
        let _ = remove_unfinished_snapshots(path);
        let db = match open_db(path, lock_wait.saturating_sub(start.elapsed())) {
            Ok(db) => db,
            Err(e) => {
                // A full disk fails sled's snapshot write after the file was created: tidy up
                // at once, so no other reader of this directory mistakes it for damage.
                let _ = remove_unfinished_snapshots(path);
                return Err(e);
            }
        };
        let open_tree = |name: &str| {
            db.open_tree(name)
                .map_err(|source| classify_open(path, source))
        };
        let versions = open_tree("versions")?;
        let meta = open_tree("meta")?;
        let store = SledRulesStore {
            path: path.to_path_buf(),
            db,
            versions,
            meta,
            hook: None,
            _lock: lock,
        };
        // Undecodable records or a dangling pointer at open mean the data is damaged, not
        // that the caller did something wrong: say so, with the way out.
        let active = store.active().map_err(|e| match e {
            StoreError::Corrupted { .. } => e,
            e if e.is_corruption() => StoreError::Corrupted {
                path: path.to_path_buf(),
                detail: e.to_string(),
            },
            e => e,
        })?;
        let active = active.map_or(0, |r| r.number);
        if let Some(witnessed) = store.read_witness() {
            if witnessed > active {
                return Err(StoreError::Corrupted {
                    path: path.to_path_buf(),
                    detail: format!(
                        "version {witnessed} was applied, but the store now holds {}",
                        if active == 0 {
                            "no version".to_string()
                        } else {
                            format!("only up to version {active}")
                        }
                    ),
                });
            }
        }
        Ok(store)
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Installs a fault-injection hook (tests only in practice).
    pub fn with_fault_hook(mut self, hook: FaultHook) -> Self {
        self.hook = Some(hook);
        self
    }

    fn fault(&self, step: ApplyStep) -> Result<(), StoreError> {
        match &self.hook {
            Some(hook) => hook(step).map_err(|reason| StoreError::Interrupted { step, reason }),
            None => Ok(()),
        }
    }

    /// The witnessed version, if the file exists and reads as a number. An unreadable witness
    /// is ignored: it is a second opinion, and sled remains the record.
    fn read_witness(&self) -> Option<u64> {
        let text = std::fs::read_to_string(self.path.join(WITNESS_FILE)).ok()?;
        text.trim().parse().ok()
    }

    /// Records `number` as durably applied. Written after sled's flush, so after a crash the
    /// witness can only lag behind sled, never run ahead of it. Best effort: the version is
    /// already committed, and a witness that lags only weakens the check, never fails it.
    fn write_witness(&self, number: u64) {
        let witness = self.path.join(WITNESS_FILE);
        let temporary = self.path.join(format!("{WITNESS_FILE}.tmp"));
        let _ = std::fs::write(&temporary, format!("{number}\n"))
            .and_then(|()| std::fs::rename(&temporary, &witness));
    }

    /// A sled failure after open: checksum failures are corruption, the rest plain I/O.
    fn io(&self, action: &'static str, source: sled::Error) -> StoreError {
        match source {
            sled::Error::Corruption { .. } => corrupted(&self.path),
            source => StoreError::Io { action, source },
        }
    }

    fn active_number(&self) -> Result<Option<u64>, StoreError> {
        let raw = self
            .meta
            .get(ACTIVE_KEY)
            .map_err(|source| self.io("reading the active version", source))?;
        raw.map(|bytes| decode_number(&bytes)).transpose()
    }

    fn decode_record(key: &[u8], value: &[u8]) -> Result<VersionRecord, StoreError> {
        serde_json::from_slice(value).map_err(|source| StoreError::Corrupt {
            key: format!("versions/{}", decode_number(key).unwrap_or(u64::MAX)),
            source,
        })
    }

    fn write_version(
        &self,
        files: &[SourceFile],
        message: &str,
        applied_at: Timestamp,
        rollback_of: Option<u64>,
    ) -> Result<VersionRecord, StoreError> {
        self.fault(ApplyStep::Begin)?;
        let mut sorted = files.to_vec();
        sorted.sort();
        let hash = content_hash(&sorted);
        let result = (&self.versions, &self.meta).transaction(|(versions, meta)| {
            let previous = match meta.get(ACTIVE_KEY)? {
                Some(bytes) => {
                    decode_number(&bytes).map_err(ConflictableTransactionError::Abort)?
                }
                None => 0,
            };
            let record = VersionRecord {
                number: previous + 1,
                applied_at,
                content_hash: hash.clone(),
                files: sorted.clone(),
                message: message.to_string(),
                rollback_of,
            };
            let encoded = serde_json::to_vec(&record).map_err(|source| {
                ConflictableTransactionError::Abort(StoreError::Corrupt {
                    key: format!("versions/{}", record.number),
                    source,
                })
            })?;
            check_room(&self.path, encoded.len()).map_err(ConflictableTransactionError::Abort)?;
            versions.insert(&record.number.to_be_bytes(), encoded)?;
            self.fault(ApplyStep::RecordWritten)
                .map_err(ConflictableTransactionError::Abort)?;
            meta.insert(ACTIVE_KEY, &record.number.to_be_bytes())?;
            self.fault(ApplyStep::PointerWritten)
                .map_err(ConflictableTransactionError::Abort)?;
            Ok(record)
        });
        let record = match result {
            Ok(record) => record,
            Err(TransactionError::Abort(err)) => return Err(err),
            Err(TransactionError::Storage(source)) => {
                return Err(self.io("committing a new version", source))
            }
        };
        self.fault(ApplyStep::Committed)?;
        self.db
            .flush()
            .map_err(|source| self.io("flushing a new version to disk", source))?;
        self.fault(ApplyStep::Flushed)?;
        self.write_witness(record.number);
        Ok(record)
    }
}

/// Takes acd's lock on the store directory (creating the directory when missing), retrying
/// while another process holds it, up to `lock_wait`.
fn lock_store(path: &Path, lock_wait: Duration) -> Result<FileLock, StoreError> {
    let open_error = |source: std::io::Error| StoreError::Open {
        path: path.display().to_string(),
        source: sled::Error::Io(source),
    };
    if !path.exists() {
        std::fs::create_dir_all(path).map_err(open_error)?;
    }
    let lock_path = path.join(STORE_LOCK_FILE);
    let start = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        if let Some(lock) = FileLock::try_acquire(&lock_path).map_err(open_error)? {
            return Ok(lock);
        }
        let waited = start.elapsed();
        if waited >= lock_wait {
            return Err(StoreError::Locked {
                path: path.to_path_buf(),
                waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            });
        }
        std::thread::sleep(pause.min(lock_wait - waited));
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

/// Opens sled, retrying while another process holds its lock, with a growing pause so a long
/// wait costs few attempts.
fn open_db(path: &Path, lock_wait: Duration) -> Result<sled::Db, StoreError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        match sled::Config::new().path(path).open() {
            Ok(db) => return Ok(db),
            Err(e) if is_lock_error(&e) => {
                let waited = start.elapsed();
                if waited >= lock_wait {
                    return Err(StoreError::Locked {
                        path: path.to_path_buf(),
                        waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
                    });
                }
                std::thread::sleep(pause.min(lock_wait - waited));
                pause = (pause * 2).min(Duration::from_millis(250));
            }
            Err(source) => return Err(classify_open(path, source)),
        }
    }
}

/// sled's checksum failures become [`StoreError::Corrupted`]; anything else stays an open error.
fn classify_open(path: &Path, source: sled::Error) -> StoreError {
    match source {
        sled::Error::Corruption { .. } => corrupted(path),
        source => StoreError::Open {
            path: path.display().to_string(),
            source,
        },
    }
}

fn corrupted(path: &Path) -> StoreError {
    StoreError::Corrupted {
        path: path.to_path_buf(),
        detail: "its files fail sled's checksums".into(),
    }
}

fn decode_number(bytes: &[u8]) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| {
        StoreError::Inconsistent(format!(
            "a version number is {} bytes long, expected 8",
            bytes.len()
        ))
    })?;
    Ok(u64::from_be_bytes(array))
}

impl RulesStore for SledRulesStore {
    fn apply(&self, new: NewVersion<'_>) -> Result<VersionRecord, StoreError> {
        self.write_version(new.files, new.message, new.applied_at, None)
    }

    fn history(&self) -> Result<Vec<VersionRecord>, StoreError> {
        let active = self.active_number()?.unwrap_or(0);
        let mut out = Vec::new();
        for entry in self.versions.iter() {
            let (key, value) = entry.map_err(|source| self.io("listing versions", source))?;
            let record = Self::decode_record(&key, &value)?;
            // Records are only written together with the pointer, so none can be newer than
            // the active one; skip defensively rather than show an uncommitted version.
            if record.number <= active {
                out.push(record);
            }
        }
        Ok(out)
    }

    fn get(&self, number: u64) -> Result<Option<VersionRecord>, StoreError> {
        if self.active_number()?.is_none_or(|active| number > active) {
            return Ok(None);
        }
        let key = number.to_be_bytes();
        let raw = self
            .versions
            .get(key)
            .map_err(|source| self.io("reading a version", source))?;
        raw.map(|value| Self::decode_record(&key, &value))
            .transpose()
    }

    fn active(&self) -> Result<Option<VersionRecord>, StoreError> {
        let Some(number) = self.active_number()? else {
            return Ok(None);
        };
        match self.get(number)? {
            Some(record) => Ok(Some(record)),
            None => Err(StoreError::Inconsistent(format!(
                "the active version {number} has no record"
            ))),
        }
    }

    fn rollback(
        &self,
        number: u64,
        applied_at: Timestamp,
        message: &str,
    ) -> Result<VersionRecord, StoreError> {
        let old = self.get(number)?.ok_or(StoreError::NoSuchVersion(number))?;
        self.write_version(&old.files, message, applied_at, Some(number))
    }

    fn record_running(&self, running: RunningRecord) -> Result<(), StoreError> {
        if self.get(running.version)?.is_none() {
            return Err(StoreError::NoSuchVersion(running.version));
        }
        let encoded = serde_json::to_vec(&running).map_err(|source| StoreError::Corrupt {
            key: "meta/running".into(),
            source,
        })?;
        check_room(&self.path, encoded.len())?;
        self.meta
            .insert(RUNNING_KEY, encoded)
            .map_err(|source| self.io("recording the running version", source))?;
        // Flushed like a version: `history` run right after the engine switched must see it.
        self.db
            .flush()
            .map_err(|source| self.io("flushing the running version to disk", source))?;
        Ok(())
    }

    fn running(&self) -> Result<Option<RunningRecord>, StoreError> {
        let raw = self
            .meta
            .get(RUNNING_KEY)
            .map_err(|source| self.io("reading the running version", source))?;
        raw.map(|bytes| {
            serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt {
                key: "meta/running".into(),
                source,
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(text: &str) -> Vec<SourceFile> {
        vec![SourceFile::new("rules.toml", text)]
    }

    #[test]
    fn apply_history_get_active_rollback() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledRulesStore::open(dir.path()).unwrap();
        assert!(store.active().unwrap().is_none());
        let v1 = store
            .apply(NewVersion {
                files: &files("a = 1\n"),
                message: "first",
                applied_at: Timestamp(1_000),
            })
            .unwrap();
        assert_eq!(v1.number, 1);
        let v2 = store
            .apply(NewVersion {
                files: &files("a = 2\n"),
                message: "second",
                applied_at: Timestamp(2_000),
            })
            .unwrap();
        assert_eq!(v2.number, 2);
        assert_eq!(store.active().unwrap().unwrap(), v2);
        let v3 = store.rollback(1, Timestamp(3_000), "undo").unwrap();
        assert_eq!(v3.number, 3);
        assert_eq!(v3.rollback_of, Some(1));
        assert_eq!(v3.files, v1.files);
        assert_eq!(v3.content_hash, v1.content_hash);
        let numbers: Vec<u64> = store.history().unwrap().iter().map(|r| r.number).collect();
        assert_eq!(numbers, vec![1, 2, 3]);
        assert!(matches!(
            store.rollback(9, Timestamp(4_000), "x"),
            Err(StoreError::NoSuchVersion(9))
        ));
        drop(store);
        let reopened = SledRulesStore::open(dir.path()).unwrap();
        assert_eq!(reopened.active().unwrap().unwrap().number, 3);
    }

    #[test]
    fn the_running_record_is_kept_apart_from_the_active_version_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledRulesStore::open(dir.path()).unwrap();
        assert_eq!(store.running().unwrap(), None);
        // Nothing stored yet: the engine cannot run a version that does not exist.
        let v1 = RunningRecord {
            version: 1,
            since: Timestamp(1_500),
        };
        assert!(matches!(
            store.record_running(v1),
            Err(StoreError::NoSuchVersion(1))
        ));
        for (text, at) in [("a = 1\n", 1_000), ("a = 2\n", 2_000)] {
            store
                .apply(NewVersion {
                    files: &files(text),
                    message: "",
                    applied_at: Timestamp(at),
                })
                .unwrap();
        }
        store.record_running(v1).unwrap();
        // Version 2 is active in the store while the engine still runs version 1.
        assert_eq!(store.active().unwrap().unwrap().number, 2);
        assert_eq!(store.running().unwrap(), Some(v1));
        assert!(matches!(
            store.record_running(RunningRecord {
                version: 3,
                since: Timestamp(3_000)
            }),
            Err(StoreError::NoSuchVersion(3))
        ));
        assert_eq!(store.running().unwrap(), Some(v1));
        let v2 = RunningRecord {
            version: 2,
            since: Timestamp(4_000),
        };
        store.record_running(v2).unwrap();
        drop(store);
        let reopened = SledRulesStore::open(dir.path()).unwrap();
        assert_eq!(reopened.running().unwrap(), Some(v2));
        assert_eq!(reopened.history().unwrap().len(), 2);
    }

    #[test]
    fn failed_step_leaves_previous_version_active() {
        for fail_at in [
            ApplyStep::Begin,
            ApplyStep::RecordWritten,
            ApplyStep::PointerWritten,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let store = SledRulesStore::open(dir.path()).unwrap();
            store
                .apply(NewVersion {
                    files: &files("a = 1\n"),
                    message: "good",
                    applied_at: Timestamp(1),
                })
                .unwrap();
            let store = store.with_fault_hook(Arc::new(move |step| {
                if step == fail_at {
                    Err("injected".into())
                } else {
                    Ok(())
                }
            }));
            let err = store
                .apply(NewVersion {
                    files: &files("a = 2\n"),
                    message: "bad",
                    applied_at: Timestamp(2),
                })
                .unwrap_err();
            assert!(matches!(err, StoreError::Interrupted { step, .. } if step == fail_at));
            assert_eq!(store.active().unwrap().unwrap().number, 1, "{fail_at:?}");
            assert_eq!(store.history().unwrap().len(), 1, "{fail_at:?}");
            assert!(store.get(2).unwrap().is_none());
        }
    }

    fn store_with_one_version(dir: &Path) {
        let store = SledRulesStore::open(dir).unwrap();
        store
            .apply(NewVersion {
                files: &files("a = 1\n"),
                message: "first",
                applied_at: Timestamp(1),
            })
            .unwrap();
    }

    fn assert_says_what_to_do(err: &StoreError, dir: &Path) {
        let text = err.to_string();
        assert!(matches!(err, StoreError::Corrupted { .. }), "{err:?}");
        assert!(
            text.contains(&format!(
                "the rules store at {} is corrupted",
                dir.display()
            )),
            "{text}"
        );
        assert!(
            text.contains("restore that directory from a backup"),
            "{text}"
        );
        assert!(text.contains("acd rules rebuild-store RULES_DIR"), "{text}");
        assert!(!text.contains("backtrace"), "{text}");
    }

    #[test]
    fn damaged_config_is_reported_as_corrupted_with_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        store_with_one_version(dir.path());
        std::fs::write(dir.path().join("conf"), "not sled's config at all\n").unwrap();
        let err = SledRulesStore::open(dir.path()).unwrap_err();
        assert_says_what_to_do(&err, dir.path());
    }

    /// sled drops log segments that fail their checksums and opens empty; the witness file
    /// turns that silent loss into a corruption report.
    #[test]
    fn damaged_log_that_opens_empty_is_reported_as_corrupted() {
        let dir = tempfile::tempdir().unwrap();
        store_with_one_version(dir.path());
        let db = dir.path().join("db");
        let mut bytes = std::fs::read(&db).unwrap();
        bytes.iter_mut().for_each(|b| *b ^= 0x5a);
        std::fs::write(&db, bytes).unwrap();
        let err = SledRulesStore::open(dir.path()).unwrap_err();
        assert_says_what_to_do(&err, dir.path());
        assert!(err.to_string().contains("version 1 was applied"), "{err}");
    }

    /// A full disk while sled wrote its snapshot at open left an empty `snap.*.generating`;
    /// every later open then called the store corrupted (and `rebuild-store` restarted the
    /// history at 1), although every version was intact.
    #[test]
    fn an_unfinished_snapshot_left_by_a_full_disk_is_not_corruption() {
        let dir = tempfile::tempdir().unwrap();
        for text in ["a = 1\n", "a = 2\n", "a = 3\n"] {
            let store = SledRulesStore::open(dir.path()).unwrap();
            store
                .apply(NewVersion {
                    files: &files(text),
                    message: "",
                    applied_at: Timestamp(1),
                })
                .unwrap();
        }
        let finished = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().into_string().ok())
            .find(|name| name.starts_with("snap."))
            .expect("sled wrote a snapshot at the second open");
        // What sled leaves when ENOSPC strikes after it created the file.
        let leftover = dir.path().join(format!("{finished}.generating"));
        std::fs::write(&leftover, "").unwrap();
        let store = SledRulesStore::open(dir.path()).unwrap();
        let numbers: Vec<u64> = store.history().unwrap().iter().map(|r| r.number).collect();
        assert_eq!(numbers, [1, 2, 3]);
        assert!(!leftover.exists());
    }

    #[test]
    fn open_waits_for_another_holder_to_finish() {
        let dir = tempfile::tempdir().unwrap();
        let holder = SledRulesStore::open(dir.path()).unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(holder);
        });
        let store = SledRulesStore::open(dir.path());
        release.join().unwrap();
        assert!(store.is_ok(), "{:?}", store.err());
    }

    #[test]
    fn a_store_held_too_long_names_the_path_and_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let _holder = SledRulesStore::open(dir.path()).unwrap();
        let started = Instant::now();
        let err = SledRulesStore::open_waiting(dir.path(), Duration::from_millis(200)).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(
            matches!(&err, StoreError::Locked { path, waited_ms } if path == dir.path() && *waited_ms >= 200),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&format!(
                "the rules store at {} is in use by another process",
                dir.path().display()
            )),
            "{text}"
        );
        assert!(
            text.contains("the running engine, or another `acd rules` command"),
            "{text}"
        );
    }
}
