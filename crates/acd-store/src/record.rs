//! What one stored version holds, and how its content hash is computed.

use acd_core::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One rule file as the supervisor wrote it. `name` is relative to the rules directory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        SourceFile {
            name: name.into(),
            text: text.into(),
        }
    }
}

/// An immutable, applied ruleset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// 1, 2, 3, … in apply order; never reused.
    pub number: u64,
    /// When it was applied, as passed in by the caller (the store reads no clock).
    pub applied_at: Timestamp,
    /// Lower-case hex SHA-256 over the files, see [`content_hash`].
    pub content_hash: String,
    /// The source files, sorted by name.
    pub files: Vec<SourceFile>,
    pub message: String,
    /// Set when this version was created by rolling back to an older one.
    pub rollback_of: Option<u64>,
}

/// Which version the engine runs, as the engine itself last recorded it. The store's active
/// version is what the next reload *will* pick up; this is what the engine *did* pick up, so
/// `acd rules history` can tell the two apart when they differ (a rollback not yet seen by
/// the engine, or an engine that was refused a change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningRecord {
    /// The stored version the engine runs.
    pub version: u64,
    /// When the engine started running it (its own clock; the store reads none).
    pub since: Timestamp,
}

/// SHA-256 over the files sorted by name, each as length-prefixed name and text, so that
/// moving text from one file to another changes the hash but reordering the list does not.
pub fn content_hash(files: &[SourceFile]) -> String {
    let mut sorted: Vec<&SourceFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut hasher = Sha256::new();
    for file in sorted {
        hasher.update((file.name.len() as u64).to_le_bytes());
        hasher.update(file.name.as_bytes());
        hasher.update((file.text.len() as u64).to_le_bytes());
        hasher.update(file.text.as_bytes());
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_ignores_list_order_but_not_file_boundaries() {
        let a = SourceFile::new("a.toml", "x = 1\n");
        let b = SourceFile::new("b.toml", "y = 2\n");
        assert_eq!(
            content_hash(&[a.clone(), b.clone()]),
            content_hash(&[b.clone(), a.clone()])
        );
        let moved = [
            SourceFile::new("a.toml", "x = 1\ny = 2\n"),
            SourceFile::new("b.toml", ""),
        ];
        assert_ne!(content_hash(&[a, b]), content_hash(&moved));
        assert_eq!(content_hash(&[]).len(), 64);
    }
}
