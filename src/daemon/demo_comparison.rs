//! What `acd demo` prints beside the engine's own account: IP Office's hunt groups routing the
//! same callers on their own. A demo that only shows the engine running says nothing about
//! whether it earned its place; this puts the two side by side with every outcome that
//! matters to a caller (answered in time, abandoned, sent to a mailbox) and to a supervisor
//! (taken by an agent the rules want, in the caller's language).
//!
//! The native side runs the same scenario in virtual time (`VirtualDriver`, no engine): the
//! simulator's callers come from seeded streams that routing never draws from, so the same
//! seed brings the same callers at the same instants with the same patience. It is run twice
//! over: the hunt groups as the scenario configures them, and the best of the native set-ups
//! a careful administrator could choose (every ring mode, the Overflow Time sweep and every
//! qualified agent listed, from `study::baselines`), so a badly configured IP Office cannot
//! flatter the engine.

use crate::sim::driver::{DriverOptions, NativeRouter, VirtualDriver};
use crate::sim::model::Answer;
use crate::sim::{Scenario, SimError, SimSummary};
use crate::study::baselines::{self, Candidate, NativeSetUp};
use crate::study::file::all_modes;
use crate::study::judge::judge;
use crate::study::run::Distributor;
use acd_core::RoutingConfig;
use serde::Serialize;

/// One way of routing the demo's callers, and how they fared.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSide {
    pub routing: String,
    pub offered: u64,
    pub answered: u64,
    /// Answered within the threshold / (answered + abandoned), percent.
    pub service_level_pct: f64,
    /// Shares of offered calls, percent.
    pub abandoned_pct: f64,
    pub queue_voicemail_pct: f64,
    pub personal_voicemail_pct: f64,
    /// Answered calls taken by an agent meeting the first requirement of the route the rules
    /// match for the call at arrival, percent (`None`: nothing answered).
    pub right_agent_pct: Option<f64>,
    /// Of the answered calls whose language is a skill in the rules, those taken by an agent
    /// with that skill, percent.
    pub language_match_pct: Option<f64>,
    pub asa_s: f64,
}

/// The engine and native IP Office on the same callers.
#[derive(Debug, Clone, Serialize)]
pub struct DemoComparison {
    pub service_level_threshold_s: f64,
    /// The engine first, then the hunt groups as configured, then the best-tuned native.
    pub sides: Vec<DemoSide>,
    /// How many native set-ups the best-tuned side was chosen from.
    pub native_set_ups_tried: usize,
    /// Engine SL minus the hunt groups' as configured, in points.
    pub engine_minus_configured_points: f64,
    /// Engine SL minus the best native set-up, chosen after the fact on these very callers.
    pub engine_minus_best_tuned_points: f64,
    /// How far one caller more or less within the threshold moves the engine's SL, in points:
    /// the scale of a single demo's noise.
    pub one_caller_points: f64,
}

/// Runs the native sides for `duration_ms` of virtual time and sets them beside the engine's
/// figures (`engine`, `engine_answers`: what the live simulator recorded).
pub fn compare(
    as_configured: &Scenario,
    rules: &RoutingConfig,
    routed: &impl Fn(&str) -> bool,
    duration_ms: u64,
    engine: &SimSummary,
    engine_answers: &[Answer],
) -> Result<DemoComparison, SimError> {
    let options = DriverOptions {
        duration_ms,
        ..DriverOptions::default()
    };
    let configured = run_native(as_configured, options)?;
    // The configured set-up first: `best_tuned` falls back to it.
    let mut candidates = vec![("as configured".to_string(), configured.clone(), true)];
    let modes = all_modes();
    for &mode in &modes {
        let scenario = NativeSetUp::typical(mode).apply(as_configured, rules, routed);
        let name = Distributor::Native(mode).label();
        candidates.push((name, run_native(&scenario, options)?, true));
    }
    for (set_up, scenario) in baselines::sweep(as_configured, rules, routed, &modes) {
        let name = Distributor::NativeTuned(set_up).label();
        candidates.push((name, run_native(&scenario, options)?, false));
    }
    let weighed: Vec<Candidate> = candidates
        .iter()
        .map(|(_, (summary, _), typical)| Candidate {
            service_level: summary.totals.service_level,
            lost: summary.totals.lost_share(),
            typical: *typical,
        })
        .collect();
    let (best_name, best_run, _) = &candidates[baselines::best_tuned(&weighed).unwrap_or(0)];
    let best_name = format!("IP Office hunt groups, best of the set-ups tried: {best_name}");

    let sides = vec![
        side(
            "acd engine (the rules it ran)",
            engine,
            engine_answers,
            rules,
        ),
        side(
            "IP Office hunt groups as configured",
            &configured.0,
            &configured.1,
            rules,
        ),
        side(&best_name, &best_run.0, &best_run.1, rules),
    ];
    let t = &engine.totals;
    let judged = t.answered + t.abandoned;
    Ok(DemoComparison {
        service_level_threshold_s: engine.service_level_threshold_s,
        engine_minus_configured_points: sides[0].service_level_pct - sides[1].service_level_pct,
        engine_minus_best_tuned_points: sides[0].service_level_pct - sides[2].service_level_pct,
        one_caller_points: if judged == 0 {
            0.0
        } else {
            100.0 / judged as f64
        },
        native_set_ups_tried: candidates.len(),
        sides,
    })
}

fn run_native(
    scenario: &Scenario,
    options: DriverOptions,
) -> Result<(SimSummary, Vec<Answer>), SimError> {
    let mut scenario = scenario.clone();
    scenario.sim.answer_log = true;
    let mut driver = VirtualDriver::new(&scenario, NativeRouter, options)?;
    let summary = driver.run();
    Ok((summary, driver.model().answers().to_vec()))
}

fn side(
    routing: &str,
    summary: &SimSummary,
    answers: &[Answer],
    rules: &RoutingConfig,
) -> DemoSide {
    let t = &summary.totals;
    let share = |n: u64| {
        if t.offered == 0 {
            0.0
        } else {
            n as f64 * 100.0 / t.offered as f64
        }
    };
    let fits = judge(rules, answers).total;
    let pct = |n: u64, of: u64| (of > 0).then(|| n as f64 * 100.0 / of as f64);
    DemoSide {
        routing: routing.to_string(),
        offered: t.offered,
        answered: t.answered,
        service_level_pct: t.service_level * 100.0,
        abandoned_pct: share(t.abandoned),
        queue_voicemail_pct: share(t.voicemail.saturating_sub(t.personal_voicemail)),
        personal_voicemail_pct: share(t.personal_voicemail),
        right_agent_pct: pct(fits.right_agent, fits.answered),
        language_match_pct: pct(fits.language_match, fits.language_judged),
        asa_s: t.asa_s,
    }
}

/// The side-by-side table an operator reads at the end of the demo.
pub fn render(c: &DemoComparison) -> String {
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} %"));
    let heading = "routing (the same callers for each)";
    let w = c
        .sides
        .iter()
        .map(|s| s.routing.chars().count())
        .chain([heading.len()])
        .max()
        .unwrap_or(0);
    let mut out = format!(
        "{:<w$} {:>8} {:>8} {:>10} {:>11} {:>11} {:>12} {:>10} {:>7}\n",
        heading,
        "offered",
        format!("SL@{:.0}s", c.service_level_threshold_s),
        "abandoned",
        "queue vm",
        "own vm",
        "right agent",
        "language",
        "ASA"
    );
    for s in &c.sides {
        out.push_str(&format!(
            "{:<w$} {:>8} {:>6.1} % {:>8.1} % {:>9.1} % {:>9.1} % {:>12} {:>10} {:>5.1} s\n",
            s.routing,
            s.offered,
            s.service_level_pct,
            s.abandoned_pct,
            s.queue_voicemail_pct,
            s.personal_voicemail_pct,
            opt(s.right_agent_pct),
            opt(s.language_match_pct),
            s.asa_s,
        ));
    }
    out.push_str(&format!(
        "engine SL minus IP Office as configured: {:+.1} points; minus the best of {} native \
         set-ups, chosen after the fact on these very callers: {:+.1} points. One caller moves \
         the engine's SL by {:.1} points: one demo is one draw of callers, `acd study` compares \
         over many.\n\
         SL@{t:.0}s = answered within {t:.0} s / (answered + abandoned); abandoned and voicemail \
         (the queue's mailbox, an agent's own) are shares of offered calls. Right agent = answered \
         by an agent meeting the first requirement of the route the rules match for the call; \
         language = answered in the caller's language, of the calls whose language is a skill \
         in the rules. The native sides ran in virtual time on the same seed, so the same callers.\n",
        c.engine_minus_configured_points,
        c.native_set_ups_tried,
        c.engine_minus_best_tuned_points,
        c.one_caller_points,
        t = c.service_level_threshold_s,
    ));
    out
}
