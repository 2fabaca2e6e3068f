//! Writing a stored version's files back into the rules directory.
//!
//! The running engine watches the rules directory, so the directory, not the store, is what
//! the engine will run next: a rollback that changed only the store was undone silently by the
//! next edit in the directory (the edit was applied on top of the rolled-back-from files). A
//! rollback therefore makes the directory hold the version's files exactly, and never loses a
//! file that no stored version holds: edits not yet applied are found first ([`unapplied`])
//! and either refused or saved elsewhere ([`save_copy`]) before anything is overwritten.
//!
//! Each file is written beside its final name and renamed over it, so the engine's watcher
//! (and a crash) sees the old file or the new one, never half of one.

use crate::{read_dir, LoadError, SourceFile};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum WriteBackError {
    #[error(transparent)]
    Read(#[from] LoadError),
    /// A stored name that is not a plain `*.toml` file name: only a damaged store holds one,
    /// and writing it could escape the rules directory.
    #[error("stored file name `{0}` is not a plain *.toml file name; nothing was written")]
    BadName(String),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How one file of the directory differs from a stored version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// In both, with different text.
    Changed(String),
    /// In the directory only.
    Added(String),
    /// In the version only.
    Removed(String),
}

impl std::fmt::Display for FileChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileChange::Changed(name) => write!(f, "{name} (changed)"),
            FileChange::Added(name) => write!(f, "{name} (new)"),
            FileChange::Removed(name) => write!(f, "{name} (deleted)"),
        }
    }
}

/// How the `*.toml` files in `dir` differ from `stored`, by file name; empty when the
/// directory holds exactly the stored files.
pub fn unapplied(dir: &Path, stored: &[SourceFile]) -> Result<Vec<FileChange>, LoadError> {
    Ok(differences(&read_dir(dir)?, stored))
}

/// How `current` differs from `stored`, sorted by file name.
pub fn differences(current: &[SourceFile], stored: &[SourceFile]) -> Vec<FileChange> {
    let text_in = |files: &[SourceFile], name: &str| {
        files
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.text.clone())
    };
    let mut names: Vec<&str> = current
        .iter()
        .chain(stored)
        .map(|f| f.name.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter_map(
            |name| match (text_in(current, name), text_in(stored, name)) {
                (Some(a), Some(b)) if a == b => None,
                (Some(_), Some(_)) => Some(FileChange::Changed(name.to_string())),
                (Some(_), None) => Some(FileChange::Added(name.to_string())),
                (None, Some(_)) => Some(FileChange::Removed(name.to_string())),
                (None, None) => None,
            },
        )
        .collect()
}

/// Makes the `*.toml` files of `dir` exactly `files`: each written via a temporary file and a
/// rename, then the `*.toml` files `files` lacks removed. Other files are left alone. Names
/// are checked before anything is written.
pub fn write_files(dir: &Path, files: &[SourceFile]) -> Result<(), WriteBackError> {
    for file in files {
        check_name(&file.name)?;
    }
    let present = read_dir(dir)?;
    for file in files {
        write_atomically(dir, &file.name, &file.text)?;
    }
    for old in present {
        if !files.iter().any(|f| f.name == old.name) {
            let path = dir.join(&old.name);
            std::fs::remove_file(&path).map_err(|source| WriteBackError::Io {
                action: "remove",
                path,
                source,
            })?;
        }
    }
    Ok(())
}

/// Copies `files` into a new directory `to` (created; refused if it exists), so edits about
/// to be discarded stay on disk.
pub fn save_copy(to: &Path, files: &[SourceFile]) -> Result<(), WriteBackError> {
    for file in files {
        check_name(&file.name)?;
    }
    std::fs::create_dir_all(to.parent().unwrap_or(Path::new("."))).map_err(|source| {
        WriteBackError::Io {
            action: "create",
            path: to.to_path_buf(),
            source,
        }
    })?;
    std::fs::create_dir(to).map_err(|source| WriteBackError::Io {
        action: "create",
        path: to.to_path_buf(),
        source,
    })?;
    for file in files {
        let path = to.join(&file.name);
        std::fs::write(&path, &file.text).map_err(|source| WriteBackError::Io {
            action: "write",
            path,
            source,
        })?;
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), WriteBackError> {
    let plain = Path::new(name)
        .file_name()
        .is_some_and(|n| n.to_str() == Some(name));
    if plain && name.ends_with(".toml") && !name.starts_with('.') {
        Ok(())
    } else {
        Err(WriteBackError::BadName(name.to_string()))
    }
}

/// The temporary name does not end in `.toml`, so a reader of the directory never takes it
/// for a rule file.
fn write_atomically(dir: &Path, name: &str, text: &str) -> Result<(), WriteBackError> {
    let temporary = dir.join(format!(".{name}.acd-rollback"));
    let path = dir.join(name);
    std::fs::write(&temporary, text).map_err(|source| WriteBackError::Io {
        action: "write",
        path: temporary.clone(),
        source,
    })?;
    std::fs::rename(&temporary, &path).map_err(|source| {
        let _ = std::fs::remove_file(&temporary);
        WriteBackError::Io {
            action: "replace",
            path,
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> Vec<SourceFile> {
        pairs.iter().map(|(n, t)| SourceFile::new(*n, *t)).collect()
    }

    #[test]
    fn the_directory_ends_up_holding_exactly_the_version() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("10-a.toml"), "old a\n").unwrap();
        std::fs::write(dir.path().join("20-b.toml"), "b\n").unwrap();
        std::fs::write(dir.path().join("README.txt"), "notes\n").unwrap();
        let version = files(&[("10-a.toml", "new a\n"), ("30-c.toml", "c\n")]);
        write_files(dir.path(), &version).unwrap();
        assert_eq!(read_dir(dir.path()).unwrap(), version);
        assert!(unapplied(dir.path(), &version).unwrap().is_empty());
        // Files that are not rules are not the version's business, and no temporary is left.
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["10-a.toml", "30-c.toml", "README.txt"]);
    }

    #[test]
    fn differences_name_changed_new_and_deleted_files() {
        let stored = files(&[("a.toml", "1"), ("b.toml", "2"), ("c.toml", "3")]);
        let current = files(&[("a.toml", "1"), ("b.toml", "2 edited"), ("d.toml", "4")]);
        assert_eq!(
            differences(&current, &stored),
            vec![
                FileChange::Changed("b.toml".into()),
                FileChange::Removed("c.toml".into()),
                FileChange::Added("d.toml".into()),
            ]
        );
        assert_eq!(
            FileChange::Added("d.toml".into()).to_string(),
            "d.toml (new)"
        );
    }

    #[test]
    fn a_name_that_could_leave_the_directory_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), "kept\n").unwrap();
        for bad in ["../x.toml", "sub/x.toml", "x.txt", ".hidden.toml", ""] {
            let version = files(&[("b.toml", "b"), (bad, "x")]);
            let err = write_files(dir.path(), &version).unwrap_err();
            assert!(
                matches!(err, WriteBackError::BadName(ref n) if n == bad),
                "{err}"
            );
        }
        assert_eq!(
            read_dir(dir.path()).unwrap(),
            files(&[("a.toml", "kept\n")])
        );
    }

    #[test]
    fn a_saved_copy_keeps_every_file_and_never_overwrites() {
        let root = tempfile::tempdir().unwrap();
        let to = root.path().join("saved/one");
        let current = files(&[("a.toml", "1"), ("b.toml", "2")]);
        save_copy(&to, &current).unwrap();
        assert_eq!(read_dir(&to).unwrap(), current);
        assert!(matches!(
            save_copy(&to, &current),
            Err(WriteBackError::Io {
                action: "create",
                ..
            })
        ));
    }
}
