//! Errors of the simulator: everything a bad scenario, a bad certificate or a busy port can
//! cause, each with enough context to fix the input without reading the code.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario is syntactically fine but describes something impossible.
    #[error("invalid scenario: {0}")]
    Scenario(String),
    #[error("cannot parse scenario {path}: {source}")]
    ScenarioSyntax {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("trace file {path}, line {line}: {message}")]
    Trace {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The engine's path stopped making progress in virtual time (a loop at one instant).
    #[error("the engine's path stopped in virtual time: {0}")]
    Stalled(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("simulator server stopped unexpectedly: {0}")]
    Server(String),
    /// Options of `acd sim` that contradict each other.
    #[error("{0}")]
    Options(String),
}
