//! Whether this engine may send commands to IP Office now: the fencing check of a hot twin.
//!
//! Two engines of a twin both follow IP Office and both compute, but only the one holding the
//! leadership lease sends. The lease is granted by etcd in the daemon; here it is only a
//! deadline on the connection's own clock, checked before every command, so that a leader that
//! was paused or cut off from etcd stops sending the moment its lease may have passed, without
//! waiting to hear so from anyone. It lives in the sans-IO connection so that the
//! deterministic simulation fences with the very same code.

use acd_core::Timestamp;

/// Who may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fence {
    /// No twin: this engine runs alone and always sends.
    #[default]
    Open,
    /// Leader of the twin, while its lease is surely valid: until this time (exclusive).
    LeaderUntil(Timestamp),
    /// Follower: computes, sends nothing.
    Closed,
}

impl Fence {
    /// Whether a command may go out at `now`.
    pub fn allows(&self, now: Timestamp) -> bool {
        match self {
            Fence::Open => true,
            Fence::LeaderUntil(until) => now < *until,
            Fence::Closed => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_allows_until_its_end_exclusive() {
        let f = Fence::LeaderUntil(Timestamp(1_000));
        assert!(f.allows(Timestamp(999)));
        assert!(!f.allows(Timestamp(1_000)));
        assert!(Fence::Open.allows(Timestamp(u64::MAX)));
        assert!(!Fence::Closed.allows(Timestamp(0)));
        assert_eq!(Fence::default(), Fence::Open);
    }
}
