//! The demo's own scenario with the example rules (issue 25): the example rules are what the
//! README tells a supervisor to write, and they must not lose to IP Office's hunt groups on the
//! demo's own callers. They did: requiring the exact language and level for 30–45 s and keeping
//! the other team off for a minute answered 53 % of callers within 20 s where the hunt groups
//! as configured answered 69 %.

use std::path::Path;

use acd::study::{run_study, RunOptions, Study};

#[test]
fn the_example_rules_beat_the_hunt_groups_on_the_demos_callers() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/study-demo.toml");
    let study = Study::load(&path).unwrap();
    // Twenty hours of the demo's callers (one hour each, the demo's own length).
    let report = run_study(
        &study,
        RunOptions {
            hours: None,
            seed: None,
            seeds: Some(20),
        },
    )
    .unwrap();
    let engine = report.engine().unwrap();
    let typical = report.best_native().unwrap();
    let tuned = report.best_tuned().unwrap();
    let margin = report.tuned_margin_spread().unwrap();
    // Against the best set-up chosen per seed after the fact: no worse on average, and fewer
    // callers lost.
    assert!(
        margin.mean >= 0.0,
        "engine {:.1} % against best-tuned {:.1} %",
        engine.service_level * 100.0,
        tuned.service_level * 100.0
    );
    assert!(
        engine.lost_rate_spread.mean <= tuned.lost_rate_spread.mean,
        "lost: engine {:?}, best-tuned {:?}",
        engine.lost_rate_spread,
        tuned.lost_rate_spread
    );
    // Against the hunt groups as the demo's IP Office is configured: clearly better.
    assert!(
        engine.service_level > typical.service_level + 0.03,
        "engine {:.1} % against {} {:.1} %",
        engine.service_level * 100.0,
        typical.label,
        typical.service_level * 100.0
    );
    // And what the rules are for: the right agent, in the caller's language, more often.
    let rate = |s: &Option<acd::study::run::Spread>| s.as_ref().map_or(0.0, |s| s.mean);
    assert!(rate(&engine.right_agent_rate) > rate(&tuned.right_agent_rate));
    assert!(rate(&engine.language_match_rate) > rate(&tuned.language_match_rate) + 0.1);
}
