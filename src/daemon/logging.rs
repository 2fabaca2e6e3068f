//! Structured logs with tracing, as text for people or JSON for log shippers.
//!
//! Two rules hold whatever `RUST_LOG` says, because an operator turning on `trace` to chase a
//! problem must not end up with the IP Office password in the journal:
//!
//! * tungstenite and tokio-tungstenite are capped at `debug`. At `trace` tungstenite prints the
//!   whole websocket upgrade request, `Authorization: Basic …` included
//!   (`tungstenite::handshake::client`), and every frame. The cap is a separate filter layer, not
//!   an `EnvFilter` directive, so a more specific `RUST_LOG` directive cannot lift it. rustls
//!   logs handshake steps and certificates at most, never application data or headers, so it
//!   keeps whatever level is asked for.
//! * Every line passes through [`redact`] on its way to stderr, which masks any HTTP Basic
//!   credential, so a future dependency that logs headers under another target is caught too.
//!
//! A call site that repeats a warning or error is rate-limited, with a count of what was left
//! out (`log_limit`).
//!
//! Colours are only used when stderr is a terminal: under systemd it is journald, which would
//! store the escape codes as text.

use super::config::LogFormat;
use super::log_limit::{LimitFilter, SummaryLayer};
use std::io::{IsTerminal, Write};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layer as _, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Targets that can print request headers at `trace`, and the most they may print.
const CAPPED_TARGETS: [(&str, LevelFilter); 2] = [
    ("tungstenite", LevelFilter::DEBUG),
    ("tokio_tungstenite", LevelFilter::DEBUG),
];

/// Installs the global subscriber. `RUST_LOG` wins over the configured level when set, so an
/// operator can turn on `acd=debug` (one line per routing decision) without editing the config.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let cap = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(CAPPED_TARGETS);
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(RedactingStderr);
    let registry = tracing_subscriber::registry().with(filter).with(cap);
    // A second init (tests, demo inside a test) is harmless: keep the first subscriber.
    let _ = match format {
        LogFormat::Text => registry
            .with(layer.with_filter(LimitFilter))
            .with(SummaryLayer)
            .try_init(),
        LogFormat::Json => registry
            .with(layer.json().with_filter(LimitFilter))
            .with(SummaryLayer)
            .try_init(),
    };
}

/// stderr, with credentials masked. The fmt layer hands over each formatted event in one
/// `write_all`, so a credential is never split across two calls.
struct RedactingStderr;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingStderr;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingStderr
    }
}

impl Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stderr().lock().write_all(&redact(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Replaces the credential of every `Authorization: Basic …` (any case) with `***`. The
/// credential is Base64 of `user:password`; whatever escaping a formatter applied around it
/// (quotes, backslashes), its characters stay as they are, so the match holds in text and JSON
/// alike. Only a `Basic` that follows the header name counts, so ordinary words are untouched.
pub fn redact(text: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    const SCHEME: &[u8] = b"basic ";
    const HEADER: &[u8] = b"authorization";
    let is_token = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    let after_header = |at: usize| {
        let before = &text[..at];
        let name_end = before.len()
            - before
                .iter()
                .rev()
                .take_while(|b| matches!(b, b' ' | b':' | b'"' | b'\'' | b'\\' | b'='))
                .count();
        name_end >= HEADER.len()
            && text[name_end - HEADER.len()..name_end].eq_ignore_ascii_case(HEADER)
    };
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    while i + SCHEME.len() <= text.len() {
        if !text[i..i + SCHEME.len()].eq_ignore_ascii_case(SCHEME) || !after_header(i) {
            i += 1;
            continue;
        }
        let start = i + SCHEME.len();
        let end = start + text[start..].iter().take_while(|b| is_token(**b)).count();
        if end > start {
            let buf = out.get_or_insert_with(Vec::new);
            buf.extend_from_slice(&text[copied..start]);
            buf.extend_from_slice(b"***");
            copied = end;
        }
        i = end.max(i + 1);
    }
    match out {
        None => std::borrow::Cow::Borrowed(text),
        Some(mut buf) => {
            buf.extend_from_slice(&text[copied..]);
            std::borrow::Cow::Owned(buf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(s: &str) -> String {
        String::from_utf8(redact(s.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn basic_credentials_are_masked_in_any_case_and_escaping() {
        assert_eq!(
            redacted(r#"Request: "GET / HTTP/1.1\r\nauthorization: Basic YWNkOnB3\r\nhost: x""#),
            r#"Request: "GET / HTTP/1.1\r\nauthorization: Basic ***\r\nhost: x""#
        );
        assert_eq!(
            redacted("AUTHORIZATION: BASIC YWNk+/=="),
            "AUTHORIZATION: BASIC ***"
        );
        assert_eq!(
            redacted(r#"{"authorization":"Basic dGVzdA=="} authorization=basic ZXhh"#),
            r#"{"authorization":"Basic ***"} authorization=basic ***"#
        );
        assert_eq!(
            redacted(r#"{\"Authorization\": \"Basic dGVzdA==\"}"#),
            r#"{\"Authorization\": \"Basic ***\"}"#
        );
    }

    #[test]
    fn other_text_is_left_alone() {
        for s in [
            "basic ",
            "falls back to basic routing",
            "",
            "Basic",
            "authorization: none",
        ] {
            assert_eq!(redacted(s), s);
            assert!(matches!(
                redact(s.as_bytes()),
                std::borrow::Cow::Borrowed(_)
            ));
        }
    }
}
