//! The storage contract the rules commands and the daemon use.

use crate::{RunningRecord, SourceFile, StoreError, VersionRecord};
use acd_core::Timestamp;

/// What a caller asks to store.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub files: &'a [SourceFile],
    pub message: &'a str,
    pub applied_at: Timestamp,
}

/// A versioned, append-only store of rulesets. The active version is always the newest one:
/// rolling back appends a copy of an old version rather than moving a pointer backwards, so
/// `history` reads as an audit trail.
pub trait RulesStore {
    /// Stores `new` as the next version and makes it active, atomically: after a crash either
    /// the previous version or this one is active, never a half-written one.
    fn apply(&self, new: NewVersion<'_>) -> Result<VersionRecord, StoreError>;
    /// Every version, oldest first.
    fn history(&self) -> Result<Vec<VersionRecord>, StoreError>;
    fn get(&self, number: u64) -> Result<Option<VersionRecord>, StoreError>;
    /// The version the engine should run, `None` before the first apply.
    fn active(&self) -> Result<Option<VersionRecord>, StoreError>;
    /// Appends a new version with the content of `number` and makes it active.
    fn rollback(
        &self,
        number: u64,
        applied_at: Timestamp,
        message: &str,
    ) -> Result<VersionRecord, StoreError>;
    /// Records which version the engine runs now (written by the engine whenever it starts
    /// running a version). Refused with [`StoreError::NoSuchVersion`] for a version the store
    /// does not hold, so the record can never point at nothing.
    fn record_running(&self, running: RunningRecord) -> Result<(), StoreError>;
    /// What the engine last recorded with [`record_running`](Self::record_running); `None`
    /// before it first did. An engine that has stopped leaves its last record behind.
    fn running(&self) -> Result<Option<RunningRecord>, StoreError>;
}
