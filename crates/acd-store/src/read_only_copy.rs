//! The store read from a private copy, for when its own directory cannot be opened for writing.
//!
//! sled has no read-only mode: it opens its files for writing and may write a snapshot while it
//! opens, so on a read-only remount or a full disk it cannot open at all, although every
//! version is there to read. The engine must then still be able to run the last good version,
//! and `history` still show what was applied. Copying the directory (without acd's lock and
//! sled's unfinished snapshots) to the system's temporary directory and opening the copy gives
//! exactly that, and writes nothing where the store lives. Writes to the copy are refused: a
//! version stored there would vanish with it.

use crate::leftovers::is_unfinished_snapshot;
use crate::sled_store::STORE_LOCK_FILE;
use crate::{NewVersion, RulesStore, RunningRecord, SledRulesStore, StoreError, VersionRecord};
use acd_core::Timestamp;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct ReadOnlyCopy {
    store: SledRulesStore,
    origin: PathBuf,
    /// Removed (with the copy) when this value is dropped.
    _copy: tempfile::TempDir,
}

impl std::fmt::Debug for ReadOnlyCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnlyCopy")
            .field("origin", &self.origin)
            .finish()
    }
}

impl ReadOnlyCopy {
    /// Copies the store at `path` and opens the copy. Fails when the store cannot be read, or
    /// when its copy is damaged the way the store would be ([`StoreError::Corrupted`]).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let io_error = |source: std::io::Error| StoreError::Open {
            path: path.display().to_string(),
            source: sled::Error::Io(source),
        };
        let copy = tempfile::Builder::new()
            .prefix("acd-rules-store-copy.")
            .tempdir()
            .map_err(io_error)?;
        copy_store(path, copy.path()).map_err(io_error)?;
        let store = SledRulesStore::open_waiting(copy.path(), Duration::ZERO).map_err(|e| {
            match e {
                // Name the store, not the copy, in what the operator reads.
                StoreError::Corrupted { detail, .. } => StoreError::Corrupted {
                    path: path.to_path_buf(),
                    detail,
                },
                e => e,
            }
        })?;
        Ok(ReadOnlyCopy {
            store,
            origin: path.to_path_buf(),
            _copy: copy,
        })
    }

    /// The store this is a copy of.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    fn refused(&self) -> StoreError {
        StoreError::ReadOnly {
            path: self.origin.clone(),
        }
    }
}

/// Copies the store's files, leaving out acd's lock and sled's unfinished snapshots (which
/// would make the copy look damaged).
fn copy_store(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let skip = name
            .to_str()
            .is_some_and(|n| n == STORE_LOCK_FILE || is_unfinished_snapshot(n));
        if skip {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            std::fs::create_dir(to.join(&name))?;
            copy_store(&entry.path(), &to.join(&name))?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(&name))?;
        }
    }
    Ok(())
}

impl RulesStore for ReadOnlyCopy {
    fn apply(&self, _new: NewVersion<'_>) -> Result<VersionRecord, StoreError> {
        Err(self.refused())
    }

    fn history(&self) -> Result<Vec<VersionRecord>, StoreError> {
        self.store.history()
    }

    fn get(&self, number: u64) -> Result<Option<VersionRecord>, StoreError> {
        self.store.get(number)
    }

    fn active(&self) -> Result<Option<VersionRecord>, StoreError> {
        self.store.active()
    }

    fn rollback(
        &self,
        _number: u64,
        _applied_at: Timestamp,
        _message: &str,
    ) -> Result<VersionRecord, StoreError> {
        Err(self.refused())
    }

    fn record_running(&self, _running: RunningRecord) -> Result<(), StoreError> {
        Err(self.refused())
    }

    fn running(&self) -> Result<Option<RunningRecord>, StoreError> {
        self.store.running()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SourceFile;

    #[test]
    fn the_copy_reads_every_version_and_refuses_writes_without_touching_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledRulesStore::open(dir.path()).unwrap();
        for n in 1..=2u64 {
            store
                .apply(NewVersion {
                    files: &[SourceFile::new("r.toml", format!("# {n}\n"))],
                    message: "",
                    applied_at: Timestamp(n),
                })
                .unwrap();
        }
        // Readable while the store itself is open elsewhere (the lock is not copied).
        let copy = ReadOnlyCopy::open(dir.path()).unwrap();
        assert_eq!(copy.history().unwrap().len(), 2);
        assert_eq!(copy.active().unwrap().unwrap().number, 2);
        let err = copy
            .apply(NewVersion {
                files: &[],
                message: "",
                applied_at: Timestamp(3),
            })
            .unwrap_err();
        assert!(matches!(&err, StoreError::ReadOnly { path } if path == dir.path()));
        assert!(copy
            .record_running(RunningRecord {
                version: 1,
                since: Timestamp(4)
            })
            .is_err());
        drop(copy);
        assert_eq!(store.history().unwrap().len(), 2);
        assert_eq!(store.running().unwrap(), None);
    }

    #[test]
    fn a_missing_store_cannot_be_copied() {
        let dir = tempfile::tempdir().unwrap();
        let err = ReadOnlyCopy::open(&dir.path().join("none")).unwrap_err();
        assert!(err.to_string().contains("No such file"), "{err}");
    }
}
