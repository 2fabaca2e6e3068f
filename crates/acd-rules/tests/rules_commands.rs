//! `acd rules apply / history / diff / rollback` end to end on a real sled store, plus the
//! daemon-side `load_active` staying on the last good version when the files break.

use acd_core::Timestamp;
use acd_rules::commands;
use std::path::Path;

fn copy_example(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../routing-rules");
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from:?} not in {file}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

// 2025-06-02 08:00:00 UTC
const T0: u64 = 1_748_851_200_000;

#[test]
fn apply_history_diff_rollback() {
    let data = tempfile::tempdir().unwrap();
    let rules = tempfile::tempdir().unwrap();
    copy_example(rules.path());

    let out = commands::history(data.path(), None);
    assert_eq!(out.text, "no rules applied yet\n");

    let out = commands::apply(data.path(), rules.path(), Some("initial"), Timestamp(T0));
    assert_eq!(out.exit_code, 0, "{}", out.text);
    assert!(
        out.text
            .starts_with("applied version 1 (4 file(s), sha256 "),
        "{}",
        out.text
    );

    let out = commands::apply(data.path(), rules.path(), None, Timestamp(T0 + 1));
    assert_eq!(out.exit_code, 0);
    assert_eq!(
        out.text,
        "unchanged: the files are identical to active version 1\n"
    );

    edit(
        rules.path(),
        "20-queues.toml",
        "max_waiting = 15",
        "max_waiting = 17",
    );
    let out = commands::apply(
        data.path(),
        rules.path(),
        Some("more room in Sales"),
        Timestamp(T0 + 60_000),
    );
    assert!(out.text.starts_with("applied version 2"), "{}", out.text);

    // Broken files are refused and leave version 2 active.
    edit(
        rules.path(),
        "30-routes.toml",
        "requires = \"eng >= 6 AND sales >= 5\"",
        "requires = \"eng >= 6 AND sails >= 5\"",
    );
    let out = commands::apply(
        data.path(),
        rules.path(),
        Some("typo"),
        Timestamp(T0 + 120_000),
    );
    assert_eq!(out.exit_code, 1);
    assert!(out.text.contains("unknown skill `sails`"), "{}", out.text);
    assert!(out
        .text
        .ends_with("not applied: the active version is unchanged\n"));
    let store = commands::open_store(data.path()).unwrap();
    let (config, record) = commands::load_active(&store).unwrap().unwrap();
    drop(store);
    assert_eq!(record.number, 2);
    assert_eq!(config.version, 2);
    let sales = &config.queues[&acd_core::QueueId::from("Sales")];
    assert_eq!(sales.max_waiting.as_ref().map(|m| m.0), Some(17));

    let out = commands::history(data.path(), None);
    let lines: Vec<&str> = out.text.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.text);
    assert!(
        lines[1].starts_with("        1  2025-06-02 08:00:00  "),
        "{}",
        out.text
    );
    assert!(lines[1].ends_with("  initial"));
    assert!(
        lines[2].starts_with("*       2  2025-06-02 08:01:00  "),
        "{}",
        out.text
    );
    assert!(lines[2].ends_with("  more room in Sales"));

    let out = commands::diff(data.path(), 1, 2);
    assert_eq!(out.exit_code, 0);
    assert!(
        out.text
            .starts_with("--- v1/20-queues.toml\n+++ v2/20-queues.toml\n@@ "),
        "{}",
        out.text
    );
    assert!(out.text.contains("\n-max_waiting = 15 "), "{}", out.text);
    assert!(out.text.contains("\n+max_waiting = 17 "), "{}", out.text);
    assert_eq!(
        out.text
            .lines()
            .filter(|l| l.starts_with('-') || l.starts_with('+'))
            .count(),
        4
    );

    let out = commands::diff(data.path(), 1, 9);
    assert_eq!(out.exit_code, 1);

    // The directory still holds the refused typo: a rollback would lose it, so it is refused
    // and names the file, and history says so too.
    let out = commands::history(data.path(), Some(rules.path()));
    assert!(
        out.text
            .contains("has unapplied edits: 30-routes.toml (changed)"),
        "{}",
        out.text
    );
    let out = commands::rollback(data.path(), rules.path(), 1, false, Timestamp(T0 + 150_000));
    assert_eq!(out.exit_code, 1, "{}", out.text);
    assert!(
        out.text.contains("30-routes.toml (changed)") && out.text.contains("--discard-unapplied"),
        "{}",
        out.text
    );
    assert!(commands::history(data.path(), None)
        .text
        .contains("*       2  "));

    let out = commands::rollback(data.path(), rules.path(), 1, true, Timestamp(T0 + 180_000));
    assert_eq!(out.exit_code, 0, "{}", out.text);
    assert!(
        out.text
            .contains("rolled back: version 3 is active, with the content of version 1\n"),
        "{}",
        out.text
    );
    // The discarded typo is kept, and the directory now holds version 1's files exactly.
    let saved = data
        .path()
        .join("discarded-rules/2025-06-02-08-03-00/30-routes.toml");
    assert!(std::fs::read_to_string(saved)
        .unwrap()
        .contains("sails >= 5"));
    let store = commands::open_store(data.path()).unwrap();
    let v1 = acd_store::RulesStore::get(&store, 1).unwrap().unwrap();
    drop(store);
    assert_eq!(acd_rules::read_dir(rules.path()).unwrap(), v1.files);
    let out = commands::history(data.path(), Some(rules.path()));
    assert!(
        out.text.contains("holds the active version's files"),
        "{}",
        out.text
    );
    let out = commands::diff(data.path(), 1, 3);
    assert_eq!(out.text, "versions 1 and 3 have identical files\n");
    let out = commands::history(data.path(), None);
    assert!(
        out.text.contains("*       3  2025-06-02 08:03:00  "),
        "{}",
        out.text
    );
    assert!(out.text.contains("rollback to version 1"));

    let out = commands::rollback(data.path(), rules.path(), 7, false, Timestamp(T0));
    assert_eq!(out.exit_code, 1);

    let store = commands::open_store(data.path()).unwrap();
    let (config, _) = commands::load_active(&store).unwrap().unwrap();
    assert_eq!(config.version, 3);
    let sales = &config.queues[&acd_core::QueueId::from("Sales")];
    assert_eq!(sales.max_waiting.as_ref().map(|m| m.0), Some(15));
}

#[test]
fn check_reports_unreadable_directory() {
    let out = commands::check(Path::new("/nonexistent/rules"));
    assert_eq!(out.exit_code, 2);
    assert!(out.text.starts_with("error: cannot read rules directory"));
}

#[test]
fn format_utc_known_dates() {
    assert_eq!(commands::format_utc(Timestamp(0)), "1970-01-01 00:00:00");
    assert_eq!(commands::format_utc(Timestamp(T0)), "2025-06-02 08:00:00");
    assert_eq!(
        commands::format_utc(Timestamp(951_782_400_000)),
        "2000-02-29 00:00:00"
    );
}

#[test]
fn corrupted_store_says_what_to_do_and_rebuild_store_recovers() {
    let data = tempfile::tempdir().unwrap();
    let rules = tempfile::tempdir().unwrap();
    copy_example(rules.path());
    let out = commands::apply(data.path(), rules.path(), Some("initial"), Timestamp(T0));
    assert_eq!(out.exit_code, 0, "{}", out.text);
    let store = commands::store_path(data.path());
    std::fs::write(store.join("conf"), "scribbled over by a bad disk\n").unwrap();

    let out = commands::history(data.path(), None);
    assert_eq!(out.exit_code, 2, "{}", out.text);
    assert!(
        out.text.contains(&format!(
            "the rules store at {} is corrupted",
            store.display()
        )),
        "{}",
        out.text
    );
    assert!(
        out.text
            .contains("acd rules rebuild-store RULES_DIR --data-dir"),
        "{}",
        out.text
    );
    assert_eq!(
        out.text.matches("corrupted").count(),
        1,
        "said once: {}",
        out.text
    );

    let out = commands::rebuild_store(data.path(), rules.path(), Timestamp(T0 + 1));
    assert_eq!(out.exit_code, 0, "{}", out.text);
    assert!(out.text.contains("version 1 holds"), "{}", out.text);
    assert!(
        out.text.contains("the damaged store was moved to"),
        "{}",
        out.text
    );
    let aside = data.path().join("rules.corrupted-2025-06-02-08-00-00");
    assert!(aside.join("conf").exists(), "{}", out.text);

    let out = commands::history(data.path(), None);
    assert_eq!(out.exit_code, 0, "{}", out.text);
    assert!(out.text.contains("rebuilt from"), "{}", out.text);

    // A healthy store is not thrown away.
    let out = commands::rebuild_store(data.path(), rules.path(), Timestamp(T0 + 2));
    assert_eq!(out.exit_code, 1, "{}", out.text);
    assert!(out.text.contains("use `acd rules apply`"), "{}", out.text);
}

#[test]
fn apply_waits_while_another_process_holds_the_store() {
    let data = tempfile::tempdir().unwrap();
    let rules = tempfile::tempdir().unwrap();
    copy_example(rules.path());
    // Stands in for the engine or a second `acd rules` command: sled's lock is per open file,
    // so a second handle in this process meets it exactly as another process would.
    let holder = commands::open_store(data.path()).unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(400));
        drop(holder);
    });
    let out = commands::apply(data.path(), rules.path(), Some("while busy"), Timestamp(T0));
    release.join().unwrap();
    assert_eq!(out.exit_code, 0, "{}", out.text);
    assert!(out.text.starts_with("applied version 1"), "{}", out.text);
}

#[test]
fn explain_with_dir_shows_the_real_version_and_says_widen() {
    let data = tempfile::tempdir().unwrap();
    let rules = tempfile::tempdir().unwrap();
    copy_example(rules.path());
    let call: Vec<String> = ["queue=Sales", "language=deu", "time=10:00", "waited=45s"]
        .map(String::from)
        .to_vec();
    let explain = || commands::explain(data.path(), Some(rules.path()), &call, Timestamp(T0));

    let out = explain();
    assert_eq!(out.exit_code, 0, "{}", out.text);
    assert!(
        out.text
            .contains("rules version: 1 if applied (no version applied yet)"),
        "{}",
        out.text
    );
    assert!(
        out.text.contains("widen to sales OR support  (in force)"),
        "{}",
        out.text
    );

    let applied = commands::apply(data.path(), rules.path(), None, Timestamp(T0));
    assert_eq!(applied.exit_code, 0, "{}", applied.text);
    let out = explain();
    assert!(
        out.text
            .contains("rules version: 1 (active; identical files)"),
        "{}",
        out.text
    );

    edit(
        rules.path(),
        "20-queues.toml",
        "max_waiting = 15",
        "max_waiting = 17",
    );
    let out = explain();
    assert!(
        out.text
            .contains("rules version: 2 if applied (not applied yet; active is 1)"),
        "{}",
        out.text
    );

    let out = commands::explain(data.path(), None, &call, Timestamp(T0));
    assert!(
        out.text.contains("rules version: 1 (active)"),
        "{}",
        out.text
    );
}

/// Issue 24 (9): `language = "german"` passed `check` ("rules OK") and `apply` stored it.
#[test]
fn a_route_that_can_never_match_is_refused_by_check_and_apply() {
    let data = tempfile::tempdir().unwrap();
    let rules = tempfile::tempdir().unwrap();
    copy_example(rules.path());
    let out = commands::apply(data.path(), rules.path(), None, Timestamp(T0));
    assert_eq!(out.exit_code, 0, "{}", out.text);
    edit(
        rules.path(),
        "30-routes.toml",
        "language = \"deu\"",
        "language = \"german\"",
    );
    let out = commands::check(rules.path());
    assert_eq!(out.exit_code, 1, "{}", out.text);
    assert!(out.text.contains("did you mean \"deu\""), "{}", out.text);
    assert!(out.text.contains("rules NOT OK"), "{}", out.text);
    let out = commands::apply(data.path(), rules.path(), None, Timestamp(T0 + 1));
    assert_eq!(out.exit_code, 1, "{}", out.text);
    assert!(out.text.contains("not applied"), "{}", out.text);
    let out = commands::history(data.path(), None);
    assert!(
        !out.text.contains("\n  2 ") && !out.text.contains("* 2"),
        "{}",
        out.text
    );
}

/// Issue 24 (10): `rules rollback 2` was refused as "unapplied edits" while the directory held
/// exactly version 2's files: edits some version already stores are not lost by a rollback.
#[test]
fn rollback_compares_the_directory_with_stored_content_not_with_history() {
    let data = tempfile::tempdir().unwrap();
    let rules = tempfile::tempdir().unwrap();
    copy_example(rules.path());
    let apply = |at| commands::apply(data.path(), rules.path(), None, Timestamp(T0 + at));
    assert_eq!(apply(0).exit_code, 0);
    edit(
        rules.path(),
        "20-queues.toml",
        "max_waiting = 15",
        "max_waiting = 16",
    );
    assert_eq!(apply(1).exit_code, 0);
    let out = commands::rollback(data.path(), rules.path(), 1, false, Timestamp(T0 + 2));
    assert_eq!(out.exit_code, 0, "{}", out.text);
    // The supervisor puts version 2's content back by hand, byte for byte.
    edit(
        rules.path(),
        "20-queues.toml",
        "max_waiting = 15",
        "max_waiting = 16",
    );
    let out = commands::rollback(data.path(), rules.path(), 2, false, Timestamp(T0 + 3));
    assert_eq!(out.exit_code, 0, "{}", out.text);
    assert!(!out.text.contains("discarded"), "{}", out.text);
    // Genuinely new edits are still protected.
    edit(
        rules.path(),
        "20-queues.toml",
        "max_waiting = 16",
        "max_waiting = 18",
    );
    let out = commands::rollback(data.path(), rules.path(), 1, false, Timestamp(T0 + 4));
    assert_eq!(out.exit_code, 1, "{}", out.text);
    assert!(
        out.text.contains("edits that are not applied"),
        "{}",
        out.text
    );
}
