//! Which ruleset the engine runs, and how it changes while running.
//!
//! At start the engine runs the store's active version, even when the files on disk are broken:
//! a typo made at night must not stop the contact centre in the morning. If the files on disk
//! are valid and differ from it, they are applied first (that is how a first install seeds the
//! store). While running, a reload (file change or SIGHUP) validates the directory; valid rules
//! become a new version and are swapped in, invalid ones are logged and counted and the last good
//! version stays.

use super::telemetry;
use acd_core::{RoutingConfig, Timestamp};
use acd_rules::commands::{apply_dir, load_active, open_store, ActiveError, ApplyError, ApplyOutcome};
use acd_store::{RulesStore, SledRulesStore, StoreError};
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
         {rules_dir} do not validate:\n{rendered}"
    )]
    NothingToRun {
        data_dir: PathBuf,
        rules_dir: PathBuf,
        rendered: String,
    },
    #[error("cannot store the rules: {0}")]
    Store(#[from] StoreError),
}

/// The outcome of a reload attempt, for logs and metrics.
#[derive(Debug)]
pub enum Reload {
    Applied(Arc<RoutingConfig>),
    Unchanged,
    Refused { rendered: String },
}

pub struct RulesManager {
    store: SledRulesStore,
    rules_dir: PathBuf,
    active_hash: Option<String>,
}

impl RulesManager {
    /// Opens the store and decides what to run at start.
    pub fn start(
        data_dir: &Path,
        rules_dir: &Path,
        now: Timestamp,
    ) -> Result<(Self, Arc<RoutingConfig>), RulesError> {
        let store = open_store(data_dir).map_err(|source| RulesError::Open {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let mut manager = RulesManager {
            store,
            rules_dir: rules_dir.to_path_buf(),
            active_hash: None,
        };
        match apply_dir(&manager.store, rules_dir, "applied at engine start", now) {
            Ok(outcome) => {
                let config = manager.accept(outcome);
                return Ok((manager, config));
            }
            Err(e) => {
                let rendered = render_apply_error(&e);
                match load_active(&manager.store)? {
                    Some((config, record)) => {
                        tracing::warn!(
                            version = record.number,
                            "routing-rules files are not valid; running the last good stored version\n{rendered}"
                        );
                        metrics::counter!(telemetry::RULES_RELOAD_FAILURES).increment(1);
                        manager.active_hash = Some(record.content_hash);
                        metrics::gauge!(telemetry::RULES_VERSION).set(record.number as f64);
                        return Ok((manager, Arc::new(config)));
                    }
                    None => {
                        return Err(RulesError::NothingToRun {
                            data_dir: data_dir.to_path_buf(),
                            rules_dir: rules_dir.to_path_buf(),
                            rendered,
                        })
                    }
                }
            }
        }
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
            metrics::counter!(telemetry::RULES_RELOADS).increment(1);
        }
        metrics::gauge!(telemetry::RULES_VERSION).set(record.number as f64);
        self.active_hash = Some(record.content_hash);
        Arc::new(config)
    }

    /// Validates the rules directory and applies it if valid and changed.
    pub fn reload(&mut self, now: Timestamp) -> Reload {
        match apply_dir(&self.store, &self.rules_dir, "hot reload", now) {
            Ok(ApplyOutcome::Unchanged { record, .. })
                if Some(&record.content_hash) == self.active_hash.as_ref() =>
            {
                Reload::Unchanged
            }
            Ok(outcome) => Reload::Applied(self.accept(outcome)),
            Err(e) => {
                let rendered = render_apply_error(&e);
                tracing::error!(
                    "routing-rules change refused; keeping the active version\n{rendered}"
                );
                metrics::counter!(telemetry::RULES_RELOAD_FAILURES).increment(1);
                Reload::Refused { rendered }
            }
        }
    }

    pub fn rules_dir(&self) -> &Path {
        &self.rules_dir
    }

    /// Makes every write durable (called on shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.store.flush()
    }
}

fn render_apply_error(e: &ApplyError) -> String {
    match e {
        ApplyError::Invalid(report) => report.render(),
        other => other.to_string(),
    }
}
