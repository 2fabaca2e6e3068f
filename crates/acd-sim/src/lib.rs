//! The IP Office simulator: a faithful MT-CTI3 peer for tests, demos, load and what-if runs.
//!
//! Nobody on the team has an IP Office and no contact centre lets us test rules on live
//! callers, so this crate provides one: a protocol-agnostic [`model`] of users, hunt groups
//! and calls in virtual time, driven either by the MT-CTI3 protocol [`server`] (real time) or
//! by the in-process virtual-time [`driver`] (an hour of traffic in seconds).
//!
//! It is a crate of its own so it can only speak the protocol through `acd-wire`, exactly as
//! the engine does: the schema, framing, flags, result codes and trunk types it renders are the
//! ones the engine reads, never a second copy. The engine's crates do not depend on it.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod cli;
pub mod dist;
pub mod driver;
pub mod erlang;
pub mod error;
pub mod model;
pub mod scenario;
pub mod scheduler;
pub mod server;
pub mod stats;

pub use cli::{run_cli, SimCliOptions};
pub use error::SimError;
pub use model::{Model, ModelAction, ModelNotification, ResultCode, SimCallId, View};
pub use scenario::Scenario;
pub use server::{SimHandle, SimServer, SimServerConfig, TlsMode};
pub use stats::{QueueSummary, SimSummary};
