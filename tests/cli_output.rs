//! The `acd` command line as a shell user meets it: output piped into a reader that stops early
//! (`| head`), `--help` for every argument, and errors whose cause is printed once.

mod daemon_support;

use daemon_support::*;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};

/// Runs `acd ARGS` with stdout a pipe whose reading end is closed before `acd` writes (it is
/// closed right after the start, long before the program has loaded), like `acd … | head -0`.
fn with_closed_stdout(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let Output { status, stderr, .. } = child.wait_with_output().unwrap();
    (status, String::from_utf8_lossy(&stderr).into_owned())
}

fn assert_quiet_end(args: &[&str]) {
    let (status, stderr) = with_closed_stdout(args);
    assert!(
        status.success() || status.signal() == Some(libc_sigpipe()),
        "acd {args:?} on a closed pipe: {status}; stderr:\n{stderr}"
    );
    assert!(
        stderr.is_empty(),
        "acd {args:?} printed on a closed pipe:\n{stderr}"
    );
}

/// SIGPIPE's number on Linux (and every Unix acd targets).
fn libc_sigpipe() -> i32 {
    13
}

fn acd(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn rules_diff_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let rules = copy_rules(dir.path());
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let apply = |m: &str| {
        let out = acd(&[
            "rules",
            "apply",
            rules.to_str().unwrap(),
            "-m",
            m,
            "--data-dir",
            data,
        ]);
        assert!(out.status.success(), "{out:?}");
    };
    apply("first");
    let settings = rules.join("00-settings.toml");
    let text = std::fs::read_to_string(&settings).unwrap();
    std::fs::write(
        &settings,
        text.replace("strategy = \"longest-idle\"", "strategy = \"fewest-calls\""),
    )
    .unwrap();
    apply("second");
    assert_quiet_end(&["rules", "diff", "1", "2", "--data-dir", data]);
}

#[test]
fn wire_decode_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("msg.hex");
    std::fs::write(&file, "000000011A0C0801100118901CC202020807").unwrap();
    assert_quiet_end(&["wire", "decode", "--file", file.to_str().unwrap()]);
}

#[test]
fn study_into_a_closed_pipe_ends_quietly() {
    let study = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("study-"))
        })
        // The first by name, not by directory order: the same (small) study on every machine.
        .min()
        .expect("a shipped study file");
    let args = [
        "study",
        "--scenario",
        study.to_str().unwrap(),
        "--hours",
        "0.5",
    ];
    // The study's progress lines go to stderr whatever stdout is; nothing else may.
    let (status, stderr) = with_closed_stdout(&args);
    assert!(
        status.success() || status.signal() == Some(libc_sigpipe()),
        "acd {args:?} on a closed pipe: {status}; stderr:\n{stderr}"
    );
    let other: Vec<&str> = (stderr.lines())
        .filter(|l| !l.starts_with("acd study: "))
        .collect();
    assert!(
        other.is_empty(),
        "acd {args:?} printed on a closed pipe:\n{stderr}"
    );
}

/// Issue 24 (10): `acd study` printed nothing on stderr for 20 s and more.
#[test]
fn study_shows_its_progress_on_stderr() {
    let study = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("study-"))
        })
        .min()
        .expect("a shipped study file");
    let out = acd(&[
        "study",
        "--scenario",
        study.to_str().unwrap(),
        "--hours",
        "0.1",
        "--seeds",
        "2",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("(1 of 1) from"), "{stderr}");
    assert!(stderr.contains(": seed 1 of 2 done"), "{stderr}");
    assert!(stderr.contains(": seed 2 of 2 done"), "{stderr}");
}

/// Issue 24 (10): `acd demo --speed`'s help said the engine's timers were real, while the
/// README and the JSON summary say they share the simulated clock.
#[test]
fn demo_speed_help_says_the_engine_shares_the_simulated_clock() {
    let out = acd(&["demo", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(!help.contains("timers are real"), "{help}");
    assert!(help.contains("same simulated clock"), "{help}");
}

/// Issue 24 (10): deploy/acd.example.toml sent operators to a README section that did not
/// exist. Every `README "…"` / `README, "…"` it names must be a heading there.
#[test]
fn the_example_config_names_only_readme_sections_that_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join("deploy/acd.example.toml")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let headings: Vec<&str> = (readme.lines())
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| l.trim_start_matches('#').trim())
        .collect();
    // The comments joined, so a name broken over two lines is read whole.
    let comments: String = (example.lines())
        .filter_map(|l| l.trim_start().strip_prefix('#'))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let mut named = 0;
    for (i, _) in comments.match_indices("README") {
        let rest = &comments[i..];
        let Some(open) = rest.find('"').filter(|&o| o < 12) else {
            continue;
        };
        let Some(len) = rest[open + 1..].find('"') else {
            continue;
        };
        let section = &rest[open + 1..open + 1 + len];
        named += 1;
        assert!(
            headings.iter().any(|h| h.contains(section)),
            "the example config names README section \"{section}\", which README.md lacks"
        );
    }
    assert!(named >= 2, "{comments}");
}

#[test]
fn every_argument_has_help() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["run", "--help"], &["--config <FILE>"]),
        (&["check-connection", "--help"], &["--config <FILE>"]),
        (&["rules", "check", "--help"], &["<DIR>"]),
        (
            &["rules", "apply", "--help"],
            &["<DIR>", "--message <MESSAGE>"],
        ),
        (&["rules", "diff", "--help"], &["<A>", "<B>"]),
        (&["rules", "rollback", "--help"], &["<N>"]),
    ];
    for (args, arguments) in cases {
        let out = acd(args);
        let help = String::from_utf8_lossy(&out.stdout);
        for argument in *arguments {
            // clap prints `  <ARG>  help` or `  -m, --message <MESSAGE>  help`.
            let described = help.lines().any(|l| {
                let l = l.trim_start();
                let l = l
                    .split_once(", ")
                    .filter(|(short, _)| short.starts_with('-') && !short.contains(' '))
                    .map_or(l, |(_, long)| long);
                l.strip_prefix(argument)
                    .is_some_and(|help| !help.trim().is_empty())
            });
            assert!(
                described,
                "acd {args:?}: {argument} has no help text:\n{help}"
            );
        }
    }
}

#[test]
fn a_busy_metrics_port_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::write(dir.path());
    let rules = copy_rules(dir.path());
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let config = write_config(dir.path(), "wss://127.0.0.1:9", &pki, &rules, false);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    std::fs::write(&config, text).unwrap();

    let out = Command::new(BIN)
        .args(["run", "--config", config.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(!out.status.success());
    assert!(last.starts_with("error: cannot serve metrics"), "{stderr}");
    assert_eq!(last.matches("Address already in use").count(), 1, "{last}");
}

#[test]
fn check_connection_prints_the_tls_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("acd.toml");
    std::fs::write(
        &config,
        format!(
            "[pbx]\nendpoints = [\"wss://127.0.0.1:{port}\"]\nusername = \"acd\"\n\
             password = \"{PASSWORD}\"\nrequest_timeout = \"2s\"\n[pbx.tls]\n\
             insecure = true\npin_sha256 = \"{}\"\n",
            "ab".repeat(32)
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check-connection", "--config", config.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("verification is DISABLED"), "{stderr}");
    assert!(
        stderr.contains("insecure = true (no certificate check at all) wins"),
        "{stderr}"
    );
    // The port was free a moment ago; another test may have taken it since, so the failure is
    // "unreachable" or a failed handshake: what matters here is that the warnings come first.
    assert!(stderr.contains("connection check failed"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
}
