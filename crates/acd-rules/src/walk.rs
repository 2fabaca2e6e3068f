//! Typed reading of a spanned TOML tree, reporting every problem instead of stopping at one.
//!
//! serde's derive stops at the first error and loses positions of later ones; walking toml's
//! spanned document (`toml::de::DeTable`) by hand lets each field report wrong types, unknown
//! names ("did you mean") and out-of-range values with a caret, and keep going.

use crate::diag::{suggest, Diag, Loc};
use crate::duration::parse_duration;
use crate::model::S;
use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

pub type Value<'i> = Spanned<DeValue<'i>>;

pub struct Walker<'a> {
    pub file: usize,
    pub text: &'a str,
    pub diags: &'a mut Vec<Diag>,
}

pub fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "a whole number",
        DeValue::Float(_) => "a decimal number",
        DeValue::Boolean(_) => "true/false",
        DeValue::Datetime(_) => "a date/time",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

impl Walker<'_> {
    pub fn loc(&self, span: Range<usize>) -> Loc {
        Loc {
            file: self.file,
            span,
        }
    }

    pub fn push(&mut self, diag: Diag) {
        self.diags.push(diag);
    }

    pub fn error(&mut self, span: Range<usize>, code: &'static str, msg: String, label: &str) {
        let loc = self.loc(span);
        self.push(Diag::error(code, msg).at(&loc, label));
    }

    pub fn error_help(
        &mut self,
        span: Range<usize>,
        code: &'static str,
        msg: String,
        label: &str,
        help: String,
    ) {
        let loc = self.loc(span);
        self.push(Diag::error(code, msg).at(&loc, label).help(help));
    }

    /// Reports every key of `table` not in `allowed`, suggesting the closest allowed one.
    pub fn check_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], what: &str) {
        for key in table.keys() {
            let name = key.get_ref().as_ref();
            if allowed.contains(&name) {
                continue;
            }
            let help = match suggest(name, allowed.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("{what} accepts: {}", allowed.join(", ")),
            };
            self.error_help(
                key.span(),
                "rules::unknown-field",
                format!("unknown field `{name}` in {what}"),
                "not a known field here",
                help,
            );
        }
    }

    fn wrong_type(&mut self, value: &Value<'_>, field: &str, expected: &str) {
        self.error(
            value.span(),
            "rules::wrong-type",
            format!(
                "`{field}` must be {expected}, found {}",
                type_name(value.get_ref())
            ),
            &format!("expected {expected}"),
        );
    }

    pub fn table<'t, 'i>(&mut self, value: &'t Value<'i>, field: &str) -> Option<&'t DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.wrong_type(value, field, "a table");
                None
            }
        }
    }

    pub fn string(&mut self, value: &Value<'_>, field: &str) -> Option<S<String>> {
        match value.get_ref() {
            DeValue::String(s) => Some(S {
                value: s.to_string(),
                loc: self.loc(value.span()),
            }),
            _ => {
                self.wrong_type(value, field, "a string");
                None
            }
        }
    }

    pub fn boolean(&mut self, value: &Value<'_>, field: &str) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(value, field, "true or false");
                None
            }
        }
    }

    /// A string or a list of strings (so `language = "deu"` and `language = ["deu", "eng"]`
    /// both read naturally).
    pub fn strings(&mut self, value: &Value<'_>, field: &str) -> Vec<S<String>> {
        match value.get_ref() {
            DeValue::String(_) => self.string(value, field).into_iter().collect(),
            DeValue::Array(items) => items
                .iter()
                .filter_map(|item| self.string(item, field))
                .collect(),
            _ => {
                self.wrong_type(value, field, "a string or a list of strings");
                Vec::new()
            }
        }
    }

    pub fn list<'t, 'i>(&mut self, value: &'t Value<'i>, field: &str) -> &'t [Value<'i>] {
        match value.get_ref() {
            DeValue::Array(items) => items,
            _ => {
                self.wrong_type(value, field, "a list");
                &[]
            }
        }
    }

    pub fn integer(&mut self, value: &Value<'_>, field: &str) -> Option<i64> {
        match value.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.error(
                        value.span(),
                        "rules::out-of-range",
                        format!("`{field}` is too large"),
                        "too large",
                    );
                    None
                }
            },
            _ => {
                self.wrong_type(value, field, "a whole number");
                None
            }
        }
    }

    /// A whole number within `range`, reported with the range when outside.
    pub fn integer_in(
        &mut self,
        value: &Value<'_>,
        field: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<i64> {
        let n = self.integer(value, field)?;
        if range.contains(&n) {
            Some(n)
        } else {
            self.error_help(
                value.span(),
                "rules::out-of-range",
                format!("`{field}` = {n} is out of range"),
                "out of range",
                format!(
                    "`{field}` must be between {} and {}",
                    range.start(),
                    range.end()
                ),
            );
            None
        }
    }

    /// A non-negative finite number (integers accepted).
    pub fn number(&mut self, value: &Value<'_>, field: &str) -> Option<f64> {
        let n = match value.get_ref() {
            DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            DeValue::Integer(_) => self.integer(value, field).map(|n| n as f64),
            _ => {
                self.wrong_type(value, field, "a number");
                return None;
            }
        };
        match n {
            Some(n) if n.is_finite() && n >= 0.0 => Some(n),
            _ => {
                self.error_help(
                    value.span(),
                    "rules::out-of-range",
                    format!("`{field}` must be a number of zero or more"),
                    "out of range",
                    "use for example 1.0".into(),
                );
                None
            }
        }
    }

    /// A duration such as `"30s"`, at most `max_ms`.
    pub fn duration(&mut self, value: &Value<'_>, field: &str, max_ms: u64) -> Option<S<u64>> {
        let text = self.string(value, field)?;
        match parse_duration(&text.value) {
            Ok(ms) if ms <= max_ms => Some(S {
                value: ms,
                loc: text.loc,
            }),
            Ok(_) => {
                self.error_help(
                    value.span(),
                    "rules::out-of-range",
                    format!("`{field}` = \"{}\" is too long", text.value),
                    "too long",
                    format!("`{field}` can be at most {}s", max_ms / 1000),
                );
                None
            }
            Err(why) => {
                self.error_help(
                    value.span(),
                    "rules::bad-duration",
                    format!("`{field}` is not a duration: {why}"),
                    "not a duration",
                    "write durations like \"30s\", \"2m\", \"1m30s\" or \"500ms\"".into(),
                );
                None
            }
        }
    }

    /// Byte range in the file of `range` inside the string literal at `loc` (skips the quote;
    /// exact for strings without escapes, which is what rule files contain in practice).
    pub fn inner_span(&self, loc: &Loc, range: Range<usize>) -> Range<usize> {
        let literal = self.text.get(loc.span.clone()).unwrap_or("");
        let quote = if literal.starts_with("\"\"\"") || literal.starts_with("'''") {
            3
        } else {
            1
        };
        let start = (loc.span.start + quote + range.start).min(loc.span.end);
        let end = (loc.span.start + quote + range.end)
            .min(loc.span.end.saturating_sub(quote))
            .max(start);
        start..end
    }
}
