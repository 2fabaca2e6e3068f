//! Shared plumbing for the daemon integration tests: a test CA, the real `acd sim` and
//! `acd run` processes on ephemeral loopback ports, their logs, a tiny HTTP client for
//! `/metrics`, `/healthz` and `/readyz`, and polling with deadlines instead of sleeps.
//!
//! Everything runs the compiled binary, as an operator would, so signals, exit codes and the
//! HTTP server's lifetime are the real ones.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_acd");
pub const USER: &str = "acd";
pub const PASSWORD: &str = "e2e-secret";
/// Generous: a debug build on a loaded 2-core machine.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/e2e")
}

/// Polls `f` every 50 ms until it returns `Some`, or panics with `what` after `limit`.
pub fn poll<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A test CA and a server certificate for 127.0.0.1 and localhost signed by it, as PEM files.
pub struct Pki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    pub fn write(dir: &Path) -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "acd e2e test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "simulated IP Office");
        let cert = params.signed_by(&key, &ca).unwrap();
        let pki = Pki {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        };
        std::fs::write(&pki.ca, ca.pem()).unwrap();
        std::fs::write(&pki.cert, cert.pem()).unwrap();
        std::fs::write(&pki.key, key.serialize_pem()).unwrap();
        pki
    }
}

/// A child process whose stdout and stderr lines are collected as they come.
pub struct Proc {
    pub name: &'static str,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn collect(
    stream: impl Read + Send + 'static,
) -> (Arc<Mutex<Vec<String>>>, std::thread::JoinHandle<()>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let handle = std::thread::spawn(move || {
        // The simulator redraws its status line with '\r'; split on both.
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        while reader
            .read_until(b'\n', &mut buf)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            let text = String::from_utf8_lossy(&buf);
            let mut out = sink.lock().unwrap();
            out.extend(
                text.split(['\r', '\n'])
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string),
            );
            buf.clear();
        }
    });
    (lines, handle)
}

impl Proc {
    pub fn spawn(name: &'static str, cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let (stdout, h1) = collect(child.stdout.take().unwrap());
        let (stderr, h2) = collect(child.stderr.take().unwrap());
        Proc {
            name,
            child,
            stdout,
            stderr,
            readers: vec![h1, h2],
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Waits for a stderr line for which `f` gives a value.
    pub fn wait_stderr<T>(&mut self, what: &str, mut f: impl FnMut(&str) -> Option<T>) -> T {
        let name = self.name;
        let lines = self.stderr.clone();
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(v) = lines.lock().unwrap().iter().find_map(|l| f(l)) {
                return v;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{name} exited ({status}) before {what}; stderr:\n{}",
                    lines.lock().unwrap().join("\n")
                );
            }
            assert!(
                Instant::now() < end,
                "{name}: timed out waiting for {what}; stderr:\n{}",
                lines.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal by name (TERM, HUP, INT) to this process only.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args(["-s", sig, &self.pid().to_string()])
            .status()
            .expect("kill(1) is available");
        assert!(status.success(), "kill -s {sig} {} failed", self.pid());
    }

    /// Waits for the process to exit on its own; panics after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let name = self.name;
        let status = poll(limit, &format!("{name} to exit"), || {
            self.child.try_wait().unwrap()
        });
        for h in self.readers.drain(..) {
            let _ = h.join();
        }
        status
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `acd sim --cert --key` on an ephemeral port; returns the process and its `wss://host:port`.
pub fn start_sim(pki: &Pki, scenario: &Path, speed: f64, duration: &str) -> (Proc, String) {
    let mut sim = Proc::spawn(
        "acd sim",
        Command::new(BIN).args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--scenario",
            scenario.to_str().unwrap(),
            "--speed",
            &speed.to_string(),
            "--duration",
            duration,
            "--cert",
            pki.cert.to_str().unwrap(),
            "--key",
            pki.key.to_str().unwrap(),
        ]),
    );
    let url = sim.wait_stderr("the simulator's address", |l| {
        let rest = l.split("IP Office simulator on ").nth(1)?;
        let rest = rest.trim().strip_suffix("/tpkt/openapi")?;
        Some(rest.to_string())
    });
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");
    (sim, url)
}

/// `acd sim` on a port chosen in advance (for tests that start the engine first).
pub fn start_sim_on(pki: &Pki, scenario: &Path, speed: f64, port: u16) -> Proc {
    let mut sim = Proc::spawn(
        "acd sim",
        Command::new(BIN).args([
            "sim",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--scenario",
            scenario.to_str().unwrap(),
            "--speed",
            &speed.to_string(),
            "--duration",
            "5m",
            "--cert",
            pki.cert.to_str().unwrap(),
            "--key",
            pki.key.to_str().unwrap(),
        ]),
    );
    sim.wait_stderr("the simulator to listen", |l| {
        l.contains("IP Office simulator on").then_some(())
    });
    sim
}

/// A rules directory the test may edit: a copy of the fixture ruleset.
pub fn copy_rules(to: &Path) -> PathBuf {
    let dir = to.join("routing-rules");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(fixtures().join("rules")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    dir
}

/// Writes an `acd run` config for `endpoint` (trusting the test CA) and returns its path.
pub fn write_config(dir: &Path, endpoint: &str, pki: &Pki, rules: &Path, watch: bool) -> PathBuf {
    let text = format!(
        r#"
[pbx]
endpoints = ["{endpoint}"]
username = "{USER}"
password = "{PASSWORD}"
request_timeout = "5s"

[pbx.tls]
ca_file = "{ca}"

[routing]
queues = ["Sales"]
rules_dir = "{rules}"
watch_rules = {watch}

[storage]
data_dir = "{data}"

[metrics]
listen = "127.0.0.1:0"

[log]
format = "json"
level = "info"

[shutdown]
drain_timeout = "3s"
"#,
        ca = pki.ca.display(),
        rules = rules.display(),
        data = dir.join("data").display(),
    );
    let path = dir.join("acd.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `acd run --config FILE`; returns the process and the address of its HTTP server, read from
/// its own log line (the config asks for port 0).
pub fn start_daemon(config: &Path) -> (Proc, SocketAddr) {
    let mut daemon = Proc::spawn(
        "acd run",
        Command::new(BIN)
            .args(["run", "--config", config.to_str().unwrap()])
            .env_remove("RUST_LOG"),
    );
    let addr = daemon.wait_stderr("the metrics address", |l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        let fields = v.get("fields")?;
        if !fields
            .get("message")?
            .as_str()?
            .starts_with("serving /metrics")
        {
            return None;
        }
        fields.get("addr")?.as_str()?.parse().ok()
    });
    (daemon, addr)
}

/// One HTTP/1.1 GET; `None` when the server cannot be reached.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

pub fn status_of(addr: SocketAddr, path: &str) -> Option<u16> {
    http_get(addr, path).map(|(s, _)| s)
}

/// The value of one sample in Prometheus text format: `name` with exactly these labels.
pub fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let mut found: Vec<(String, String)> = label_text
                .split(',')
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.to_string(), v.trim_matches('"').to_string()))
                })
                .collect();
            found.sort();
            let mut want: Vec<(String, String)> = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            want.sort();
            (found == want).then(|| value.parse().ok()).flatten()
        })
}

/// Scrapes `/metrics` and reads one sample (`None` if unreachable or absent).
/// Calls the engine counted answered in the fixture's Sales queue.
pub fn answered(addr: SocketAddr) -> f64 {
    metric(
        addr,
        "acd_queue_calls_answered_total",
        &[("queue", "Sales")],
    )
    .unwrap_or(0.0)
}

pub fn metric(addr: SocketAddr, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let (status, page) = http_get(addr, "/metrics")?;
    if status != 200 {
        return None;
    }
    sample(&page, name, labels)
}

/// Log lines (JSON) whose message contains `text`.
pub fn logged(proc_: &Proc, text: &str) -> usize {
    proc_
        .stderr_lines()
        .iter()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["fields"]["message"].as_str().map(|m| m.contains(text)))
                .unwrap_or(false)
        })
        .count()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_samples_with_and_without_labels() {
        let page = "# HELP x y\nacd_rules_active_version 3\n\
                    acd_queue_calls_offered_total{queue=\"Sales\"} 14\n";
        assert_eq!(
            super::sample(page, "acd_rules_active_version", &[]),
            Some(3.0)
        );
        assert_eq!(
            super::sample(page, "acd_queue_calls_offered_total", &[("queue", "Sales")]),
            Some(14.0)
        );
        assert_eq!(
            super::sample(
                page,
                "acd_queue_calls_offered_total",
                &[("queue", "Support")]
            ),
            None
        );
    }
}
