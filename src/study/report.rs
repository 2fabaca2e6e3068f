//! The study's table: what a supervisor reads and what `BENCHMARKS.md` quotes.

use std::fmt::Write;

use super::run::{ArmResult, Distributor, Spread, StudyReport};

/// The target the issue sets: the engine's multi-skill service level at least this many
/// points above the best native hunt-group mode.
pub const TARGET_MARGIN_POINTS: f64 = 10.0;

/// Points under its target, or over it, beyond which a queue counts as out of balance.
pub const BALANCE_POINTS: f64 = 10.0;

/// `mean` or `mean ± sd` (over seeds), scaled.
fn fig(s: &Spread, scale: f64, decimals: usize, seeds: usize) -> String {
    if seeds > 1 {
        format!(
            "{:.*} ± {:.*}",
            decimals,
            s.mean * scale,
            decimals,
            s.sd * scale
        )
    } else {
        format!("{:.*}", decimals, s.mean * scale)
    }
}

/// The study's tables: per arm in total (with the distance to the pooled bound), the engine's
/// margin over the best native mode seed by seed, per queue for every arm (service level with
/// the abandon rate beside it, and the queue's target), and the engine's own per-route view.
pub fn markdown(report: &StudyReport) -> String {
    let mut out = String::new();
    let sl = report.service_level_s;
    let n = report.seed_list.len().max(1);
    let seeds = match report.seed_list.as_slice() {
        [one] => format!("seed {one}"),
        list => format!(
            "{} seeds {}..={}",
            list.len(),
            list.first().copied().unwrap_or(0),
            list.last().copied().unwrap_or(0)
        ),
    };
    let _ = writeln!(
        out,
        "### {} ({} h virtual, {seeds}, {})\n",
        report.name, report.hours, report.file
    );
    if !report.description.is_empty() {
        let _ = writeln!(out, "{}\n", report.description.trim());
    }
    let _ = writeln!(
        out,
        "rules: {}; virtual time starts {}{}\n",
        report.rules,
        report
            .start_utc
            .as_deref()
            .unwrap_or("1970-01-01 00:00:00 UTC (no --start)"),
        if n > 1 {
            "; figures are mean ± standard deviation over the seeds"
        } else {
            ""
        }
    );
    let pooled_sl = report.pooled().map(|p| p.service_level);
    let _ = writeln!(
        out,
        "| routing | offered | SL@{sl:.0}s (%) | abandoned (%) | ASA (s) | longest wait (s) | occupancy (%) | SL below pooled bound (points) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for a in &report.arms {
        let below = match pooled_sl {
            Some(p) if a.distributor != Distributor::Pooled => {
                format!("{:.1}", (p - a.service_level) * 100.0)
            }
            _ => "—".to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {below} |",
            a.label,
            a.offered,
            fig(&a.service_level_spread, 100.0, 1, n),
            fig(&a.abandon_rate_spread, 100.0, 1, n),
            fig(&a.asa_spread, 1.0, 1, n),
            fig(&a.longest_wait_spread, 1.0, 0, n),
            fig(&a.occupancy_spread, 100.0, 1, n),
        );
    }
    if let (Some(best), Some(engine), Some(margin)) = (
        report.best_native(),
        report.engine(),
        report.engine_margin_spread(),
    ) {
        // A margin over all calls can hide a queue nobody answers: name it in the same line.
        let verdict = match (
            margin.mean >= TARGET_MARGIN_POINTS,
            far_under_target(engine),
        ) {
            (true, None) => "at or above".to_string(),
            (true, Some((queue, gap))) => format!(
                "overall at or above, but queue {queue} is {gap:+.1} points from its own \
                 target, so NOT at"
            ),
            (false, _) => "below".to_string(),
        };
        let _ = writeln!(
            out,
            "\nengine SL@{sl:.0}s minus best native ({}): {:+.1} points (per seed {:+.1}..{:+.1}, sd {:.1}; {verdict} the +{TARGET_MARGIN_POINTS:.0} target of a realistic set-up); abandoned {:.1} % against {:.1} %",
            best.label,
            margin.mean,
            margin.min,
            margin.max,
            margin.sd,
            engine.abandon_rate * 100.0,
            best.abandon_rate * 100.0
        );
    }
    let net = super::net::markdown(report);
    if !net.is_empty() {
        out.push('\n');
        out.push_str(&net);
    }
    out.push('\n');
    out.push_str(&per_queue(report, n));
    if let Some(outcomes) = report
        .engine()
        .and_then(|a| a.engine.as_ref())
        .map(|e| &e.outcomes)
    {
        out.push('\n');
        if n > 1 {
            let _ = writeln!(out, "engine detail from the first seed:\n");
        }
        out.push_str(&super::outcomes::markdown(outcomes, sl));
    }
    out
}

/// The engine's queue furthest under its service-level target, if more than
/// [`BALANCE_POINTS`] under (with the gap in points).
fn far_under_target(engine: &ArmResult) -> Option<(&str, f64)> {
    (engine.queues.iter())
        .filter_map(|q| Some((q.name.as_str(), (q.service_level.mean - q.target?) * 100.0)))
        .filter(|(_, gap)| *gap < -BALANCE_POINTS)
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// One row per queue, one column per arm: SL with the abandon rate, and the queue's target.
/// Then, for the engine, whether any queue ends far below its target while another ends far
/// above its own: with agents able to serve both, that is a routing failure.
fn per_queue(report: &StudyReport, n: usize) -> String {
    let mut out = String::new();
    let sl = report.service_level_s;
    let _ = write!(out, "| queue (SL@{sl:.0}s / abandoned, %) | target |");
    for a in &report.arms {
        let _ = write!(out, " {} |", a.label);
    }
    out.push('\n');
    let _ = write!(out, "|---|---:|");
    for _ in &report.arms {
        out.push_str("---:|");
    }
    out.push('\n');
    let Some(first) = report.arms.first() else {
        return out;
    };
    for q in &first.queues {
        let target = q
            .target
            .map_or("—".to_string(), |t| format!("{:.0}", t * 100.0));
        let _ = write!(out, "| {} | {target} |", q.name);
        for a in &report.arms {
            match a.queues.iter().find(|x| x.name == q.name) {
                Some(x) => {
                    let _ = write!(
                        out,
                        " {} / {} |",
                        fig(&x.service_level, 100.0, 1, n),
                        fig(&x.abandon_rate, 100.0, 1, n)
                    );
                }
                None => out.push_str(" — |"),
            }
        }
        out.push('\n');
    }
    if let Some(engine) = report.engine() {
        let gaps: Vec<(&str, f64)> = engine
            .queues
            .iter()
            .filter_map(|q| Some((q.name.as_str(), (q.service_level.mean - q.target?) * 100.0)))
            .collect();
        let under = gaps.iter().min_by(|a, b| a.1.total_cmp(&b.1));
        let over = gaps.iter().max_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some(u), Some(o)) = (under, over) {
            let verdict = if u.1 < -BALANCE_POINTS && o.1 > BALANCE_POINTS {
                "OUT OF BALANCE: check whether agents could serve both"
            } else if u.1 < -BALANCE_POINTS {
                "FAR UNDER TARGET: check that agents can take that queue's calls"
            } else {
                "in balance"
            };
            let _ = writeln!(
                out,
                "\nengine against targets: furthest under {} ({:+.1} points), furthest over {} ({:+.1} points): {verdict} (limit ±{BALANCE_POINTS:.0})",
                u.0, u.1, o.0, o.1
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::RingMode;
    use crate::sim::SimSummary;
    use crate::study::run::{ArmResult, Distributor, QueueFigures, SeedFigures};

    /// An arm over two seeds with these service levels; queues A (target 80 %) and B (80 %)
    /// at the given service levels.
    fn arm(d: Distributor, sls: [f64; 2], queue_sls: [f64; 2]) -> ArmResult {
        let summary = SimSummary::build(1000, 20_000, std::iter::empty());
        let seeds: Vec<SeedFigures> = sls
            .iter()
            .enumerate()
            .map(|(i, &sl)| SeedFigures {
                seed: i as u64 + 1,
                offered: 100,
                service_level: sl,
                abandon_rate: 0.1,
                asa_s: 12.34,
                longest_wait_s: 99.0,
                occupancy: 0.8,
                native_answered: 0,
            })
            .collect();
        let spread = |f: fn(&SeedFigures) -> f64| Spread::of(seeds.iter().map(f));
        let queue = |name: &str, sl: f64| QueueFigures {
            name: name.into(),
            target: Some(0.8),
            offered: Spread::of([50.0, 50.0]),
            service_level: Spread::of([sl, sl]),
            abandon_rate: Spread::of([0.1, 0.1]),
            asa_s: Spread::of([10.0, 10.0]),
            longest_wait_s: Spread::of([60.0, 60.0]),
        };
        ArmResult {
            distributor: d,
            label: d.label(),
            offered: 100,
            answered: 90,
            service_level: spread(|f| f.service_level).mean,
            asa_s: 12.34,
            abandon_rate: 0.1,
            longest_wait_s: 99.0,
            occupancy: 0.8,
            probability_wait: 0.5,
            service_level_spread: spread(|f| f.service_level),
            abandon_rate_spread: spread(|f| f.abandon_rate),
            asa_spread: spread(|f| f.asa_s),
            longest_wait_spread: spread(|f| f.longest_wait_s),
            occupancy_spread: spread(|f| f.occupancy),
            native_share: spread(|f| f.native_answered as f64 / f.offered as f64),
            queues: vec![queue("A", queue_sls[0]), queue("B", queue_sls[1])],
            seeds,
            engine: None,
            wall_ms: 1.0,
            summary,
        }
    }

    fn report(engine_queues: [f64; 2]) -> StudyReport {
        StudyReport {
            name: "t".into(),
            description: String::new(),
            file: "f".into(),
            hours: 1.0,
            seed: 1,
            seed_list: vec![1, 2],
            service_level_s: 20.0,
            rules: "the study file's [rules]".into(),
            start_utc: None,
            arms: vec![
                arm(
                    Distributor::Native(RingMode::Collective),
                    [0.70, 0.70],
                    [0.7, 0.7],
                ),
                arm(
                    Distributor::Native(RingMode::LongestWaiting),
                    [0.74, 0.76],
                    [0.75, 0.75],
                ),
                arm(Distributor::Pooled, [0.90, 0.90], [0.9, 0.9]),
                arm(Distributor::Engine, [0.78, 0.82], engine_queues),
            ],
        }
    }

    #[test]
    fn the_margin_is_against_the_best_native_mode_seed_by_seed_with_the_pooled_bound() {
        let report = report([0.8, 0.8]);
        assert_eq!(
            report.best_native().unwrap().label,
            "native longest waiting"
        );
        assert!((report.engine_margin_points().unwrap() - 5.0).abs() < 1e-9);
        let md = markdown(&report);
        // Means ± sd over the two seeds, abandon rate beside the SL, distance to the bound.
        assert!(
            md.contains(
                "| acd engine | 100 | 80.0 ± 2.8 | 10.0 ± 0.0 | 12.3 ± 0.0 | 99 ± 0 | 80.0 ± 0.0 | 10.0 |"
            ),
            "{md}"
        );
        assert!(md.contains("| pooled bound | 100 | 90.0 ± 0.0"), "{md}");
        // Per seed: +4.0 and +6.0.
        assert!(
            md.contains("+5.0 points (per seed +4.0..+6.0, sd 1.4; below the +10 target"),
            "{md}"
        );
        assert!(md.contains("| A | 80 | 70.0 ± 0.0 / 10.0 ± 0.0 |"), "{md}");
        assert!(md.contains("in balance"), "{md}");
    }

    /// Issue 24 (7): the summary said "in balance" and "+13.2 … at or above target" with a
    /// queue at 0 % SL (its agents were never in the engine's pool).
    #[test]
    fn a_queue_nobody_answers_is_never_summarised_as_fine() {
        let mut report = report([0.0, 0.8]);
        report.arms[3] = arm(Distributor::Engine, [0.88, 0.88], [0.0, 0.8]);
        let md = markdown(&report);
        assert!(!md.contains("in balance"), "{md}");
        assert!(md.contains("FAR UNDER TARGET"), "{md}");
        assert!(
            md.contains("overall at or above, but queue A is -80.0 points from its own target"),
            "{md}"
        );
        assert!(!md.contains("; at or above the"), "{md}");
    }

    #[test]
    fn a_queue_far_under_target_while_another_is_far_over_is_flagged() {
        let md = markdown(&report([0.6, 0.95]));
        assert!(
            md.contains(
                "furthest under A (-20.0 points), furthest over B (+15.0 points): OUT OF BALANCE"
            ),
            "{md}"
        );
    }
}
