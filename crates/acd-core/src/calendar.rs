//! Opening hours: whether a queue is open at an instant, from a weekly calendar in local time.
//!
//! The engine has no clock and no time-zone database: the rules hand over the UTC offsets in
//! force over the years (daylight saving included), and `now` is milliseconds since the epoch,
//! so local day and minute are a lookup and plain arithmetic.

use crate::config::{Calendar, Holiday};
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

/// (year, month 1-12, day 1-31) of a day counted from 1970-01-01 (proleptic Gregorian).
pub fn civil_from_days(days: i64) -> (i64, u8, u8) {
    // Howard Hinnant's days-to-civil algorithm, eras of 400 years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u8, day as u8)
}

/// Days from 1970-01-01 to a date (proleptic Gregorian).
pub fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Western (Gregorian) Easter Sunday of `year`, as days since 1970-01-01 (the anonymous
/// Gregorian computus, valid for every Gregorian year).
pub fn easter_sunday(year: i64) -> i64 {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    days_from_civil(year, month as u8, day as u8)
}

/// Whether `day` (local, days since 1970-01-01) is one of the holidays.
pub fn is_holiday(holidays: &[Holiday], day: i64) -> bool {
    if holidays.is_empty() {
        return false;
    }
    let (year, month, dom) = civil_from_days(day);
    holidays.iter().any(|h| match *h {
        Holiday::Date(d) => d == day,
        Holiday::Annual { month: m, day: d } => m == month && d == dom,
        Holiday::Easter { offset_days } => easter_sunday(year) + i64::from(offset_days) == day,
    })
}

/// Where a calendar stands at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarState {
    Open,
    /// Outside the opening windows.
    Closed,
    /// A holiday: closed all day.
    Holiday,
}

/// Whether the calendar is open at `now`, closed, or closed for a holiday.
pub fn state(calendar: &Calendar, now: Timestamp) -> CalendarState {
    let (day, _) = local_day_minute(now, calendar.utc_offsets.at(now));
    if is_holiday(&calendar.holidays, day) {
        CalendarState::Holiday
    } else if in_windows(calendar, now) {
        CalendarState::Open
    } else {
        CalendarState::Closed
    }
}

/// Whether the calendar is open at `now`. A window with `from_minute > to_minute` runs over
/// midnight: it opens on its weekday and closes on the next day.
///
/// Local time is taken with the offset in force at `now`, so on the nights clocks change a
/// window follows the wall clock: `Sun 01:00-04:00` lasts two hours in spring and four in
/// autumn, and a local minute that does not exist (02:30 in spring) is never reached.
pub fn is_open(calendar: &Calendar, now: Timestamp) -> bool {
    state(calendar, now) == CalendarState::Open
}

fn in_windows(calendar: &Calendar, now: Timestamp) -> bool {
    let (day, minute) = local_day_minute(now, calendar.utc_offsets.at(now));
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
            holidays: vec![],
            night_target: Target::Voicemail("9".into()),
            holiday_target: None,
            at_close: crate::config::AtClose::Serve,
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
        closed.holidays.push(Holiday::Date(19_723));
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

    #[test]
    fn civil_dates_round_trip() {
        for day in [-800_000i64, -1, 0, 19_723, 20_813, 60_000] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    #[test]
    fn easter_dates_are_right() {
        // Published Western Easter Sundays.
        for (y, m, d) in [
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2038, 4, 25),
            (2000, 4, 23),
        ] {
            assert_eq!(civil_from_days(easter_sunday(y)), (y, m, d));
        }
    }

    #[test]
    fn recurring_and_easter_holidays_close_every_year() {
        let mut c = cal(vec![OpenWindow {
            weekdays: 0b111_1111,
            from_minute: 0,
            to_minute: 24 * 60,
        }]);
        c.utc_offsets = UtcOffsets::fixed(0);
        c.holidays = vec![
            Holiday::Annual { month: 12, day: 25 },
            Holiday::Easter { offset_days: -2 },
            Holiday::Easter { offset_days: 1 },
        ];
        let at = |y, m, d| Timestamp(days_from_civil(y, m, d) as u64 * 86_400_000 + 10 * HOUR);
        assert_eq!(state(&c, at(2026, 12, 25)), CalendarState::Holiday);
        assert_eq!(state(&c, at(2031, 12, 25)), CalendarState::Holiday);
        assert_eq!(state(&c, at(2026, 12, 24)), CalendarState::Open);
        // Good Friday and Easter Monday 2026: 3 and 6 April; 2027: 26 and 29 March.
        assert_eq!(state(&c, at(2026, 4, 3)), CalendarState::Holiday);
        assert_eq!(state(&c, at(2026, 4, 6)), CalendarState::Holiday);
        assert_eq!(state(&c, at(2027, 3, 26)), CalendarState::Holiday);
        assert_eq!(state(&c, at(2027, 3, 29)), CalendarState::Holiday);
        assert_eq!(state(&c, at(2027, 4, 2)), CalendarState::Open);
    }
}
