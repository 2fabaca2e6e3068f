//! `time_zone = "Europe/Berlin"`: local time that follows daylight saving.
//!
//! The routing core takes no time-zone database (it stays pure), so the zone's offset changes
//! are worked out here, once, when the rules are compiled, and handed over as a plain
//! [`UtcOffsets`] list. The range of years is fixed rather than "from now on" so that the same
//! rule files always compile to the same config, whenever and wherever they are compiled; the
//! database is the one bundled into the binary (jiff's `tzdb-bundle-always`), so a host without
//! `/usr/share/zoneinfo`, or with an older one, routes the same way.

use acd_core::{OffsetChange, Timestamp, UtcOffsets};
use jiff::tz::TimeZone;

/// 2000-01-01T00:00:00Z: offset changes before this are left out (the offset in force at this
/// instant applies to everything earlier).
const FROM_SECOND: i64 = 946_684_800;
/// 2101-01-01T00:00:00Z: changes from here on are left out (the last offset stays in force).
/// A century of a European zone is about 200 changes, a few kilobytes.
const UNTIL_SECOND: i64 = 4_133_980_800;

/// How many near names an unknown zone's diagnostic offers.
const SUGGESTIONS: usize = 3;
/// How much less alike than the best a name may be and still be offered.
const NEAR_BEST: f64 = 0.03;

/// The offsets of the IANA zone `name` (for example `Europe/Berlin`) from 2000 to 2100, or
/// `None` when the bundled database has no such zone.
pub fn zone_offsets(name: &str) -> Option<UtcOffsets> {
    let tz = TimeZone::get(name).ok()?;
    let from = jiff::Timestamp::from_second(FROM_SECOND).ok()?;
    let until = jiff::Timestamp::from_second(UNTIL_SECOND).ok()?;
    let mut offsets = UtcOffsets::fixed(minutes(tz.to_offset(from)));
    let mut current = offsets.initial_minutes;
    for transition in tz.following(from) {
        let at = transition.timestamp();
        if at >= until {
            break;
        }
        // Some transitions only rename the zone (an abbreviation or DST flag change); the core
        // needs only the instants at which the offset itself changes.
        let offset = minutes(transition.offset());
        if offset == current {
            continue;
        }
        let Ok(at_ms) = u64::try_from(at.as_millisecond()) else {
            continue;
        };
        offsets.changes.push(OffsetChange {
            at: Timestamp(at_ms),
            offset_minutes: offset,
        });
        current = offset;
    }
    Some(offsets)
}

/// Offsets since 2000 are whole minutes everywhere; rounding down keeps any odd historical
/// second count deterministic.
fn minutes(offset: jiff::tz::Offset) -> i32 {
    offset.seconds().div_euclid(60)
}

/// The zone names closest to `name`, best first: compared as a whole and by the city alone,
/// so both `Europe/Berln` and `Berlin` find `Europe/Berlin`.
pub fn closest_zones(name: &str) -> Vec<String> {
    let wanted = name.to_ascii_lowercase();
    let wanted_city = city(&wanted);
    let mut scored: Vec<(f64, String)> = jiff::tz::db()
        .available()
        .map(|zone| {
            let zone = zone.as_str().to_string();
            let lower = zone.to_ascii_lowercase();
            let score = strsim::jaro_winkler(&wanted, &lower)
                .max(strsim::jaro_winkler(wanted_city, city(&lower)));
            (score, zone)
        })
        .filter(|(score, _)| *score >= 0.85)
        .collect();
    // Ties broken by name so the hint reads the same on every run.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    // Only names about as close as the best: a clear winner is offered alone.
    let best = scored.first().map_or(0.0, |(score, _)| *score);
    scored
        .into_iter()
        .take_while(|(score, _)| best - score <= NEAR_BEST)
        .take(SUGGESTIONS)
        .map(|(_, zone)| zone)
        .collect()
}

fn city(zone: &str) -> &str {
    zone.rsplit('/').next().unwrap_or(zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_bounds_are_the_years_they_claim() {
        let from = jiff::Timestamp::from_second(FROM_SECOND).unwrap();
        let until = jiff::Timestamp::from_second(UNTIL_SECOND).unwrap();
        assert_eq!(from.to_string(), "2000-01-01T00:00:00Z");
        assert_eq!(until.to_string(), "2101-01-01T00:00:00Z");
    }

    #[test]
    fn berlin_changes_twice_a_year_and_starts_in_winter_time() {
        let berlin = zone_offsets("Europe/Berlin").unwrap();
        assert_eq!(berlin.initial_minutes, 60);
        assert_eq!(berlin.changes.len(), 2 * 101);
        assert!(berlin.changes.windows(2).all(|w| w[0].at < w[1].at));
        assert!(berlin
            .changes
            .iter()
            .all(|c| c.offset_minutes == 60 || c.offset_minutes == 120));
        // 2000-03-26 01:00 UTC: the first spring forward in range.
        assert_eq!(
            berlin.changes[0],
            OffsetChange {
                at: Timestamp(954_032_400_000),
                offset_minutes: 120
            }
        );
    }

    #[test]
    fn zones_without_daylight_saving_have_no_changes() {
        assert_eq!(zone_offsets("UTC"), Some(UtcOffsets::fixed(0)));
        assert_eq!(zone_offsets("Asia/Kolkata"), Some(UtcOffsets::fixed(330)));
    }

    #[test]
    fn compiling_twice_gives_the_same_list() {
        assert_eq!(
            zone_offsets("America/New_York"),
            zone_offsets("America/New_York")
        );
    }

    #[test]
    fn unknown_zones_get_near_names() {
        assert_eq!(zone_offsets("Europe/Berln"), None);
        assert_eq!(closest_zones("Europe/Berln")[0], "Europe/Berlin");
        assert!(closest_zones("berlin").contains(&"Europe/Berlin".to_string()));
        assert!(closest_zones("America/New_Yrok").contains(&"America/New_York".to_string()));
        assert!(closest_zones("Qwxz/Zzzq").is_empty());
    }
}
