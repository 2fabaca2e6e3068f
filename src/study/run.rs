//! Running one study: the same seeded callers against each native hunt-group mode and against
//! the routing core, with equal staffing.
//!
//! Fairness comes from the simulator: each queue draws its callers (arrival times, talk times,
//! patience, language) from its own random stream at arrival, so every arm of a study meets
//! exactly the same callers whatever the routing does. The arms differ only in who
//! distributes: IP Office's hunt groups in a given ring mode, or the engine with the routed
//! queues' members disabled (as an operator configures IP Office for an ACD, so native
//! distribution does not compete with it).

use std::time::Instant;

use acd_core::{Millis, Timestamp};
use serde::Serialize;

use super::file::Study;
use super::outcomes::Outcomes;
use crate::dst::{Plan, World};
use crate::sim::driver::{DriverOptions, NativeRouter, Router, VirtualDriver};
use crate::sim::model::Activity;
use crate::sim::scenario::RingMode;
use crate::sim::{Scenario, SimError, SimSummary};
use acd_core::RoutingConfig;
use std::sync::Arc;

/// How often the model is sampled for agent occupancy (virtual time).
pub const OCCUPANCY_SAMPLE_MS: Millis = 1_000;

/// What the command line may override.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    pub hours: Option<f64>,
    pub seed: Option<u64>,
}

/// Who distributed the calls in one arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Distributor {
    Native(RingMode),
    Engine,
}

impl Distributor {
    pub fn label(self) -> &'static str {
        match self {
            Distributor::Native(RingMode::Collective) => "native collective",
            Distributor::Native(RingMode::Sequential) => "native sequential",
            Distributor::Native(RingMode::Rotary) => "native rotary",
            Distributor::Native(RingMode::LongestWaiting) => "native longest waiting",
            Distributor::Engine => "acd engine",
        }
    }
}

/// The figures of one arm.
#[derive(Debug, Clone, Serialize)]
pub struct ArmResult {
    pub distributor: Distributor,
    pub label: &'static str,
    pub offered: u64,
    pub answered: u64,
    /// Answered within the threshold over answered plus abandoned (0..1).
    pub service_level: f64,
    pub asa_s: f64,
    /// Abandoned over offered (0..1).
    pub abandon_rate: f64,
    pub longest_wait_s: f64,
    /// Time-average share of staffed agents (logged in, not DND) talking or in wrap-up.
    pub occupancy: f64,
    pub probability_wait: f64,
    /// Only for the engine: what went through the adapter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineCounters>,
    pub wall_ms: f64,
    #[serde(skip)]
    pub summary: SimSummary,
}

/// What went through the engine's path in the engine arm (from the daemon's routing loop).
#[derive(Debug, Clone, Serialize)]
pub struct EngineCounters {
    pub events: u64,
    pub commands: u64,
    /// Commands that failed: refused by IP Office, or refused by the wire layer (a call it
    /// no longer knows).
    pub commands_failed: u64,
    /// The engine's own outcomes per queue and per route.
    pub outcomes: Outcomes,
}

/// All arms of one study.
#[derive(Debug, Clone, Serialize)]
pub struct StudyReport {
    pub name: String,
    pub description: String,
    pub file: String,
    pub hours: f64,
    pub seed: u64,
    pub service_level_s: f64,
    /// Where the engine's rules came from: the study file's `[rules]`, or a directory.
    pub rules: String,
    /// The instant virtual time began, UTC (`None`: 1970-01-01 00:00 UTC).
    pub start_utc: Option<String>,
    pub arms: Vec<ArmResult>,
}

impl StudyReport {
    pub fn engine(&self) -> Option<&ArmResult> {
        self.arms
            .iter()
            .find(|a| a.distributor == Distributor::Engine)
    }

    /// The native arm with the highest service level.
    pub fn best_native(&self) -> Option<&ArmResult> {
        self.arms
            .iter()
            .filter(|a| a.distributor != Distributor::Engine)
            .max_by(|a, b| a.service_level.total_cmp(&b.service_level))
    }

    /// Engine service level minus the best native one, in percentage points.
    pub fn engine_margin_points(&self) -> Option<f64> {
        Some((self.engine()?.service_level - self.best_native()?.service_level) * 100.0)
    }
}

/// Runs every native mode the study names, then the engine.
pub fn run_study(study: &Study, options: RunOptions) -> Result<StudyReport, SimError> {
    let hours = options.hours.unwrap_or(study.settings.hours);
    let mut base = study.scenario.clone();
    if let Some(seed) = options.seed {
        base.sim.seed = seed;
    }
    let driver_options = DriverOptions {
        duration_ms: (hours * 3_600_000.0).round() as Millis,
        command_latency_ms: study.settings.command_latency_ms,
    };
    let routed = |name: &str| {
        study
            .rules
            .queues
            .contains_key(&acd_core::QueueId::from(name))
    };
    let mut arms = Vec::new();
    for &mode in &study.settings.native_modes {
        let mut scenario = base.clone();
        for q in scenario.queues.iter_mut().filter(|q| routed(&q.name)) {
            q.ring_mode = mode;
        }
        let (summary, occupancy, _, wall_ms) =
            run_arm(&scenario, NativeRouter, driver_options, |_| ())?;
        arms.push(arm(
            Distributor::Native(mode),
            summary,
            occupancy,
            None,
            wall_ms,
        ));
    }
    let scenario = engine_scenario(&base, routed);
    // Virtual time 0 is the study's start for the engine: its rules' offsets move instead of
    // the clock (see `start`).
    let start = study.start.map(|s| s.instant(&study.rules.utc_offsets));
    let rules = match start {
        Some(at) => Arc::new(super::start::rebase(&study.rules, at)),
        None => study.rules.clone(),
    };
    let (summary, occupancy, counters, wall_ms) = run_engine_arm(&scenario, rules, driver_options)?;
    arms.push(arm(
        Distributor::Engine,
        summary,
        occupancy,
        Some(counters),
        wall_ms,
    ));
    Ok(StudyReport {
        name: study.settings.name.clone(),
        description: study.settings.description.clone(),
        file: study.path.display().to_string(),
        hours,
        seed: base.sim.seed,
        service_level_s: base.sim.service_level_s,
        rules: match &study.rules_dir {
            Some(dir) => dir.display().to_string(),
            None => "the study file's [rules]".into(),
        },
        start_utc: start.map(|at| format!("{} UTC", acd_rules::commands::format_utc(at))),
        arms,
    })
}

/// The scenario as an operator sets IP Office up for the engine: the routed queues keep their
/// members, all disabled, so IP Office queues the calls but does not ring anyone itself.
pub fn engine_scenario(base: &Scenario, routed: impl Fn(&str) -> bool) -> Scenario {
    let mut scenario = base.clone();
    for q in scenario.queues.iter_mut().filter(|q| routed(&q.name)) {
        q.disabled_members = q.members.clone();
    }
    scenario
}

/// Runs one arm to the end, sampling occupancy along the way; `extra` reads anything else the
/// caller wants from the router at the end.
pub fn run_arm<R: Router, T>(
    scenario: &Scenario,
    router: R,
    options: DriverOptions,
    extra: impl FnOnce(&R) -> T,
) -> Result<(SimSummary, f64, T, f64), SimError> {
    let started = Instant::now();
    let mut driver = VirtualDriver::new(scenario, router, options)?;
    driver.start();
    let occupancy = sampled_occupancy(options.duration_ms, |t| {
        driver.run_until(t);
        Ok(occupancy_sample(driver.model()))
    })?;
    let summary = driver.model().summary();
    let out = extra(driver.router());
    Ok((
        summary,
        occupancy,
        out,
        started.elapsed().as_secs_f64() * 1000.0,
    ))
}

/// Runs the engine arm on the production path, in virtual time: the simulator renders real
/// MT-CTI3 frames, the engine's own connection decodes and translates them, the daemon's
/// routing loop decides, and commands go back through the same translator to the simulator's
/// command parser (the deterministic simulation's world, without faults).
pub fn run_engine_arm(
    scenario: &Scenario,
    rules: Arc<RoutingConfig>,
    options: DriverOptions,
) -> Result<(SimSummary, f64, EngineCounters, f64), SimError> {
    let started = Instant::now();
    let plan = Plan::calm(options.command_latency_ms);
    let mut world = World::build(
        scenario.sim.seed,
        &plan,
        scenario,
        rules,
        options.duration_ms,
        0,
        false,
    )?;
    let occupancy = sampled_occupancy(options.duration_ms, |t| {
        world
            .run_until(t)
            .map_err(|v| SimError::Stalled(v.to_string()))?;
        Ok(occupancy_sample(world.model()))
    })?;
    let report = world.routing().report();
    let counters = EngineCounters {
        events: report.events,
        commands: report.commands_sent.values().sum(),
        commands_failed: report.commands_failed,
        outcomes: Outcomes::from_report(&report),
    };
    Ok((
        world.model().summary(),
        occupancy,
        counters,
        started.elapsed().as_secs_f64() * 1000.0,
    ))
}

/// Runs an arm to `end` in steps of [`OCCUPANCY_SAMPLE_MS`]; `advance` runs to the given time
/// and returns the (busy, staffed) sample there. Occupancy is busy over staffed agent-samples.
fn sampled_occupancy(
    end: Millis,
    mut advance: impl FnMut(Timestamp) -> Result<(u64, u64), SimError>,
) -> Result<f64, SimError> {
    let (mut busy, mut staffed) = (0u64, 0u64);
    let mut t = 0;
    while t < end {
        t = (t + OCCUPANCY_SAMPLE_MS).min(end);
        let (b, s) = advance(Timestamp(t))?;
        busy += b;
        staffed += s;
    }
    Ok(if staffed == 0 {
        0.0
    } else {
        busy as f64 / staffed as f64
    })
}

/// (busy, staffed) agents at this instant: occupancy counts talk and wrap-up over staffed time.
fn occupancy_sample(model: &crate::sim::model::Model) -> (u64, u64) {
    let (mut busy, mut staffed) = (0, 0);
    for u in model.users() {
        if u.deleted || !u.logged_in || u.dnd {
            continue;
        }
        staffed += 1;
        if matches!(u.activity, Activity::OnCall(_) | Activity::WrapUp(_)) {
            busy += 1;
        }
    }
    (busy, staffed)
}

fn arm(
    distributor: Distributor,
    summary: SimSummary,
    occupancy: f64,
    engine: Option<EngineCounters>,
    wall_ms: f64,
) -> ArmResult {
    let t = &summary.totals;
    ArmResult {
        distributor,
        label: distributor.label(),
        offered: t.offered,
        answered: t.answered,
        service_level: t.service_level,
        asa_s: t.asa_s,
        abandon_rate: if t.offered == 0 {
            0.0
        } else {
            t.abandoned as f64 / t.offered as f64
        },
        longest_wait_s: t.longest_wait_s,
        occupancy,
        probability_wait: t.probability_wait,
        engine,
        wall_ms,
        summary,
    }
}
