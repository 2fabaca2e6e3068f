//! The routing-quality study: does the engine serve callers better than IP Office's own hunt
//! groups, with the same agents and the same callers?
//!
//! The simulator's traffic model runs in virtual time (an hour of traffic in well under a
//! second) once per native ring mode and once with the real [`acd_core::Engine`] distributing
//! through [`router::EngineRouter`], which speaks to the model exactly as the wire layer's
//! translator would. A study file ([`file`]) holds the scenario, the engine's rules and the
//! modes to compare; [`report`] prints the table `BENCHMARKS.md` quotes.

pub mod cli;
pub mod error;
pub mod file;
pub mod load;
pub mod report;
pub mod router;
pub mod run;

pub use cli::{run_cli, StudyCliOptions};
pub use error::StudyError;
pub use file::Study;
pub use router::EngineRouter;
pub use run::{run_study, RunOptions, StudyReport};
