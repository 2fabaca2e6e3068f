//! Deterministic simulation testing of the real path (`acd dst`): the engine's own sans-IO
//! connection and routing loop against the simulator's model of IP Office and its protocol
//! side, over a network that delays, reorders across subscriptions and drops, with IP Office
//! restarts, terminated subscriptions, refused and unanswered commands, rules changes and
//! failover, all drawn from one seed. One thread, virtual time, invariants after every step;
//! the same seed gives the same trace, byte for byte, so a failing seed is replayed exactly.
//!
//! The approach is FoundationDB's and TigerBeetle's: the production code, not a model of it,
//! under a seeded fault injector, thousands of seeds in CI.

pub mod cli;
mod collective;
mod faults;
mod invariants;
mod lease;
mod network;
pub(crate) mod trace;
mod world;

pub use faults::{Fault, Plan};
pub use invariants::Violation;
pub use world::World;

use crate::sim::Scenario;
use acd_core::RoutingConfig;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// How long callers keep arriving in each simulated world (then it winds down to quiescence).
pub const DEFAULT_TRAFFIC_MS: u64 = 15 * 60 * 1000;

/// What one seed did.
#[derive(Debug, Clone)]
pub struct SeedReport {
    pub seed: u64,
    pub plan: String,
    pub outcome: Result<(), Violation>,
    /// The first 16 hex digits of the SHA-256 of the trace.
    pub trace_hash: String,
    pub steps: u64,
    pub frames: u64,
    pub virtual_ms: u64,
    pub last_lines: Vec<String>,
}

/// The world every seed starts from: the shipped demo scenario and the example ruleset.
pub struct Setup {
    pub scenario: Scenario,
    pub rules: Arc<RoutingConfig>,
    pub traffic_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the built-in scenario does not load: {0}")]
    Scenario(#[from] crate::sim::SimError),
    #[error("the example rules do not compile:\n{0}")]
    Rules(String),
}

impl Setup {
    pub fn shipped() -> Result<Setup, SetupError> {
        let scenario = Scenario::default_scenario()?;
        let files = crate::daemon::example_rules::FILES
            .iter()
            .map(|(name, text)| acd_rules::SourceFile {
                name: name.to_string(),
                text: text.to_string(),
            })
            .collect();
        let checked = acd_rules::check_sources(files);
        if !checked.is_ok() {
            return Err(SetupError::Rules(format!("{:?}", checked.report.diags)));
        }
        let mut config = checked.config;
        config.version = 1;
        Ok(Setup {
            scenario,
            rules: Arc::new(config),
            traffic_ms: DEFAULT_TRAFFIC_MS,
        })
    }
}

/// Runs one seed to quiescence. A panic anywhere on the path is a violation too.
pub fn run_seed(setup: &Setup, seed: u64, keep_lines: usize) -> SeedReport {
    run_plan(setup, seed, Plan::draw(seed, setup.traffic_ms), keep_lines)
}

/// Runs one seed on a plan given (a seed's own, with one part set aside by a test).
pub fn run_plan(setup: &Setup, seed: u64, plan: Plan, keep_lines: usize) -> SeedReport {
    let plan_text = plan.to_string();
    let mut world = match World::new(
        seed,
        &plan,
        &setup.scenario,
        setup.rules.clone(),
        setup.traffic_ms,
        keep_lines,
    ) {
        Ok(w) => w,
        Err(e) => {
            return SeedReport {
                seed,
                plan: plan_text,
                outcome: Err(Violation {
                    invariant: "setup",
                    detail: e.to_string(),
                }),
                trace_hash: String::new(),
                steps: 0,
                frames: 0,
                virtual_ms: 0,
                last_lines: Vec::new(),
            }
        }
    };
    let outcome = match catch_unwind(AssertUnwindSafe(|| world.run())) {
        Ok(r) => r,
        Err(panic) => Err(Violation {
            invariant: "no-panic",
            detail: panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into()),
        }),
    };
    SeedReport {
        seed,
        plan: plan_text,
        outcome,
        trace_hash: world.trace.digest(),
        steps: world.trace.steps,
        frames: world.trace.frames,
        virtual_ms: world.now().0,
        last_lines: world.trace.last_lines(),
    }
}
