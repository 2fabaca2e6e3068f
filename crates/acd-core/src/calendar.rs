//! Opening hours: whether a queue is open at an instant, from a weekly calendar in local time.
//!
//! The engine has no clock and no time-zone database: the rules hand over the UTC offsets in
//! force over the years (daylight saving included), and `now` is milliseconds since the epoch,
//! so local day and minute are a lookup and plain arithmetic.

use crate::config::Calendar;
use crate::time::Timestamp;

const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;

/// Local (days since 1970-01-01, minute of day) for `now` at `utc_offset_minutes`.
pub fn local_day_minute(now: Timestamp, utc_offset_minutes: i32) -> (i64, u16) {
    let ms = i64::try_from(now.as_millis())
        .unwrap_or(i64::MAX)
        .saturating_add(i64::from(utc_offset_minutes) * MINUTE_MS);
    let day = ms.div_euclid(DAY_MS);
    let minute = ms.rem_euclid(DAY_MS) / MINUTE_MS;
    (day, u16::try_from(minute).unwrap_or(0))
}

/// Monday = 0 … Sunday = 6 (1970-01-01 was a Thursday).
pub fn weekday(day: i64) -> u8 {
    u8::try_from((day + 3).rem_euclid(7)).unwrap_or(0)
}

/// Whether the calendar is open at `now`. A window with `from_minute > to_minute` runs over
/// midnight: it opens on its weekday and closes on the next day.
///
/// Local time is taken with the offset in force at `now`, so on the nights clocks change a
/// window follows the wall clock: `Sun 01:00-04:00` lasts two hours in spring and four in
/// autumn, and a local minute that does not exist (02:30 in spring) is never reached.
pub fn is_open(calendar: &Calendar, now: Timestamp) -> bool {
    let (day, minute) = local_day_minute(now, calendar.utc_offsets.at(now));
    if calendar.closed_days.contains(&day) {
        return false;
    }
    let today = weekday(day);
    let yesterday = weekday(day - 1);
    calendar.open.iter().any(|w| {
        let on = |wd: u8| w.weekdays & (1 << wd) != 0;
        if w.from_minute <= w.to_minute {
            on(today) && minute >= w.from_minute && minute < w.to_minute
        } else {
            (on(today) && minute >= w.from_minute) || (on(yesterday) && minute < w.to_minute)
        }
    })
}

/// The start of the next local minute after `now`: calendars change state only on minute
/// boundaries (offsets, and the instants they change at, are whole minutes), so this is when
/// to look again.
pub fn next_minute(now: Timestamp) -> Timestamp {
    let ms = now.as_millis();
    Timestamp(ms - ms % 60_000 + 60_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Target;
    use crate::config::OpenWindow;
    use crate::utc_offsets::{OffsetChange, UtcOffsets};

    fn cal(open: Vec<OpenWindow>) -> Calendar {
        Calendar {
            utc_offsets: UtcOffsets::fixed(60),
            open,
            closed_days: vec![],
            night_target: Target::Voicemail("9".into()),
        }
    }

    // 2024-01-01 was a Monday: 19723 days after the epoch.
    const MON: u64 = 19_723 * 86_400_000;

    #[test]
    fn weekday_arithmetic() {
        assert_eq!(weekday(0), 3);
        assert_eq!(weekday(19_723), 0);
    }

    #[test]
    fn weekday_window_with_offset() {
        let c = cal(vec![OpenWindow {
            weekdays: 0b001_1111,
            from_minute: 8 * 60,
            to_minute: 17 * 60,
        }]);
        // 07:30 UTC = 08:30 local on Monday: open.
        assert!(is_open(&c, Timestamp(MON + 7 * 3_600_000 + 1_800_000)));
        // 06:30 UTC = 07:30 local: closed.
        assert!(!is_open(&c, Timestamp(MON + 6 * 3_600_000 + 1_800_000)));
        // Saturday 10:00 local: closed.
        assert!(!is_open(
            &c,
            Timestamp(MON + 5 * 86_400_000 + 9 * 3_600_000)
        ));
        let mut closed = c.clone();
        closed.closed_days.push(19_723);
        assert!(!is_open(&closed, Timestamp(MON + 9 * 3_600_000)));
    }

    #[test]
    fn overnight_window() {
        let c = cal(vec![OpenWindow {
            weekdays: 1, // Monday night
            from_minute: 22 * 60,
            to_minute: 6 * 60,
        }]);
        // Tuesday 02:00 local (01:00 UTC) belongs to Monday's window.
        assert!(is_open(&c, Timestamp(MON + 86_400_000 + 3_600_000)));
        // Monday 02:00 local belongs to Sunday's (absent) window.
        assert!(!is_open(&c, Timestamp(MON + 3_600_000)));
        assert_eq!(next_minute(Timestamp(61_000)), Timestamp(120_000));
    }

    const HOUR: u64 = 3_600_000;

    #[test]
    fn the_offset_in_force_at_now_gives_local_time() {
        // Like Berlin: UTC+1, then UTC+2 from Monday 2024-01-08 00:00 UTC on.
        let mut c = cal(vec![OpenWindow {
            weekdays: 0b001_1111,
            from_minute: 8 * 60,
            to_minute: 18 * 60,
        }]);
        let week2 = MON + 7 * 86_400_000;
        c.utc_offsets.changes.push(OffsetChange {
            at: Timestamp(week2),
            offset_minutes: 120,
        });
        // First week: opens 07:00 UTC, closes 17:00 UTC.
        assert!(!is_open(&c, Timestamp(MON + 7 * HOUR - 1)));
        assert!(is_open(&c, Timestamp(MON + 7 * HOUR)));
        assert!(is_open(&c, Timestamp(MON + 17 * HOUR - 1)));
        assert!(!is_open(&c, Timestamp(MON + 17 * HOUR)));
        // Second week: opens 06:00 UTC, closes 16:00 UTC.
        assert!(!is_open(&c, Timestamp(week2 + 6 * HOUR - 1)));
        assert!(is_open(&c, Timestamp(week2 + 6 * HOUR)));
        assert!(is_open(&c, Timestamp(week2 + 16 * HOUR - 1)));
        assert!(!is_open(&c, Timestamp(week2 + 16 * HOUR)));
    }
}
