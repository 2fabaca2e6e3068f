//! What the daemon writes to stderr when an operator turns logging all the way up: never the
//! IP Office password (neither clear nor as the Base64 `user:password` of Basic auth), in text
//! or JSON, and no terminal colour codes when stderr is a pipe (as under journald).
//!
//! Runs the real `acd run` at `RUST_LOG=trace` against the real `acd sim` over wss, so the
//! websocket upgrade (where the credential travels) really happens.

mod daemon_support;

use base64::Engine as _;
use daemon_support::*;
use std::net::SocketAddr;
use std::process::Command;

/// Runs the engine with `rust_log` in `format` until it is subscribed, stops it, and returns
/// everything it wrote.
fn trace_run(format: &str, rust_log: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::write(dir.path());
    let (_sim, url) = start_sim(&pki, &fixtures().join("ops.toml"), 20.0, "2m");
    let rules = copy_rules(dir.path());
    let config = write_config(dir.path(), &url, &pki, &rules, false);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("format = \"json\"", &format!("format = \"{format}\""));
    std::fs::write(&config, text).unwrap();

    let mut daemon = Proc::spawn(
        "acd run",
        Command::new(BIN)
            .args(["run", "--config", config.to_str().unwrap()])
            .env("RUST_LOG", rust_log),
    );
    let addr: SocketAddr = daemon.wait_stderr("the metrics address", |l| {
        if !l.contains("serving /metrics") {
            return None;
        }
        let rest = &l[l.find("127.0.0.1:")?..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
            .unwrap_or(rest.len());
        rest[..end].parse().ok()
    });
    poll(DEADLINE, "/readyz 200 (connected and subscribed)", || {
        (status_of(addr, "/readyz") == Some(200)).then_some(())
    });
    daemon.signal("TERM");
    assert!(daemon.wait_exit(DEADLINE).success());
    let mut all = daemon.stderr_lines();
    all.extend(daemon.stdout_lines());
    all.join("\n")
}

fn assert_no_credentials(output: &str) {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    assert!(
        output.contains("tungstenite"),
        "expected trace output from the websocket library"
    );
    for secret in [PASSWORD, basic.as_str()] {
        let leak = output.lines().find(|l| l.contains(secret));
        assert!(leak.is_none(), "`{secret}` appears in the log: {leak:?}");
    }
}

#[test]
fn trace_logs_in_text_show_no_credentials_and_no_colours_on_a_pipe() {
    let output = trace_run("text", "trace");
    assert_no_credentials(&output);
    assert!(
        !output.contains('\u{1b}'),
        "ANSI escape codes in a log written to a pipe"
    );
    // Values as an operator writes them, not as Rust's Debug prints them.
    let start = output
        .lines()
        .find(|l| l.contains("acd starting"))
        .expect("the start line");
    assert!(start.contains("endpoints=wss://127.0.0.1:"), "{start}");
    assert!(!start.contains("[\""), "{start}");
}

#[test]
fn trace_logs_in_json_show_no_credentials() {
    assert_no_credentials(&trace_run("json", "trace"));
}

#[test]
fn a_directive_naming_the_header_dumping_target_cannot_lift_the_cap() {
    let output = trace_run(
        "text",
        "info,tungstenite::handshake::client=trace,tungstenite=trace",
    );
    assert_no_credentials(&output);
    assert!(
        !output.contains("Request: "),
        "the upgrade request was logged"
    );
}
