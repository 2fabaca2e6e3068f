//! The routing-quality study: does the engine serve callers better than IP Office's own hunt
//! groups, with the same agents and the same callers?
//!
//! The simulator's traffic model runs in virtual time (an hour of traffic in well under a
//! second) once per native ring mode and once with the engine distributing on the production
//! path: the simulator's frames through the engine's own `acd_wire::Connection` and the
//! daemon's routing loop, in virtual time ([`run::run_engine_arm`]). A study file ([`file`]) holds the scenario, the engine's rules and the
//! modes to compare; [`baselines`] tunes the native side (Overflow Times, every qualified agent
//! listed) so the engine is measured against the best of it; [`judge`] says whether the right
//! agent answered, for every arm alike; [`bound`] is what the same agents could do with every
//! call open to every agent; [`report`] prints the tables `BENCHMARKS.md` quotes; [`net`] compares the
//! engine with and without the safety net for when no engine is up.

pub mod baselines;
pub mod bound;
pub mod cli;
pub mod error;
pub mod file;
pub mod judge;
pub mod load;
pub mod net;
pub mod outcomes;
pub mod report;
pub mod run;
pub mod start;

pub use cli::{run_cli, StudyCliOptions};
pub use error::StudyError;
pub use file::Study;
pub use run::{run_study, RunOptions, StudyReport};
pub use start::StudyStart;
