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
//! Whenever the engine starts running a version (at start, and on each reload that changes the
//! version) it records that in the store ([`RulesStore::record_running`]), so `acd rules
//! history` shows what the engine runs, not only what the store holds as active.
//!
//! Rules that leave a routed queue (`[routing] queues`) undefined are refused like invalid ones,
//! whether they come from the files or from the store: the callers of a routed group have no
//! one else to answer them.
//!
//! The store is opened only for the moment it is used: sled allows one process at a time, and
//! supervisors run `acd rules …` while the engine runs.
//!
//! A store that cannot be opened or written (full disk, read-only or damaged data directory)
//! never stops routing: at start the engine runs the valid files on disk unstored (version 0),
//! or the last good version read from a copy of the store (`acd_store::ReadOnlyCopy`); while
//! running it keeps its version. Either way it says so ([`super::store_health`]) and the rules
//! worker tries again until the version is stored and recorded (`store_pending`).

use super::{store_health, telemetry};
use acd_core::{RoutingConfig, Timestamp};
use acd_rules::commands::{
    apply_dir, load_active, open_store, store_path, ActiveError, ApplyError, ApplyOutcome,
};
use acd_rules::read_dir;
use acd_store::{content_hash, ReadOnlyCopy, RulesStore, RunningRecord, StoreError, VersionRecord};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    // The store's error is chained as the source, not repeated in the message: logs and the
    // command line print the whole chain, which showed the cause twice.
    #[error("cannot open the rules store in {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: StoreError,
    },
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
    /// Whether the store holds `running` as the running version.
    recorded: bool,
    /// The config's `[routing] queues`: every ruleset run must define them.
    routed: Vec<String>,
    /// The last store access failed: what runs is not (yet) stored or recorded.
    store_pending: bool,
}

impl RulesManager {
    /// Decides what to run at start.
    pub fn start(
        data_dir: &Path,
        rules_dir: &Path,
        routed: &[String],
        now: Timestamp,
    ) -> Result<(Self, Arc<RoutingConfig>), RulesError> {
        let mut manager = RulesManager {
            data_dir: data_dir.to_path_buf(),
            rules_dir: rules_dir.to_path_buf(),
            disk_hash: None,
            running: 0,
            recorded: false,
            routed: routed.to_vec(),
            store_pending: false,
        };
        manager.disk_hash = manager.current_disk_hash();
        let writable;
        let copy;
        let store: &dyn RulesStore = match manager.open() {
            Ok(opened) => {
                store_health::writable();
                writable = opened;
                &writable
            }
            Err(e) => match ReadOnlyCopy::open(&store_path(data_dir)) {
                Ok(read_only) => {
                    store_health::unwritable(
                        "cannot be opened for writing",
                        &e,
                        "starting from a read-only copy of it: valid rules files run unstored, \
                         otherwise its last good version",
                    );
                    copy = read_only;
                    &copy
                }
                Err(read) => {
                    store_health::unwritable(
                        "cannot be opened",
                        &e,
                        "starting on the rules files without it",
                    );
                    return manager.start_unstored(&read);
                }
            },
        };
        // Files whose content some stored version already has are not news: the active
        // version (perhaps a rollback) wins over them, also across restarts.
        let already_stored = match (&manager.disk_hash, store.active()) {
            (Some(disk), Ok(Some(active))) if *disk != active.content_hash => store
                .history()
                .map(|h| h.iter().any(|v| v.content_hash == *disk))
                .unwrap_or(false),
            _ => false,
        };
        if already_stored {
            if let Some((config, record)) = load_active(store)? {
                tracing::info!(
                    version = record.number,
                    "the rules files hold an older stored version; running the active version"
                );
                manager.running_now(store, &record, now);
                return Ok((manager, Arc::new(config)));
            }
        }
        match apply_dir(
            store,
            rules_dir,
            &manager.routed,
            "applied at engine start",
            now,
        ) {
            Err(ApplyError::Store(e)) => {
                store_health::unwritable(
                    "cannot store the rules files",
                    &e,
                    "running them unstored",
                );
                manager.start_unstored(&e)
            }
            Ok(outcome) => {
                let config = manager.accept(store, outcome, now);
                telemetry::rules_files_valid(true);
                Ok((manager, config))
            }
            Err(e) => {
                let rendered = render_apply_error(&e);
                match load_active(store)? {
                    Some((config, record)) => {
                        tracing::warn!(
                            version = record.number,
                            "the routing-rules files are not usable; running the last good stored version\n{rendered}"
                        );
                        metrics::counter!(telemetry::RULES_RELOAD_FAILURES).increment(1);
                        telemetry::rules_files_valid(false);
                        manager.running_now(store, &record, now);
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

    /// Starts on the rules files without storing them (the store failed with `cause`): they
    /// run as version 0, and the disk hash stays unknown so the next reload (the worker's retry
    /// included) stores them as soon as the store takes writes.
    fn start_unstored(
        mut self,
        cause: &StoreError,
    ) -> Result<(Self, Arc<RoutingConfig>), RulesError> {
        self.disk_hash = None;
        self.store_pending = true;
        self.recorded = false;
        self.running = 0;
        let routed = self.routed.clone();
        let checked = read_dir(&self.rules_dir)
            .map(acd_rules::check_sources)
            .map(|mut checked| {
                // The same refusal as a stored start: routed queues must stay defined.
                if checked.is_ok() {
                    let missing = acd_rules::routed::missing(&checked.config, &routed);
                    checked.report.diags.extend(missing);
                }
                checked
            })
            .map_err(|e| e.to_string())
            .and_then(|checked| checked.into_result().map_err(|report| report.render()));
        match checked {
            Ok((mut config, report)) => {
                if report.warnings() > 0 {
                    tracing::warn!("routing rules have warnings:\n{}", report.render());
                }
                config.version = 0;
                telemetry::rules_files_valid(true);
                metrics::gauge!(telemetry::RULES_VERSION).set(0.0);
                tracing::warn!(
                    rules_dir = %self.rules_dir.display(),
                    "routing on the rules files, not stored (version 0) until the rules store \
                     can be written"
                );
                Ok((self, Arc::new(config)))
            }
            Err(rendered) => Err(RulesError::NothingToRun {
                data_dir: self.data_dir.clone(),
                rules_dir: self.rules_dir.clone(),
                rendered: format!(
                    "{rendered}\nand the rules store cannot be read: {}",
                    store_health::cause_chain(cause)
                ),
            }),
        }
    }

    /// Whether what runs is not yet stored or recorded because the store failed: the rules
    /// worker then reloads again after a while.
    pub fn store_pending(&self) -> bool {
        self.store_pending
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

    fn accept(
        &mut self,
        store: &dyn RulesStore,
        outcome: ApplyOutcome,
        now: Timestamp,
    ) -> Arc<RoutingConfig> {
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
        self.running_now(store, &record, now);
        Arc::new(config)
    }

    /// The engine runs `record` from now on: remembered here, exported, and recorded in the
    /// store when it is news (the first time, or a different version), so a reload that
    /// changes nothing costs no write.
    fn running_now(&mut self, store: &dyn RulesStore, record: &VersionRecord, now: Timestamp) {
        let news = self.running != record.number || !self.recorded;
        self.running = record.number;
        metrics::gauge!(telemetry::RULES_VERSION).set(record.number as f64);
        if news {
            let running = RunningRecord {
                version: record.number,
                since: now,
            };
            // Routing goes on either way; only `history`'s "running" mark would lag, so say so
            // and try again at the next reload.
            match store.record_running(running) {
                Ok(()) => self.recorded = true,
                Err(e) => {
                    self.recorded = false;
                    self.store_pending = true;
                    store_health::unwritable(
                        &format!("cannot record that version {} runs", record.number),
                        &e,
                        "routing goes on; `acd rules history` may not show it as running",
                    );
                }
            }
        }
    }

    /// Re-reads the rules (see the module docs for which source wins).
    pub fn reload(&mut self, now: Timestamp) -> Reload {
        let disk = self.current_disk_hash();
        let disk_changed = disk.is_none() || disk != self.disk_hash;
        let store = match self.open() {
            Ok(s) => s,
            // The files stay "changed": the next reload tries them again.
            Err(e) => return self.store_failed("cannot be opened", &e),
        };
        // Cleared here, set again below by any write that fails.
        self.store_pending = false;
        store_health::writable();
        if disk_changed {
            let result = apply_dir(&store, &self.rules_dir, &self.routed, "hot reload", now);
            // Remember the files as seen once they were judged (applied or invalid), not when
            // the store could not be reached.
            if matches!(result, Ok(_) | Err(ApplyError::Invalid(_))) {
                self.disk_hash = disk;
            }
            match result {
                Ok(outcome) => {
                    telemetry::rules_files_valid(true);
                    let before = self.running;
                    let config = self.accept(&store, outcome, now);
                    if self.running == before {
                        return Reload::Unchanged;
                    }
                    metrics::counter!(telemetry::RULES_RELOADS).increment(1);
                    Reload::Applied(config)
                }
                Err(ApplyError::Store(e)) => self.store_failed("cannot store the rules files", &e),
                Err(e) => self.refuse(render_apply_error(&e)),
            }
        } else {
            match load_active(&store) {
                Ok(Some((config, record))) if record.number != self.running => {
                    let missing = acd_rules::routed::missing(&config, &self.routed);
                    if !missing.is_empty() {
                        let report = acd_rules::Report {
                            files: record.files,
                            diags: missing,
                        };
                        return self.refuse(format!(
                            "the store's active version {} cannot run:\n{}",
                            record.number,
                            report.render()
                        ));
                    }
                    tracing::info!(
                        version = record.number,
                        "switching to the store's active rules version"
                    );
                    self.running_now(&store, &record, now);
                    metrics::counter!(telemetry::RULES_RELOADS).increment(1);
                    Reload::Applied(Arc::new(config))
                }
                // The version runs but the store missed it (the store failed when it started):
                // record it now.
                Ok(Some((_, record))) if !self.recorded => {
                    self.running_now(&store, &record, now);
                    Reload::Unchanged
                }
                Ok(_) => Reload::Unchanged,
                Err(e) => self.refuse(e.to_string()),
            }
        }
    }

    /// The store failed during a reload: the running version stays, the files stay "changed"
    /// (so the next reload, or the worker's retry, tries them again), and the files are not
    /// called invalid.
    fn store_failed(&mut self, what: &str, error: &dyn std::error::Error) -> Reload {
        self.store_pending = true;
        store_health::unwritable(
            what,
            error,
            &format!("the running version {} stays", self.running),
        );
        Reload::Refused {
            rendered: store_health::cause_chain(error),
        }
    }

    fn refuse(&self, rendered: String) -> Reload {
        tracing::error!(
            running = self.running,
            "routing-rules change refused; the running version stays\n{rendered}"
        );
        metrics::counter!(telemetry::RULES_RELOAD_FAILURES).increment(1);
        telemetry::rules_files_valid(false);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::example_rules;

    const T0: Timestamp = Timestamp(1_748_851_200_000);

    fn edit(dir: &Path, from: &str, to: &str) {
        let path = dir.join("20-queues.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from));
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    #[test]
    fn a_rollback_survives_reloads_and_restarts() {
        let data = tempfile::tempdir().unwrap();
        let rules = tempfile::tempdir().unwrap();
        example_rules::write_to(rules.path()).unwrap();

        let (mut m, config) = RulesManager::start(data.path(), rules.path(), &[], T0).unwrap();
        assert_eq!(config.version, 1);
        edit(rules.path(), "max_waiting = 15", "max_waiting = 16");
        assert!(matches!(m.reload(T0), Reload::Applied(c) if c.version == 2));

        assert_eq!(running(data.path()), 2);

        // A supervisor rolls back to version 1 (stored as version 3): the files are written
        // back, and the engine's reload (here by hand, the watcher in the daemon) runs them.
        let out = acd_rules::commands::rollback(data.path(), rules.path(), 1, false, T0);
        assert_eq!(out.exit_code, 0, "{}", out.text);
        assert!(matches!(m.reload(T0), Reload::Applied(c) if c.version == 3));
        assert_eq!(running(data.path()), 3);
        assert!(matches!(m.reload(T0), Reload::Unchanged));
        drop(m);

        // The files on disk hold version 1's content again: a restart keeps the rollback.
        let (m, config) = RulesManager::start(data.path(), rules.path(), &[], T0).unwrap();
        assert_eq!(config.version, 3);
        assert_eq!(m.running_version(), 3);
        let sales = &config.queues[&acd_core::QueueId::from("Sales")];
        assert_eq!(sales.max_waiting.as_ref().map(|w| w.0), Some(15));

        // A genuinely new edit still wins, and it starts from the rolled-back content.
        edit(rules.path(), "max_waiting = 15", "max_waiting = 17");
        drop(m);
        let (_, config) = RulesManager::start(data.path(), rules.path(), &[], T0).unwrap();
        assert_eq!(config.version, 4);
        assert_eq!(running(data.path()), 4);
    }

    /// What the engine recorded in the store as the version it runs.
    fn running(data: &Path) -> u64 {
        let store = open_store(data).unwrap();
        store.running().unwrap().unwrap().version
    }

    /// The sequence that silently undid a rollback: roll back, then add one comment line. The
    /// engine must then run version 1's content plus the comment, not version 2's.
    #[test]
    fn an_edit_after_a_rollback_builds_on_the_rolled_back_files() {
        let data = tempfile::tempdir().unwrap();
        let rules = tempfile::tempdir().unwrap();
        example_rules::write_to(rules.path()).unwrap();
        let (mut m, _) = RulesManager::start(data.path(), rules.path(), &[], T0).unwrap();
        edit(rules.path(), "max_waiting = 15", "max_waiting = 16");
        assert!(matches!(m.reload(T0), Reload::Applied(c) if c.version == 2));
        let out = acd_rules::commands::rollback(data.path(), rules.path(), 1, false, T0);
        assert_eq!(out.exit_code, 0, "{}", out.text);
        assert!(matches!(m.reload(T0), Reload::Applied(c) if c.version == 3));

        let path = rules.path().join("20-queues.toml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("# checked after the rollback\n");
        std::fs::write(&path, text).unwrap();
        let config = match m.reload(Timestamp(T0.0 + 1_000)) {
            Reload::Applied(c) => c,
            other => panic!("{other:?}"),
        };
        assert_eq!(config.version, 4);
        let sales = &config.queues[&acd_core::QueueId::from("Sales")];
        assert_eq!(sales.max_waiting.as_ref().map(|w| w.0), Some(15));
        let store = open_store(data.path()).unwrap();
        let v1 = store.get(1).unwrap().unwrap();
        let v4 = store.get(4).unwrap().unwrap();
        let diff = acd_rules::commands::diff_records(&v1, &v4);
        let changed: Vec<&str> = diff
            .lines()
            .filter(|l| {
                (l.starts_with('+') || l.starts_with('-'))
                    && !l.starts_with("+++")
                    && !l.starts_with("---")
            })
            .collect();
        assert_eq!(changed, ["+# checked after the rollback"], "{diff}");
        assert_eq!(store.running().unwrap().map(|r| r.version), Some(4));
    }

    #[test]
    fn broken_files_at_start_run_the_last_good_version() {
        let data = tempfile::tempdir().unwrap();
        let rules = tempfile::tempdir().unwrap();
        example_rules::write_to(rules.path()).unwrap();
        let (m, _) = RulesManager::start(data.path(), rules.path(), &[], T0).unwrap();
        drop(m);
        edit(
            rules.path(),
            "strategy = \"longest-idle\"",
            "strategy = \"longest-idel\"",
        );
        let (mut m, config) = RulesManager::start(data.path(), rules.path(), &[], T0).unwrap();
        assert_eq!(config.version, 1);
        // Refused once at start; a reload without a new edit changes nothing.
        assert!(matches!(m.reload(T0), Reload::Unchanged));
        assert_eq!(m.running_version(), 1);
        edit(
            rules.path(),
            "strategy = \"longest-idel\"",
            "strategy = \"fewest-calls\"",
        );
        assert!(matches!(m.reload(T0), Reload::Applied(c) if c.version == 2));
    }

    /// Renames a queue everywhere in the example rules, so they stay valid on their own.
    fn rename_queue(dir: &Path, from: &str, to: &str) {
        for file in ["20-queues.toml", "30-routes.toml"] {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&path, text.replace(from, to)).unwrap();
        }
    }

    /// Issue 24 (6): with `queues = ["Sales", "Support"]`, renaming Support in the rules was
    /// applied live and Support's callers were no longer routed.
    #[test]
    fn a_reload_that_drops_a_routed_queue_is_refused_and_names_it() {
        let data = tempfile::tempdir().unwrap();
        let rules = tempfile::tempdir().unwrap();
        example_rules::write_to(rules.path()).unwrap();
        let routed = ["Sales".to_string(), "Support".to_string()];
        let (mut m, config) = RulesManager::start(data.path(), rules.path(), &routed, T0).unwrap();
        assert_eq!(config.version, 1);

        rename_queue(rules.path(), "Support", "Helpdesk");
        assert!(acd_rules::check_dir(rules.path()).unwrap().is_ok());
        match m.reload(T0) {
            Reload::Refused { rendered } => {
                assert!(rendered.contains("queue `Support`"), "{rendered}");
                assert!(rendered.contains("[queues.Support]"), "{rendered}");
            }
            other => panic!("applied a ruleset without a routed queue: {other:?}"),
        }
        assert_eq!(m.running_version(), 1);
        let store = open_store(data.path()).unwrap();
        assert_eq!(store.active().unwrap().unwrap().number, 1);
        drop(store);

        // Applied from elsewhere (a supervisor's `apply`, which does not know the engine's
        // config), the version reaches the engine through the store: refused there too.
        let out = acd_rules::commands::apply(data.path(), rules.path(), None, T0);
        assert_eq!(out.exit_code, 0, "{}", out.text);
        match m.reload(T0) {
            Reload::Refused { rendered } => {
                assert!(rendered.contains("queue `Support`"), "{rendered}")
            }
            other => panic!("ran a stored version without a routed queue: {other:?}"),
        }
        assert_eq!(m.running_version(), 1);
        drop(m);

        // A restart with files lacking the queue runs the last good version that has it
        // instead of applying them.
        let out = acd_rules::commands::rollback(data.path(), rules.path(), 1, false, T0);
        assert_eq!(out.exit_code, 0, "{}", out.text);
        rename_queue(rules.path(), "Support", "Hotline");
        let (m, config) = RulesManager::start(data.path(), rules.path(), &routed, T0).unwrap();
        assert_eq!(m.running_version(), 3, "version 3 is the rollback to 1");
        assert!(config
            .queues
            .contains_key(&acd_core::QueueId::from("Support")));
    }

    #[test]
    fn nothing_to_run_is_a_clear_error() {
        let data = tempfile::tempdir().unwrap();
        let rules = tempfile::tempdir().unwrap();
        example_rules::write_to(rules.path()).unwrap();
        edit(
            rules.path(),
            "strategy = \"longest-idle\"",
            "strategy = \"longest-idel\"",
        );
        let err = RulesManager::start(data.path(), rules.path(), &[], T0)
            .err()
            .unwrap();
        assert!(err.to_string().contains("no usable routing rules"), "{err}");
        assert!(err.to_string().contains("longest-idel"), "{err}");
    }

    #[test]
    fn a_store_that_will_not_open_names_the_cause_once() {
        let err = RulesError::Open {
            path: PathBuf::from("/var/lib/acd"),
            source: StoreError::Locked {
                path: PathBuf::from("/var/lib/acd/rules"),
                waited_ms: 5_000,
            },
        };
        // The chain as `{:#}` prints it at the command line: each error, then its source.
        let mut chain = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(e) = source {
            chain.push_str(&format!(": {e}"));
            source = e.source();
        }
        assert_eq!(
            chain.matches("is in use by another process").count(),
            1,
            "{chain}"
        );
        assert!(
            chain.starts_with("cannot open the rules store in /var/lib/acd: "),
            "{chain}"
        );
    }
}

#[cfg(test)]
#[path = "rules_manager/store_tests.rs"]
mod store_tests;
