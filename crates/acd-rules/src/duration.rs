//! Durations as supervisors write them: `30s`, `2m`, `1m30s`, `500ms`, `1h`.

/// Parses a duration into milliseconds. The error says what was expected.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    let bytes = text.as_bytes();
    let mut total: u64 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(format!("expected a number at `{}`", &text[start..]));
        }
        let number: u64 = text[start..i]
            .parse()
            .map_err(|_| "number too large".to_string())?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let factor = match &text[unit_start..i] {
            "ms" => 1,
            "s" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "" => return Err(format!("`{number}` needs a unit: ms, s, m or h")),
            other => return Err(format!("unknown unit `{other}`: use ms, s, m or h")),
        };
        total = number
            .checked_mul(factor)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| "duration too large".to_string())?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration("30s"), Ok(30_000));
        assert_eq!(parse_duration("1m30s"), Ok(90_000));
        assert_eq!(parse_duration("500ms"), Ok(500));
        assert_eq!(parse_duration("2h"), Ok(7_200_000));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("30 seconds").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,12}") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn seconds_round_trip(n in 0u64..1_000_000) {
            proptest::prop_assert_eq!(parse_duration(&format!("{n}s")), Ok(n * 1000));
        }
    }
}
