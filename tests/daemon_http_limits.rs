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

/// Idle connections of the crowd, as in the incident that filled the descriptor table.
const CROWD_IDLE: usize = 1_100;
/// Half-sent requests of the crowd: a request line and one header, never the blank line.
const CROWD_HALF_SENT: usize = 200;
/// The descriptor limit systemd gives a service by default.
const DAEMON_NOFILE: usize = 1_024;
/// What a probe may take: the requirement itself, not a speed target (answers take
/// milliseconds; the bound is what an orchestrator's probe would allow).
const PROBE_DEADLINE: Duration = Duration::from_secs(1);
const ROUNDS: usize = 20;

/// Lets this process hold the crowd: its soft descriptor limit raised to `needed` (the hard
/// limit too where the process may, as root in CI), or at least to the hard limit.
fn raise_own_descriptor_limit(needed: usize) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let needed_rlim = needed as libc::rlim_t;
    // SAFETY: getrlimit/setrlimit read and write only the struct given, alive for the call.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        let wanted = libc::rlimit {
            rlim_cur: limit.rlim_cur.max(needed_rlim),
            rlim_max: limit.rlim_max.max(needed_rlim),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
            limit = wanted;
        } else {
            limit.rlim_cur = limit.rlim_max;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
    assert!(
        limit.rlim_cur >= needed_rlim,
        "the test needs {needed} descriptors; the hard limit is {}",
        limit.rlim_max
    );
}

/// One connection per request, answered (any status line) within [`PROBE_DEADLINE`] or not.
fn probe(addr: SocketAddr, path: &str) -> Result<(u16, Duration), String> {
    use std::io::Read;
    let start = std::time::Instant::now();
    let left = || PROBE_DEADLINE.saturating_sub(start.elapsed());
    let mut s = TcpStream::connect_timeout(&addr, left()).map_err(|e| format!("connect: {e}"))?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: acd\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .map_err(|e| format!("send: {e}"))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let left = left();
        if left.is_zero() {
            return Err(format!("no answer within {PROBE_DEADLINE:?}"));
        }
        s.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        match s.read(&mut buf) {
            Ok(0) => return Err("closed without an answer".into()),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("no answer within {PROBE_DEADLINE:?}: {e}")),
        }
    }
    let took = start.elapsed();
    let status = String::from_utf8_lossy(&head)
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not a status line: {}", String::from_utf8_lossy(&head)))?;
    Ok((status, took))
}

/// Probes each endpoint `ROUNDS` times; every probe must be answered in time. The /readyz
/// latencies, for the report.
fn probe_rounds(addr: SocketAddr, phase: &str) -> Vec<Duration> {
    let mut readyz = Vec::new();
    let mut failures = Vec::new();
    for round in 0..ROUNDS {
        for path in ["/readyz", "/healthz", "/metrics"] {
            match probe(addr, path) {
                Ok((200, took)) => {
                    if path == "/readyz" {
                        readyz.push(took);
                    }
                }
                Ok((status, _)) => failures.push(format!("{phase} round {round} {path}: {status}")),
                Err(e) => failures.push(format!("{phase} round {round} {path}: {e}")),
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        failures.is_empty(),
        "{} probes failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    readyz
}

/// Connects the crowd: idle connections, then half-sent requests, `pace` apart. Connections
/// the server closed to make room stay held here, as a client that never looks would hold them.
fn crowd(addr: SocketAddr, pace: Duration) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(CROWD_IDLE + CROWD_HALF_SENT);
    for i in 0..CROWD_IDLE + CROWD_HALF_SENT {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("crowd connection {i}: {e}"));
        if i >= CROWD_IDLE {
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: acd\r\n");
        }
        held.push(s);
        std::thread::sleep(pace);
    }
    held
}

fn percentile(mut samples: Vec<Duration>, p: f64) -> Duration {
    samples.sort();
    let rank = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

/// The incident of issue 23 with the shipped limits: 1,100 idle connections and 200 half-sent
/// requests held against an engine whose descriptor limit is 1,024, first as a standing crowd,
/// then with a second crowd arriving while the probes run. Every `/readyz`, `/healthz` and
/// `/metrics` probe is answered within 1 s, and the engine never runs out of descriptors.
#[test]
fn probes_are_answered_under_a_crowd_of_idle_and_half_sent_connections() {
    raise_own_descriptor_limit(3 * (CROWD_IDLE + CROWD_HALF_SENT));
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::write(dir.path());
    let scenario = fixtures().join("ops.toml");
    let (_sim, url) = start_sim(&pki, &scenario, SPEED, "5m");
    let rules = copy_rules(dir.path());
    let config = write_config(dir.path(), &url, &pki, &rules, false);
    let (daemon, addr) = start_daemon(&config);
    poll(DEADLINE, "/readyz 200", || {
        (status_of(addr, "/readyz") == Some(200)).then_some(())
    });
    let limit = DAEMON_NOFILE.to_string();
    let status = Command::new("prlimit")
        .args([
            "--pid",
            &daemon.pid().to_string(),
            &format!("--nofile={limit}:{limit}"),
        ])
        .status()
        .expect("prlimit(1) is available");
    assert!(status.success());

    let standing = crowd(addr, Duration::ZERO);
    let mut readyz = probe_rounds(addr, "standing crowd");
    assert!(
        open_fds(daemon.pid()) < DAEMON_NOFILE,
        "the engine is at its descriptor limit"
    );

    // A crowd arriving over a second or two, as misconfigured scrapers or a port scan would,
    // not a flood: a flood pushes out a probe whose request is late (its client descheduled
    // between connect and send) after `max_connections` newer connections, which on a loaded
    // machine it can outrun.
    let arriving = std::thread::spawn(move || crowd(addr, Duration::from_millis(1)));
    readyz.extend(probe_rounds(addr, "arriving crowd"));
    let second = arriving.join().expect("the second crowd connects");

    assert_eq!(status_of(addr, "/readyz"), Some(200));
    assert_eq!(
        logged(&daemon, "Too many open files"),
        0,
        "{}",
        daemon.stderr_lines().join("\n")
    );
    eprintln!(
        "/readyz under the crowd: {} probes, p50 {:?}, p99 {:?}, max {:?}",
        readyz.len(),
        percentile(readyz.clone(), 0.50),
        percentile(readyz.clone(), 0.99),
        percentile(readyz, 1.0)
    );
    drop((standing, second));
}
