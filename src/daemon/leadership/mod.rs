//! Leadership of a hot twin: two engines follow the same IP Office and both compute, and etcd
//! decides which one sends. The leader holds a lease-bound key; the other polls the key and
//! claims it when the lease is gone. What comes out is a [`Role`] on a watch channel: the run
//! loop turns it into the session's fence, which is what really stops a non-leader sending.
//!
//! Without `[twin]` in the config none of this runs: the engine is [`Role::Alone`] and sends.

mod campaign;
pub mod etcd;
mod role;

pub use campaign::{spawn, Leadership};
pub use role::{refresh_published, Role};

use std::time::Duration;

/// How much earlier than etcd's expiry the leader stops trusting its lease: room for the delay
/// between the engine's clock and etcd's, and for a command already on its way to the socket.
pub const SAFETY_MARGIN: Duration = Duration::from_millis(250);

/// What the campaign needs (the config's `[twin]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwinSettings {
    /// etcd client URLs, `http://host:port`.
    pub etcd: Vec<String>,
    /// This engine's name in the leader key (default: the host name).
    pub instance: String,
    /// The twin's name: the leader key is `/acd/<cluster>/leader`.
    pub cluster: String,
    pub lease_ttl: Duration,
}

impl TwinSettings {
    pub fn key(&self) -> String {
        format!("/acd/{}/leader", self.cluster)
    }

    /// The leader renews at a third of the TTL, so two renewals may fail before it lapses.
    pub fn keepalive_every(&self) -> Duration {
        self.lease_ttl / 3
    }

    /// A follower looks for a free key this often: a small part of the takeover time.
    pub fn poll_every(&self) -> Duration {
        (self.lease_ttl / 8).max(Duration::from_millis(50))
    }

    /// A request to etcd that takes longer is given up (it would not help the lease).
    pub fn request_timeout(&self) -> Duration {
        (self.lease_ttl / 4).max(Duration::from_millis(100))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_follow_the_ttl() {
        let s = TwinSettings {
            etcd: vec!["http://127.0.0.1:2379".into()],
            instance: "a".into(),
            cluster: "main".into(),
            lease_ttl: Duration::from_secs(2),
        };
        assert_eq!(s.key(), "/acd/main/leader");
        assert_eq!(s.keepalive_every(), Duration::from_secs(2) / 3);
        assert_eq!(s.poll_every(), Duration::from_millis(250));
        // A renewal gives up before the next one is due, and two can fail within the lease.
        assert!(s.request_timeout() < s.keepalive_every());
        assert!(s.keepalive_every() * 2 + SAFETY_MARGIN < s.lease_ttl);
    }
}
