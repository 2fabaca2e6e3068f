//! The routing core of the ACD engine.
//!
//! It exists so that every routing decision is a pure function of the events seen so far and
//! the `now` passed in: no I/O, no clock, no async runtime, no protobuf. The wire layer
//! translates IP Office notifies into [`Event`]s and turns [`Command`]s back into MT-CTI3
//! messages; the routing study drives the same engine in virtual time.

pub mod command;
pub mod config;
pub mod event;
pub mod ids;
pub mod pattern;
pub mod time;

pub use command::{Command, CommandId, CommandKind, Priority, ServiceMode, Target};
pub use config::*;
pub use event::*;
pub use ids::{AgentId, CallId, QueueId};
pub use pattern::Pattern;
pub use time::{Millis, Timestamp};
