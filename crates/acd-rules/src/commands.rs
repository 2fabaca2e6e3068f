//! `acd rules check|apply|history|diff|rollback|explain|rebuild-store` as library functions.
//!
//! Each returns the text to print and the process exit code, so the binary's argument parsing
//! stays a thin shell and the behaviour is testable without spawning processes. The store lives
//! in `<data-dir>/rules`. Exit codes: 0 success, 1 the rules (or the request) were refused,
//! 2 the data could not be read or written.
//!
//! The daemon uses [`apply_dir`] and [`load_active`] for start-up and hot reload.

use crate::{check_sources, read_dir, Checked, LoadError, Report};
use acd_core::{RoutingConfig, Timestamp};
use acd_store::{NewVersion, RulesStore, SledRulesStore, StoreError, VersionRecord};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// What a command prints and how the process should exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    pub text: String,
    pub exit_code: i32,
}

impl CommandOutput {
    fn ok(text: String) -> Self {
        CommandOutput { text, exit_code: 0 }
    }

    fn refused(text: String) -> Self {
        CommandOutput { text, exit_code: 1 }
    }

    fn failed(text: String) -> Self {
        CommandOutput { text, exit_code: 2 }
    }
}

/// Where the rules store lives inside the daemon's data directory.
pub fn store_path(data_dir: &Path) -> PathBuf {
    data_dir.join("rules")
}

pub fn open_store(data_dir: &Path) -> Result<SledRulesStore, StoreError> {
    SledRulesStore::open(&store_path(data_dir))
}

#[derive(Debug, Error)]
pub enum ApplyError {
    #[error("the rules have {} error(s)", .0.errors())]
    Invalid(Report),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug)]
pub enum ApplyOutcome {
    /// A new version was stored and is active; `config.version` is its number.
    Applied {
        record: VersionRecord,
        config: RoutingConfig,
        report: Report,
    },
    /// The files are identical to the active version; nothing was written.
    Unchanged {
        record: VersionRecord,
        config: RoutingConfig,
        report: Report,
    },
}

/// Validates `dir` and, if it has no errors and differs from the active version, stores it as
/// a new active version. Invalid rules leave the store untouched.
pub fn apply_dir(
    store: &dyn RulesStore,
    dir: &Path,
    message: &str,
    now: Timestamp,
) -> Result<ApplyOutcome, ApplyError> {
    let files = read_dir(dir)?;
    let checked = check_sources(files.clone());
    let (mut config, report) = checked.into_result().map_err(ApplyError::Invalid)?;
    if let Some(active) = store.active()? {
        if active.content_hash == acd_store::content_hash(&files) {
            config.version = active.number;
            return Ok(ApplyOutcome::Unchanged {
                record: active,
                config,
                report,
            });
        }
    }
    let record = store.apply(NewVersion {
        files: &files,
        message,
        applied_at: now,
    })?;
    config.version = record.number;
    Ok(ApplyOutcome::Applied {
        record,
        config,
        report,
    })
}

#[derive(Debug, Error)]
pub enum ActiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Only possible if the rules format changed incompatibly since the version was stored.
    #[error("stored version {number} no longer compiles:\n{rendered}")]
    Invalid { number: u64, rendered: String },
}

/// Compiles the active stored version: what the engine runs at start, whatever the state of
/// the files on disk.
pub fn load_active(
    store: &dyn RulesStore,
) -> Result<Option<(RoutingConfig, VersionRecord)>, ActiveError> {
    let Some(record) = store.active()? else {
        return Ok(None);
    };
    compile_record(&record).map(|config| Some((config, record)))
}

fn compile_record(record: &VersionRecord) -> Result<RoutingConfig, ActiveError> {
    let checked = check_sources(record.files.clone());
    match checked.into_result() {
        Ok((mut config, _)) => {
            config.version = record.number;
            Ok(config)
        }
        Err(report) => Err(ActiveError::Invalid {
            number: record.number,
            rendered: report.render(),
        }),
    }
}

fn describe(checked: &Checked) -> String {
    let c = &checked.config;
    format!(
        "{} queue(s), {} agent(s), {} route(s)",
        c.queues.len(),
        c.agents.len(),
        c.routes.len()
    )
}

/// `acd rules check DIR`.
pub fn check(dir: &Path) -> CommandOutput {
    let checked = match read_dir(dir) {
        Ok(files) => check_sources(files),
        Err(e) => return CommandOutput::failed(format!("error: {e}\n")),
    };
    let mut text = checked.report.render();
    if checked.is_ok() {
        let _ = writeln!(text, "rules OK: {}", describe(&checked));
        CommandOutput::ok(text)
    } else {
        let _ = writeln!(text, "rules NOT OK: fix the errors above");
        CommandOutput::refused(text)
    }
}

/// `acd rules apply DIR [--message M]`.
pub fn apply(data_dir: &Path, dir: &Path, message: Option<&str>, now: Timestamp) -> CommandOutput {
    let store = match open_store(data_dir) {
        Ok(s) => s,
        Err(e) => return CommandOutput::failed(format!("error: {e}\n")),
    };
    match apply_dir(&store, dir, message.unwrap_or(""), now) {
        Ok(ApplyOutcome::Applied { record, report, .. }) => {
            let mut text = if report.diags.is_empty() {
                String::new()
            } else {
                report.render()
            };
            let _ = writeln!(
                text,
                "applied version {} ({} file(s), sha256 {})",
                record.number,
                record.files.len(),
                short_hash(&record.content_hash)
            );
            CommandOutput::ok(text)
        }
        Ok(ApplyOutcome::Unchanged { record, .. }) => CommandOutput::ok(format!(
            "unchanged: the files are identical to active version {}\n",
            record.number
        )),
        Err(ApplyError::Invalid(report)) => {
            let mut text = report.render();
            let _ = writeln!(text, "not applied: the active version is unchanged");
            CommandOutput::refused(text)
        }
        Err(e) => CommandOutput::failed(format!("error: {e}\n")),
    }
}

fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// `acd rules history`.
pub fn history(data_dir: &Path) -> CommandOutput {
    let store = match open_store(data_dir) {
        Ok(s) => s,
        Err(e) => return CommandOutput::failed(format!("error: {e}\n")),
    };
    let (records, active) = match (store.history(), store.active()) {
        (Ok(h), Ok(a)) => (h, a.map(|r| r.number)),
        (Err(e), _) | (_, Err(e)) => return CommandOutput::failed(format!("error: {e}\n")),
    };
    if records.is_empty() {
        return CommandOutput::ok("no rules applied yet\n".into());
    }
    let mut text = String::from("  version  applied (UTC)        sha256        message\n");
    for r in &records {
        let marker = if Some(r.number) == active { '*' } else { ' ' };
        let mut message = r.message.clone();
        if let Some(from) = r.rollback_of {
            if message.is_empty() {
                message = format!("rollback to version {from}");
            }
        }
        let _ = writeln!(
            text,
            "{marker} {:>7}  {}  {}  {}",
            r.number,
            format_utc(r.applied_at),
            short_hash(&r.content_hash),
            message
        );
    }
    text.push_str("(* = active)\n");
    CommandOutput::ok(text)
}

/// `YYYY-MM-DD HH:MM:SS` for a Unix-epoch millisecond timestamp.
pub fn format_utc(at: Timestamp) -> String {
    let secs = at.as_millis() / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `acd rules diff A B`: unified diff of the stored source files of two versions.
pub fn diff(data_dir: &Path, a: u64, b: u64) -> CommandOutput {
    let store = match open_store(data_dir) {
        Ok(s) => s,
        Err(e) => return CommandOutput::failed(format!("error: {e}\n")),
    };
    let get = |n: u64| match store.get(n) {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(CommandOutput::refused(format!(
            "version {n} does not exist (see `acd rules history`)\n"
        ))),
        Err(e) => Err(CommandOutput::failed(format!("error: {e}\n"))),
    };
    let (old, new) = match (get(a), get(b)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(out), _) | (_, Err(out)) => return out,
    };
    CommandOutput::ok(diff_records(&old, &new))
}

/// The unified diff between two versions' files (added and removed files diff against empty).
pub fn diff_records(old: &VersionRecord, new: &VersionRecord) -> String {
    let mut names: Vec<&str> = old
        .files
        .iter()
        .chain(&new.files)
        .map(|f| f.name.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    let text_of = |r: &VersionRecord, name: &str| {
        r.files
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.text.clone())
    };
    let mut out = String::new();
    for name in names {
        let (a, b) = (text_of(old, name), text_of(new, name));
        if a == b {
            continue;
        }
        let (a_text, b_text) = (a.clone().unwrap_or_default(), b.clone().unwrap_or_default());
        let a_name = match a {
            Some(_) => format!("v{}/{name}", old.number),
            None => "/dev/null".to_string(),
        };
        let b_name = match b {
            Some(_) => format!("v{}/{name}", new.number),
            None => "/dev/null".to_string(),
        };
        let diff = similar::TextDiff::from_lines(&a_text, &b_text);
        let _ = write!(
            out,
            "{}",
            diff.unified_diff()
                .context_radius(3)
                .missing_newline_hint(true)
                .header(&a_name, &b_name)
        );
    }
    if out.is_empty() {
        out = format!(
            "versions {} and {} have identical files\n",
            old.number, new.number
        );
    }
    out
}

/// `acd rules rollback N`: makes a new version with the content of version N. Refused if N's
/// files no longer pass the checks.
pub fn rollback(data_dir: &Path, number: u64, now: Timestamp) -> CommandOutput {
    let store = match open_store(data_dir) {
        Ok(s) => s,
        Err(e) => return CommandOutput::failed(format!("error: {e}\n")),
    };
    let old = match store.get(number) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return CommandOutput::refused(format!(
                "version {number} does not exist (see `acd rules history`)\n"
            ))
        }
        Err(e) => return CommandOutput::failed(format!("error: {e}\n")),
    };
    if let Err(e) = compile_record(&old) {
        return CommandOutput::refused(format!("not rolled back: {e}\n"));
    }
    match store.rollback(number, now, &format!("rollback to version {number}")) {
        Ok(record) => CommandOutput::ok(format!(
            "rolled back: version {} is active, with the content of version {number}\n",
            record.number
        )),
        Err(e) => CommandOutput::failed(format!("error: {e}\n")),
    }
}

/// `acd rules rebuild-store DIR`: the way out of a corrupted store. The damaged store is moved
/// aside (kept for inspection, never deleted) and a fresh one is created holding DIR's rules as
/// version 1. Refused when the rules have errors, and when the store is healthy (rebuilding
/// would throw its history away for nothing) or merely busy.
pub fn rebuild_store(data_dir: &Path, dir: &Path, now: Timestamp) -> CommandOutput {
    let files = match read_dir(dir) {
        Ok(files) => files,
        Err(e) => return CommandOutput::failed(format!("error: {e}\n")),
    };
    let checked = check_sources(files.clone());
    if !checked.is_ok() {
        let mut text = checked.report.render();
        text.push_str("not rebuilt: fix the rules first; the store is untouched\n");
        return CommandOutput::refused(text);
    }
    let path = store_path(data_dir);
    let mut moved_to = None;
    if path.exists() {
        match open_store(data_dir) {
            Ok(_) => {
                return CommandOutput::refused(format!(
                    "not rebuilt: the rules store at {} is readable; use `acd rules apply` \
                     (rebuilding would discard its history)\n",
                    path.display()
                ))
            }
            Err(e) if e.is_corruption() => {
                let aside = aside_path(&path, now);
                if let Err(e) = std::fs::rename(&path, &aside) {
                    return CommandOutput::failed(format!(
                        "error: cannot move the damaged store {} to {}: {e}\n",
                        path.display(),
                        aside.display()
                    ));
                }
                moved_to = Some(aside);
            }
            Err(e) => return CommandOutput::failed(format!("error: {e}\n")),
        }
    }
    let store = match open_store(data_dir) {
        Ok(s) => s,
        Err(e) => return CommandOutput::failed(format!("error: {e}\n")),
    };
    let message = format!("rebuilt from {}", dir.display());
    let record = match store.apply(NewVersion {
        files: &files,
        message: &message,
        applied_at: now,
    }) {
        Ok(record) => record,
        Err(e) => return CommandOutput::failed(format!("error: {e}\n")),
    };
    let mut text = format!(
        "rebuilt the rules store at {}: version {} holds {} ({} file(s), sha256 {})\n",
        path.display(),
        record.number,
        dir.display(),
        record.files.len(),
        short_hash(&record.content_hash)
    );
    if let Some(aside) = moved_to {
        let _ = writeln!(
            text,
            "the damaged store was moved to {} (delete it once you no longer need it)",
            aside.display()
        );
    }
    CommandOutput::ok(text)
}

/// A free name beside `path` for a damaged store, stamped with the time of the rebuild.
fn aside_path(path: &Path, now: Timestamp) -> PathBuf {
    let stamp = format_utc(now).replace([' ', ':'], "-");
    let base = format!(
        "{}.corrupted-{stamp}",
        path.file_name()
            .map_or_else(|| "rules".into(), |n| n.to_string_lossy())
    );
    let mut candidate = path.with_file_name(&base);
    let mut n = 1;
    while candidate.exists() {
        n += 1;
        candidate = path.with_file_name(format!("{base}-{n}"));
    }
    candidate
}

/// `acd rules explain --call k=v … [--dir DIR]`: under the rules in `dir` if given, else the
/// active stored version. `now` is used for opening hours and time-of-day conditions unless
/// the call gives `time=HH:MM`.
pub fn explain(
    data_dir: &Path,
    dir: Option<&Path>,
    call: &[String],
    now: Timestamp,
) -> CommandOutput {
    let call = match crate::explain::parse_call(call) {
        Ok(c) => c,
        Err(e) => return CommandOutput::refused(format!("error: {e}\n")),
    };
    let (config, version) = match dir {
        Some(dir) => {
            let files = match read_dir(dir) {
                Ok(files) => files,
                Err(e) => return CommandOutput::failed(format!("error: {e}\n")),
            };
            let hash = acd_store::content_hash(&files);
            let checked = check_sources(files);
            if !checked.is_ok() {
                let mut text = checked.report.render();
                text.push_str("cannot explain: the rules have errors\n");
                return CommandOutput::refused(text);
            }
            let mut config = checked.config;
            let version = directory_version(data_dir, &hash);
            config.version = version.number;
            (config, version.label)
        }
        None => {
            let store = match open_store(data_dir) {
                Ok(s) => s,
                Err(e) => return CommandOutput::failed(format!("error: {e}\n")),
            };
            match load_active(&store) {
                Ok(Some((config, record))) => (config, format!("{} (active)", record.number)),
                Ok(None) => {
                    return CommandOutput::refused(
                        "no active rules version: apply one first or pass --dir\n".into(),
                    )
                }
                Err(e) => return CommandOutput::failed(format!("error: {e}\n")),
            }
        }
    };
    CommandOutput::ok(crate::explain::explain_call_as(
        &config, &version, &call, now,
    ))
}

/// Which store version a rules directory is, or would become.
struct DirectoryVersion {
    number: u64,
    label: String,
}

/// The active version when the files are identical to it, else the number `apply` would give
/// them. Reading the store is optional here: explaining a directory must work without one.
fn directory_version(data_dir: &Path, hash: &str) -> DirectoryVersion {
    if !store_path(data_dir).exists() {
        return DirectoryVersion {
            number: 1,
            label: "1 if applied (no version applied yet)".into(),
        };
    }
    let active = open_store(data_dir).and_then(|store| store.active());
    match active {
        Ok(Some(active)) if active.content_hash == hash => DirectoryVersion {
            number: active.number,
            label: format!("{} (active; identical files)", active.number),
        },
        Ok(Some(active)) => DirectoryVersion {
            number: active.number + 1,
            label: format!(
                "{} if applied (not applied yet; active is {})",
                active.number + 1,
                active.number
            ),
        },
        Ok(None) => DirectoryVersion {
            number: 1,
            label: "1 if applied (no version applied yet)".into(),
        },
        Err(e) => DirectoryVersion {
            number: 0,
            label: format!("unknown (not applied; {e})"),
        },
    }
}
