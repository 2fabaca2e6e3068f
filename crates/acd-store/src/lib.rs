//! Versioned storage of applied routing rulesets.
//!
//! Supervisors change routing every week and must be able to go back to yesterday's rules with
//! one command, so every applied ruleset is kept as an immutable, numbered version holding the
//! source files themselves (not only the compiled result): the engine recompiles the active
//! version at start, even when the files on disk have since been broken, and `diff` can show
//! what a supervisor actually wrote.
//!
//! The [`RulesStore`] trait is the whole contract; [`SledRulesStore`] implements it on sled with
//! atomic commits. Rollback is *append-only*: rolling back to version N creates a new version
//! whose content is N's, so the history records that a rollback happened and when.

// Rules, events and stored data come from outside: a panic on them would stop routing.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod error;
mod file_lock;
mod free_space;
mod leftovers;
mod read_only_copy;
mod record;
mod sled_store;
mod store;

pub use error::StoreError;
pub use file_lock::FileLock;
pub use free_space::{check_room, needed_for};
pub use leftovers::remove_unfinished_snapshots;
pub use read_only_copy::ReadOnlyCopy;
pub use record::{content_hash, RunningRecord, SourceFile, VersionRecord};
pub use sled_store::{ApplyStep, FaultHook, SledRulesStore, STORE_LOCK_FILE};
pub use store::{NewVersion, RulesStore};
