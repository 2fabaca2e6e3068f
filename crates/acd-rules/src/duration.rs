//! Durations as supervisors write them: `30s`, `30 s`, `2m`, `1m 30s`, `500ms`, `1h`.
//!
//! The daemon's config file and the command line read durations with humantime; rules use the
//! same parser so that one spelling works everywhere and a value can be copied between them.
//! Rules count in milliseconds, so anything finer is truncated to the millisecond.

/// Parses a duration into milliseconds. The error says what was expected.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let duration = humantime::parse_duration(text.trim()).map_err(|e| match e {
        humantime::DurationError::Empty => "empty duration".to_string(),
        other => other.to_string(),
    })?;
    u64::try_from(duration.as_millis()).map_err(|_| "duration too large".to_string())
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
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
    }

    /// The daemon config accepts these (humantime); rules must too.
    #[test]
    fn accepts_what_the_daemon_config_accepts() {
        assert_eq!(parse_duration("30 s"), Ok(30_000));
        assert_eq!(parse_duration("30s"), Ok(30_000));
        assert_eq!(parse_duration("1m 30s"), Ok(90_000));
        assert_eq!(parse_duration("30 seconds"), Ok(30_000));
        assert_eq!(parse_duration("2min"), Ok(120_000));
        assert_eq!(parse_duration(" 10 s "), Ok(10_000));
    }

    #[test]
    fn garbage_says_what_is_wrong() {
        let why = parse_duration("30").unwrap_err();
        assert!(why.contains("time unit needed"), "{why}");
        let why = parse_duration("30 parsecs").unwrap_err();
        assert!(why.contains("unknown time unit \"parsecs\""), "{why}");
        assert_eq!(parse_duration("   "), Err("empty duration".to_string()));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,12}") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn seconds_round_trip(n in 0u64..1_000_000) {
            proptest::prop_assert_eq!(parse_duration(&format!("{n}s")), Ok(n * 1000));
            proptest::prop_assert_eq!(parse_duration(&format!("{n} s")), Ok(n * 1000));
        }
    }
}
