//! The `acd` engine: wire layer (MT-CTI3 over websocket), simulator, daemon.

pub mod daemon;
pub mod dst;
pub mod sim;
pub mod study;
pub mod wire;
