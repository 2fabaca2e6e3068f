//! One source of truth for the running rules, end to end: the real `acd run` watching a rules
//! directory, and the real `acd rules rollback | history | diff` beside it.
//!
//! The sequence this guards once undid a rollback silently: apply an edit (version 2), roll
//! back to version 1, then add one comment line in the directory. The rollback used to change
//! only the store, so the comment was applied on top of version 2's files and version 2's
//! content ran again. Now the rollback writes version 1's files back, and the engine runs
//! version 1 plus the comment.
//!
//! What the engine runs is read from its own `/metrics` (the rules version, and the Sales
//! service-level threshold the edit changes) and from the running record it keeps in the
//! store, which `acd rules history` shows. No IP Office is needed for any of it: the engine
//! reloads rules whether or not its link is up.

mod daemon_support;

use daemon_support::*;
use std::path::Path;
use std::process::Command;

fn gauge(addr: std::net::SocketAddr, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metric(addr, name, labels)
}

/// `acd rules ARGS --config CONFIG`: exit code and stdout.
fn rules_cli(config: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .arg("rules")
        .args(args)
        .args(["--config", config.to_str().unwrap()])
        .env_remove("ACD_DATA_DIR")
        .env_remove("ACD_RULES_DIR")
        .output()
        .expect("acd runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

/// Writes `text` to `file` in `rules` atomically, so the watcher never sees half a file.
fn write_rule_file(rules: &Path, file: &str, text: &str) {
    let aside = rules.parent().unwrap().join(format!("{file}.new"));
    std::fs::write(&aside, text).unwrap();
    std::fs::rename(&aside, rules.join(file)).unwrap();
}

/// Waits until the engine runs `version` with the Sales service-level threshold `threshold_s`.
fn wait_running(addr: std::net::SocketAddr, version: f64, threshold_s: f64) {
    poll(
        DEADLINE,
        &format!("the engine to run version {version} with a {threshold_s}s threshold"),
        || {
            let v = gauge(addr, "acd_rules_active_version", &[])?;
            let t = gauge(
                addr,
                "acd_queue_service_level_threshold_seconds",
                &[("queue", "Sales")],
            )?;
            (v == version && t == threshold_s).then_some(())
        },
    );
}

/// The history line of `version`.
fn history_line(history: &str, version: u64) -> Option<String> {
    history
        .lines()
        .find(|l| l.get(2..9).map(str::trim) == Some(&version.to_string()))
        .map(str::to_string)
}

#[test]
fn an_edit_after_a_rollback_builds_on_the_rolled_back_files_in_the_running_engine() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::write(dir.path());
    // Nobody listens there: the engine keeps retrying the link, which rules reloads ignore.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rules = copy_rules(dir.path());
    let config = write_config(
        dir.path(),
        &format!("wss://127.0.0.1:{port}"),
        &pki,
        &rules,
        true,
    );
    let (mut daemon, addr) = start_daemon(&config);
    wait_running(addr, 1.0, 20.0);
    let v1_settings = std::fs::read_to_string(rules.join("00-settings.toml")).unwrap();
    let v1_routes = std::fs::read_to_string(rules.join("10-routes.toml")).unwrap();

    // Version 2: a longer service-level threshold, saved in the watched directory.
    assert!(v1_settings.contains("service_level = [\"20s\", \"25s\"]"));
    write_rule_file(
        &rules,
        "00-settings.toml",
        &v1_settings.replace(
            "service_level = [\"20s\", \"25s\"]",
            "service_level = [\"30s\", \"35s\"]",
        ),
    );
    wait_running(addr, 2.0, 30.0);

    // Roll back to version 1 with the CLI while the engine runs.
    let (code, out) = rules_cli(&config, &["rollback", "1"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("rolled back: version 3 is active, with the content of version 1"),
        "{out}"
    );
    // The directory holds version 1's files again, and the engine runs them as version 3.
    assert_eq!(
        std::fs::read_to_string(rules.join("00-settings.toml")).unwrap(),
        v1_settings
    );
    assert_eq!(
        std::fs::read_to_string(rules.join("10-routes.toml")).unwrap(),
        v1_routes
    );
    wait_running(addr, 3.0, 20.0);
    let history = poll(DEADLINE, "history to mark version 3 running", || {
        let (_, h) = rules_cli(&config, &["history"]);
        history_line(&h, 3)
            .is_some_and(|l| l.starts_with('*') && l.contains("[running since"))
            .then_some(h)
    });
    assert!(
        history.contains("holds the active version's files"),
        "{history}"
    );

    // One added comment line: the engine must now run version 1 plus the comment, not 2.
    write_rule_file(
        &rules,
        "10-routes.toml",
        &format!("{v1_routes}# reviewed after the rollback\n"),
    );
    wait_running(addr, 4.0, 20.0);
    let (code, diff) = rules_cli(&config, &["diff", "1", "4"]);
    assert_eq!(code, 0, "{diff}");
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect();
    assert_eq!(changed, ["+# reviewed after the rollback"], "{diff}");
    let history = poll(DEADLINE, "history to mark version 4 running", || {
        let (_, h) = rules_cli(&config, &["history"]);
        history_line(&h, 4)
            .is_some_and(|l| l.starts_with('*') && l.contains("[running since"))
            .then_some(h)
    });
    assert!(
        !history_line(&history, 3).unwrap().contains("running"),
        "{history}"
    );
    assert_eq!(logged(&daemon, "routing-rules change refused"), 0);

    daemon.signal("TERM");
    assert!(daemon.wait_exit(DEADLINE).success());
}
