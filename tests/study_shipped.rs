//! The shipped routing studies load, and their arms are comparable: every arm is offered the
//! very same callers, and the engine arm runs without refused or failed commands (a refused
//! command would mean the adapter lost track of a call, which would bias the comparison).

use std::path::Path;

use acd::study::{run_study, RunOptions, Study};

fn shipped(name: &str) -> Study {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    Study::load(&path).unwrap()
}

#[test]
fn shipped_studies_offer_every_arm_the_same_callers() {
    for name in [
        "study-single-skill.toml",
        "study-multi-skill.toml",
        "study-multi-skill-proficiency.toml",
        "study-realistic-overflow.toml",
        "study-vip-did.toml",
    ] {
        let study = shipped(name);
        let report = run_study(
            &study,
            RunOptions {
                hours: Some(4.0),
                seed: Some(7),
                seeds: Some(1),
            },
        )
        .unwrap();
        assert_eq!(report.arms.len(), study.settings.native_modes.len() + 2);
        let offered = report.arms[0].offered;
        assert!(offered > 500, "{name}: only {offered} calls in 4 h");
        for arm in &report.arms {
            assert_eq!(arm.offered, offered, "{name}: {}", arm.label);
            assert!(arm.answered > offered / 2, "{name}: {}", arm.label);
            assert!(
                (0.0..=1.0).contains(&arm.occupancy),
                "{name}: {}",
                arm.label
            );
        }
        let engine = report.engine().unwrap();
        let counters = engine.engine.as_ref().unwrap();
        assert!(counters.commands >= engine.answered, "{name}: {counters:?}");
        // A command fails only when the caller hung up while it was on its way (refused by
        // IP Office, or by the wire layer for a call gone): calls that hung up are not chased.
        let abandoned = (engine.abandon_rate * engine.offered as f64).round() as u64;
        assert!(
            counters.commands_failed <= abandoned,
            "{name}: {counters:?}, {abandoned} abandoned"
        );
    }
}

#[test]
fn another_seed_gives_other_callers() {
    let study = shipped("study-single-skill.toml");
    let run = |seed| {
        run_study(
            &study,
            RunOptions {
                hours: Some(1.0),
                seed: Some(seed),
                seeds: Some(1),
            },
        )
        .unwrap()
    };
    let (a, b, c) = (run(1), run(1), run(2));
    assert_eq!(a.arms[0].offered, b.arms[0].offered);
    assert_eq!(a.arms[4].service_level, b.arms[4].service_level);
    assert_ne!(
        (a.arms[0].offered, a.arms[0].asa_s),
        (c.arms[0].offered, c.arms[0].asa_s)
    );
}
