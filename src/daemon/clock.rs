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

/// The engine's clock as the run loop uses it: real time, or time running `speed` times faster
/// from the moment it was made (the demo runs the engine on its simulator's clock, so a 15 s
/// wrap-up lasts 15 s of the callers' time, not 150 s).
#[derive(Debug, Clone, Copy)]
pub struct EngineClock {
    speed: f64,
    started: Instant,
    start_ms: u64,
}

impl EngineClock {
    pub fn real() -> EngineClock {
        EngineClock::scaled(1.0)
    }

    /// Time that runs `speed` times faster than real time (`speed` ≤ 0 counts as 1).
    pub fn scaled(speed: f64) -> EngineClock {
        EngineClock {
            speed: if speed > 0.0 && speed.is_finite() {
                speed
            } else {
                1.0
            },
            started: Instant::now(),
            start_ms: now().as_millis(),
        }
    }

    pub fn now(&self) -> Timestamp {
        let elapsed = self.started.elapsed().as_secs_f64() * 1000.0 * self.speed;
        Timestamp::from_millis(self.start_ms + elapsed as u64)
    }

    /// Real time to wait until `at` on this clock.
    pub fn until(&self, at: Timestamp) -> Duration {
        Duration::from_secs_f64(at.since(self.now()) as f64 / 1000.0 / self.speed)
    }
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

    #[test]
    fn a_scaled_clock_runs_faster_and_waits_shorter() {
        let clock = EngineClock::scaled(10.0);
        let a = clock.now();
        let wait = clock.until(a.plus(10_000));
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(wait >= Duration::from_millis(900), "{wait:?}");
        std::thread::sleep(Duration::from_millis(50));
        assert!(clock.now().since(a) >= 500, "10x: 50 ms real is 500 ms");
    }
}
