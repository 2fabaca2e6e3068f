//! Errors of the routing study: a study file that cannot be read or parsed, rules that do not
//! compile, or a scenario the simulator refuses. Each names the file so it can be fixed
//! without reading the code.

use std::path::PathBuf;

use crate::sim::SimError;

#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    #[error("cannot read study file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse study file {path}: {source}")]
    Syntax {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("study file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("study file {path}: the routing rules do not compile:\n{report}")]
    Rules { path: PathBuf, report: String },
    #[error("study file {path}: {source}")]
    Scenario {
        path: PathBuf,
        #[source]
        source: Box<SimError>,
    },
}
