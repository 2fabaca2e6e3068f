//! Validates the simulator's traffic model against queueing theory: one queue distributing to
//! the longest-waiting agent, Poisson arrivals, exponential talk times, no abandons, no
//! wrap-up, instant answer. That is an M/M/c queue, so the simulated probability of waiting,
//! service level and average speed of answer must match Erlang C.

use std::path::Path;

use acd::sim::driver::{run_virtual, DriverOptions, NativeRouter};
use acd::sim::erlang;
use acd::sim::Scenario;

// Three agents at 50 % occupancy: busy periods are short relative to the run, so a million
// calls estimate ASA (the noisiest of the three figures) to about 1 % standard error, well
// inside the 2 % tolerance, and the run takes a few seconds even in a debug build.
const AGENTS: u32 = 3;
const MEAN_TALK_S: f64 = 180.0;
const OFFERED_ERLANGS: f64 = 1.5;
const CALLS: f64 = 1_000_000.0;

fn mm_c_scenario(seed: u64) -> Scenario {
    let calls_per_hour = OFFERED_ERLANGS * 3600.0 / MEAN_TALK_S;
    let mut text = format!(
        r#"
        [sim]
        seed = {seed}
        service_level_s = 20
        answer_delay = {{ dist = "fixed", s = 0 }}
        no_answer_probability = 0
        wrap_up = {{ dist = "fixed", s = 0 }}
        "#
    );
    let extns: Vec<String> = (0..AGENTS).map(|i| format!("{}", 2000 + i)).collect();
    for e in &extns {
        text += &format!("[[user]]\nextn = \"{e}\"\nname = \"Agent {e}\"\n");
    }
    let members: Vec<String> = extns.iter().map(|e| format!("\"{e}\"")).collect();
    text += &format!(
        r#"
        [[queue]]
        name = "Erlang"
        extn = "3000"
        ring_mode = "longest_waiting"
        members = [{}]
        [queue.traffic]
        calls_per_hour = {calls_per_hour}
        talk = {{ dist = "exponential", mean_s = {MEAN_TALK_S} }}
        patience = {{ dist = "never" }}
        "#,
        members.join(", ")
    );
    Scenario::from_toml_str(&text, Path::new(".")).unwrap()
}

fn within(actual: f64, expected: f64, relative: f64) -> bool {
    ((actual - expected) / expected).abs() <= relative
}

#[test]
fn mm_c_queue_matches_erlang_c_within_two_percent() {
    let mean_gap_s = MEAN_TALK_S / OFFERED_ERLANGS;
    let options = DriverOptions {
        duration_ms: (CALLS * mean_gap_s * 1000.0) as u64,
        command_latency_ms: 0,
    };
    let summary = run_virtual(&mm_c_scenario(20_240_601), NativeRouter, options).unwrap();
    let t = &summary.totals;

    let pw = erlang::probability_wait(AGENTS, OFFERED_ERLANGS);
    let sl = erlang::service_level(AGENTS, OFFERED_ERLANGS, MEAN_TALK_S, 20.0);
    let asa = erlang::average_speed_of_answer(AGENTS, OFFERED_ERLANGS, MEAN_TALK_S);
    eprintln!(
        "calls {} | P(wait) sim {:.4} erlang {:.4} | SL20 sim {:.4} erlang {:.4} | ASA sim {:.2}s erlang {:.2}s",
        t.answered, t.probability_wait, pw, t.service_level, sl, t.asa_s, asa
    );
    assert_eq!(t.abandoned, 0);
    assert!(
        t.answered > 990_000,
        "too few calls for a 2 % check: {}",
        t.answered
    );
    assert!(
        within(t.probability_wait, pw, 0.02),
        "P(wait) {} vs {pw}",
        t.probability_wait
    );
    assert!(
        within(t.service_level, sl, 0.02),
        "SL {} vs {sl}",
        t.service_level
    );
    assert!(within(t.asa_s, asa, 0.02), "ASA {} vs {asa}", t.asa_s);
}

#[test]
fn same_seed_gives_the_same_run_and_another_seed_does_not() {
    let options = DriverOptions {
        duration_ms: 6 * 3_600_000,
        command_latency_ms: 0,
    };
    let a = run_virtual(&mm_c_scenario(1), NativeRouter, options).unwrap();
    let b = run_virtual(&mm_c_scenario(1), NativeRouter, options).unwrap();
    let c = run_virtual(&mm_c_scenario(2), NativeRouter, options).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}
