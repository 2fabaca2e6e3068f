//! The wire layer: the only part of the engine that knows MT-CTI3's protobuf messages.

/// Types generated from `proto/ipo_mtcti3.proto` by `build.rs`.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/mtcti3.rs"));
}

pub mod backoff;
pub mod check_connection;
pub mod connect;
pub mod decode;
pub mod framing;
pub mod metrics;
pub mod result_code;
pub mod secret;
pub mod session;
pub mod tls;
pub mod translate;
