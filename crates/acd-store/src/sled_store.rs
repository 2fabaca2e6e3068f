//! The sled implementation of [`RulesStore`].
//!
//! Layout: tree `versions` maps the big-endian version number to the JSON record; tree `meta`
//! holds `active`, the number of the active version. A version is committed by one sled
//! transaction over both trees (record and pointer together) followed by a flush, so a crash
//! before the flush completes leaves the previous version active and the store readable.
//!
//! A [`FaultHook`] is called at each write step; tests use it to abort the process (or fail the
//! write) exactly there and prove the claim above.

use crate::{content_hash, NewVersion, RulesStore, SourceFile, StoreError, VersionRecord};
use acd_core::Timestamp;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use std::path::Path;
use std::sync::Arc;

const ACTIVE_KEY: &[u8] = b"active";

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
    db: sled::Db,
    versions: sled::Tree,
    meta: sled::Tree,
    hook: Option<FaultHook>,
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
    /// pointer resolves so a damaged store is reported at open rather than at first use.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .open()
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?;
        let open_tree = |name: &str| {
            db.open_tree(name).map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })
        };
        let versions = open_tree("versions")?;
        let meta = open_tree("meta")?;
        let store = SledRulesStore {
            db,
            versions,
            meta,
            hook: None,
        };
        store.active()?;
        Ok(store)
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

    fn active_number(&self) -> Result<Option<u64>, StoreError> {
        let raw = self.meta.get(ACTIVE_KEY).map_err(|source| StoreError::Io {
            action: "reading the active version",
            source,
        })?;
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
                return Err(StoreError::Io {
                    action: "committing a new version",
                    source,
                })
            }
        };
        self.fault(ApplyStep::Committed)?;
        self.db.flush().map_err(|source| StoreError::Io {
            action: "flushing a new version to disk",
            source,
        })?;
        self.fault(ApplyStep::Flushed)?;
        Ok(record)
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
            let (key, value) = entry.map_err(|source| StoreError::Io {
                action: "listing versions",
                source,
            })?;
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
        let raw = self.versions.get(key).map_err(|source| StoreError::Io {
            action: "reading a version",
            source,
        })?;
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
}
