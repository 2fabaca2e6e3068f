//! The twin's coordination service in the simulation: one etcd lease on the leader key, in
//! virtual time.
//!
//! The daemon campaigns against a real etcd (`daemon::leadership`); what the simulation needs
//! from it is the lease's truth (who holds it, until when) to judge the engines against, and
//! the same rule the daemon applies to turn a granted or renewed lease into a fence: the
//! deadline is the moment the request was sent plus the TTL, less a margin, so the engine's
//! own idea of its lease ends before etcd's does. Requests take no time here (etcd answers at
//! once or is unreachable), which is the daemon's worst case for that rule: the deadline falls
//! as late as it ever can.

use acd_core::Timestamp;

/// How much earlier than etcd an engine takes its lease as ended (the daemon's default).
pub const FENCE_MARGIN_MS: u64 = 250;

/// What a campaign step told an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Campaign {
    /// It holds the lease (granted or renewed now): it may send until this time.
    Leads { until: Timestamp, took_over: bool },
    /// Another engine holds a valid lease.
    Follows,
}

pub struct VirtualEtcd {
    ttl_ms: u64,
    /// (engine, when etcd lets the lease expire).
    holder: Option<(usize, Timestamp)>,
}

impl VirtualEtcd {
    pub fn new(ttl_ms: u64) -> VirtualEtcd {
        VirtualEtcd {
            ttl_ms,
            holder: None,
        }
    }

    pub fn ttl_ms(&self) -> u64 {
        self.ttl_ms
    }

    /// An engine that reaches etcd at `now` renews its lease, or takes the key if nobody holds
    /// a valid lease on it (put-if-absent on an expired key), or learns that another leads.
    pub fn campaign(&mut self, engine: usize, now: Timestamp) -> Campaign {
        let valid = |(_, expires): &(usize, Timestamp)| now < *expires;
        match self.holder {
            Some(h) if valid(&h) && h.0 != engine => Campaign::Follows,
            current => {
                let took_over = current.is_none_or(|h| h.0 != engine || !valid(&h));
                self.holder = Some((engine, now.plus(self.ttl_ms)));
                Campaign::Leads {
                    until: now.plus(self.ttl_ms.saturating_sub(FENCE_MARGIN_MS)),
                    took_over,
                }
            }
        }
    }

    /// Whether etcd holds `engine`'s lease valid at `now`.
    pub fn holds(&self, engine: usize, now: Timestamp) -> bool {
        self.holder
            .is_some_and(|(h, expires)| h == engine && now < expires)
    }

    /// The engine holding a valid lease at `now`, if any.
    pub fn leader(&self, now: Timestamp) -> Option<usize> {
        self.holder
            .filter(|(_, expires)| now < *expires)
            .map(|(h, _)| h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_renewed_by_its_holder_and_taken_only_once_expired() {
        let mut etcd = VirtualEtcd::new(2_000);
        assert_eq!(
            etcd.campaign(0, Timestamp(0)),
            Campaign::Leads {
                until: Timestamp(1_750),
                took_over: true
            }
        );
        assert_eq!(etcd.campaign(1, Timestamp(1_000)), Campaign::Follows);
        assert!(matches!(
            etcd.campaign(0, Timestamp(1_500)),
            Campaign::Leads {
                took_over: false,
                ..
            }
        ));
        assert_eq!(etcd.campaign(1, Timestamp(3_400)), Campaign::Follows);
        // Not renewed: expired at 3.5 s.
        assert!(matches!(
            etcd.campaign(1, Timestamp(3_500)),
            Campaign::Leads {
                took_over: true,
                ..
            }
        ));
        assert!(etcd.holds(1, Timestamp(3_600)) && !etcd.holds(0, Timestamp(3_600)));
        assert_eq!(etcd.leader(Timestamp(5_500)), None);
    }
}
