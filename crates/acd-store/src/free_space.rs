//! Refusing a write the disk has no room for, before sled attempts it.
//!
//! sled 0.34 does not survive a write that fails for lack of space: the write returns its
//! error, but the database can then never be closed (its flush on drop waits for a log position
//! that can no longer become durable), so the thread that drops it hangs for good, and with it
//! an engine's rules reloads or an `acd rules` command (`tests/disk_faults.rs` shows it). The
//! store therefore checks the filesystem's free space first and refuses with
//! [`StoreError::NoSpace`], which names the numbers, while nothing has been written and the
//! store still closes cleanly.
//!
//! The margin covers what one write can make sled allocate: a new log segment (512 KiB by
//! default), a snapshot at the next open, and the record itself several times over (sled
//! writes it to the log, and may rewrite the page it lives on).

use crate::StoreError;
use std::path::Path;

/// Free bytes always kept in reserve beyond the record's own size.
pub const RESERVE_BYTES: u64 = 2 * 1024 * 1024;

/// Bytes that must be free on the store's filesystem to write `record_bytes`.
pub fn needed_for(record_bytes: usize) -> u64 {
    RESERVE_BYTES.saturating_add((record_bytes as u64).saturating_mul(4))
}

/// `Ok` when the filesystem holding `path` has room for a write of `record_bytes`. A
/// filesystem whose free space cannot be read is given the benefit of the doubt: the write
/// itself will say what is wrong.
pub fn check_room(path: &Path, record_bytes: usize) -> Result<(), StoreError> {
    let needed = needed_for(record_bytes);
    match fs4::available_space(path) {
        Ok(available) if available < needed => Err(StoreError::NoSpace {
            path: path.to_path_buf(),
            available,
            needed,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_grows_with_the_record() {
        assert_eq!(needed_for(0), RESERVE_BYTES);
        assert_eq!(needed_for(1_000), RESERVE_BYTES + 4_000);
    }

    #[test]
    fn an_ordinary_temporary_directory_has_room_and_the_refusal_names_the_numbers() {
        let dir = tempfile::tempdir().unwrap();
        check_room(dir.path(), 10).unwrap();
        let err = check_room(dir.path(), usize::MAX / 2).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("not enough free space"), "{text}");
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
    }
}
