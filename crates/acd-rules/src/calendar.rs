//! Opening hours as supervisors write them: `"Mon-Fri 08:00-18:00"`, `"Sat 09:00-13:00"`,
//! `"daily 00:00-24:00"`; closed days as TOML dates (`2025-12-25`) or `"2025-12-25"` strings,
//! every year (`"12-25"`), or relative to Easter (`"easter-2"` for Good Friday).

use acd_core::{Holiday, OpenWindow};

const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Accepts "Mon", "monday", "MON", …; bit index 0 = Monday.
fn day_index(word: &str) -> Result<u8, String> {
    let lower = word.to_ascii_lowercase();
    DAYS.iter()
        .position(|d| *d == lower || (lower.len() == 3 && d.starts_with(&lower)))
        .map(|i| i as u8)
        .ok_or_else(|| format!("`{word}` is not a weekday (Mon, Tue, Wed, Thu, Fri, Sat, Sun)"))
}

/// Parses `HH:MM` into minutes after midnight; `24:00` is allowed as an end.
pub fn parse_clock(text: &str) -> Result<u16, String> {
    let bad = || format!("`{text}` is not a time of day (HH:MM)");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Parses `HH:MM-HH:MM` with from < to.
pub fn parse_clock_range(text: &str) -> Result<(u16, u16), String> {
    let (from, to) = text
        .split_once('-')
        .ok_or_else(|| format!("`{text}` is not a time range (HH:MM-HH:MM)"))?;
    let (from, to) = (parse_clock(from.trim())?, parse_clock(to.trim())?);
    if from >= to {
        return Err(format!(
            "`{text}` ends before it starts; split a range across midnight in two"
        ));
    }
    Ok((from, to))
}

/// Parses `DAYS HH:MM-HH:MM` where DAYS is `daily`, a day, a range `Mon-Fri`, or a comma list.
pub fn parse_window(text: &str) -> Result<OpenWindow, String> {
    let text = text.trim();
    let (days, times) = text
        .rsplit_once(' ')
        .ok_or_else(|| format!("`{text}` needs days and hours, like \"Mon-Fri 08:00-18:00\""))?;
    let weekdays = parse_days(days)?;
    let (from_minute, to_minute) = parse_clock_range(times.trim())?;
    Ok(OpenWindow {
        weekdays,
        from_minute,
        to_minute,
    })
}

/// Parses weekdays: `daily`, a day, a range `Mon-Fri`, or a comma list (`Sat,Sun`); bit 0 is
/// Monday.
pub fn parse_days(days: &str) -> Result<u8, String> {
    let mut weekdays = 0u8;
    for part in days.split(',') {
        let part = part.trim();
        if part.eq_ignore_ascii_case("daily") {
            weekdays |= 0x7f;
        } else if let Some((a, b)) = part.split_once('-') {
            let (a, b) = (day_index(a.trim())?, day_index(b.trim())?);
            if a > b {
                return Err(format!("`{part}`: list the week from Mon to Sun"));
            }
            for d in a..=b {
                weekdays |= 1 << d;
            }
        } else {
            weekdays |= 1 << day_index(part)?;
        }
    }
    Ok(weekdays)
}

/// Parses a closed day: `YYYY-MM-DD` (once), `MM-DD` (every year), or `easter`, `easter+1`,
/// `easter-2` (days from Western Easter Sunday, every year).
pub fn parse_holiday(text: &str) -> Result<Holiday, String> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("easter") {
        let offset: i16 = match rest.trim() {
            "" => 0,
            r => r
                .replace(' ', "")
                .parse()
                .map_err(|_| format!("`{text}`: write easter, easter+1 or easter-2"))?,
        };
        if !(-70..=70).contains(&offset) {
            return Err(format!("`{text}`: more than 70 days from Easter"));
        }
        return Ok(Holiday::Easter {
            offset_days: offset,
        });
    }
    if text.matches('-').count() == 1 {
        let bad = || format!("`{text}` is not a day of the year (MM-DD)");
        let (m, d) = text.split_once('-').ok_or_else(bad)?;
        let (m, d): (u32, u32) = (m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
        // A leap year, so 02-29 is accepted (it then closes only in leap years).
        days_from_civil(2024, m, d)?;
        return Ok(Holiday::Annual {
            month: m as u8,
            day: d as u8,
        });
    }
    parse_date(text).map(Holiday::Date)
}

/// Days since 1970-01-01 of a civil date, or an error when the date does not exist.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> Result<i64, String> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_len = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(format!("month {month} does not exist")),
    };
    if day == 0 || day > month_len {
        return Err(format!("{year}-{month:02} has no day {day}"));
    }
    // Checked above: month 1..=12 and day 1..=31 fit the core's arithmetic.
    Ok(acd_core::calendar::days_from_civil(
        year,
        month as u8,
        day as u8,
    ))
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<i64, String> {
    let bad = || format!("`{text}` is not a date (YYYY-MM-DD)");
    let mut parts = text.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let y: i64 = y.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    let d: u32 = d.parse().map_err(|_| bad())?;
    days_from_civil(y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        let w = parse_window("Mon-Fri 08:00-18:00").unwrap();
        assert_eq!(w.weekdays, 0b001_1111);
        assert_eq!((w.from_minute, w.to_minute), (480, 1080));
        assert_eq!(
            parse_window("Sat,Sun 10:00-12:30").unwrap().weekdays,
            0b110_0000
        );
        assert_eq!(parse_window("daily 00:00-24:00").unwrap().to_minute, 1440);
        assert_eq!(parse_window("Monday 09:00-10:00").unwrap().weekdays, 1);
        assert!(parse_window("Fri-Mon 08:00-10:00").is_err());
        assert!(parse_window("Mon 18:00-08:00").is_err());
        assert!(parse_window("Mon 8-9").is_err());
        assert!(parse_window("Mox 08:00-09:00").is_err());
        assert!(parse_window("Mon").is_err());
    }

    #[test]
    fn holidays() {
        assert_eq!(
            parse_holiday("12-25"),
            Ok(Holiday::Annual { month: 12, day: 25 })
        );
        assert_eq!(
            parse_holiday("Easter-2"),
            Ok(Holiday::Easter { offset_days: -2 })
        );
        assert_eq!(
            parse_holiday("easter + 1"),
            Ok(Holiday::Easter { offset_days: 1 })
        );
        assert_eq!(
            parse_holiday("easter"),
            Ok(Holiday::Easter { offset_days: 0 })
        );
        assert_eq!(parse_holiday("2026-12-24"), Ok(Holiday::Date(20_811)));
        assert!(parse_holiday("13-01").is_err());
        assert!(parse_holiday("easter+x").is_err());
        assert_eq!(parse_days("Sat,Sun"), Ok(0b110_0000));
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(parse_date("2000-03-01"), Ok(11_017));
        assert_eq!(parse_date("2024-02-29"), Ok(19_782));
        assert!(parse_date("2023-02-29").is_err());
        assert!(parse_date("2023-13-01").is_err());
        assert!(parse_date("25.12.2025").is_err());
    }
}
