//! The daemon's only clock. The routing core never reads time; the daemon stamps every event
//! with `now` from here.
//!
//! Wall-clock time is read once, at first use; after that time advances with the monotonic
//! clock. An NTP step backwards would otherwise freeze every engine timer (RONA, wrap-up,
//! steps) for the size of the step, and a step forwards would fire them all at once.

use acd_core::Timestamp;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

static BASE: OnceLock<(Instant, u64)> = OnceLock::new();

/// Now as the core's timestamp (milliseconds since the Unix epoch at the daemon's start, then
/// monotonic).
pub fn now() -> Timestamp {
    let (started, wall_ms) = *BASE.get_or_init(|| {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        (Instant::now(), wall.as_millis() as u64)
    });
    Timestamp::from_millis(wall_ms + started.elapsed().as_millis() as u64)
}

/// How long from `now` until `at` (zero if it has passed).
pub fn until(at: Timestamp, now: Timestamp) -> Duration {
    Duration::from_millis(at.since(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_never_goes_backwards_and_starts_at_the_wall_clock() {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let a = now();
        let b = now();
        assert!(b >= a);
        assert!(a.as_millis().abs_diff(wall) < 60_000);
        assert_eq!(
            until(Timestamp(5_000), Timestamp(2_000)),
            Duration::from_secs(3)
        );
        assert_eq!(until(Timestamp(1_000), Timestamp(2_000)), Duration::ZERO);
    }
}
