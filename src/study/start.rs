//! When a study's virtual day begins.
//!
//! The simulator and the engine's path run in virtual time from 0, which the engine reads as
//! 1970-01-01 00:00 UTC: a Thursday night. A real calendar (`Mon-Fri 08:00-18:00`) then sends
//! most calls to night service, and the study measures the voicemail box instead of the
//! routing. `--start 2026-12-07T08:00` (or `start = "…"` in `[study]`) makes virtual time 0 be
//! that local instant for everything the engine reads from the clock: opening hours, closed
//! days, route time windows.
//!
//! It does so by moving the rules' offsets from UTC, not the clock: the engine reads local time
//! only as `now + offset(now)`, so the rules handed to the engine arm carry offsets shifted by
//! the start instant (and their changes moved to virtual time). Every other time in the world
//! (the simulator's traffic, the network, timers) stays relative, exactly as before.

use acd_core::{OffsetChange, RoutingConfig, Timestamp, UtcOffsets};

const MINUTE_MS: i64 = 60_000;

/// A start given as local time in the rules' zone, or as UTC (`Z` suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StudyStart {
    /// Local date (days since 1970-01-01) and minute of the day.
    Local { day: i64, minute: u16 },
    /// Minutes since the Unix epoch, UTC.
    Utc { minutes: i64 },
}

impl std::str::FromStr for StudyStart {
    type Err = String;

    /// `2026-12-07T08:00` (local) or `2026-12-07T08:00Z` (UTC), years 1970 to 2100.
    fn from_str(text: &str) -> Result<StudyStart, String> {
        let bad = || {
            format!(
                "`{text}` is not a start like 2026-12-07T08:00 (local time in the rules' zone) \
                 or 2026-12-07T08:00Z (UTC)"
            )
        };
        let (body, utc) = match text.strip_suffix(['Z', 'z']) {
            Some(body) => (body, true),
            None => (text, false),
        };
        let (date, time) = body.split_once(['T', 't']).ok_or_else(bad)?;
        let day = acd_rules::calendar::parse_date(date).map_err(|_| bad())?;
        let minute = acd_rules::calendar::parse_clock(time).map_err(|_| bad())?;
        // 2101-01-01: the bundled zone rules end in 2100, and the offsets below stay in i32.
        if !(0..47_482).contains(&day) || minute >= 24 * 60 {
            return Err(format!("{}: years 1970 to 2100 only", bad()));
        }
        Ok(if utc {
            StudyStart::Utc {
                minutes: day * 1440 + i64::from(minute),
            }
        } else {
            StudyStart::Local { day, minute }
        })
    }
}

impl StudyStart {
    /// The instant it names, local time read with `offsets` (the rules' zone).
    pub fn instant(self, offsets: &UtcOffsets) -> Timestamp {
        match self {
            StudyStart::Local { day, minute } => acd_rules::explain::at_local(day, minute, offsets),
            StudyStart::Utc { minutes } => {
                Timestamp(u64::try_from(minutes * MINUTE_MS).unwrap_or(0))
            }
        }
    }
}

/// `rules` as the engine must see them for virtual time 0 to be `start`: every offset from
/// UTC (the rules' own and each calendar's) shifted by `start`.
pub fn rebase(rules: &RoutingConfig, start: Timestamp) -> RoutingConfig {
    let mut out = rules.clone();
    out.utc_offsets = rebase_offsets(&rules.utc_offsets, start);
    for policy in out.queues.values_mut() {
        if let Some(calendar) = &mut policy.calendar {
            calendar.utc_offsets = rebase_offsets(&calendar.utc_offsets, start);
        }
    }
    out
}

/// Offsets `o'` with `t + o'(t) = (start + t) + o(start + t)` for every virtual `t`: local time
/// at virtual `t` is local time at `start + t`. `start` is at most year 2100 in whole
/// minutes, so the shifted offsets fit in i32 minutes (about 68 million).
fn rebase_offsets(offsets: &UtcOffsets, start: Timestamp) -> UtcOffsets {
    let start_ms = start.as_millis();
    let shift = i32::try_from(start_ms / 60_000).unwrap_or(i32::MAX);
    let moved = |minutes: i32| minutes.saturating_add(shift);
    UtcOffsets {
        initial_minutes: moved(offsets.at(start)),
        changes: offsets
            .changes
            .iter()
            .filter(|c| c.at.as_millis() > start_ms)
            .map(|c| OffsetChange {
                at: Timestamp(c.at.as_millis() - start_ms),
                offset_minutes: moved(c.offset_minutes),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use acd_core::calendar::{is_open, local_day_minute, weekday};

    fn berlin() -> RoutingConfig {
        let text = r#"
            [settings]
            time_zone = "Europe/Berlin"
            [skills]
            s = "S"
            [agents.201]
            skills = { s = 1 }
            [queues.Q.calendar]
            open = ["Mon-Fri 08:00-18:00"]
            closed = [2026-12-25]
            night = "voicemail:Q"
        "#;
        let checked = acd_rules::check_sources(vec![acd_rules::SourceFile::new("r.toml", text)]);
        assert!(checked.is_ok(), "{}", checked.report.render());
        checked.config
    }

    #[test]
    fn starts_parse_as_local_or_utc_and_bad_ones_say_how() {
        let local: StudyStart = "2026-12-07T08:00".parse().unwrap();
        let day = acd_rules::calendar::parse_date("2026-12-07").unwrap();
        assert_eq!(local, StudyStart::Local { day, minute: 480 });
        let utc: StudyStart = "2026-12-07T08:00Z".parse().unwrap();
        assert_eq!(
            utc,
            StudyStart::Utc {
                minutes: day * 1440 + 480
            }
        );
        for bad in [
            "2026-12-07",
            "08:00",
            "2026-13-01T08:00",
            "1969-12-31T23:00",
        ] {
            let err = bad.parse::<StudyStart>().unwrap_err();
            assert!(err.contains("2026-12-07T08:00"), "{bad}: {err}");
        }
    }

    #[test]
    fn virtual_time_zero_reads_as_the_start_in_local_time() {
        let rules = berlin();
        // Monday 2026-12-07 08:00 in Berlin is 07:00 UTC (winter time).
        let start: StudyStart = "2026-12-07T08:00".parse().unwrap();
        let at = start.instant(&rules.utc_offsets);
        assert_eq!(at, Timestamp(1_796_626_800_000));
        let rebased = rebase(&rules, at);
        let (day, minute) = local_day_minute(Timestamp(0), rebased.utc_offsets.at(Timestamp(0)));
        assert_eq!((weekday(day), minute), (0, 480));
        let cal = rebased.queues[&acd_core::QueueId::from("Q")]
            .calendar
            .clone()
            .unwrap();
        // Open from virtual 0 to 10 h; closed at 10 h (18:00); Christmas (day 18) is closed.
        const H: u64 = 3_600_000;
        assert!(is_open(&cal, Timestamp(0)));
        assert!(is_open(&cal, Timestamp(10 * H - 1)));
        assert!(!is_open(&cal, Timestamp(10 * H)));
        assert!(is_open(&cal, Timestamp(24 * H)));
        assert!(!is_open(&cal, Timestamp(18 * 24 * H + 2 * H)));
        // Unshifted, virtual 0 is a Thursday night in 1970: closed. The study's old trap.
        let old = rules.queues[&acd_core::QueueId::from("Q")]
            .calendar
            .clone()
            .unwrap();
        assert!(!is_open(&old, Timestamp(0)));
    }

    #[test]
    fn daylight_saving_changes_after_the_start_move_into_virtual_time() {
        let rules = berlin();
        // 2026-03-29 01:00 UTC Berlin goes to summer time; start a week before, at 08:00.
        let start: StudyStart = "2026-03-22T08:00".parse().unwrap();
        let at = start.instant(&rules.utc_offsets);
        let rebased = rebase(&rules, at);
        const H: u64 = 3_600_000;
        let local = |t: u64| {
            let (day, minute) =
                local_day_minute(Timestamp(t), rebased.utc_offsets.at(Timestamp(t)));
            (
                day - acd_rules::calendar::parse_date("2026-03-22").unwrap(),
                minute,
            )
        };
        assert_eq!(local(0), (0, 480));
        // A week later the wall clock has moved on by a week and one hour.
        assert_eq!(local(7 * 24 * H), (7, 540));
    }
}
