//! Which ruleset the engine runs, and how it changes while running.
//!
//! At start the engine runs the store's active version, even when the files on disk are broken:
//! a typo made at night must not stop the contact centre in the morning. Files on disk that are
//! valid and new are applied first (that is how a first install seeds the store).
//!
//! On a reload (file change or SIGHUP): if the files on disk changed since the engine last looked,
//! they are validated and, if valid, applied as a new version; invalid ones are logged and
//! counted and the running version stays. If the files did not change, the store's active version
//! is taken, which is how `acd rules rollback N` (or an `apply` from another directory) reaches a
//! running engine.
//!
//! The store is opened only for the moment it is used: sled allows one process at a time, and
//! supervisors run `acd rules …` while the engine runs.

use super::telemetry;
use acd_core::{RoutingConfig, Timestamp};
use acd_rules::commands::{
    apply_dir, load_active, open_store, ActiveError, ApplyError, ApplyOutcome,
};
use acd_rules::read_dir;
use acd_store::{content_hash, StoreError, VersionRecord};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot open the rules store in {path}: {source}")]
    Open { path: PathBuf, source: StoreError },
    #[error("the active stored ruleset cannot be used: {0}")]
    Active(#[from] ActiveError),
    #[error(
        "no usable routing rules: the store in {data_dir} has no version yet and the files in \
         {rules_dir} are not usable:\n{rendered}"
    )]
    NothingToRun {
        data_dir: PathBuf,
        rules_dir: PathBuf,
        rendered: String,
    },
}

/// The outcome of a reload attempt.
#[derive(Debug)]
pub enum Reload {
    Applied(Arc<RoutingConfig>),
    Unchanged,
    Refused { rendered: String },
}

pub struct RulesManager {
    data_dir: PathBuf,
    rules_dir: PathBuf,
    /// Hash of the files on disk when last looked at (valid or not).
    disk_hash: Option<String>,
    /// Version number the engine runs.
    running: u64,
}

impl RulesManager {
    /// Decides what to run at start.
    pub fn start(
        data_dir: &Path,
        rules_dir: &Path,
        now: Timestamp,
    ) -> Result<(Self, Arc<RoutingConfig>), RulesError> {
        let mut manager = RulesManager {
            data_dir: data_dir.to_path_buf(),
            rules_dir: rules_dir.to_path_buf(),
            disk_hash: None,
            running: 0,
        };
        manager.disk_hash = manager.current_disk_hash();
        let store = manager.open()?;
        match apply_dir(&store, rules_dir, "applied at engine start", now) {
            Ok(outcome) => {
                let config = manager.accept(outcome);
                Ok((manager, config))
            }
            Err(e) => {
                let rendered = render_apply_error(&e);
                match load_active(&store)? {
                    Some((config, record)) => {
                        tracing::warn!(
                            version = record.number,
                            "the routing-rules files are not usable; running the last good stored version\n{rendered}"
                        );
                        metrics::counter!(telemetry::RULES_RELOAD_FAILURES).increment(1);
                        manager.running = record.number;
                        metrics::gauge!(telemetry::RULES_VERSION).set(record.number as f64);
                        Ok((manager, Arc::new(config)))
                    }
                    None => Err(RulesError::NothingToRun {
                        data_dir: data_dir.to_path_buf(),
                        rules_dir: rules_dir.to_path_buf(),
                        rendered,
                    }),
                }
            }
        }
    }

    fn open(&self) -> Result<acd_store::SledRulesStore, RulesError> {
        open_store(&self.data_dir).map_err(|source| RulesError::Open {
            path: self.data_dir.clone(),
            source,
        })
    }

    fn current_disk_hash(&self) -> Option<String> {
        read_dir(&self.rules_dir)
            .ok()
            .map(|files| content_hash(&files))
    }

    fn accept(&mut self, outcome: ApplyOutcome) -> Arc<RoutingConfig> {
        let (record, config, report, new) = match outcome {
            ApplyOutcome::Applied {
                record,
                config,
                report,
            } => (record, config, report, true),
            ApplyOutcome::Unchanged {
                record,
                config,
                report,
            } => (record, config, report, false),
        };
        if report.warnings() > 0 {
            tracing::warn!("routing rules have warnings:\n{}", report.render());
        }
        if new {
            tracing::info!(version = record.number, hash = %record.content_hash, "routing rules applied");
        }
        self.running_now(&record);
        Arc::new(config)
    }

    fn running_now(&mut self, record: &VersionRecord) {
        self.running = record.number;
        metrics::gauge!(telemetry::RULES_VERSION).set(record.number as f64);
    }

    /// Re-reads the rules (see the module docs for which source wins).
    pub fn reload(&mut self, now: Timestamp) -> Reload {
        let disk = self.current_disk_hash();
        let disk_changed = disk.is_none() || disk != self.disk_hash;
        self.disk_hash = disk;
        let store = match self.open() {
            Ok(s) => s,
            Err(e) => return self.refuse(e.to_string()),
        };
        if disk_changed {
            match apply_dir(&store, &self.rules_dir, "hot reload", now) {
                Ok(outcome) => {
                    let before = self.running;
                    let config = self.accept(outcome);
                    if self.running == before {
                        return Reload::Unchanged;
                    }
                    metrics::counter!(telemetry::RULES_RELOADS).increment(1);
                    Reload::Applied(config)
                }
                Err(e) => self.refuse(render_apply_error(&e)),
            }
        } else {
            match load_active(&store) {
                Ok(Some((config, record))) if record.number != self.running => {
                    tracing::info!(
                        version = record.number,
                        "switching to the store's active rules version"
                    );
                    self.running_now(&record);
                    metrics::counter!(telemetry::RULES_RELOADS).increment(1);
                    Reload::Applied(Arc::new(config))
                }
                Ok(_) => Reload::Unchanged,
                Err(e) => self.refuse(e.to_string()),
            }
        }
    }

    fn refuse(&self, rendered: String) -> Reload {
        tracing::error!(
            running = self.running,
            "routing-rules change refused; the running version stays\n{rendered}"
        );
        metrics::counter!(telemetry::RULES_RELOAD_FAILURES).increment(1);
        Reload::Refused { rendered }
    }

    pub fn rules_dir(&self) -> &Path {
        &self.rules_dir
    }

    pub fn running_version(&self) -> u64 {
        self.running
    }
}

fn render_apply_error(e: &ApplyError) -> String {
    match e {
        ApplyError::Invalid(report) => report.render(),
        other => other.to_string(),
    }
}
