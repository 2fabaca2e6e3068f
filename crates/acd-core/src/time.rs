//! Virtual time. The core never reads a clock: callers pass `now` with every event, so a
//! simulated hour and a real hour run the same code.

use serde::{Deserialize, Serialize};

/// A duration in milliseconds.
pub type Millis = u64;

/// A point in time: milliseconds since the Unix epoch (UTC) in production, or since the start
/// of a simulation in virtual time. Only differences and calendar lookups are ever taken.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp(0);

    pub fn from_millis(ms: u64) -> Self {
        Timestamp(ms)
    }

    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// Milliseconds elapsed since `earlier`, zero if `earlier` is in the future.
    pub fn since(self, earlier: Timestamp) -> Millis {
        self.0.saturating_sub(earlier.0)
    }

    pub fn plus(self, ms: Millis) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }
}

/// Shells and simulations carry `std::time::Duration`s (configured timeouts, grace periods);
/// adding one to a `Timestamp` saves a conversion at every call site.
impl std::ops::Add<std::time::Duration> for Timestamp {
    type Output = Timestamp;

    fn add(self, d: std::time::Duration) -> Timestamp {
        self.plus(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

impl Timestamp {
    /// Time elapsed since `earlier` as a `Duration`, zero if `earlier` is in the future.
    pub fn duration_since(self, earlier: Timestamp) -> std::time::Duration {
        std::time::Duration::from_millis(self.since(earlier))
    }
}
