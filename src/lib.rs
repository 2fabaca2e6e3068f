//! The `acd` engine: wire layer (MT-CTI3 over websocket), simulator, daemon.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod daemon;
pub mod dst;
pub use acd_sim as sim;
pub mod study;
pub mod wire;
