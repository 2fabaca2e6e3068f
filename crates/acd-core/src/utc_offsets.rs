//! The offset of local time from UTC as it changes over the years (daylight saving, a country
//! moving zones).
//!
//! Opening hours and route time windows are written in local time, and a fixed offset is wrong
//! for half the year wherever clocks change. The core has no clock and no time-zone database,
//! so the rules layer hands it the changes worked out in advance: an offset in force before the
//! first change, then each instant at which a new offset takes over. Which offset applies at
//! `now` is a binary search, with no I/O and the same answer every time.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// From `at` on (inclusive), local time is UTC plus `offset_minutes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetChange {
    /// The instant of the change: milliseconds since the Unix epoch (UTC).
    pub at: Timestamp,
    pub offset_minutes: i32,
}

/// Local time's offset from UTC over time. A fixed offset is the case with no changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UtcOffsets {
    /// The offset in force before the first change (always, when there are no changes).
    pub initial_minutes: i32,
    /// Changes in strictly ascending `at`; the lookup relies on that order.
    pub changes: Vec<OffsetChange>,
}

impl UtcOffsets {
    /// An offset that never changes, such as `utc_offset = "+01:00"`.
    pub fn fixed(offset_minutes: i32) -> UtcOffsets {
        UtcOffsets {
            initial_minutes: offset_minutes,
            changes: Vec::new(),
        }
    }

    /// The offset in minutes in force at `now`.
    pub fn at(&self, now: Timestamp) -> i32 {
        // Number of changes that have taken effect by `now`; the last of them is in force.
        let taken = self.changes.partition_point(|c| c.at <= now);
        match taken.checked_sub(1).and_then(|i| self.changes.get(i)) {
            Some(change) => change.offset_minutes,
            None => self.initial_minutes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_offset_never_changes() {
        let o = UtcOffsets::fixed(60);
        assert_eq!(o.at(Timestamp(0)), 60);
        assert_eq!(o.at(Timestamp(u64::MAX)), 60);
    }

    #[test]
    fn the_change_takes_effect_at_its_instant() {
        let o = UtcOffsets {
            initial_minutes: 60,
            changes: vec![
                OffsetChange {
                    at: Timestamp(1_000),
                    offset_minutes: 120,
                },
                OffsetChange {
                    at: Timestamp(2_000),
                    offset_minutes: 60,
                },
            ],
        };
        assert_eq!(o.at(Timestamp(0)), 60);
        assert_eq!(o.at(Timestamp(999)), 60);
        assert_eq!(o.at(Timestamp(1_000)), 120);
        assert_eq!(o.at(Timestamp(1_999)), 120);
        assert_eq!(o.at(Timestamp(2_000)), 60);
        assert_eq!(o.at(Timestamp(u64::MAX)), 60);
    }
}
