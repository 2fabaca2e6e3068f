//! Crash safety: a child process applies a new version and aborts (no destructors, no final
//! flush) at each write step; the parent then reopens the store and checks that it opens, that
//! the active version is the previous one (or, once the commit is durable, the new one) and
//! never a mixture, and that applying again works.

use acd_core::Timestamp;
use acd_store::{ApplyStep, NewVersion, RulesStore, SledRulesStore, SourceFile};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

const DIR_VAR: &str = "ACD_STORE_CRASH_DIR";
const STEP_VAR: &str = "ACD_STORE_CRASH_STEP";

fn v1() -> Vec<SourceFile> {
    vec![SourceFile::new("rules.toml", "# version one\n")]
}

fn v2() -> Vec<SourceFile> {
    vec![
        SourceFile::new("rules.toml", "# version two\n"),
        SourceFile::new("more.toml", "# added in two\n"),
    ]
}

fn apply(store: &SledRulesStore, files: &[SourceFile], at: u64) -> acd_store::VersionRecord {
    store
        .apply(NewVersion {
            files,
            message: "test",
            applied_at: Timestamp(at),
        })
        .unwrap()
}

/// Runs only as the child of `abort_at_every_write_step`.
#[test]
#[ignore = "helper: run in a child process by abort_at_every_write_step"]
fn child_apply_then_abort() {
    let (Some(dir), Some(step)) = (std::env::var_os(DIR_VAR), std::env::var_os(STEP_VAR)) else {
        return;
    };
    let step = step.to_string_lossy().into_owned();
    let store = SledRulesStore::open(Path::new(&dir))
        .unwrap()
        .with_fault_hook(Arc::new(move |at| {
            if format!("{at:?}") == step {
                std::process::abort();
            }
            Ok(())
        }));
    apply(&store, &v2(), 2_000);
    // Reaching here means the hook never fired: report it as a distinct exit code.
    std::process::exit(3);
}

#[test]
fn abort_at_every_write_step() {
    let exe = std::env::current_exe().unwrap();
    for step in ApplyStep::ALL {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledRulesStore::open(dir.path()).unwrap();
            apply(&store, &v1(), 1_000);
        }
        let status = Command::new(&exe)
            .args([
                "child_apply_then_abort",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env(DIR_VAR, dir.path())
            .env(STEP_VAR, format!("{step:?}"))
            .status()
            .unwrap();
        assert!(!status.success(), "{step:?}: child did not crash");
        assert_ne!(status.code(), Some(3), "{step:?}: hook never fired");

        let store = SledRulesStore::open(dir.path())
            .unwrap_or_else(|e| panic!("{step:?}: store does not reopen: {e}"));
        let active = store.active().unwrap().expect("a version stays active");
        match step {
            ApplyStep::Begin | ApplyStep::RecordWritten | ApplyStep::PointerWritten => {
                assert_eq!(active.number, 1, "{step:?}");
            }
            // Committed in memory but not flushed: sled's background flusher may or may not
            // have written it; either outcome is a whole version.
            ApplyStep::Committed => assert!(active.number == 1 || active.number == 2),
            ApplyStep::Flushed => assert_eq!(active.number, 2, "{step:?}"),
        }
        let mut expected = if active.number == 1 { v1() } else { v2() };
        expected.sort();
        assert_eq!(active.files, expected, "{step:?}: mixed content");
        assert_eq!(
            active.content_hash,
            acd_store::content_hash(&expected),
            "{step:?}"
        );
        let numbers: Vec<u64> = store.history().unwrap().iter().map(|r| r.number).collect();
        assert_eq!(numbers, (1..=active.number).collect::<Vec<_>>(), "{step:?}");
        let next = apply(&store, &[SourceFile::new("rules.toml", "# three\n")], 3_000);
        assert_eq!(next.number, active.number + 1, "{step:?}");
    }
}
