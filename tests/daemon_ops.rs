//! Operating the daemon: `/healthz` and `/readyz`, SIGTERM (drain, exit 0, the HTTP server
//! goes away), SIGHUP and the rules-directory watcher (a valid change becomes a new active
//! version, an invalid one is refused and counted while routing goes on).
//!
//! Each test runs the real `acd run` against the real `acd sim` over wss with a test CA, on
//! ephemeral loopback ports.

mod daemon_support;

use daemon_support::*;
use std::net::SocketAddr;
use std::path::Path;

const SPEED: f64 = 20.0;

/// Waits until the engine has answered more calls than `than` (it is routing).
fn wait_routing(addr: SocketAddr, than: f64) -> f64 {
    poll(DEADLINE, "the engine to route more calls", || {
        let n = answered(addr);
        (n > than).then_some(n)
    })
}

fn gauge(addr: SocketAddr, name: &str) -> Option<f64> {
    metric(addr, name, &[])
}

/// Replaces `from` by `to` in a rules file, atomically (write aside, rename over), so the
/// watcher never sees a half-written file.
fn edit_rules(rules: &Path, file: &str, from: &str, to: &str) {
    let path = rules.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no `{from}`");
    let aside = rules.parent().unwrap().join(format!("{file}.new"));
    std::fs::write(&aside, text.replace(from, to)).unwrap();
    std::fs::rename(&aside, &path).unwrap();
}

struct Running {
    _dir: tempfile::TempDir,
    _sim: Proc,
    daemon: Proc,
    addr: SocketAddr,
    rules: std::path::PathBuf,
}

/// Simulator with endless traffic plus an engine that is subscribed and has answered a call.
fn running(watch: bool) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::write(dir.path());
    let (sim, url) = start_sim(&pki, &fixtures().join("ops.toml"), SPEED, "5m");
    let rules = copy_rules(dir.path());
    let config = write_config(dir.path(), &url, &pki, &rules, watch);
    let (daemon, addr) = start_daemon(&config);
    poll(DEADLINE, "/readyz 200", || {
        (status_of(addr, "/readyz") == Some(200)).then_some(())
    });
    wait_routing(addr, 0.0);
    Running {
        _dir: dir,
        _sim: sim,
        daemon,
        addr,
        rules,
    }
}

#[test]
fn health_is_200_at_once_and_readiness_follows_the_subscription() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::write(dir.path());
    // A port nobody listens on yet: the engine starts first and keeps retrying.
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
        false,
    );
    let (mut daemon, addr) = start_daemon(&config);

    assert_eq!(status_of(addr, "/healthz"), Some(200));
    assert_eq!(status_of(addr, "/readyz"), Some(503));
    assert_eq!(gauge(addr, "acd_ready"), Some(0.0));
    // Series an alert watches are there from the first scrape, at zero.
    for kind in ["lines", "queue", "user"] {
        assert_eq!(
            metric(addr, "acd_pbx_notify_gaps_total", &[("kind", kind)]),
            Some(0.0)
        );
    }
    // The body says why, in the link's own words (here: nobody listens at that address yet).
    poll(DEADLINE, "/readyz names the link's state", || {
        http_get(addr, "/readyz")
            .filter(|(_, body)| body.starts_with("not ready: ") && body.contains("127.0.0.1"))
            .map(|_| ())
    });

    let _sim = start_sim_on(&pki, &fixtures().join("ops.toml"), SPEED, port);
    poll(DEADLINE, "/readyz 200 after the simulator came up", || {
        (status_of(addr, "/readyz") == Some(200)).then_some(())
    });
    assert_eq!(gauge(addr, "acd_ready"), Some(1.0));
    assert_eq!(status_of(addr, "/healthz"), Some(200));

    daemon.signal("TERM");
    assert!(daemon.wait_exit(DEADLINE).success());
}

#[test]
fn sigterm_drains_exits_zero_and_stops_serving() {
    let mut r = running(false);
    assert_eq!(status_of(r.addr, "/healthz"), Some(200));

    r.daemon.signal("TERM");
    let status = r.daemon.wait_exit(DEADLINE);
    assert!(
        status.success(),
        "exit {status}; stderr:\n{}",
        r.daemon.stderr_lines().join("\n")
    );
    assert_eq!(
        logged(&r.daemon, "stopping: draining in-flight commands"),
        1
    );
    assert_eq!(logged(&r.daemon, "acd stopped cleanly"), 1);
    assert_eq!(logged(&r.daemon, "drain timeout"), 0);
    assert_eq!(
        http_get(r.addr, "/healthz"),
        None,
        "the HTTP server must be gone after exit"
    );
}

/// The shared body of the SIGHUP and watcher tests: `trigger` makes the engine look again.
fn reload_cycle(r: &mut Running, trigger: impl Fn(&Proc)) {
    let addr = r.addr;
    assert_eq!(gauge(addr, "acd_rules_active_version"), Some(1.0));
    assert_eq!(gauge(addr, "acd_rules_reload_failures_total"), Some(0.0));

    // A valid change becomes version 2.
    edit_rules(
        &r.rules,
        "00-settings.toml",
        "strategy = \"longest-idle\"",
        "strategy = \"fewest-calls\"",
    );
    trigger(&r.daemon);
    poll(DEADLINE, "acd_rules_active_version 2", || {
        (gauge(addr, "acd_rules_active_version") == Some(2.0)).then_some(())
    });
    assert_eq!(gauge(addr, "acd_rules_reloads_total"), Some(1.0));
    assert_eq!(gauge(addr, "acd_rules_reload_failures_total"), Some(0.0));

    // An invalid change (unknown skill) is refused and counted; version 2 keeps running.
    edit_rules(
        &r.rules,
        "10-routes.toml",
        "requires = \"eng >= 5\"",
        "requires = \"french >= 5\"",
    );
    trigger(&r.daemon);
    poll(DEADLINE, "acd_rules_reload_failures_total 1", || {
        (gauge(addr, "acd_rules_reload_failures_total") == Some(1.0)).then_some(())
    });
    assert_eq!(gauge(addr, "acd_rules_active_version"), Some(2.0));
    assert_eq!(gauge(addr, "acd_rules_reloads_total"), Some(1.0));
    assert!(logged(&r.daemon, "routing-rules change refused") >= 1);

    // … and the engine keeps routing calls.
    let before = answered(addr);
    wait_routing(addr, before);
    assert!(r.daemon.is_running());
    assert_eq!(status_of(addr, "/readyz"), Some(200));

    r.daemon.signal("TERM");
    assert!(r.daemon.wait_exit(DEADLINE).success());
}

#[test]
fn sighup_applies_valid_rules_and_refuses_invalid_ones() {
    let mut r = running(false);
    reload_cycle(&mut r, |d| d.signal("HUP"));
    assert_eq!(
        logged(&r.daemon, "signal received"),
        3,
        "two SIGHUPs and a SIGTERM"
    );
}

#[test]
fn the_file_watcher_reloads_without_a_signal() {
    let mut r = running(true);
    reload_cycle(&mut r, |_| {});
    assert_eq!(logged(&r.daemon, "signal received"), 1, "only the SIGTERM");
}
