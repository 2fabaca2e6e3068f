//! The rules manager when the store fails: a store that cannot be opened or written never
//! stops the engine from starting on valid rules, keeps the last good version, names its cause
//! and stores the version once it can. Faults are made without root where a plain file in the
//! store's place is enough, and on a real tiny tmpfs (full, read-only) where it takes root.

#[path = "../../../crates/acd-store/tests/support/tiny_fs.rs"]
mod tiny_fs;

use super::*;
use crate::daemon::example_rules;
use tiny_fs::TinyFs;

const T0: Timestamp = Timestamp(1_748_851_200_000);

fn edit(dir: &Path, from: &str, to: &str) {
    let path = dir.join("20-queues.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from));
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn history(data: &Path) -> Vec<u64> {
    let store = open_store(data).unwrap();
    store.history().unwrap().iter().map(|r| r.number).collect()
}

/// Puts a plain file where the store's directory belongs: nothing can open or copy it, the
/// way a read-only or vanished data directory would fail, without needing root.
fn block_store(data: &Path) -> PathBuf {
    let store = store_path(data);
    let aside = data.join("rules.aside");
    if store.exists() {
        std::fs::rename(&store, &aside).unwrap();
    }
    std::fs::write(&store, "not a directory").unwrap();
    aside
}

fn unblock_store(data: &Path, aside: &Path) {
    let store = store_path(data);
    std::fs::remove_file(&store).unwrap();
    if aside.exists() {
        std::fs::rename(aside, &store).unwrap();
    }
}

#[test]
fn a_store_that_cannot_be_opened_at_start_runs_the_valid_files_then_stores_them() {
    let data = tempfile::tempdir().unwrap();
    let rules = tempfile::tempdir().unwrap();
    example_rules::write_to(rules.path()).unwrap();
    let aside = block_store(data.path());
    let (mut m, config) = RulesManager::start(data.path(), rules.path(), &[], T0).unwrap();
    assert_eq!(config.version, 0, "unstored");
    assert!(config
        .queues
        .contains_key(&acd_core::QueueId::from("Sales")));
    assert!(m.store_pending());
    // Still failing: the running rules stay, the cause is named.
    match m.reload(T0) {
        Reload::Refused { rendered } => {
            assert!(rendered.contains("Not a directory"), "{rendered}");
        }
        other => panic!("{other:?}"),
    }
    assert!(m.store_pending());
    unblock_store(data.path(), &aside);
    // The store takes writes again: the files are stored, and the engine runs that version.
    assert!(matches!(m.reload(T0), Reload::Applied(c) if c.version == 1));
    assert!(!m.store_pending());
    assert_eq!(history(data.path()), [1]);
    assert_eq!(
        open_store(data.path())
            .unwrap()
            .running()
            .unwrap()
            .map(|r| r.version),
        Some(1)
    );
}

#[test]
fn a_corrupted_store_at_start_runs_the_valid_files_and_is_left_for_the_operator() {
    let data = tempfile::tempdir().unwrap();
    let rules = tempfile::tempdir().unwrap();
    example_rules::write_to(rules.path()).unwrap();
    drop(RulesManager::start(data.path(), rules.path(), &[], T0).unwrap());
    std::fs::write(store_path(data.path()).join("conf"), "not sled's\n").unwrap();
    let (m, config) = RulesManager::start(data.path(), rules.path(), &[], T0).unwrap();
    assert_eq!(config.version, 0);
    assert!(m.store_pending());
    // Nothing was rebuilt behind the operator's back.
    assert_eq!(
        std::fs::read_to_string(store_path(data.path()).join("conf")).unwrap(),
        "not sled's\n"
    );
}

#[test]
fn no_store_and_broken_files_is_still_a_clear_error_with_both_causes() {
    let data = tempfile::tempdir().unwrap();
    let rules = tempfile::tempdir().unwrap();
    example_rules::write_to(rules.path()).unwrap();
    edit(
        rules.path(),
        "strategy = \"longest-idle\"",
        "strategy = \"longest-idel\"",
    );
    block_store(data.path());
    let err = RulesManager::start(data.path(), rules.path(), &[], T0)
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(text.contains("longest-idel"), "{text}");
    assert!(text.contains("Not a directory"), "{text}");
}

/// The running engine's reload during a store failure logged "cannot open the rules store in
/// …" and nothing more: the cause was dropped with the error's source.
#[test]
fn a_reload_during_a_store_failure_keeps_the_version_and_names_the_cause() {
    let data = tempfile::tempdir().unwrap();
    let rules = tempfile::tempdir().unwrap();
    example_rules::write_to(rules.path()).unwrap();
    let (mut m, _) = RulesManager::start(data.path(), rules.path(), &[], T0).unwrap();
    let aside = block_store(data.path());
    edit(rules.path(), "max_waiting = 15", "max_waiting = 16");
    match m.reload(T0) {
        Reload::Refused { rendered } => {
            assert!(
                rendered.starts_with("cannot open the rules store in "),
                "{rendered}"
            );
            assert!(rendered.contains("Not a directory"), "{rendered}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(m.running_version(), 1);
    assert!(m.store_pending());
    unblock_store(data.path(), &aside);
    // The retry applies the edit made during the failure.
    assert!(matches!(m.reload(T0), Reload::Applied(c) if c.version == 2));
    assert!(!m.store_pending());
}

/// A data directory remounted read-only (as after disk errors) with broken files on disk: the
/// engine used to exit 2; it now runs the last good version read from a copy of the store.
#[test]
fn a_read_only_data_directory_at_start_runs_the_last_good_version() {
    let Some(fs) = TinyFs::mount(
        "8m",
        "a_read_only_data_directory_at_start_runs_the_last_good_version",
    ) else {
        return;
    };
    let data = fs.path().join("data");
    let rules = tempfile::tempdir().unwrap();
    example_rules::write_to(rules.path()).unwrap();
    drop(RulesManager::start(&data, rules.path(), &[], T0).unwrap());
    edit(
        rules.path(),
        "strategy = \"longest-idle\"",
        "strategy = \"longest-idel\"",
    );
    fs.remount("ro");
    let (mut m, config) = RulesManager::start(&data, rules.path(), &[], T0).unwrap();
    assert_eq!(config.version, 1);
    assert!(m.store_pending(), "the running mark could not be written");
    fs.remount("rw");
    assert!(matches!(m.reload(T0), Reload::Unchanged));
    assert!(!m.store_pending());
}

/// A full disk with new valid files on disk: the engine starts on them unstored, and stores
/// them (as version 2, history intact) once space is freed.
#[test]
fn a_full_disk_at_start_runs_the_new_files_and_stores_them_when_space_is_freed() {
    let Some(fs) = TinyFs::mount(
        "8m",
        "a_full_disk_at_start_runs_the_new_files_and_stores_them_when_space_is_freed",
    ) else {
        return;
    };
    let data = fs.path().join("data");
    let rules = tempfile::tempdir().unwrap();
    example_rules::write_to(rules.path()).unwrap();
    drop(RulesManager::start(&data, rules.path(), &[], T0).unwrap());
    edit(rules.path(), "max_waiting = 15", "max_waiting = 16");
    let filler = fs.fill();
    let (mut m, config) = RulesManager::start(&data, rules.path(), &[], T0).unwrap();
    assert_eq!(config.version, 0);
    let sales = &config.queues[&acd_core::QueueId::from("Sales")];
    assert_eq!(sales.max_waiting.as_ref().map(|w| w.0), Some(16));
    assert!(m.store_pending());
    assert!(matches!(m.reload(T0), Reload::Refused { .. }));
    std::fs::remove_file(filler).unwrap();
    assert!(matches!(m.reload(T0), Reload::Applied(c) if c.version == 2));
    assert_eq!(history(&data), [1, 2]);
}

/// Without a store the files are all there is: files that drop a routed queue are refused as
/// they are when the store works, naming the queue, rather than started on.
#[test]
fn an_unstored_start_refuses_files_that_drop_a_routed_queue() {
    let data = tempfile::tempdir().unwrap();
    let rules = tempfile::tempdir().unwrap();
    example_rules::write_to(rules.path()).unwrap();
    block_store(data.path());
    let routed = vec!["Sales".to_string(), "Billing Desk".to_string()];
    let err = RulesManager::start(data.path(), rules.path(), &routed, T0)
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(text.contains("Billing Desk"), "{text}");
    assert!(text.contains("Not a directory"), "{text}");
}
