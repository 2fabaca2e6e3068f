//! The engine and its data directory, over the real `acd run` and `acd sim`: a second engine
//! on the same data directory is refused (both used to route), and a data directory remounted
//! read-only does not stop the engine from starting and routing (it used to exit 2).
//!
//! The read-only case mounts a real tiny tmpfs and needs root (CI); it skips loudly elsewhere
//! (`ACD_REQUIRE_TINY_FS=1` makes the skip a failure).

mod daemon_support;

// Shared with the store's own disk tests; this file does not fill the disk.
#[allow(dead_code)]
#[path = "../crates/acd-store/tests/support/tiny_fs.rs"]
mod tiny_fs;

use daemon_support::*;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tiny_fs::TinyFs;

const SPEED: f64 = 20.0;

fn routing(addr: SocketAddr) {
    poll(DEADLINE, "/readyz 200", || {
        (status_of(addr, "/readyz") == Some(200)).then_some(())
    });
    poll(DEADLINE, "the engine to answer a call", || {
        (answered(addr) > 0.0).then_some(())
    });
}

fn start(config: &Path) -> (Proc, SocketAddr) {
    let (daemon, addr) = start_daemon(config);
    routing(addr);
    (daemon, addr)
}

#[test]
fn a_second_engine_on_the_same_data_directory_is_refused_and_the_first_routes_on() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::write(dir.path());
    let (_sim, url) = start_sim(&pki, &fixtures().join("ops.toml"), SPEED, "5m");
    let rules = copy_rules(dir.path());
    let config = write_config(dir.path(), &url, &pki, &rules, false);
    let (first, addr) = start(&config);

    let mut second = Proc::spawn(
        "second acd run",
        Command::new(BIN)
            .args(["run", "--config", config.to_str().unwrap()])
            .env_remove("RUST_LOG"),
    );
    let status = second.wait_exit(DEADLINE);
    let stderr = second.stderr_lines().join("\n");
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("another engine is already running on the data directory"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("pid {}", first.pid())), "{stderr}");
    // The first engine never noticed.
    let before = answered(addr);
    poll(DEADLINE, "the first engine to route on", || {
        (answered(addr) > before).then_some(())
    });
    assert_eq!(status_of(addr, "/readyz"), Some(200));
}

#[test]
fn a_read_only_data_directory_at_start_still_routes_and_says_why() {
    let Some(fs) = TinyFs::mount(
        "16m",
        "a_read_only_data_directory_at_start_still_routes_and_says_why",
    ) else {
        return;
    };
    let dir = fs.path();
    let pki = Pki::write(dir);
    let (_sim, url) = start_sim(&pki, &fixtures().join("ops.toml"), SPEED, "5m");
    let rules = copy_rules(dir);
    let config = write_config(dir, &url, &pki, &rules, false);
    // A first run stores version 1 and stops cleanly.
    let (mut first, _) = start(&config);
    first.signal("TERM");
    assert!(first.wait_exit(DEADLINE).success());

    fs.remount("ro");
    let (daemon, addr) = start(&config);
    assert_eq!(metric(addr, "acd_rules_store_writable", &[]), Some(0.0));
    assert_eq!(metric(addr, "acd_rules_active_version", &[]), Some(1.0));
    let store_lines: Vec<String> = daemon
        .stderr_lines()
        .into_iter()
        .filter(|l| l.contains("the rules store"))
        .collect();
    assert!(
        store_lines
            .iter()
            .any(|l| l.contains("Read-only file system")),
        "{store_lines:#?}"
    );
    fs.remount("rw");
    // The engine records what it runs by itself (the worker's retry), and says so.
    poll(
        Duration::from_secs(45),
        "the store to be writable again",
        || (metric(addr, "acd_rules_store_writable", &[]) == Some(1.0)).then_some(()),
    );
}
