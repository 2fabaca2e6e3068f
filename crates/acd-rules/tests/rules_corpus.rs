//! Snapshot tests over the broken-rule corpus in `tests/fixtures/rules/<case>/`: each case is a
//! rules directory and `expected.txt` holds the exit code and the rendered `acd rules check`
//! output. Run with `UPDATE_SNAPSHOTS=1` to rewrite the expected files after a deliberate
//! change, then review the diff.

use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/rules")
}

fn run_case(name: &str) -> String {
    let dir = corpus().join(name);
    let out = acd_rules::commands::check(&dir);
    let actual = format!("exit: {}\n{}", out.exit_code, out.text);
    let expected_path = dir.join("expected.txt");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&expected_path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
        panic!(
            "missing {}; run with UPDATE_SNAPSHOTS=1",
            expected_path.display()
        )
    });
    assert_eq!(actual, expected, "snapshot mismatch for case {name}");
    actual
}

#[test]
fn syntax_error() {
    let out = run_case("syntax_error");
    assert!(out.starts_with("exit: 1"));
    assert!(out.contains("rules::syntax"));
    assert!(out.contains("rules.toml:5:"));
}

#[test]
fn unknown_field() {
    let out = run_case("unknown_field");
    assert!(out.contains("unknown field `stratgy`"));
    assert!(out.contains("did you mean `strategy`?"));
    assert!(out.contains("did you mean `wrap_up`?"));
    assert!(out.contains("2 errors"));
}

#[test]
fn unknown_skill() {
    let out = run_case("unknown_skill");
    assert!(out.contains("unknown skill `sale`"));
    assert!(out.contains("did you mean `sales`?"));
    assert!(out.contains("unknown skill `fra`"));
}

#[test]
fn bad_pattern() {
    let out = run_case("bad_pattern");
    assert!(out.contains("`[` cannot appear in a number pattern"));
    assert!(out.contains("empty pattern"));
}

#[test]
fn overflow_cycle() {
    let out = run_case("overflow_cycle");
    assert!(out.contains("calls can be transferred in a circle: Sales → Support → Sales"));
}

#[test]
fn no_terminal() {
    let out = run_case("no_terminal");
    assert!(out.contains("calls on route \"Expert sales\" can wait forever in Sales"));
}

#[test]
fn shadowed_route() {
    let out = run_case("shadowed_route");
    // Warnings only: the rules are usable, so check passes.
    assert!(out.starts_with("exit: 0"));
    assert!(out.contains("route \"German sales\" never applies"));
    assert!(out.contains("never runs"));
    assert!(out.contains("0 errors, 2 warnings"));
}

#[test]
fn out_of_range_reports_everything_at_once() {
    let out = run_case("out_of_range");
    for needle in [
        "`deu` = 11 is out of range",
        "`sales` = 0 is out of range",
        "`weight` must be a number of zero or more",
        "ends before it starts",
        "has no day 30",
        "did you mean `voicemail:Sales`?",
        "bad skill expression: expected a skill level",
        "`priority` = 4 is out of range",
        "bad time window",
        "`after` is not a duration",
        "unknown agent `2O2`",
        "transfer to external:+4940123 is not allowed",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

#[test]
fn multi_file_duplicates_and_unknown_names() {
    let out = run_case("multi_file");
    assert!(out.contains("agent `201` is defined twice"));
    assert!(out.contains("first defined at a.toml:"));
}

#[test]
fn example_ruleset_is_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../routing-rules");
    let out = acd_rules::commands::check(&dir);
    assert_eq!(out.exit_code, 0, "{}", out.text);
    assert!(out.text.contains("0 errors, 0 warnings"), "{}", out.text);
}

#[test]
fn every_case_has_a_snapshot() {
    for entry in std::fs::read_dir(corpus()).unwrap() {
        let dir = entry.unwrap().path();
        assert!(dir.join("expected.txt").exists(), "{}", dir.display());
    }
}

#[test]
fn time_zone_and_utc_offset_together_are_refused() {
    let out = run_case("time_zone_and_utc_offset");
    assert!(out.starts_with("exit: 1"), "{out}");
    assert!(out.contains("rules::time-zone-and-utc-offset"), "{out}");
    assert!(
        out.contains("`time_zone` and `utc_offset` are both set"),
        "{out}"
    );
    assert!(out.contains("rules.toml:4:"), "{out}");
}

#[test]
fn unknown_time_zone_suggests_the_closest_names() {
    let out = run_case("unknown_time_zone");
    assert!(out.starts_with("exit: 1"), "{out}");
    assert!(
        out.contains("`Europe/Berln` is not a known time zone"),
        "{out}"
    );
    assert!(out.contains("did you mean \"Europe/Berlin\""), "{out}");
}
