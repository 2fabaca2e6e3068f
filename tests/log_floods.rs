//! The engine's log stays readable when something repeats: a peer sending garbage by the
//! hundred thousand, a rule set with thousands of queues. Each repeated warning is written a
//! few times and then counted, and a long list is one line.
//!
//! Runs the real `acd run`; the flood comes from the wire tests' IP Office stand-in over
//! plain ws on loopback (allowed by the lab setting).

mod daemon_support;
mod wire_support;

use daemon_support::{copy_rules, poll, start_daemon, Proc, DEADLINE};
use std::path::{Path, PathBuf};

/// The engine's log lines (JSON) as values.
fn json_lines(daemon: &Proc) -> Vec<serde_json::Value> {
    daemon
        .stderr_lines()
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn message(line: &serde_json::Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or_default()
}

/// An `acd run` config for `endpoint` (plain ws, the lab setting on), with `rules`.
fn config(dir: &Path, endpoint: &str, rules: &Path, extra: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join("acd.toml");
    std::fs::write(
        &path,
        format!(
            "[pbx]\nendpoints = [\"{endpoint}\"]\nusername = \"{user}\"\npassword = \"{pw}\"\n\
             request_timeout = \"60s\"\n[pbx.tls]\nallow_plain_ws = true\n\
             [routing]\nrules_dir = \"{rules}\"\nwatch_rules = false\n{extra}\n\
             [storage]\ndata_dir = \"{data}\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
             [log]\nformat = \"json\"\n",
            user = wire_support::USER,
            pw = wire_support::PASSWORD,
            rules = rules.display(),
            data = dir.join("data").display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// The sum of a counter over all its label sets.
fn counter_sum(addr: std::net::SocketAddr, name: &str) -> f64 {
    let Some((200, page)) = daemon_support::http_get(addr, "/metrics") else {
        return 0.0;
    };
    page.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[test]
fn a_flood_of_bad_frames_is_logged_a_few_times_with_a_count() {
    const FRAMES: usize = 100_000;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut peer = runtime.block_on(wire_support::Peer::start(
        wire_support::PeerOptions::default(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let rules = copy_rules(dir.path());
    let config = config(dir.path(), &peer.url(false), &rules, "");
    let (mut daemon, addr) = start_daemon(&config);
    let conn = runtime.block_on(peer.accept());
    for _ in 0..FRAMES {
        // A frame header IP Office never sends.
        conn.send_raw(vec![0, 0, 0, 2, 0xde, 0xad]);
    }
    poll(DEADLINE, "every bad frame counted", || {
        (counter_sum(addr, "acd_frame_errors_total") >= FRAMES as f64).then_some(())
    });
    // Closed first: how the engine stops on a peer that never answers its websocket close is
    // not this test's subject.
    conn.drop_connection();
    daemon.signal("TERM");
    assert!(daemon.wait_exit(DEADLINE).success());

    let lines = json_lines(&daemon);
    let written = lines
        .iter()
        .filter(|l| message(l).starts_with("ignoring a bad message"))
        .count();
    let summaries: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["target"] == "acd::log_limit")
        .collect();
    let left_out: u64 = summaries
        .iter()
        .filter_map(|l| l["fields"]["suppressed"].as_u64())
        .sum();
    assert!(
        (1..=20).contains(&written),
        "{written} bad-frame lines written"
    );
    assert_eq!(written as u64 + left_out, FRAMES as u64, "{summaries:?}");
    assert!(
        summaries
            .iter()
            .all(|l| message(l).contains("ignoring a bad message")),
        "a summary quotes what it left out: {summaries:?}"
    );
    assert!(lines.len() < 100, "{} lines in all", lines.len());
}

#[test]
fn queues_the_rules_define_but_the_config_does_not_list_are_one_line() {
    const QUEUES: usize = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let mut text = String::from("[agents.2001]\nname = \"A\"\n");
    for i in 0..QUEUES {
        text.push_str(&format!("[queues.Q{i}]\nagents = [\"2001\"]\n"));
    }
    std::fs::write(rules.join("10-queues.toml"), text).unwrap();
    // Nobody listens there: the start is all this test needs.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = config(
        dir.path(),
        &format!("ws://127.0.0.1:{port}"),
        &rules,
        "queues = [\"Q0\"]",
    );
    let (mut daemon, _) = start_daemon(&config);
    daemon.wait_stderr("the unrouted queues", |l| {
        l.contains("not routed").then_some(())
    });
    daemon.signal("TERM");
    daemon.wait_exit(DEADLINE);
    let lines = json_lines(&daemon);
    let unrouted: Vec<&str> = lines
        .iter()
        .map(message)
        .filter(|m| m.contains("not routed"))
        .collect();
    assert_eq!(unrouted.len(), 1, "{} lines", unrouted.len());
    assert!(
        unrouted[0].starts_with(&format!("{} queue(s)", QUEUES - 1)),
        "{}",
        unrouted[0]
    );
    assert!(unrouted[0].len() < 1000, "{}", unrouted[0]);
}
