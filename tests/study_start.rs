//! The study at a real date, with real rules: a calendar that is closed at night sends the
//! study's calls to night service unless the study starts in opening hours, and says so; with
//! `start` it measures routing, per queue and per route; `--rules DIR` swaps the rules.

use std::path::Path;

use acd::study::report::markdown;
use acd::study::{run_study, RunOptions, Study, StudyReport};

/// Three agents, English and German callers, a Berlin calendar open on weekdays 08:00-18:00.
const STUDY: &str = r#"
[study]
name = "calendar"
hours = 3
native_modes = ["longest_waiting"]

[sim]
seed = 11
service_level_s = 20
answer_delay = { dist = "fixed", s = 2 }
wrap_up = { dist = "fixed", s = 5 }

[[user]]
extn = "2001"
name = "A"

[[user]]
extn = "2002"
name = "B"

[[user]]
extn = "2003"
name = "C"

[[queue]]
name = "Service"
extn = "3001"
ring_mode = "longest_waiting"
no_answer_s = 15
members = ["2001", "2002", "2003"]

[queue.traffic]
calls_per_hour = 60
talk = { dist = "fixed", s = 120 }
patience = { dist = "exponential", mean_s = 120 }
languages = [{ value = "eng", weight = 1 }, { value = "deu", weight = 1 }]

[rules.settings]
time_zone = "Europe/Berlin"
default_wrap_up = "0s"

[rules.skills]
eng = "English"
deu = "German"

[rules.agents.2001]
skills = { eng = 5, deu = 5 }

[rules.agents.2002]
skills = { eng = 5 }

[rules.agents.2003]
skills = { deu = 5 }

[rules.queues.Service]
service_level = ["20s"]
agents = ["2001", "2002", "2003"]

[rules.queues.Service.calendar]
open = ["Mon-Fri 08:00-18:00"]
night = "voicemail:Service"

[[rules.routes]]
name = "English"
queue = "Service"
language = "eng"
requires = "eng"

[[rules.routes]]
name = "German"
queue = "Service"
language = "deu"
requires = "deu"
"#;

fn study(start: Option<&str>) -> Study {
    let text = match start {
        Some(s) => STUDY.replace("hours = 3\n", &format!("hours = 3\nstart = \"{s}\"\n")),
        None => STUDY.to_string(),
    };
    Study::from_toml_str(&text, Path::new("calendar.toml"), Path::new(".")).unwrap()
}

fn run(study: &Study) -> StudyReport {
    run_study(study, RunOptions::default()).unwrap()
}

fn outcomes(report: &StudyReport) -> acd::study::outcomes::Outcomes {
    report
        .engine()
        .and_then(|a| a.engine.as_ref())
        .map(|e| e.outcomes.clone())
        .unwrap()
}

#[test]
fn without_a_start_the_calendar_sends_calls_to_night_service_and_the_study_warns() {
    // Virtual time 0 is 1970-01-01 01:00 in Berlin, a Thursday night: closed for 7 hours.
    let report = run(&study(None));
    let o = outcomes(&report);
    assert!(o.night_share > 0.9, "{o:?}");
    let md = markdown(&report);
    assert!(md.contains("**WARNING: "), "{md}");
    assert!(
        md.contains("use --start") || md.contains("Use --start"),
        "{md}"
    );
    assert!(md.contains("1970-01-01 00:00:00 UTC (no --start)"), "{md}");
}

#[test]
fn a_start_in_opening_hours_measures_routing_per_queue_and_per_route() {
    let report = run(&study(Some("2026-12-07T08:00")));
    let o = outcomes(&report);
    assert_eq!(o.night, 0, "{o:?}");
    let md = markdown(&report);
    assert!(!md.contains("WARNING"), "{md}");
    // Monday 08:00 in Berlin is 07:00 UTC.
    assert!(
        md.contains("virtual time starts 2026-12-07 07:00:00 UTC"),
        "{md}"
    );
    assert_eq!(o.queues.len(), 1);
    let queue = &o.queues[0];
    assert!(queue.offered > 100, "{queue:?}");
    assert!(queue.answered > queue.offered / 2, "{queue:?}");
    let names: Vec<&str> = o.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Service / English", "Service / German"], "{o:?}");
    // Every call that ended did so under one of the routes.
    let ended: u64 = o.routes.iter().map(|r| r.offered).sum();
    assert_eq!(
        ended,
        queue.answered + queue.abandoned + queue.overflowed,
        "{o:?}"
    );
    for r in &o.routes {
        assert!(r.answered > 0, "{r:?}");
        assert!(
            md.contains(&format!("| {} | {} | {} |", r.name, r.offered, r.answered)),
            "{md}"
        );
    }
}

#[test]
fn a_start_after_closing_time_warns_like_no_start() {
    // Friday 17:30: open for half an hour, then closed all weekend.
    let report = run(&study(Some("2026-12-11T17:30")));
    let o = outcomes(&report);
    assert!(o.night > 0 && o.night_share > 0.2, "{o:?}");
    assert!(markdown(&report).contains("**WARNING: "));
}

#[test]
fn a_rules_directory_replaces_the_study_rules() {
    let dir = tempfile::tempdir().unwrap();
    let rules_start = STUDY.find("[rules.settings]").unwrap();
    let rules = STUDY[rules_start..]
        .replace("[rules.", "[")
        .replace("[[rules.routes]]", "[[routes]]")
        .replace("name = \"German\"", "name = \"Deutsch\"");
    std::fs::write(dir.path().join("rules.toml"), rules).unwrap();
    let study = study(Some("2026-12-07T08:00"))
        .with_rules_dir(dir.path())
        .unwrap();
    let report = run(&study);
    assert_eq!(report.rules, dir.path().display().to_string());
    let names: Vec<String> = outcomes(&report)
        .routes
        .iter()
        .map(|r| r.name.clone())
        .collect();
    assert_eq!(names, ["Service / Deutsch", "Service / English"]);
}
