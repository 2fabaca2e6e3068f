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

/// The store for a command that only reads (`history`, `diff`). When the store cannot be
/// opened for writing (a read-only remount, a full disk: sled writes while it opens) but is not
/// damaged, it is read from a copy (`acd_store::ReadOnlyCopy`), and the note says so and why.
pub fn open_store_to_read(
    data_dir: &Path,
) -> Result<(Box<dyn RulesStore>, Option<String>), StoreError> {
    match open_store(data_dir) {
        Ok(store) => Ok((Box::new(store), None)),
        Err(e) if e.is_corruption() || matches!(e, StoreError::Locked { .. }) => Err(e),
        Err(e) => {
            // The copy failing too says no more than the store's own error.
            let Ok(copy) = acd_store::ReadOnlyCopy::open(&store_path(data_dir)) else {
                return Err(e);
            };
            let mut cause = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(inner) = source {
                let text = inner.to_string();
                if !cause.contains(&text) {
                    cause.push_str(&format!(": {text}"));
                }
                source = inner.source();
            }
            let note = format!(
                "note: read from a copy of the store, which cannot be opened for writing \
                 ({cause}); nothing can be applied or rolled back until that is fixed\n"
            );
            Ok((Box::new(copy), Some(note)))
        }
    }
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
/// a new active version. Invalid rules leave the store untouched. `routed` are the queues a
/// running engine routes (its `[routing] queues`; empty for a supervisor's `apply`): rules
/// that do not define one of them are invalid too ([`crate::routed`]).
pub fn apply_dir(
    store: &dyn RulesStore,
    dir: &Path,
    routed: &[String],
    message: &str,
    now: Timestamp,
) -> Result<ApplyOutcome, ApplyError> {
    let files = read_dir(dir)?;
    let mut checked = check_sources(files.clone());
    if checked.is_ok() {
        let missing = crate::routed::missing(&checked.config, routed);
        checked.report.diags.extend(missing);
    }
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
    let mut checked = check_sources(record.files.clone());
    crate::never_matches::tolerate_stored(&mut checked.report);
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
    match apply_dir(&store, dir, &[], message.unwrap_or(""), now) {
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

/// `acd rules history [--rules-dir DIR]`: every version, the store's active one marked `*`,
/// and the one the engine recorded it runs marked `running` (the two differ until the engine
/// picks up a rollback or an apply). With `rules_dir`, also says whether the directory holds
/// edits that no version has yet.
pub fn history(data_dir: &Path, rules_dir: Option<&Path>) -> CommandOutput {
    let (store, note) = match open_store_to_read(data_dir) {
        Ok(s) => s,
        Err(e) => return CommandOutput::failed(format!("error: {e}\n")),
    };
    let mut out = history_of(store.as_ref(), rules_dir);
    if let Some(note) = note {
        out.text.insert_str(0, &note);
    }
    out
}

fn history_of(store: &dyn RulesStore, rules_dir: Option<&Path>) -> CommandOutput {
    let (records, active, running) = match (store.history(), store.active(), store.running()) {
        (Ok(h), Ok(a), Ok(r)) => (h, a, r),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            return CommandOutput::failed(format!("error: {e}\n"))
        }
    };
    let Some(active) = active else {
        return CommandOutput::ok("no rules applied yet\n".into());
    };
    let mut text = String::from("  version  applied (UTC)        sha256        message\n");
    for r in &records {
        let marker = if r.number == active.number { '*' } else { ' ' };
        let mut message = r.message.clone();
        if let Some(from) = r.rollback_of {
            if message.is_empty() {
                message = format!("rollback to version {from}");
            }
        }
        if let Some(run) = running.filter(|run| run.version == r.number) {
            let _ = write!(message, "  [running since {} UTC]", format_utc(run.since));
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
    match running {
        None => text.push_str("(* = active)\n"),
        Some(run) => {
            text.push_str(
                "(* = active: what the engine loads at its next reload; running = what the \
                 engine last recorded it runs)\n",
            );
            if run.version != active.number {
                let _ = writeln!(
                    text,
                    "note: the engine runs version {}, not the active version {}; it switches \
                     at its next reload (SIGHUP or a change in the rules directory)",
                    run.version, active.number
                );
            }
        }
    }
    if let Some(dir) = rules_dir {
        match crate::write_back::unapplied(dir, &active.files) {
            Ok(changes) if changes.is_empty() => {
                let _ = writeln!(
                    text,
                    "the rules directory {} holds the active version's files",
                    dir.display()
                );
            }
            Ok(changes) => {
                let _ = writeln!(
                    text,
                    "the rules directory {} has unapplied edits: {}\n  (`acd rules apply {}` \
                     stores them; an engine watching the directory applies them itself)",
                    dir.display(),
                    list_changes(&changes),
                    dir.display()
                );
            }
            Err(e) => {
                let _ = writeln!(text, "cannot compare the rules directory: {e}");
            }
        }
    }
    CommandOutput::ok(text)
}

fn list_changes(changes: &[crate::write_back::FileChange]) -> String {
    changes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
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
    let (store, note) = match open_store_to_read(data_dir) {
        Ok(s) => s,
        Err(e) => return CommandOutput::failed(format!("error: {e}\n")),
    };
    let mut out = diff_of(store.as_ref(), a, b);
    if let Some(note) = note {
        out.text.insert_str(0, &note);
    }
    out
}

fn diff_of(store: &dyn RulesStore, a: u64, b: u64) -> CommandOutput {
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

/// `acd rules rollback N --rules-dir DIR [--discard-unapplied]`: makes version N's content
/// active again and makes the rules directory hold exactly N's files, so the engine (which
/// watches the directory) and the store agree on what runs, and the next edit in the directory
/// starts from N. Refused if N's files no longer pass the checks, and if the directory holds
/// edits that no version has (they would be lost: judged by content, so a directory identical
/// to any stored version passes) unless `discard_unapplied`, which first saves them under
/// `DATA_DIR/discarded-rules/`.
///
/// The store stays locked throughout, so an engine reloading meanwhile waits and then sees
/// the new files and the new version together.
pub fn rollback(
    data_dir: &Path,
    rules_dir: &Path,
    number: u64,
    discard_unapplied: bool,
    now: Timestamp,
) -> CommandOutput {
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
    let active = match store.active() {
        Ok(Some(active)) => active,
        Ok(None) => {
            return CommandOutput::failed(
                "error: the store holds versions but none is active\n".into(),
            )
        }
        Err(e) => return CommandOutput::failed(format!("error: {e}\n")),
    };
    let current = match read_dir(rules_dir) {
        Ok(files) => files,
        Err(e) => return CommandOutput::failed(format!("error: {e}\nnot rolled back\n")),
    };
    let mut text = String::new();
    let changes = crate::write_back::differences(&current, &active.files);
    // Edits are lost by a rollback only when no stored version holds them: a directory
    // identical to some version (the target itself, say) keeps nothing the store lacks.
    let stored = match stored_content(&store, &current) {
        Ok(stored) => stored,
        Err(e) => return CommandOutput::failed(format!("error: {e}\nnot rolled back\n")),
    };
    if !changes.is_empty() && !stored {
        if !discard_unapplied {
            return CommandOutput::refused(format!(
                "not rolled back: the rules directory {dir} has edits that are not applied \
                 (active version {active}): {list}\n\
                 A rollback rewrites the directory, so these edits would be lost. Either store \
                 them first with\n    acd rules apply {dir}\n\
                 and roll back afterwards, or drop them (a copy is kept) with\n    \
                 acd rules rollback {number} --rules-dir {dir} --discard-unapplied\n",
                dir = rules_dir.display(),
                active = active.number,
                list = list_changes(&changes),
            ));
        }
        let saved = discarded_path(data_dir, now);
        if let Err(e) = crate::write_back::save_copy(&saved, &current) {
            return CommandOutput::failed(format!(
                "error: cannot save the unapplied edits before discarding them: {e}\n\
                 not rolled back: nothing changed\n"
            ));
        }
        let _ = writeln!(
            text,
            "discarded unapplied edits in {}; the directory as it was is saved in {}",
            list_changes(&changes),
            saved.display()
        );
    }
    if let Err(e) = crate::write_back::write_files(rules_dir, &old.files) {
        return CommandOutput::failed(format!(
            "error: {e}\nnot rolled back: the store is unchanged (version {} is active), but \
             the rules directory {} may be partly rewritten; run the rollback again once the \
             cause is fixed\n",
            active.number,
            rules_dir.display()
        ));
    }
    match store.rollback(number, now, &format!("rollback to version {number}")) {
        Ok(record) => {
            let _ = writeln!(
                text,
                "rolled back: version {} is active, with the content of version {number}",
                record.number
            );
            let _ = writeln!(
                text,
                "the rules directory {} now holds version {number}'s {} file(s)",
                rules_dir.display(),
                old.files.len()
            );
            CommandOutput::ok(text)
        }
        Err(e) => CommandOutput::failed(format!(
            "error: {e}\nthe rules directory {} holds version {number}'s files, but the store \
             did not record the rollback; a running engine applies the files as a new version \
             at its next reload, or run `acd rules apply {}`\n",
            rules_dir.display(),
            rules_dir.display()
        )),
    }
}

/// Whether some stored version has exactly the content of `files`.
fn stored_content(store: &dyn RulesStore, files: &[crate::SourceFile]) -> Result<bool, StoreError> {
    let hash = acd_store::content_hash(files);
    Ok(store.history()?.iter().any(|v| v.content_hash == hash))
}

/// A fresh directory under the data directory for edits a rollback discards, stamped with
/// the time of the rollback.
fn discarded_path(data_dir: &Path, now: Timestamp) -> PathBuf {
    let base = data_dir
        .join("discarded-rules")
        .join(format_utc(now).replace([' ', ':'], "-"));
    let mut candidate = base.clone();
    let mut n = 1;
    while candidate.exists() {
        n += 1;
        candidate = base.with_file_name(format!(
            "{}-{n}",
            base.file_name()
                .map_or_else(|| "x".into(), |f| f.to_string_lossy())
        ));
    }
    candidate
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
/// active stored version. The call is placed at `now` unless it gives `time=HH:MM` (today,
/// local), `date=YYYY-MM-DD time=HH:MM` or `at=YYYY-MM-DDTHH:MM` (local time in the rules'
/// zone); the queue's calendar, route time windows and the engine's verdict all use that
/// instant.
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
