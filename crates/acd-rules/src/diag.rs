//! Diagnostics a supervisor can act on: what is wrong, where (file, line, column, a caret under
//! the culprit) and what to do about it.
//!
//! Checks collect [`Diag`]s instead of returning early, so one `acd rules check` shows every
//! problem at once. Rendering goes through miette's graphical handler without colour, so the
//! text is stable enough for snapshot tests and readable in a log.

use crate::lines::{IndexedSource, LineIndex};
use acd_store::SourceFile;
use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan};
use std::fmt;
use std::ops::Range;

/// A place in one of the rule files: byte range in file number `file` of the source set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: usize,
    pub span: Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    pub severity: Severity,
    /// Stable short code, for example `rules::unknown-field`.
    pub code: &'static str,
    pub message: String,
    pub loc: Option<Loc>,
    /// Text under the caret.
    pub label: String,
    pub help: Option<String>,
}

impl Diag {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Diag {
            severity: Severity::Error,
            code,
            message: message.into(),
            loc: None,
            label: String::new(),
            help: None,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Diag {
            severity: Severity::Warning,
            ..Diag::error(code, message)
        }
    }

    pub fn at(mut self, loc: &Loc, label: impl Into<String>) -> Self {
        self.loc = Some(loc.clone());
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// All findings for a source set, with the sources needed to render them.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub files: Vec<SourceFile>,
    pub diags: Vec<Diag>,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    pub fn has_errors(&self) -> bool {
        self.errors() > 0
    }

    fn count(&self, severity: Severity) -> usize {
        self.diags.iter().filter(|d| d.severity == severity).count()
    }

    /// Puts findings in reading order: by file, then position; file-less ones first.
    pub fn sort(&mut self) {
        self.diags.sort_by(|a, b| {
            let key = |d: &Diag| d.loc.as_ref().map(|l| (l.file, l.span.start, l.span.end));
            key(a).cmp(&key(b))
        });
    }

    /// `file:line:column` of a location (1-based), for messages that point at a second place.
    /// Scans the file; [`Report::positions`] answers many such questions cheaply.
    pub fn position(&self, loc: &Loc) -> String {
        match self.files.get(loc.file) {
            Some(file) => {
                let (line, col) = line_col(&file.text, loc.span.start);
                format!("{}:{line}:{col}", file.name)
            }
            None => "?".to_string(),
        }
    }

    /// A `file:line:column` function backed by a line index per file, for checks that name
    /// many second places.
    pub fn positions(&self) -> impl Fn(&Loc) -> String + '_ {
        let indexes: Vec<LineIndex> = self.files.iter().map(|f| LineIndex::new(&f.text)).collect();
        move |loc: &Loc| match (self.files.get(loc.file), indexes.get(loc.file)) {
            (Some(file), Some(index)) => {
                let (line, col) = index.line_col(&file.text, loc.span.start);
                format!("{}:{line}:{col}", file.name)
            }
            _ => "?".to_string(),
        }
    }

    /// Renders every finding followed by a one-line summary. No colour, fixed width.
    pub fn render(&self) -> String {
        let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
            .with_width(100)
            .with_links(false);
        let mut out = String::new();
        // Indexed once per file: each finding then costs its own lines, not a copy or a scan
        // of the whole file.
        let indexes: Vec<LineIndex> = self.files.iter().map(|f| LineIndex::new(&f.text)).collect();
        for diag in &self.diags {
            crate::cost::charge(1);
            let view = DiagView {
                diag,
                source: diag.loc.as_ref().and_then(|loc| {
                    let file = self.files.get(loc.file)?;
                    Some(IndexedSource {
                        name: &file.name,
                        text: &file.text,
                        lines: indexes.get(loc.file)?,
                    })
                }),
            };
            if handler.render_report(&mut out, &view).is_err() {
                // Rendering into a String only fails on a formatter bug; fall back to one line.
                out.push_str(&format!("{}: {}\n", diag.code, diag.message));
            }
            out.push('\n');
        }
        out.push_str(&self.summary());
        out.push('\n');
        out
    }

    pub fn summary(&self) -> String {
        let plural = |n: usize, word: &str| {
            if n == 1 {
                format!("{n} {word}")
            } else {
                format!("{n} {word}s")
            }
        };
        format!(
            "{}, {}",
            plural(self.errors(), "error"),
            plural(self.warnings(), "warning")
        )
    }
}

/// 1-based line and column (in characters) of byte `offset`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|s| s.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// Adapter giving miette what it needs without storing miette types in [`Diag`].
struct DiagView<'a> {
    diag: &'a Diag,
    source: Option<IndexedSource<'a>>,
}

impl fmt::Debug for DiagView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diag, f)
    }
}

impl fmt::Display for DiagView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for DiagView<'_> {}

impl Diagnostic for DiagView<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diag.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let loc = self.diag.loc.as_ref()?;
        self.source.as_ref()?;
        let len = loc.span.end.saturating_sub(loc.span.start);
        let label = (!self.diag.label.is_empty()).then(|| self.diag.label.clone());
        Some(Box::new(std::iter::once(LabeledSpan::new(
            label,
            loc.span.start,
            len,
        ))))
    }
}

/// "did you mean" for a misspelt name: the closest candidate by Jaro-Winkler, if close enough.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab", 99), (1, 3));
    }

    #[test]
    fn suggest_finds_close_names_only() {
        let names = ["strategy", "weight", "wrap_up"];
        assert_eq!(suggest("stratgy", names), Some("strategy"));
        assert_eq!(suggest("colour", names), None);
    }
}
