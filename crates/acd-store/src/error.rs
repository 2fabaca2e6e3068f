//! Errors of the rules store, typed so the CLI can tell "no such version" from a broken disk,
//! and worded so that whoever reads them knows what to do next: sled's own messages ("Read
//! corrupted data at file offset None", a bare `WouldBlock`) name neither the store nor a way
//! out.

use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open the rules store at {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: sled::Error,
    },
    /// The store's files fail their checksums or its records do not decode. sled cannot repair
    /// it; the ruleset itself is safe in the rules directory.
    #[error(
        "the rules store at {} is corrupted ({detail}).\n\
         To recover, either restore that directory from a backup, or rebuild the store from \
         the rules directory with\n    acd rules rebuild-store RULES_DIR --data-dir {}\n\
         (the damaged store is moved aside, not deleted; the version history starts again at 1)",
        path.display(),
        data_dir_hint(path)
    )]
    Corrupted { path: PathBuf, detail: String },
    /// sled's exclusive file lock is held by another process, still after waiting.
    #[error(
        "the rules store at {} is in use by another process (the running engine, or another \
         `acd rules` command) and stayed locked for {waited_ms} ms; try again when it has \
         finished, or stop the engine to change the store offline",
        path.display()
    )]
    Locked { path: PathBuf, waited_ms: u64 },
    /// A write to a [`crate::ReadOnlyCopy`]: the store itself could not be opened for writing.
    #[error(
        "nothing was stored: the rules store at {} cannot be opened for writing, and only a \
         read-only copy of it is open",
        path.display()
    )]
    ReadOnly { path: PathBuf },
    /// The filesystem has too little room for a write to be safe (see `free_space.rs`); nothing
    /// was written and the store is intact.
    #[error(
        "not enough free space to store rules safely: {available} bytes free on the \
         filesystem of {}, {needed} needed; nothing was written and every stored version is \
         intact. Free some space there, then apply again",
        path.display()
    )]
    NoSpace {
        path: PathBuf,
        available: u64,
        needed: u64,
    },
    #[error("rules store I/O failed while {action}: {source}")]
    Io {
        action: &'static str,
        #[source]
        source: sled::Error,
    },
    #[error("rules store record {key} is unreadable: {source}")]
    Corrupt {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("rules store is inconsistent: {0}")]
    Inconsistent(String),
    #[error("version {0} does not exist")]
    NoSuchVersion(u64),
    #[error("apply interrupted at step {step:?}: {reason}")]
    Interrupted {
        step: crate::ApplyStep,
        reason: String,
    },
}

/// The `--data-dir` that holds the store at `path`: the CLI keeps the store in `DATA_DIR/rules`.
fn data_dir_hint(path: &std::path::Path) -> String {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.display().to_string(),
        _ => "DATA_DIR".to_string(),
    }
}

impl StoreError {
    /// Whether the store's data itself is damaged (as opposed to busy, missing or misused), so
    /// a caller can offer the rebuild.
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            StoreError::Corrupted { .. } | StoreError::Corrupt { .. } | StoreError::Inconsistent(_)
        )
    }
}

/// Whether sled failed because another process holds its file lock. sled reports this only as
/// an `Other` I/O error whose text starts with "could not acquire lock" (wrapping the OS's
/// `WouldBlock`), so the text is all there is to go by.
pub(crate) fn is_lock_error(error: &sled::Error) -> bool {
    match error {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::WouldBlock
                || io.to_string().starts_with("could not acquire lock")
        }
        _ => false,
    }
}
