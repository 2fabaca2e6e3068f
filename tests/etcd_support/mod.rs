//! A real etcd for the twin tests: one member on free loopback ports with its data in a
//! temporary directory, and the rule for when there is no `etcd` binary (skip loudly, or fail
//! under `ACD_REQUIRE_ETCD=1`, as CI sets).
#![allow(dead_code)]

use crate::daemon_support::{http_get, poll, Proc, DEADLINE};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

/// Whether the test can run; prints the SKIP line when it cannot, and panics instead when
/// `ACD_REQUIRE_ETCD=1`.
pub fn etcd_or_skip(test: &str) -> bool {
    let found = Command::new("etcd")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("ACD_REQUIRE_ETCD").as_deref() != Ok("1"),
            "ACD_REQUIRE_ETCD=1 but no `etcd` binary: install etcd-server"
        );
        eprintln!(
            "\n*** SKIP {test}: no `etcd` binary on PATH (apt-get install etcd-server); \
             set ACD_REQUIRE_ETCD=1 to make this a failure ***\n"
        );
    }
    found
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A single-member etcd on free loopback ports with its data in `dir`; the process, its client
/// URL and address.
pub fn start_etcd(dir: &Path) -> (Proc, String, SocketAddr) {
    start_etcd_on(dir, free_port(), free_port())
}

/// [`start_etcd`] on given ports: the same member again, after a stop, keeps its data (and
/// its leases) when given the same directory.
pub fn start_etcd_on(dir: &Path, client: u16, peer: u16) -> (Proc, String, SocketAddr) {
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let etcd = Proc::spawn(
        "etcd",
        Command::new("etcd").args([
            "--name",
            "twin-test",
            "--data-dir",
            dir.join("etcd").to_str().unwrap(),
            "--listen-client-urls",
            &client_url,
            "--advertise-client-urls",
            &client_url,
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
            "--initial-cluster",
            &format!("twin-test={peer_url}"),
        ]),
    );
    let addr: SocketAddr = format!("127.0.0.1:{client}").parse().unwrap();
    poll(DEADLINE, "etcd to be healthy", || {
        let (status, body) = http_get(addr, "/health")?;
        (status == 200 && body.contains("true")).then_some(())
    });
    (etcd, client_url, addr)
}
