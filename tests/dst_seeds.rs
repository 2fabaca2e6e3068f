//! The deterministic simulation of the real path, as part of the test suite: a few hundred
//! seeds of faults against the engine's own connection and routing loop (CI runs thousands
//! with `acd dst` on a release build), and the same seed twice gives the same trace.

use acd::dst::cli::{run_cli, DstOptions, KnownFailures};
use acd::dst::{run_plan, run_seed, Plan, Setup};

fn known() -> KnownFailures {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dst-known-failures.txt"),
    )
    .unwrap();
    KnownFailures::parse(&text).unwrap()
}

/// Each seed runs to its end with every invariant holding (the trace's last lines on failure).
fn every_seed_holds(seeds: &[u64]) {
    let setup = Setup::shipped().unwrap();
    for &seed in seeds {
        let report = run_seed(&setup, seed, 40);
        assert_eq!(
            report.outcome,
            Ok(()),
            "seed {seed}: {:?}",
            report.last_lines
        );
    }
}

#[test]
fn two_hundred_seeds_hold_every_invariant() {
    let summary = run_cli(&DstOptions {
        start: 1,
        seeds: 200,
        trace: false,
        check_determinism: false,
        jobs: 2,
        known: known(),
    })
    .unwrap();
    assert!(
        summary.failed.is_empty(),
        "seeds failed: {:?} (replay each with `acd dst --seed S --trace`)",
        summary.failed
    );
    assert!(summary.steps > 100_000, "the worlds did run: {summary:?}");
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let setup = Setup::shipped().unwrap();
    for seed in [3, 10, 22] {
        let a = run_seed(&setup, seed, 10);
        let b = run_seed(&setup, seed, 10);
        assert_eq!(a.trace_hash, b.trace_hash, "seed {seed}");
        assert!(a.frames > 100, "seed {seed} exchanged frames");
    }
}

#[test]
fn a_seed_of_the_start_up_race_holds_its_invariant() {
    // Seed 1: the engine starts while callers wait, and the agents' user notifies trail the
    // queue's snapshot; before the fix the caller went to voicemail (no-false-exit).
    let setup = Setup::shipped().unwrap();
    let report = run_seed(&setup, 1, 10);
    assert_eq!(report.outcome, Ok(()), "{:?}", report.last_lines);
}

#[test]
fn the_primary_fails_with_calls_queued_on_both_systems_and_the_secondarys_go_on_being_routed() {
    // Seed 38: live-live against a primary and a secondary, 5 callers waiting on the primary
    // and 12 on the secondary when the primary fails (7 and 10 before issue 24's stream of
    // hang-ups while ringing and forwards joined its plan, 6 and 10 before issue 25's
    // example rules). The primary's callers are cut off with
    // it; the secondary's must be routed over the secondary's link, which never went down.
    // By offers: the seed's draw of collective delivery (issue 25, a stream of its own) is set
    // aside, since this test counts the engine's transfers on the secondary.
    let setup = Setup::shipped().unwrap();
    let mut plan = Plan::draw(38, setup.traffic_ms);
    plan.collective = None;
    let report = run_plan(&setup, 38, plan, 1_000_000);
    assert_eq!(report.outcome, Ok(()), "{:?}", report.last_lines);
    let lines = &report.last_lines;
    let failed = lines
        .iter()
        .position(|l| l.contains("calls waiting when the primary fails"))
        .expect("the seed's plan has the primary fail");
    // The counts follow the example rules' routing before the failure (6 and 10 before issue
    // 25 rewrote them, 5 and 12 since): what matters is callers waiting on both.
    let waiting = |system: &str| -> u32 {
        let line = &lines[failed];
        let at = line
            .find(&format!(" on the {system}"))
            .unwrap_or_else(|| panic!("{line}"));
        let digits: String = line[..at]
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        digits.parse().unwrap_or_else(|_| panic!("{line}"))
    };
    assert!(
        waiting("primary") >= 3 && waiting("secondary") >= 5,
        "{}",
        lines[failed]
    );
    let back = lines[failed..]
        .iter()
        .position(|l| l.contains("the primary IP Office is back"))
        .map_or(lines.len(), |i| failed + i);
    let routed_on_secondary = lines[failed..back]
        .iter()
        .filter(|l| {
            l.contains("Transfer { call: CallId(72057594037") && l.contains("target: Agent")
        })
        .count();
    assert!(
        routed_on_secondary >= 5,
        "secondary calls routed while the primary was down: {routed_on_secondary}"
    );
}

#[test]
fn hot_twins_with_reporting_queues_hold_their_invariants() {
    // Each failed before the fixes of issue 24 (item 11), all a hot twin with reporting queues
    // (`pbx.ephemeral_queues = false`) and late notifies: a new leader re-offering a call that
    // rang at its predecessor's agent (1138, 1444, 2511, 2937: no-double-transfer), a caller
    // who hung up while ringing kept for the 300 s orphan grace and offered again (2452), and
    // an answered call sent back to the queue after a restart because the queue's report of
    // the answer was ignored (706: counters-match-truth; 2547: liveness).
    every_seed_holds(&[706, 1138, 1444, 2452, 2511, 2547, 2937]);
}

#[test]
fn calls_sent_into_a_forward_and_calls_ringing_by_another_engine_hold_their_invariants() {
    // Each was listed in dst-known-failures.txt before these fixes:
    // - 804097 (one engine) and 7720 (a pair and a twin), reporting queues: the engine's transfer
    //   met a forward switched on too late to be known, the call went to voicemail, and the
    //   engine chased it for 40 s and 136 s after it had ended (no-transfer-of-a-gone-call);
    // - 3629, ephemeral queues: the call left the queue for the leader's transfer and no phone
    //   ever showed it; kept for the 300 s orphan grace and transferred 104.9 s after its end;
    // - 2131 (a twin) and 6909 (a pair and a twin): a call rang at an agent because of the other
    //   engine's transfer while this engine still believed it waiting, and offered it again
    //   (no-double-transfer); 2131 also had the paused leader's frame, already written, held
    //   back by the simulation until it woke.
    every_seed_holds(&[804097, 7720, 3629, 2131, 6909]);
}

#[test]
fn hang_ups_during_short_rings_storms_and_lost_exit_results_hold_their_invariants() {
    // Found by this session's invariants and storms (issue 24), each failing before its fix:
    // - 1096 (a pair and a twin), 3036 and 7536 (reporting queues): a caller who hung up during
    //   a ring too short for the agent's notify to show was kept for the 20 s transfer grace, and
    //   the ring timer blamed the agent (no-ring-no-answer-after-hang-up);
    // - 3476: an exit to Support whose result was lost left the call shown queueing in Support
    //   by Sales's reporting subscription, taken as waiting in Sales and never routed (liveness);
    // - 9820: the ring timer's return, sent once a termination storm ended, moved a call the
    //   agent had answered back into the queue (counters-match-truth).
    every_seed_holds(&[1096, 3036, 7536, 3476, 9820]);
}

#[test]
fn termination_storms_are_met_with_a_backoff() {
    // Seeds whose plan has IP Office terminate every subscription as soon as it is made, for a
    // while (issue 24, item 3): the subscribe-rate invariant and every other hold.
    let setup = Setup::shipped().unwrap();
    let mut storms = 0;
    for seed in 1..=12 {
        let report = run_seed(&setup, seed, 1_000_000);
        assert_eq!(
            report.outcome,
            Ok(()),
            "seed {seed}: {:?}",
            report.last_lines
        );
        if report.plan.contains("terminates every subscription made") {
            storms += 1;
        }
    }
    assert!(storms >= 3, "the seeds' plans have storms: {storms}");
}
