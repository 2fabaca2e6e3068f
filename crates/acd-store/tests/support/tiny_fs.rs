//! A real, tiny filesystem made for one test: a tmpfs of a given size, mounted on a temporary
//! directory and unmounted when dropped. Filling it gives a real `ENOSPC`, remounting it
//! read-only a real `EROFS`, with no fault injected by hand.
//!
//! Mounting needs root. Where it cannot be done the test says so on stderr and passes without
//! running ("SKIPPED …"); `ACD_REQUIRE_TINY_FS=1` (set by `.ci/run` where it is root and a trial
//! mount works) turns the skip into a failure, so the tests cannot silently stop running there.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct TinyFs {
    mount_point: tempfile::TempDir,
}

impl TinyFs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` reads it, e.g. `1m`), or explains why not
    /// and returns `None`.
    pub fn mount(size: &str, test: &str) -> Option<TinyFs> {
        let mount_point = tempfile::tempdir().expect("a temporary directory");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(mount_point.path())
            .output();
        let why = match out {
            Ok(out) if out.status.success() => return Some(TinyFs { mount_point }),
            Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
            Err(e) => format!("cannot run mount: {e}"),
        };
        let message =
            format!("SKIPPED {test}: cannot mount a {size} tmpfs ({why}); it needs root, as in CI");
        if std::env::var_os("ACD_REQUIRE_TINY_FS").is_some_and(|v| v == "1") {
            panic!("{message}, and ACD_REQUIRE_TINY_FS=1 requires it");
        }
        eprintln!("{message}");
        None
    }

    pub fn path(&self) -> &Path {
        self.mount_point.path()
    }

    /// Writes a filler file until the filesystem is full; removing it frees the space.
    pub fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("create the filler");
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        // Whatever still fits in a smaller piece, so not even a short write succeeds.
        while file.write_all(&[0u8]).is_ok() {}
        path
    }

    pub fn remount(&self, mode: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(self.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "remount {mode} failed");
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        // Lazy: a store a failed test left open must not keep the mount (and fail the drop).
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}
