//! Errors of the rules store, typed so the CLI can tell "no such version" from a broken disk.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open the rules store at {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: sled::Error,
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
