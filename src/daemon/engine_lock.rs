//! One engine per data directory.
//!
//! Two engines started on the same data directory (a second unit, a forgotten test run) both
//! routed the same calls and wrote the same store, without a word. The engine therefore holds
//! an exclusive `flock` on `DATA_DIR/acd-engine.lock` for its whole life; a second one is
//! refused at start with the first one's process id. The kernel releases the lock however the
//! holder ends, so a crash never blocks the next start.
//!
//! A data directory where the lock file cannot even be created (a read-only filesystem)
//! cannot be written by a second engine either: the engine then warns and starts, because
//! routing matters more than the lock.

use acd_store::FileLock;
use std::path::{Path, PathBuf};

pub const ENGINE_LOCK_FILE: &str = "acd-engine.lock";

#[derive(Debug, thiserror::Error)]
#[error(
    "another engine is already running on the data directory {} ({holder}); run one engine per \
     data directory (a hot twin needs its own), or stop the other one first",
    data_dir.display()
)]
pub struct DataDirInUse {
    pub data_dir: PathBuf,
    pub holder: String,
}

/// Held for the engine's life; dropping it lets the next engine start.
#[derive(Debug)]
pub struct EngineLock {
    _lock: Option<FileLock>,
}

impl EngineLock {
    pub fn acquire(data_dir: &Path) -> Result<EngineLock, DataDirInUse> {
        // The store creates the directory later anyway; the lock needs it first.
        let _ = std::fs::create_dir_all(data_dir);
        let path = data_dir.join(ENGINE_LOCK_FILE);
        match FileLock::try_acquire(&path) {
            Ok(Some(mut lock)) => {
                let note = format!("pid {}", std::process::id());
                if let Err(e) = lock.write_note(&note) {
                    tracing::debug!(error = %e, "cannot write the engine lock's note");
                }
                Ok(EngineLock { _lock: Some(lock) })
            }
            Ok(None) => Err(DataDirInUse {
                data_dir: data_dir.to_path_buf(),
                holder: FileLock::read_note(&path)
                    .unwrap_or_else(|| "process id unknown".to_string()),
            }),
            Err(e) => {
                tracing::warn!(
                    path = %path.display(),
                    cause = %e,
                    "cannot take the data directory's engine lock; starting without it, so \
                     nothing stops a second engine on this directory"
                );
                Ok(EngineLock { _lock: None })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_engine_on_the_same_data_directory_is_refused_with_the_first_ones_pid() {
        let data = tempfile::tempdir().unwrap();
        let first = EngineLock::acquire(data.path()).unwrap();
        let err = EngineLock::acquire(data.path()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        assert!(text.contains("another engine is already running"), "{text}");
        drop(first);
        assert!(EngineLock::acquire(data.path()).is_ok());
    }

    #[test]
    fn a_data_directory_that_cannot_hold_the_lock_does_not_stop_the_engine() {
        let data = tempfile::tempdir().unwrap();
        let file = data.path().join("not-a-directory");
        std::fs::write(&file, "").unwrap();
        assert!(EngineLock::acquire(&file).is_ok());
    }
}
