//! Queue-state conditions as supervisors write them: `"oldest_wait > 60s"`,
//! `"calls_waiting >= 5 AND agents_free == 0"`, `"expected_wait > 2m"`,
//! `"service_level < 80%"`.
//!
//! Kept apart from the skill-expression parser because the grammar is different and smaller:
//! tests joined by AND only (an OR of queue states is two routes or two steps), each a metric,
//! a comparison and a duration or a count.

use crate::duration::parse_duration;
use acd_core::{Comparison, QueueMetric, StateTest};
use std::ops::Range;

/// How a metric's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Duration,
    Count,
    /// 0 to 100, with or without a `%` sign.
    Percent,
}

/// The metrics, as written, with how their values are written.
pub const METRICS: [(&str, QueueMetric, Unit); 6] = [
    ("oldest_wait", QueueMetric::OldestWait, Unit::Duration),
    ("calls_waiting", QueueMetric::CallsWaiting, Unit::Count),
    ("agents_free", QueueMetric::AgentsFree, Unit::Count),
    ("agents_logged_in", QueueMetric::AgentsLoggedIn, Unit::Count),
    ("expected_wait", QueueMetric::ExpectedWait, Unit::Duration),
    ("service_level", QueueMetric::ServiceLevel, Unit::Percent),
];

/// A parse failure: what is wrong, where in the text (byte range), and a hint.
#[derive(Debug, Clone, PartialEq)]
pub struct StateTestError {
    pub message: String,
    pub span: Range<usize>,
    pub help: String,
}

/// Parses `TEST AND TEST …`.
pub fn parse_state_tests(text: &str) -> Result<Vec<StateTest>, StateTestError> {
    let mut out = Vec::new();
    let mut offset = 0;
    for part in split_and(text) {
        let start = offset + part.len() - part.trim_start().len();
        out.push(parse_one(part.trim(), start)?);
        offset += part.len() + 5; // " AND "
    }
    Ok(out)
}

/// Splits on the word AND (any case), keeping each part's exact text so spans stay right.
fn split_and(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    loop {
        let lower = rest.to_ascii_lowercase();
        match lower.find(" and ") {
            Some(i) => {
                parts.push(&rest[..i]);
                rest = &rest[i + 5..];
            }
            None => {
                parts.push(rest);
                return parts;
            }
        }
    }
}

fn parse_one(text: &str, at: usize) -> Result<StateTest, StateTestError> {
    let whole = at..at + text.len();
    let ops = [
        (">=", Comparison::GreaterOrEqual),
        ("<=", Comparison::LessOrEqual),
        ("==", Comparison::Equal),
        (">", Comparison::Greater),
        ("<", Comparison::Less),
        ("=", Comparison::Equal),
    ];
    let Some((i, op, comparison)) = ops
        .iter()
        .filter_map(|(op, c)| text.find(op).map(|i| (i, *op, *c)))
        .min_by_key(|(i, op, _)| (*i, usize::MAX - op.len()))
    else {
        return Err(StateTestError {
            message: format!("`{text}` is not a queue condition"),
            span: whole,
            help: "write for example \"oldest_wait > 60s\" or \"calls_waiting >= 5\"".into(),
        });
    };
    let name = text[..i].trim();
    let value = text[i + op.len()..].trim();
    let Some((_, metric, unit)) = METRICS.iter().find(|(n, _, _)| *n == name) else {
        let names: Vec<&str> = METRICS.iter().map(|(n, _, _)| *n).collect();
        let help = match crate::diag::suggest(name, names.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("queue conditions measure: {}", names.join(", ")),
        };
        return Err(StateTestError {
            message: format!("unknown queue measure `{name}`"),
            span: at..at + text[..i].trim_end().len(),
            help,
        });
    };
    let value_at = at + text.len() - value.len();
    let value_span = value_at..value_at + value.len();
    let value = match unit {
        Unit::Duration => parse_duration(value).map_err(|why| StateTestError {
            message: format!("`{name}` compares with a duration: {why}"),
            span: value_span,
            help: "write for example \"60s\" or \"2m\"".into(),
        })?,
        Unit::Count => value.parse::<u64>().map_err(|_| StateTestError {
            message: format!("`{name}` compares with a whole number, not `{value}`"),
            span: value_span,
            help: "write for example \"calls_waiting >= 5\"".into(),
        })?,
        Unit::Percent => value
            .trim_end_matches('%')
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|p| *p <= 100)
            .ok_or_else(|| StateTestError {
                message: format!(
                    "`{name}` compares with a percentage from 0 to 100, not `{value}`"
                ),
                span: value_span,
                help: "write for example \"service_level < 80%\"".into(),
            })?,
    };
    Ok(StateTest {
        metric: *metric,
        comparison,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_joined_by_and() {
        let t = parse_state_tests("oldest_wait > 60s AND calls_waiting >= 5").unwrap();
        assert_eq!(
            t,
            vec![
                StateTest {
                    metric: QueueMetric::OldestWait,
                    comparison: Comparison::Greater,
                    value: 60_000
                },
                StateTest {
                    metric: QueueMetric::CallsWaiting,
                    comparison: Comparison::GreaterOrEqual,
                    value: 5
                },
            ]
        );
        let t = parse_state_tests("agents_free == 0 and expected_wait>2m").unwrap();
        assert_eq!(t[0].comparison, Comparison::Equal);
        assert_eq!(t[1].value, 120_000);
    }

    #[test]
    fn mistakes_point_at_the_part() {
        let e = parse_state_tests("calls_waiting >= 5 AND oldest_wiat > 1m").unwrap_err();
        assert_eq!(e.message, "unknown queue measure `oldest_wiat`");
        assert_eq!(
            &"calls_waiting >= 5 AND oldest_wiat > 1m"[e.span],
            "oldest_wiat"
        );
        assert_eq!(e.help, "did you mean `oldest_wait`?");
        let e = parse_state_tests("calls_waiting > 5s").unwrap_err();
        assert!(e.message.contains("whole number"));
        let e = parse_state_tests("oldest_wait > lots").unwrap_err();
        assert!(e.message.contains("duration"));
        assert!(parse_state_tests("busy").is_err());
    }
}
