//! The daemon's only clock. The routing core never reads time; the daemon stamps every event
//! with `now` from here.

use acd_core::Timestamp;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall-clock now as the core's timestamp (milliseconds since the Unix epoch).
pub fn now() -> Timestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    Timestamp::from_millis(since.as_millis() as u64)
}

/// How long from `now` until `at` (zero if it has passed).
pub fn until(at: Timestamp, now: Timestamp) -> Duration {
    Duration::from_millis(at.since(now))
}
