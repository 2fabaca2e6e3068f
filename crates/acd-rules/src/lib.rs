//! Routing-rule files: parse, validate with diagnostics, graph checks, compile to the core's
//! [`acd_core::RoutingConfig`].
//!
//! Supervisors edit TOML files (format: `FORMAT.md` beside this crate). A typo must never take
//! the contact centre down, so nothing here panics on input, every problem is reported at once
//! with file, line, column and a hint, and the daemon only swaps in a ruleset that compiled
//! without errors. The `commands` module is the `acd rules …` CLI as a library.

// Rules, events and stored data come from outside: a panic on them would stop routing.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod calendar;
pub mod collective;
pub mod commands;
pub mod cost;
pub mod diag;
pub mod duration;
pub mod explain;
pub mod graph;
pub mod language;
pub mod lines;
pub mod lookups;
pub mod model;
pub mod never_matches;
pub mod numbering;
pub mod parse;
pub mod resolve;
pub mod routed;
pub mod rules_dir;
pub mod skill_expr;
pub mod state_test;
pub mod synthetic;
pub mod target;
pub mod time_zone;
pub mod walk;
pub mod write_back;

pub use acd_store::SourceFile;
pub use diag::{Diag, Loc, Report, Severity};
pub use rules_dir::read_dir;

use acd_core::RoutingConfig;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Reading the rules directory failed (as opposed to the rules being wrong).
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("cannot read rules directory {path}: {source}")]
    ReadDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read rule file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `*.toml` entries that are not rule files (see [`rules_dir`]); none of the files was read.
    #[error(
        "the rules directory {dir} holds entries that are not rule files, so none of its files \
         was used:{}",
        rules_dir::list(entries)
    )]
    Refused {
        dir: PathBuf,
        entries: Vec<rules_dir::RefusedEntry>,
    },
    #[error(
        "the rule files in {dir} are too large: {bytes} bytes, more than the limit of {limit} bytes \
         ({path} reached it); rulesets are a few hundred kilobytes even for large centres — check \
         that no generated or copied file landed in the rules directory"
    )]
    TooLarge {
        dir: PathBuf,
        path: PathBuf,
        bytes: u64,
        limit: u64,
    },
}

/// The most a ruleset's `*.toml` files may hold together: 4 MiB.
///
/// Checking takes time and memory in proportion to the text, but the memory is large: the TOML
/// parser's tree (every key and value with its span, kept for diagnostics) peaks at about 45
/// bytes per byte of rules, so 4 MiB of rules need some 200 MB for a moment. A directory beyond
/// the limit is refused before its files are read whole, so a stray generated or copied file
/// cannot take the engine's memory. Real rulesets are far smaller: the synthetic one with
/// 20,000 agents and skills is 3.6 MB, a centre with 2,000 agents a few hundred kilobytes.
pub const MAX_RULES_BYTES: u64 = 4 * 1024 * 1024;

/// The result of checking a ruleset: the compiled config (meaningful only without errors) and
/// every finding.
#[derive(Debug, Clone)]
pub struct Checked {
    pub config: RoutingConfig,
    pub report: Report,
}

impl Checked {
    pub fn is_ok(&self) -> bool {
        !self.report.has_errors()
    }

    /// The config if there were no errors, else the report.
    pub fn into_result(self) -> Result<(RoutingConfig, Report), Report> {
        if self.is_ok() {
            Ok((self.config, self.report))
        } else {
            Err(self.report)
        }
    }
}

/// The text without a leading UTF-8 byte-order mark. Editors on Windows like to add one; TOML
/// allows it, but every byte offset (and so every reported column on the first line) would be
/// off by the mark's three bytes, and stored versions would differ from identical-looking files.
pub fn without_bom(text: String) -> String {
    match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    }
}

/// Checks and compiles a set of rule files.
pub fn check_sources(mut files: Vec<SourceFile>) -> Checked {
    files.sort();
    // Versions stored before marks were stripped on reading may still carry one.
    for file in &mut files {
        file.text = without_bom(std::mem::take(&mut file.text));
    }
    let mut diags = Vec::new();
    let bytes: u64 = files.iter().map(|f| f.text.len() as u64).sum();
    let mut report = Report {
        files,
        diags: Vec::new(),
    };
    // Rules that did not come through `read_dir` (stored versions, library callers) are held
    // to the same bound before the parser's tree multiplies their size.
    if bytes > MAX_RULES_BYTES {
        report.diags.push(
            Diag::error(
                "rules::too-large",
                format!(
                    "the rule files hold {bytes} bytes, more than the limit of {MAX_RULES_BYTES}"
                ),
            )
            .help(
                "rulesets are a few hundred kilobytes even for large centres: check that no \
                 generated or copied file landed in the rules directory",
            ),
        );
        return Checked {
            config: RoutingConfig::default(),
            report,
        };
    }
    if report.files.is_empty() {
        diags.push(
            Diag::error("rules::no-files", "no rule files found")
                .help("put one or more *.toml files in the rules directory"),
        );
    }
    let mut defs = Vec::new();
    let mut syntax_ok = true;
    for (i, file) in report.files.iter().enumerate() {
        match parse::parse_file(i, &file.text, &mut diags) {
            Some(def) => defs.push(def),
            None => syntax_ok = false,
        }
    }
    let mut config = RoutingConfig::default();
    // Names and graphs span files: with a file unreadable, they would report phantom
    // "unknown" names, so they wait until the syntax is fixed.
    if syntax_ok && !report.files.is_empty() {
        let position = report.positions();
        let merged = resolve::merge(defs, &mut diags, &position);
        config = resolve::compile(&merged, &mut diags);
        config.lookups = (merged.lookups.iter())
            .map(|l| l.compile(|| position(&l.loc)))
            .collect();
        never_matches::check(&merged, &config, &mut diags);
        collective::check(&merged, &mut diags);
        graph::check(&merged, &config, &mut diags, &position);
    }
    report.diags = diags;
    report.sort();
    Checked { config, report }
}

/// Reads and checks a rules directory.
pub fn check_dir(dir: &Path) -> Result<Checked, LoadError> {
    Ok(check_sources(read_dir(dir)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_one(text: &str) -> Checked {
        check_sources(vec![SourceFile::new("rules.toml", text)])
    }

    #[test]
    fn byte_order_mark_does_not_shift_columns() {
        let checked = check_one("\u{feff}setings = 1\n");
        assert_eq!(checked.report.errors(), 1);
        let diag = &checked.report.diags[0];
        assert_eq!(diag.code, "rules::unknown-field");
        let loc = diag.loc.clone().unwrap();
        assert_eq!(loc.span, 0..7);
        assert_eq!(checked.report.position(&loc), "rules.toml:1:1");
        let rendered = checked.report.render();
        assert!(rendered.contains("[rules.toml:1:1]"), "{rendered}");
        assert!(!rendered.contains('\u{feff}'), "{rendered}");
    }

    #[test]
    fn read_dir_strips_the_byte_order_mark() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), "\u{feff}[skills]\n").unwrap();
        let files = read_dir(dir.path()).unwrap();
        assert_eq!(files[0].text, "[skills]\n");
    }

    #[test]
    fn a_directory_beyond_the_size_limit_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), "[skills]\n").unwrap();
        // Sparse: the size is there without the disk space, as it would be with no read.
        let big = std::fs::File::create(dir.path().join("b.toml")).unwrap();
        big.set_len(MAX_RULES_BYTES + 1).unwrap();
        let err = read_dir(dir.path()).unwrap_err();
        assert!(matches!(err, LoadError::TooLarge { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("too large") && text.contains("b.toml"),
            "{text}"
        );
        assert!(text.contains(&MAX_RULES_BYTES.to_string()), "{text}");
        // Just under the limit together is still read.
        big.set_len(MAX_RULES_BYTES - 9).unwrap();
        assert!(read_dir(dir.path()).is_ok());
    }

    #[test]
    fn rules_beyond_the_size_limit_are_refused_before_parsing() {
        let text = "#".repeat(usize::try_from(MAX_RULES_BYTES).unwrap() + 1);
        let checked = check_one(&text);
        assert_eq!(checked.report.errors(), 1);
        assert_eq!(checked.report.diags[0].code, "rules::too-large");
    }

    #[test]
    fn each_queue_has_a_service_level_target_written_as_a_share() {
        let checked = check_one(
            "[queues.Sales]\nservice_level = [\"30s\"]\nservice_level_target = \"90%\"\n\
             [queues.Support]\nservice_level_target = 0.75\n[queues.Billing]\n",
        );
        assert!(checked.is_ok(), "{}", checked.report.render());
        let q = |name: &str| checked.config.queues[&acd_core::QueueId::from(name)].clone();
        assert_eq!(
            (q("Sales").service_level_ms, q("Sales").service_level_target),
            (vec![30_000], 0.9)
        );
        assert_eq!(q("Support").service_level_target, 0.75);
        // Nothing written: 80 % within 20 s, so the queue's service level is never empty.
        assert_eq!(
            (
                q("Billing").service_level_ms,
                q("Billing").service_level_target
            ),
            (vec![20_000], 0.8)
        );
        for bad in ["\"180%\"", "1.5", "\"eighty\""] {
            let checked = check_one(&format!("[queues.Sales]\nservice_level_target = {bad}\n"));
            assert_eq!(
                checked.report.errors(),
                1,
                "{bad}: {}",
                checked.report.render()
            );
            assert_eq!(checked.report.diags[0].code, "rules::out-of-range");
        }
    }

    #[test]
    fn durations_with_spaces_are_accepted_in_rules() {
        let checked = check_one(
            "[settings]\ndefault_wrap_up = \"30 s\"\ndefault_rona = { ring = \"1m 30s\", not_ready = \"30s\" }\n",
        );
        assert!(checked.is_ok(), "{}", checked.report.render());
        assert_eq!(checked.config.default_wrap_up_ms, 30_000);
        assert_eq!(checked.config.default_rona.ring_timeout_ms, 90_000);
        assert_eq!(checked.config.default_rona.not_ready_ms, 30_000);
    }

    #[test]
    fn garbage_duration_gets_a_diagnostic() {
        let checked = check_one("[settings]\ndefault_wrap_up = \"soonish\"\n");
        assert_eq!(checked.report.errors(), 1);
        let diag = &checked.report.diags[0];
        assert_eq!(diag.code, "rules::bad-duration");
        assert!(
            diag.message.contains("`default_wrap_up` is not a duration"),
            "{}",
            diag.message
        );
        assert_eq!(
            checked.report.position(diag.loc.as_ref().unwrap()),
            "rules.toml:2:19"
        );
    }

    #[test]
    fn an_offset_written_as_a_time_zone_points_to_utc_offset() {
        let checked = check_one("[settings]\ntime_zone = \"+01:00\"\n");
        assert_eq!(checked.report.errors(), 1);
        let diag = &checked.report.diags[0];
        assert_eq!(diag.code, "rules::unknown-time-zone");
        let help = diag.help.as_deref().unwrap_or_default();
        assert!(help.contains("utc_offset = \"+01:00\""), "{help}");
    }

    #[test]
    fn a_zone_that_is_not_close_to_any_gets_an_example() {
        let checked = check_one("[settings]\ntime_zone = \"Qwxz\"\n");
        let help = checked.report.diags[0].help.as_deref().unwrap_or_default();
        assert!(help.contains("for example \"Europe/Berlin\""), "{help}");
    }
}
