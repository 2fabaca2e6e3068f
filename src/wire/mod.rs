//! The wire layer's I/O shell: websocket and TLS to IP Office, the tokio task around the
//! sans-IO `acd_wire::Connection`, `check-connection`. The protocol itself (framing, schema,
//! sessions, translation) is the `acd-wire` crate, re-exported here under its old paths.

pub use acd_wire::{backoff, decode, framing, metrics, pb, result_code, translate};

pub mod check_connection;
pub mod connect;
pub mod secret;
pub mod session;
pub mod tls;
pub mod writer;
