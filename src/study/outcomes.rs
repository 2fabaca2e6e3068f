//! What happened to the engine arm's calls, per queue and per route, from the engine's own
//! accounting, and the warning when the calendar sent many of them to night service.
//!
//! A single service level over all calls hides the question a supervisor testing new rules
//! asks: which route did badly? And a study run outside opening hours (virtual time starts on
//! a Thursday night in 1970 unless `--start` says otherwise) measures night service, not
//! routing: the figures look plausible, so the study says so loudly instead.

use std::fmt::Write;

use serde::Serialize;

use crate::daemon::routing_loop::RunReport;

/// Above this share of the engine's calls going to night service, the study warns.
pub const NIGHT_WARNING_SHARE: f64 = 0.2;

/// One row: a queue, or a route in a queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeRow {
    /// `Sales`, or `Sales / German sales`, or `Sales / (no route)`.
    pub name: String,
    /// Per queue: calls that entered it. Per route: calls that ended under the route (a call
    /// still waiting when the run stops counts for its queue only).
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    /// Left by an overflow step or an exit (night service, no agents, queue full).
    pub overflowed: u64,
    /// Answered within the queue's first threshold over answered plus abandoned (0..1).
    pub service_level: f64,
    /// Abandoned over offered (0..1).
    pub abandon_rate: f64,
}

/// The engine arm's outcomes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Outcomes {
    pub queues: Vec<OutcomeRow>,
    pub routes: Vec<OutcomeRow>,
    /// Calls the calendar sent to night service, over all queues.
    pub night: u64,
    /// `night` over the calls offered to the engine's queues (0..1).
    pub night_share: f64,
}

impl Outcomes {
    pub fn from_report(report: &RunReport) -> Outcomes {
        let rate = |n: u64, of: u64| if of == 0 { 0.0 } else { n as f64 / of as f64 };
        let queues: Vec<OutcomeRow> = report
            .queues
            .iter()
            .map(|(name, q)| OutcomeRow {
                name: name.clone(),
                offered: q.offered,
                answered: q.answered,
                abandoned: q.abandoned,
                overflowed: q.overflowed,
                service_level: rate(q.answered_within_threshold, q.answered + q.abandoned),
                abandon_rate: rate(q.abandoned, q.offered),
            })
            .collect();
        let routes = report
            .routes
            .iter()
            .map(|r| {
                let offered = r.answered + r.abandoned + r.overflowed;
                OutcomeRow {
                    name: format!(
                        "{} / {}",
                        r.queue,
                        r.route.as_deref().unwrap_or("(no route)")
                    ),
                    offered,
                    answered: r.answered,
                    abandoned: r.abandoned,
                    overflowed: r.overflowed,
                    service_level: rate(r.answered_within_threshold, r.answered + r.abandoned),
                    abandon_rate: rate(r.abandoned, offered),
                }
            })
            .collect();
        let night: u64 = report
            .queues
            .values()
            .map(|q| q.exits.get("closed").copied().unwrap_or(0))
            .sum();
        let offered: u64 = report.queues.values().map(|q| q.offered).sum();
        Outcomes {
            queues,
            routes,
            night,
            night_share: rate(night, offered),
        }
    }

    /// Whether so many calls went to night service that the study measured closed hours.
    pub fn mostly_closed(&self) -> bool {
        self.night_share > NIGHT_WARNING_SHARE
    }
}

/// The per-queue and per-route tables, and the night-service warning first when it applies.
pub fn markdown(outcomes: &Outcomes, sl_s: f64) -> String {
    let mut out = String::new();
    if outcomes.mostly_closed() {
        let _ = writeln!(
            out,
            "**WARNING: {:.0} % of the engine's calls ({}) went to night service by the queues' \
             calendars. The study ran outside opening hours? Use --start 2026-12-07T08:00 (or \
             `start = \"...\"` in [study]) to begin at a time the queues are open.**\n",
            outcomes.night_share * 100.0,
            outcomes.night
        );
    }
    for (title, rows) in [
        ("engine, per queue", &outcomes.queues),
        ("engine, per route", &outcomes.routes),
    ] {
        let _ = writeln!(
            out,
            "| {title} | offered | answered | SL@{sl_s:.0}s | abandoned | overflowed/exited |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for r in rows.iter() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.1} % | {} ({:.1} %) | {} |",
                r.name,
                r.offered,
                r.answered,
                r.service_level * 100.0,
                r.abandoned,
                r.abandon_rate * 100.0,
                r.overflowed
            );
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::routing_loop::{QueueReport, RouteReport};

    fn report(closed: u64) -> RunReport {
        let mut exits = std::collections::BTreeMap::new();
        exits.insert("closed".to_string(), closed);
        let mut report = RunReport::default();
        report.queues.insert(
            "Sales".into(),
            QueueReport {
                offered: 100,
                answered: 80 - closed,
                abandoned: 10,
                overflowed: 10 + closed,
                answered_within_threshold: 60,
                threshold_ms: 20_000,
                longest_wait_ms: 90_000,
                exits,
            },
        );
        report.routes = vec![RouteReport {
            queue: "Sales".into(),
            route: Some("German sales".into()),
            answered: 30,
            abandoned: 5,
            overflowed: 5,
            answered_within_threshold: 21,
            threshold_ms: 20_000,
        }];
        report
    }

    #[test]
    fn rows_per_queue_and_route_put_the_abandon_rate_beside_the_service_level() {
        let outcomes = Outcomes::from_report(&report(0));
        let md = markdown(&outcomes, 20.0);
        // Queue: 60 of 90 answered-or-abandoned within 20 s; 10 of 100 abandoned.
        assert!(
            md.contains("| Sales | 100 | 80 | 66.7 % | 10 (10.0 %) | 10 |"),
            "{md}"
        );
        // Route: 21 of 35; 5 of the 40 calls that ended under it abandoned.
        assert!(
            md.contains("| Sales / German sales | 40 | 30 | 60.0 % | 5 (12.5 %) | 5 |"),
            "{md}"
        );
        assert!(!md.contains("WARNING"), "{md}");
    }

    #[test]
    fn a_study_mostly_at_night_says_so_loudly() {
        let outcomes = Outcomes::from_report(&report(21));
        assert_eq!(outcomes.night, 21);
        assert!(outcomes.mostly_closed());
        let md = markdown(&outcomes, 20.0);
        assert!(
            md.starts_with("**WARNING: 21 % of the engine's calls (21)"),
            "{md}"
        );
        assert!(
            md.contains("use --start") || md.contains("Use --start"),
            "{md}"
        );
        // At the threshold itself it stays quiet.
        assert!(!Outcomes::from_report(&report(20)).mostly_closed());
    }
}
