//! Collective delivery (issue 25) when the engine dies: `acd run` delivers Sales collectively
//! against `acd sim` over wss, enabling the hunt group's members while the first caller waits,
//! and is killed (SIGKILL) while that call rings. IP Office keeps the members enabled and rings
//! them for every later caller, with no engine at all: the simulator's own account shows all of
//! them answered. With offers (members disabled, the README's set-up) nobody would have been.

mod daemon_support;

use daemon_support::*;
use std::time::Duration;

const SPEED: f64 = 8.0;
/// Calls in tests/fixtures/e2e/collective/calls.csv: one while the engine runs, three after.
const CALLS: u64 = 4;

#[test]
fn members_the_engine_enabled_keep_answering_after_it_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::write(dir.path());
    let fixture = fixtures().join("collective");
    // 100 s of virtual time: the last caller (at 60 s) is answered 20 s after it rings.
    let (mut sim, url) = start_sim(&pki, &fixture.join("scenario.toml"), SPEED, "13s");
    let config = write_config(dir.path(), &url, &pki, &fixture.join("rules"), false);
    let (mut daemon, addr) = start_daemon(&config);

    // Both members enabled (IP Office accepted both changes) while the first caller waits.
    poll(DEADLINE, "the engine to enable both members", || {
        let enabled = metric(
            addr,
            "acd_commands_total",
            &[("kind", "set_queue_member"), ("result", "success")],
        )?;
        (enabled >= 2.0).then_some(())
    });
    let answered_before = answered(addr);
    daemon.signal("KILL");
    daemon.wait_exit(DEADLINE);
    assert_eq!(
        answered_before, 0.0,
        "killed while the first caller rang (an answer would have emptied the queue and the \
         engine disabled the members again)"
    );

    let status = sim.wait_exit(Duration::from_secs(60));
    assert!(status.success());
    let line = sim
        .stdout_lines()
        .pop()
        .expect("the simulator printed its summary");
    let summary: acd::sim::SimSummary = serde_json::from_str(&line).unwrap();
    let sales = &summary.queues["Sales"];
    assert_eq!(sales.offered, CALLS, "{line}");
    assert_eq!(
        sales.answered, CALLS,
        "every caller answered, three of them with no engine running: {line}"
    );
    assert_eq!(sales.abandoned, 0, "{line}");
    let commands = &summary.observed.commands;
    assert!(
        !commands.contains_key("blind_transfer"),
        "IP Office rang the members, the engine transferred nothing: {commands:?}"
    );
}
