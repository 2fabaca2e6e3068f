//! `acd sim` fails and restores the primary of a resilient pair on a schedule: while failed
//! the primary refuses connections, the secondary goes on accepting,
//! and once restored the primary accepts again. The real binary over loopback.

mod daemon_support;

use daemon_support::*;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

/// Whether the simulator keeps a fresh connection open (waiting for the websocket upgrade)
/// rather than closing it at once, as a failed system does.
fn accepts(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut))
}

fn address_after(line: &str, marker: &str) -> Option<SocketAddr> {
    let rest = line.split(marker).nth(1)?;
    let rest = rest
        .trim_start_matches("ws://")
        .trim_start_matches("wss://");
    rest.split(['/', ',', ' ']).next()?.parse().ok()
}

#[test]
fn the_primary_fails_and_comes_back_on_schedule() {
    let mut sim = Proc::spawn(
        "acd sim",
        Command::new(BIN).args([
            "sim",
            "--plain",
            "--listen",
            "127.0.0.1:0",
            "--secondary-listen",
            "127.0.0.1:0",
            "--duration",
            "60s",
            "--fail-primary-at",
            "5s",
            "--restore-primary-at",
            "10s",
        ]),
    );
    let secondary = sim.wait_stderr("the secondary's address", |l| {
        address_after(l, "its secondary on ")
    });
    let primary = sim.wait_stderr("the primary's address", |l| {
        address_after(l, "IP Office simulator on ")
    });
    assert!(accepts(primary), "the primary refuses before its failure");

    sim.wait_stderr("the primary to fail", |l| {
        l.contains("the primary fails").then_some(())
    });
    // New connections are refused while the secondary serves (the websockets open at the
    // failure are dropped too: `sim_session`'s live-live test).
    assert!(
        !accepts(primary),
        "the failed primary accepted a connection"
    );
    assert!(
        accepts(secondary),
        "the secondary refused while the primary was down"
    );

    sim.wait_stderr("the primary to come back", |l| {
        l.contains("the primary is back").then_some(())
    });
    assert!(accepts(primary), "the restored primary refuses connections");
    sim.signal("INT");
    assert!(sim.wait_exit(DEADLINE).success());
}

#[test]
fn failing_the_primary_needs_a_secondary() {
    let out = Command::new(BIN)
        .args([
            "sim",
            "--plain",
            "--listen",
            "127.0.0.1:0",
            "--fail-primary-at",
            "5s",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--secondary-listen"), "{err}");
}
