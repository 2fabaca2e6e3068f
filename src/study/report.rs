//! The study's table: what a supervisor reads and what `BENCHMARKS.md` quotes.

use std::fmt::Write;

use super::run::StudyReport;

/// The target the issue sets: the engine's multi-skill service level at least this many
/// points above the best native hunt-group mode.
pub const TARGET_MARGIN_POINTS: f64 = 10.0;

/// A Markdown table with one row per arm, and the engine's margin over the best native mode.
pub fn markdown(report: &StudyReport) -> String {
    let mut out = String::new();
    let sl = report.service_level_s;
    let _ = writeln!(
        out,
        "### {} ({} h virtual, seed {}, {})\n",
        report.name, report.hours, report.seed, report.file
    );
    if !report.description.is_empty() {
        let _ = writeln!(out, "{}\n", report.description.trim());
    }
    let _ = writeln!(
        out,
        "rules: {}; virtual time starts {}\n",
        report.rules,
        report
            .start_utc
            .as_deref()
            .unwrap_or("1970-01-01 00:00:00 UTC (no --start)")
    );
    let _ = writeln!(
        out,
        "| routing | offered | SL@{sl:.0}s | ASA (s) | abandoned | longest wait (s) | occupancy |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for a in &report.arms {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} % | {:.1} | {:.1} % | {:.0} | {:.1} % |",
            a.label,
            a.offered,
            a.service_level * 100.0,
            a.asa_s,
            a.abandon_rate * 100.0,
            a.longest_wait_s,
            a.occupancy * 100.0
        );
    }
    if let (Some(best), Some(margin)) = (report.best_native(), report.engine_margin_points()) {
        let verdict = if margin >= TARGET_MARGIN_POINTS {
            "target met"
        } else {
            "target missed"
        };
        let _ = writeln!(
            out,
            "\nengine SL@{sl:.0}s minus best native ({}): {margin:+.1} points (target >= +{TARGET_MARGIN_POINTS:.0}: {verdict})",
            best.label
        );
    }
    if let Some(outcomes) = report
        .engine()
        .and_then(|a| a.engine.as_ref())
        .map(|e| &e.outcomes)
    {
        out.push('\n');
        out.push_str(&super::outcomes::markdown(outcomes, sl));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::RingMode;
    use crate::sim::SimSummary;
    use crate::study::run::{ArmResult, Distributor};

    fn arm(d: Distributor, sl: f64) -> ArmResult {
        let summary = SimSummary::build(1000, 20_000, std::iter::empty());
        ArmResult {
            distributor: d,
            label: d.label(),
            offered: 100,
            answered: 90,
            service_level: sl,
            asa_s: 12.34,
            abandon_rate: 0.1,
            longest_wait_s: 99.0,
            occupancy: 0.8,
            probability_wait: 0.5,
            engine: None,
            wall_ms: 1.0,
            summary,
        }
    }

    #[test]
    fn the_margin_is_against_the_best_native_mode() {
        let report = StudyReport {
            name: "t".into(),
            description: String::new(),
            file: "f".into(),
            hours: 1.0,
            seed: 1,
            service_level_s: 20.0,
            rules: "the study file's [rules]".into(),
            start_utc: None,
            arms: vec![
                arm(Distributor::Native(RingMode::Collective), 0.70),
                arm(Distributor::Native(RingMode::LongestWaiting), 0.75),
                arm(Distributor::Engine, 0.80),
            ],
        };
        assert_eq!(
            report.best_native().unwrap().label,
            "native longest waiting"
        );
        assert!((report.engine_margin_points().unwrap() - 5.0).abs() < 1e-9);
        let md = markdown(&report);
        assert!(
            md.contains("| acd engine | 100 | 80.0 % | 12.3 | 10.0 % | 99 | 80.0 % |"),
            "{md}"
        );
        assert!(md.contains("+5.0 points"), "{md}");
        assert!(md.contains("target missed"), "{md}");
    }
}
