//! This engine's place in its twin, as the run loop and `/healthz` see it, and the metrics that
//! tell it to Prometheus.

use crate::daemon::telemetry;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// No twin configured: the engine sends, as it always did.
    Alone,
    /// Holds the lease: may send until `until` (exclusive) unless renewed; leader since `since`.
    Leader { until: Instant, since: Instant },
    /// Computes, sends nothing. `leader`: who holds the key, when known.
    Follower { leader: Option<String> },
}

impl Role {
    pub fn label(&self) -> &'static str {
        match self {
            Role::Alone => "alone",
            Role::Leader { .. } => "leader",
            Role::Follower { .. } => "follower",
        }
    }

    /// Whether this engine sends commands (now, for a leader).
    pub fn sends(&self) -> bool {
        match self {
            Role::Alone => true,
            Role::Leader { until, .. } => Instant::now() < *until,
            Role::Follower { .. } => false,
        }
    }

    /// The role in words, for `/healthz` and logs.
    pub fn describe(&self) -> String {
        match self {
            Role::Alone => "alone (no twin configured): sending".to_string(),
            Role::Leader { until, since } => format!(
                "leader of the twin for {:.1} s, lease valid {:.1} s more",
                since.elapsed().as_secs_f64(),
                until
                    .saturating_duration_since(Instant::now())
                    .as_secs_f64()
            ),
            Role::Follower { leader: Some(l) } => {
                format!("follower: computing, not sending; the leader is {l}")
            }
            Role::Follower { leader: None } => {
                "follower: computing, not sending; no leader known".to_string()
            }
        }
    }

    /// Sets the role gauges (`acd_twin_leader`, `acd_twin_role`, the lease's remaining time).
    pub fn publish(&self, cluster: &str) {
        let c = cluster.to_string();
        metrics::gauge!(telemetry::TWIN_LEADER, "cluster" => c.clone()).set(if self.sends() {
            1.0
        } else {
            0.0
        });
        for role in ["alone", "leader", "follower"] {
            metrics::gauge!(telemetry::TWIN_ROLE, "cluster" => c.clone(), "role" => role)
                .set(if role == self.label() { 1.0 } else { 0.0 });
        }
        let remaining = match self {
            // Nothing to count down: NaN rather than a number a panel could misread.
            Role::Alone => f64::NAN,
            Role::Leader { until, .. } => until
                .saturating_duration_since(Instant::now())
                .as_secs_f64(),
            Role::Follower { .. } => 0.0,
        };
        metrics::gauge!(telemetry::TWIN_LEASE_REMAINING, "cluster" => c).set(remaining);
    }
}
