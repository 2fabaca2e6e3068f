//! `acd rules history` and `diff` on a data directory remounted read-only: sled cannot open
//! the store there at all (it opens its files for writing), so both used to fail; they now
//! read a copy and say so. Needs root to mount a tmpfs (CI); skips loudly elsewhere.

#[allow(dead_code)]
#[path = "../../acd-store/tests/support/tiny_fs.rs"]
mod tiny_fs;

use acd_core::Timestamp;
use acd_rules::commands::{diff, history, open_store};
use acd_store::{NewVersion, RulesStore, SourceFile};

#[test]
fn history_and_diff_read_a_read_only_store_from_a_copy_and_say_so() {
    let Some(fs) = tiny_fs::TinyFs::mount(
        "8m",
        "history_and_diff_read_a_read_only_store_from_a_copy_and_say_so",
    ) else {
        return;
    };
    let data = fs.path().join("data");
    {
        let store = open_store(&data).unwrap();
        for n in 1..=2u64 {
            store
                .apply(NewVersion {
                    files: &[SourceFile::new("rules.toml", format!("# version {n}\n"))],
                    message: "test",
                    applied_at: Timestamp(n * 1_000),
                })
                .unwrap();
        }
    }
    fs.remount("ro");
    let out = history(&data, None);
    assert_eq!(out.exit_code, 0, "{}", out.text);
    assert!(
        out.text.starts_with("note: read from a copy"),
        "{}",
        out.text
    );
    assert!(out.text.contains("Read-only file system"), "{}", out.text);
    assert!(out.text.contains("test"), "{}", out.text);
    let out = diff(&data, 1, 2);
    assert_eq!(out.exit_code, 0, "{}", out.text);
    assert!(out.text.contains("+# version 2"), "{}", out.text);
    fs.remount("rw");
}
