//! sled's unfinished snapshot files, and why they may be removed.
//!
//! sled writes a snapshot of its page table only while it opens: to `snap.<LSN>.generating`,
//! then renames it to `snap.<LSN>` and removes the older ones. When the write fails (a full
//! disk: `ENOSPC` after the file was created) the empty `.generating` file stays behind. At the
//! next open sled reads the snapshot whose name sorts last, which is that leftover (the suffix
//! sorts after the finished `snap.<LSN>`), finds it empty and reports the whole store as
//! corrupted, although every version is intact in its log.
//!
//! Removing the leftover is safe: a snapshot is only a cache of what the log holds (sled
//! rebuilds it from the previous finished snapshot, or from the start of the log, and removes
//! every other snapshot file itself after a successful write), and a `.generating` file is
//! never read as the truth by a successful open. It must only be done while no other process
//! is opening the store, which the store's own lock ([`crate::FileLock`]) guarantees.

use std::path::{Path, PathBuf};

/// Removes sled's unfinished snapshots (`snap.<16 hex digits>.generating`) in `dir` and returns
/// what it removed. Anything else is left alone. A directory that does not exist holds none.
pub fn remove_unfinished_snapshots(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_str().is_some_and(is_unfinished_snapshot) && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
            removed.push(entry.path());
        }
    }
    Ok(removed)
}

pub(crate) fn is_unfinished_snapshot(name: &str) -> bool {
    name.strip_prefix("snap.")
        .and_then(|rest| rest.strip_suffix(".generating"))
        .is_some_and(|lsn| lsn.len() == 16 && lsn.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sleds_unfinished_snapshots_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let keep = [
            "snap.00000000000003EA",
            "db",
            "conf",
            "snap.3EA.generating",
            "snap.00000000000003EA.generating.bak",
            "acd-active-version",
        ];
        for name in keep {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        std::fs::write(dir.path().join("snap.00000000000005E6.generating"), "").unwrap();
        std::fs::create_dir(dir.path().join("snap.0000000000000AAA.generating")).unwrap();
        let removed = remove_unfinished_snapshots(dir.path()).unwrap();
        assert_eq!(
            removed,
            [dir.path().join("snap.00000000000005E6.generating")]
        );
        for name in keep {
            assert!(dir.path().join(name).exists(), "{name}");
        }
        assert!(dir.path().join("snap.0000000000000AAA.generating").is_dir());
    }

    #[test]
    fn a_missing_directory_holds_no_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        assert!(remove_unfinished_snapshots(&dir.path().join("none"))
            .unwrap()
            .is_empty());
    }
}
