//! Secrets stay secret whoever edits the files around the engine: a supervisor who may edit the
//! rules directory cannot make `acd rules check` or the engine's reload print the IP Office
//! password (a symlink to the password file or to the process's environment), and the config
//! file's checks never echo a credential (a password in the address, a password of the wrong
//! type) and refuse an unencrypted `ws://` address unless a lab setting allows it.
//!
//! Runs the real `acd` binary; the reload test runs `acd run` against the real `acd sim`.

mod daemon_support;

use daemon_support::*;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What a command printed, stdout and stderr together.
fn printed(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A password file beside (not in) the rules directory.
fn password_file(dir: &Path) -> PathBuf {
    let path = dir.join("pbx-password");
    std::fs::write(&path, format!("{PASSWORD}\n")).unwrap();
    path
}

fn rules_check(rules: &Path) -> Output {
    Command::new(BIN)
        .args(["rules", "check", rules.to_str().unwrap()])
        .env("ACD_PBX_PASSWORD", PASSWORD)
        .output()
        .unwrap()
}

#[test]
fn rules_check_never_prints_the_password_file_or_the_environment() {
    for (name, target) in [
        ("99-password.toml", None),
        ("99-env.toml", Some(PathBuf::from("/proc/self/environ"))),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let rules = copy_rules(dir.path());
        let target = target.unwrap_or_else(|| password_file(dir.path()));
        symlink(&target, rules.join(name)).unwrap();
        let out = rules_check(&rules);
        let text = printed(&out);
        assert!(
            !text.contains(PASSWORD),
            "{name}: the secret is printed:\n{text}"
        );
        assert!(!out.status.success(), "{name}: accepted:\n{text}");
        assert!(text.contains(name), "{name}: not named:\n{text}");
        assert!(!text.contains("rules OK"), "{text}");
    }
}

#[test]
fn rules_check_reports_links_to_nothing_loops_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let rules = copy_rules(dir.path());
    symlink("gone.toml.orig", rules.join("50-dangling.toml")).unwrap();
    symlink("51-loop.toml", rules.join("51-loop.toml")).unwrap();
    std::fs::create_dir(rules.join("52-dir.toml")).unwrap();
    let out = rules_check(&rules);
    let text = printed(&out);
    assert!(!out.status.success(), "accepted:\n{text}");
    for name in ["50-dangling.toml", "51-loop.toml", "52-dir.toml"] {
        assert!(text.contains(name), "{name} not named:\n{text}");
    }
    assert!(!text.contains("rules OK"), "{text}");
}

#[test]
fn a_reload_never_logs_the_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::write(dir.path());
    let (_sim, url) = start_sim(&pki, &fixtures().join("ops.toml"), 20.0, "2m");
    let rules = copy_rules(dir.path());
    let config = write_config(dir.path(), &url, &pki, &rules, false);
    let (mut daemon, addr) = start_daemon(&config);
    poll(DEADLINE, "rules version 1", || {
        (metric(addr, "acd_rules_active_version", &[]) == Some(1.0)).then_some(())
    });

    symlink(password_file(dir.path()), rules.join("99-password.toml")).unwrap();
    daemon.signal("HUP");
    poll(DEADLINE, "the reload refused", || {
        (metric(addr, "acd_rules_reload_failures_total", &[]) == Some(1.0)).then_some(())
    });
    assert_eq!(metric(addr, "acd_rules_active_version", &[]), Some(1.0));
    daemon.signal("TERM");
    assert!(daemon.wait_exit(DEADLINE).success());
    let log = daemon.stderr_lines().join("\n");
    let leak = log.lines().find(|l| l.contains(PASSWORD));
    assert!(leak.is_none(), "the password is logged: {leak:?}");
    assert!(log.contains("99-password.toml"), "{log}");
}

/// A password file the way it should be: private to the engine's user.
fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A config file for `acd check-connection` / `acd run` with `pbx` lines of the test's own,
/// written with `mode`.
fn config_with(dir: &Path, pbx: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join("acd.toml");
    let text = format!(
        "[pbx]\nusername = \"acd\"\nrequest_timeout = \"2s\"\n{pbx}\n\
         [storage]\ndata_dir = \"{data}\"\n[routing]\nrules_dir = \"{rules}\"\n\
         [metrics]\nlisten = \"127.0.0.1:0\"\n",
        data = dir.join("data").display(),
        rules = copy_rules(dir).display(),
    );
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// Runs `acd COMMAND --config FILE` until it exits (within the deadline).
fn run_with(command: &str, config: &Path) -> (Option<i32>, String) {
    let mut proc_ = Proc::spawn(
        "acd",
        Command::new(BIN)
            .args([command, "--config", config.to_str().unwrap()])
            .env_remove("RUST_LOG")
            .env_remove("ACD_PBX_PASSWORD"),
    );
    let status = proc_.wait_exit(DEADLINE);
    let mut all = proc_.stderr_lines();
    all.extend(proc_.stdout_lines());
    (status.code(), all.join("\n"))
}

/// A loopback port nobody listens on (free a moment ago).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_password_in_the_address_is_refused_without_echoing_it() {
    let port = closed_port();
    for command in ["check-connection", "run"] {
        let dir = tempfile::tempdir().unwrap();
        let config = config_with(
            dir.path(),
            &format!(
                "endpoints = [\"wss://acd:{PASSWORD}@127.0.0.1:{port}\"]\npassword_file = \"pw\""
            ),
            0o600,
        );
        write_private(&dir.path().join("pw"), "other");
        let (code, text) = run_with(command, &config);
        assert_ne!(code, Some(0), "{command}: accepted:\n{text}");
        assert!(!text.contains(PASSWORD), "{command}: echoed:\n{text}");
        assert!(text.contains("pbx.endpoints"), "{command}:\n{text}");
    }
}

#[test]
fn a_password_of_the_wrong_type_is_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(
        dir.path(),
        &format!(
            "endpoints = [\"wss://127.0.0.1:{}\"]\npassword = 98765432",
            closed_port()
        ),
        0o600,
    );
    for command in ["check-connection", "run"] {
        let (code, text) = run_with(command, &config);
        assert_ne!(code, Some(0), "{command}: accepted:\n{text}");
        assert!(!text.contains("98765432"), "{command}: echoed:\n{text}");
        assert!(
            text.contains("password"),
            "{command}: the key is not named:\n{text}"
        );
    }
}

#[test]
fn plain_ws_is_refused_unless_the_lab_setting_allows_it_and_then_warned_at_start() {
    let port = closed_port();
    let endpoint = format!("endpoints = [\"ws://127.0.0.1:{port}\"]\npassword_file = \"pw\"");
    for command in ["check-connection", "run"] {
        let dir = tempfile::tempdir().unwrap();
        write_private(&dir.path().join("pw"), PASSWORD);
        let config = config_with(dir.path(), &endpoint, 0o600);
        let (code, text) = run_with(command, &config);
        assert_ne!(code, Some(0), "{command}: ws:// accepted:\n{text}");
        assert!(
            text.contains("allow_plain_ws"),
            "{command}: no way out named:\n{text}"
        );
        assert!(!text.contains(PASSWORD), "{text}");
    }
    // Allowed for a lab: check-connection goes on (to a closed port), warning first.
    let dir = tempfile::tempdir().unwrap();
    write_private(&dir.path().join("pw"), PASSWORD);
    let config = config_with(
        dir.path(),
        &format!("{endpoint}\n[pbx.tls]\nallow_plain_ws = true"),
        0o600,
    );
    let (code, text) = run_with("check-connection", &config);
    assert_eq!(code, Some(1), "{text}");
    let warning = text.lines().find(|l| l.contains("UNENCRYPTED"));
    assert!(warning.is_some_and(|w| w.contains("WARN")), "{text}");
    assert!(text.contains("connection check failed"), "{text}");
    // … and so does the engine, at its start.
    let mut daemon = Proc::spawn(
        "acd run",
        Command::new(BIN)
            .args(["run", "--config", config.to_str().unwrap()])
            .env_remove("RUST_LOG"),
    );
    daemon.wait_stderr("the unencrypted warning", |l| {
        (l.contains("WARN") && l.contains("UNENCRYPTED")).then_some(())
    });
    daemon.signal("TERM");
    daemon.wait_exit(DEADLINE);
}

#[test]
fn an_inline_password_in_a_config_others_can_read_is_warned_about() {
    let port = closed_port();
    let pbx = format!("endpoints = [\"wss://127.0.0.1:{port}\"]\npassword = \"{PASSWORD}\"");
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(dir.path(), &pbx, 0o644);
    let (_, text) = run_with("check-connection", &config);
    let warning = text.lines().find(|l| l.contains("chmod 600"));
    assert!(warning.is_some(), "no warning:\n{text}");
    assert!(warning.unwrap().contains("acd.toml"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let config = config_with(dir.path(), &pbx, 0o600);
    let (_, text) = run_with("check-connection", &config);
    assert!(
        !text.contains("chmod 600"),
        "a private file warned about:\n{text}"
    );
}
