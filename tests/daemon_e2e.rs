//! End to end: `acd sim --cert --key` plays IP Office over wss with a certificate from a test
//! CA, `acd run` connects to it trusting that CA (`tls.ca_file`) and routes a fixed trace of
//! 14 calls (tests/fixtures/e2e) with the fixture ruleset. The simulator's own account, not the
//! engine's, shows that German callers were answered only by German speakers and English
//! callers only by English speakers, that an escalation step raised a priority with
//! SetPriority, that the engine ended each answered call's reporting with Finish, and that
//! every command succeeded; the engine's /metrics agree with the
//! simulator's summary once the traffic has ended.

mod daemon_support;

use daemon_support::*;
use std::collections::BTreeMap;

const SPEED: f64 = 20.0;
/// Calls in tests/fixtures/e2e/calls.csv, by language; one German caller abandons by design.
const GERMAN_CALLS: u64 = 8;
const ENGLISH_CALLS: u64 = 6;
const ABANDONED: u64 = 1;

/// Sum of a counter over every label set whose labels include `with`.
fn sum_where(page: &str, name: &str, with: &[(&str, &str)]) -> f64 {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, labels) = series.split_once('{').unwrap_or((series, ""));
            if metric != name {
                return None;
            }
            let all = with
                .iter()
                .all(|(k, v)| labels.contains(&format!("{k}=\"{v}\"")));
            all.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

fn queue_counter(page: &str, what: &str) -> u64 {
    let name = format!("acd_queue_calls_{what}_total");
    sample(page, &name, &[("queue", "Sales")]).unwrap_or(0.0) as u64
}

#[test]
fn calls_are_routed_by_skill_escalated_and_counted_alike_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::write(dir.path());
    let (mut sim, url) = start_sim(&pki, &fixtures().join("e2e.toml"), SPEED, "5m");
    let rules = copy_rules(dir.path());
    let config = write_config(dir.path(), &url, &pki, &rules, false);
    // Reporting (non-ephemeral) queue subscriptions: IP Office follows each call until the
    // engine is done with it and says so with Finish.
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("request_timeout = \"5s\""));
    std::fs::write(
        &config,
        text.replace(
            "request_timeout = \"5s\"",
            "request_timeout = \"5s\"\nephemeral_queues = false",
        ),
    )
    .unwrap();
    let (mut daemon, addr) = start_daemon(&config);

    // The trace ends after 14 calls; wait until the engine has seen every one of them end
    // (answered or abandoned), so nothing is in progress when the two sides are compared.
    let total = GERMAN_CALLS + ENGLISH_CALLS;
    let page = poll(DEADLINE, "the engine to account for all 14 calls", || {
        let page = http_get(addr, "/metrics")?.1;
        let done = queue_counter(&page, "answered") + queue_counter(&page, "abandoned");
        (done == total).then_some(page)
    });
    assert!(
        logged(&daemon, "connected to IP Office") >= 1,
        "the engine connected over wss trusting the test CA"
    );

    daemon.signal("TERM");
    assert!(daemon.wait_exit(DEADLINE).success());
    sim.signal("INT");
    assert!(sim.wait_exit(DEADLINE).success());
    let line = sim
        .stdout_lines()
        .pop()
        .expect("the simulator printed its summary");
    let summary: acd::sim::SimSummary = serde_json::from_str(&line).unwrap();
    let simulated = &summary.queues["Sales"];
    let observed = &summary.observed;

    // The traffic really ended: nothing in progress on the simulator's side either.
    assert_eq!(simulated.offered, total, "{line}");
    assert_eq!(simulated.in_progress, 0, "{line}");
    assert_eq!(simulated.abandoned, ABANDONED, "{line}");

    // The engine's counters agree with IP Office's.
    assert_eq!(queue_counter(&page, "offered"), simulated.offered, "{page}");
    assert_eq!(
        queue_counter(&page, "answered"),
        simulated.answered,
        "{page}"
    );
    assert_eq!(
        queue_counter(&page, "abandoned"),
        simulated.abandoned,
        "{page}"
    );
    assert_eq!(
        queue_counter(&page, "overflowed"),
        simulated.overflowed,
        "{page}"
    );

    // Each service-level threshold of the rules (20 s, 25 s) is an exact histogram bucket.
    for le in ["20", "25"] {
        let within = sample(
            &page,
            "acd_queue_answer_wait_seconds_bucket",
            &[("queue", "Sales"), ("le", le)],
        );
        assert!(
            within.is_some_and(|n| n <= simulated.answered as f64),
            "no bucket at {le} s: {page}"
        );
    }

    // Routed by skill, as the simulator saw who answered what.
    let by_lang = |lang: &str| -> BTreeMap<String, u64> {
        observed
            .answered_by_language
            .get(lang)
            .cloned()
            .unwrap_or_default()
    };
    let german = by_lang("deu");
    let english = by_lang("eng");
    assert!(
        german.keys().all(|a| a == "2001" || a == "2002"),
        "German callers answered by non-German agents: {german:?}"
    );
    assert!(
        english.keys().all(|a| a == "2003" || a == "2004"),
        "English callers answered by non-English agents: {english:?}"
    );
    assert_eq!(german.values().sum::<u64>(), GERMAN_CALLS - ABANDONED);
    assert_eq!(english.values().sum::<u64>(), ENGLISH_CALLS);
    assert_eq!(
        observed.answered_by_language.len(),
        2,
        "{:?}",
        observed.answered_by_language
    );

    // Every call was answered after the engine's transfer, and IP Office accepted every
    // command (result code 0).
    let commands = &observed.commands;
    for (action, results) in commands {
        assert_eq!(
            results.keys().copied().collect::<Vec<_>>(),
            [0],
            "{action} refused: {results:?}"
        );
    }
    let received = |action: &str| commands.get(action).and_then(|r| r.get(&0)).copied();
    assert_eq!(received("blind_transfer"), Some(simulated.answered));
    // Once an agent answered, the engine was done with the call and ended its reporting.
    assert_eq!(received("finish"), Some(simulated.answered), "{commands:?}");

    // The VIP caller's escalation step raised its priority: one SetPriority reached IP Office,
    // and the engine counts the steps it applied (priority, then widen).
    assert_eq!(received("set_priority"), Some(1), "{commands:?}");
    assert_eq!(
        sum_where(
            &page,
            "acd_commands_total",
            &[("kind", "set_priority"), ("result", "success")]
        ),
        1.0,
        "{page}"
    );
    assert_eq!(
        sample(&page, "acd_routing_decisions_total", &[("kind", "step")]),
        Some(2.0),
        "{page}"
    );
    assert_eq!(
        sum_where(
            &page,
            "acd_commands_total",
            &[("kind", "transfer"), ("result", "success")]
        ),
        simulated.answered as f64,
        "{page}"
    );
}
