//! Idle clients of the metrics port must not take the engine down.
//!
//! In production 1,100 half-open `GET /metrics` connections used up the process's file
//! descriptors: `/readyz` hung, the reconnect to IP Office failed with "Too many open files".
//! Here the real `acd run` gets a small descriptor limit (prlimit) and a small connection
//! limit; the test holds more idle connections than both allow, restarts the simulator so the
//! engine must open a new socket, and expects it to reconnect, answer `/readyz` and route.
//! Loopback only, a bounded number of connections, every wait under a deadline.

mod daemon_support;

use daemon_support::*;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

const SPEED: f64 = 20.0;
/// Connections the test leaves idle: more than the descriptors the daemon has to spare.
const IDLE: usize = 40;
/// Descriptors above what the running daemon already uses.
const SPARE_FDS: usize = 16;

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Half of them send the start of a request and stop, half send nothing.
fn idle_connections(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .filter_map(|i| {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
            if i % 2 == 0 {
                let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: acd\r\n");
            }
            Some(s)
        })
        .collect()
}

#[test]
fn idle_metrics_connections_do_not_stop_reconnecting_or_routing() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::write(dir.path());
    let scenario = fixtures().join("ops.toml");
    let (sim, url) = start_sim(&pki, &scenario, SPEED, "5m");
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let rules = copy_rules(dir.path());
    let config = write_config(dir.path(), &url, &pki, &rules, false);
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "listen = \"127.0.0.1:0\"",
        "listen = \"127.0.0.1:0\"\nmax_connections = 4\nheader_read_timeout = \"1s\"\n\
         idle_timeout = \"2s\"",
    );
    std::fs::write(&config, text).unwrap();
    let (daemon, addr) = start_daemon(&config);
    poll(DEADLINE, "/readyz 200", || {
        (status_of(addr, "/readyz") == Some(200)).then_some(())
    });

    // Few descriptors to spare, as on a host whose limit the scrapers reached.
    let base = open_fds(daemon.pid());
    let limit = base + SPARE_FDS;
    let status = Command::new("prlimit")
        .args([
            "--pid",
            &daemon.pid().to_string(),
            &format!("--nofile={limit}:{limit}"),
        ])
        .status()
        .expect("prlimit(1) is available");
    assert!(status.success());

    let held = idle_connections(addr, IDLE);
    assert!(
        held.len() > SPARE_FDS,
        "only {} connections opened",
        held.len()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        open_fds(daemon.pid()) <= base + 4,
        "the HTTP server holds more connections than its limit"
    );

    // IP Office goes away and comes back: the engine needs a new socket to reconnect.
    drop(sim);
    poll(DEADLINE, "/readyz 503 after the simulator stopped", || {
        (status_of(addr, "/readyz") == Some(503)).then_some(())
    });
    let _sim = start_sim_on(&pki, &scenario, SPEED, port);
    poll(DEADLINE, "/readyz 200 after the reconnect", || {
        (status_of(addr, "/readyz") == Some(200)).then_some(())
    });
    assert_eq!(status_of(addr, "/healthz"), Some(200));
    let before = answered(addr);
    poll(DEADLINE, "the engine to route after the reconnect", || {
        (answered(addr) > before).then_some(())
    });
    assert_eq!(
        logged(&daemon, "Too many open files"),
        0,
        "{}",
        daemon.stderr_lines().join("\n")
    );
    drop(held);
}
