//! An exclusive advisory lock on a file, held for as long as the value lives.
//!
//! sled locks its own `db` file, but only once it has opened it, and by then it has already
//! read (and perhaps rewritten) its snapshot files: the store needs a lock of its own around
//! tidying sled's leftovers and opening, so that it never removes a snapshot another process is
//! writing. The engine needs one too, on its data directory, so that a second engine started on
//! the same directory is refused instead of routing the same calls beside the first.
//!
//! The lock is `flock(2)` (through fs4): the kernel drops it when the process ends, however it
//! ends, so a crash never leaves a stale lock behind. The file may also hold a note (who holds
//! it), which a refused caller can show.

use fs4::{FileExt, TryLockError};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Takes the lock on `path` (created if missing) without waiting: `Ok(None)` when another
    /// holder has it. A lock file that exists on a read-only filesystem is locked through a
    /// read-only handle, so a read-only directory that was locked before still excludes.
    pub fn try_acquire(path: &Path) -> std::io::Result<Option<FileLock>> {
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
        {
            Ok(file) => file,
            Err(writable) => match File::open(path) {
                Ok(file) => file,
                // The first error says why (read-only filesystem, permission): keep it.
                Err(_) => return Err(writable),
            },
        };
        // Called through the trait: std's own `File::try_lock` is newer than the workspace's
        // minimum Rust.
        match FileExt::try_lock(&file) {
            Ok(()) => Ok(Some(FileLock {
                file,
                path: path.to_path_buf(),
            })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    /// Replaces the note in the lock file (best effort: the lock itself is what excludes).
    pub fn write_note(&mut self, note: &str) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(note.as_bytes())?;
        self.file.sync_data()
    }

    /// The note the holder of the lock at `path` left, if any can be read.
    pub fn read_note(path: &Path) -> Option<String> {
        let mut text = String::new();
        File::open(path).ok()?.read_to_string(&mut text).ok()?;
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_string())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let mut first = FileLock::try_acquire(&path).unwrap().unwrap();
        first.write_note("pid 42").unwrap();
        // flock belongs to each open file, so a second open in this same process is refused
        // just as another process would be.
        assert!(FileLock::try_acquire(&path).unwrap().is_none());
        assert_eq!(FileLock::read_note(&path).as_deref(), Some("pid 42"));
        drop(first);
        let second = FileLock::try_acquire(&path).unwrap();
        assert!(second.is_some());
    }

    #[test]
    fn a_lock_file_that_cannot_be_created_reports_why() {
        let dir = tempfile::tempdir().unwrap();
        let err = FileLock::try_acquire(&dir.path().join("missing/x.lock")).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
    }
}
