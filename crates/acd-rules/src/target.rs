//! Transfer targets and number patterns as written in rule files.

use crate::diag::suggest;
use acd_core::{AgentId, QueueId, Target};

const KINDS: [&str; 4] = ["queue", "voicemail", "external", "agent"];

/// Parses `queue:Support`, `voicemail:Sales`, `external:+4930123456` or `agent:201`.
pub fn parse_target(text: &str) -> Result<Target, (String, String)> {
    let Some((kind, rest)) = text.split_once(':') else {
        return Err((
            format!("`{text}` is not a target"),
            "write queue:NAME, voicemail:BOX, external:NUMBER or agent:EXTENSION".into(),
        ));
    };
    let rest = rest.trim();
    if rest.is_empty() {
        return Err((
            format!("`{kind}:` needs a name or number after the colon"),
            "for example queue:Support".into(),
        ));
    }
    match kind.trim() {
        "queue" => Ok(Target::Queue(QueueId(rest.to_string()))),
        "voicemail" => Ok(Target::Voicemail(rest.to_string())),
        "agent" => Ok(Target::Agent(AgentId(rest.to_string()))),
        "external" => {
            if let Some(bad) = rest
                .chars()
                .enumerate()
                .find(|&(i, c)| !(c.is_ascii_digit() || (c == '+' && i == 0)))
            {
                return Err((
                    format!("external number `{rest}` contains `{}`", bad.1),
                    "external numbers are digits with an optional leading +".into(),
                ));
            }
            Ok(Target::External(rest.to_string()))
        }
        other => {
            let help = match suggest(other, KINDS) {
                Some(best) => format!("did you mean `{best}:{rest}`?"),
                None => "targets start with queue:, voicemail:, external: or agent:".into(),
            };
            Err((format!("unknown target kind `{other}`"), help))
        }
    }
}

/// Renders a target the way it is written in rule files.
pub fn format_target(target: &Target) -> String {
    match target {
        Target::Queue(q) => format!("queue:{q}"),
        Target::Voicemail(v) => format!("voicemail:{v}"),
        Target::External(n) => format!("external:{n}"),
        Target::Agent(a) => format!("agent:{a}"),
    }
}

/// Checks a phone-number pattern: digits, `#`, a leading `+`, and the wildcards `*` and `?`.
/// Returns the byte offset and message of the first problem.
pub fn check_number_pattern(pattern: &str) -> Result<(), (usize, String)> {
    if pattern.is_empty() {
        return Err((0, "empty pattern".into()));
    }
    for (i, c) in pattern.char_indices() {
        let ok = c.is_ascii_digit() || matches!(c, '*' | '?' | '#') || (c == '+' && i == 0);
        if !ok {
            return Err((i, format!("`{c}` cannot appear in a number pattern")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_format_back() {
        for text in [
            "queue:Support",
            "voicemail:Sales",
            "external:+4930123",
            "agent:201",
        ] {
            assert_eq!(format_target(&parse_target(text).unwrap()), text);
        }
        assert!(parse_target("Support").is_err());
        assert!(parse_target("queue:").is_err());
        assert!(parse_target("external:+49 30").is_err());
        let (_, help) = parse_target("voicemal:Sales").unwrap_err();
        assert!(help.contains("voicemail:Sales"), "{help}");
    }

    #[test]
    fn number_patterns() {
        assert!(check_number_pattern("+4930*").is_ok());
        assert!(check_number_pattern("0800???????").is_ok());
        assert_eq!(check_number_pattern("49[0-9]*").unwrap_err().0, 2);
        assert!(check_number_pattern("").is_err());
        assert!(check_number_pattern("49+").is_err());
    }
}
