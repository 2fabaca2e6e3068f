//! The MT-CTI3 protocol without I/O: framing, the protobuf schema, result codes, the sans-IO
//! [`Connection`] (requests, subscriptions, acks, refresh, Lines, reconnect pacing) and the
//! translation between IP Office's notifies and commands and the routing core's own types.
//!
//! This is the only crate that depends on prost: everything above it sees
//! `acd_core::Event` and `acd_core::Command`, and the compiler enforces it. Sockets, TLS and
//! tokio live in the engine's shell, which drives a [`Connection`]; the deterministic
//! simulation and the routing study drive the very same `Connection` in virtual time.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

/// Types generated from `proto/ipo_mtcti3.proto` by the top-level `build.rs`.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/mtcti3.rs"));
}

pub mod backoff;
pub mod connection;
pub mod decode;
pub mod endpoint;
pub mod fingerprint;
pub mod flags;
pub mod framing;
pub mod live_live;
pub mod metrics;
pub mod result_code;
pub mod translate;
pub mod trunk;

pub use connection::{
    AgentSelector, ConnectFailure, Connection, ConnectionConfig, ConnectionEvent, LinkStatus,
    QueueSelector,
};
pub use live_live::LiveLive;
pub use prost;
