//! This engine's place in its twin, as the run loop and `/healthz` see it, and the metrics that
//! tell it to Prometheus.
//!
//! The gauges are set when the role changes and set again from the lease's deadline whenever
//! `/metrics` is scraped ([`refresh_published`]): a leader paused past its lease (SIGSTOP, a
//! frozen VM) used to answer its first scrape after waking with `acd_twin_leader 1` while the
//! other engine led, because nothing had run since to lower it. A leader whose deadline has
//! passed shows as a follower that sends nothing, as its fence treats it.

use crate::daemon::telemetry;
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use tokio::time::Instant;

/// The role last published per twin cluster, for [`refresh_published`]. Process-wide like the
/// metrics recorder the gauges live in.
static PUBLISHED: Mutex<BTreeMap<String, Role>> = Mutex::new(BTreeMap::new());

/// Sets the role gauges again for every role published so far, as of now: what a scrape must
/// see, whatever has (not) run since the last change.
pub fn refresh_published() {
    let published = PUBLISHED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for (cluster, role) in &published {
        role.set_gauges(cluster);
    }
}

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

    /// Sets the role gauges (`acd_twin_leader`, `acd_twin_role`, the lease's remaining time)
    /// and remembers the role, so that each scrape sets them again from its deadline.
    pub fn publish(&self, cluster: &str) {
        PUBLISHED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(cluster.to_string(), self.clone());
        self.set_gauges(cluster);
    }

    /// The label the gauges give this role now: a leader past its deadline is a follower.
    fn label_now(&self) -> &'static str {
        match self {
            Role::Leader { .. } if !self.sends() => "follower",
            _ => self.label(),
        }
    }

    fn set_gauges(&self, cluster: &str) {
        let c = cluster.to_string();
        metrics::gauge!(telemetry::TWIN_LEADER, "cluster" => c.clone()).set(if self.sends() {
            1.0
        } else {
            0.0
        });
        for role in ["alone", "leader", "follower"] {
            metrics::gauge!(telemetry::TWIN_ROLE, "cluster" => c.clone(), "role" => role)
                .set(if role == self.label_now() { 1.0 } else { 0.0 });
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

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::PrometheusBuilder;
    use std::time::Duration;

    fn sample(page: &str, series: &str) -> Option<f64> {
        page.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    /// A leader that did not run past its lease's end (paused, frozen) is shown as a follower at
    /// the next scrape, though nothing published since.
    #[tokio::test(start_paused = true)]
    async fn a_leader_past_its_deadline_shows_as_a_follower_at_the_next_scrape() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let now = Instant::now();
        let leader = Role::Leader {
            until: now + Duration::from_secs(2),
            since: now,
        };
        metrics::with_local_recorder(&recorder, || leader.publish("paused"));
        let page = handle.render();
        assert_eq!(
            sample(&page, "acd_twin_leader{cluster=\"paused\"}"),
            Some(1.0)
        );
        assert_eq!(
            sample(&page, "acd_twin_role{cluster=\"paused\",role=\"leader\"}"),
            Some(1.0)
        );

        tokio::time::advance(Duration::from_secs(3)).await;
        metrics::with_local_recorder(&recorder, refresh_published);
        let page = handle.render();
        assert_eq!(
            sample(&page, "acd_twin_leader{cluster=\"paused\"}"),
            Some(0.0)
        );
        assert_eq!(
            sample(&page, "acd_twin_role{cluster=\"paused\",role=\"leader\"}"),
            Some(0.0)
        );
        assert_eq!(
            sample(&page, "acd_twin_role{cluster=\"paused\",role=\"follower\"}"),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &page,
                "acd_twin_lease_remaining_seconds{cluster=\"paused\"}"
            ),
            Some(0.0)
        );
    }

    /// Within its lease the scrape counts the time left down from the deadline.
    #[tokio::test(start_paused = true)]
    async fn a_scrape_counts_the_lease_down() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let now = Instant::now();
        let leader = Role::Leader {
            until: now + Duration::from_secs(2),
            since: now,
        };
        metrics::with_local_recorder(&recorder, || leader.publish("counting"));
        tokio::time::advance(Duration::from_millis(1_500)).await;
        metrics::with_local_recorder(&recorder, refresh_published);
        let page = handle.render();
        let left = sample(
            &page,
            "acd_twin_lease_remaining_seconds{cluster=\"counting\"}",
        );
        assert!(left.is_some_and(|s| (s - 0.5).abs() < 0.01), "{left:?}");
        assert_eq!(
            sample(&page, "acd_twin_leader{cluster=\"counting\"}"),
            Some(1.0)
        );
    }
}
