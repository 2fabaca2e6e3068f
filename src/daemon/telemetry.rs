//! Metric names, their help texts and the Prometheus recorder.
//!
//! Names live here in one place so the Grafana dashboard, the alert rules and the code cannot
//! drift apart silently: `deploy/` queries exactly these. Prometheus conventions: base units
//! (seconds), `_total` for counters, HELP on every metric, no per-call or per-caller labels.

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

pub const QUEUE_WAITING: &str = "acd_queue_calls_waiting";
pub const QUEUE_LONGEST_WAIT: &str = "acd_queue_longest_wait_seconds";
pub const QUEUE_OFFERED: &str = "acd_queue_calls_offered_total";
pub const QUEUE_ANSWERED: &str = "acd_queue_calls_answered_total";
pub const QUEUE_ABANDONED: &str = "acd_queue_calls_abandoned_total";
pub const QUEUE_OVERFLOWED: &str = "acd_queue_calls_overflowed_total";
pub const QUEUE_ANSWER_WAIT: &str = "acd_queue_answer_wait_seconds";
pub const QUEUE_ABANDON_WAIT: &str = "acd_queue_abandon_wait_seconds";
pub const QUEUE_AGENTS_LOGGED_IN: &str = "acd_queue_agents_logged_in";
pub const QUEUE_AGENTS_STAFFED: &str = "acd_queue_agents_staffed";
pub const QUEUE_AGENTS_AVAILABLE: &str = "acd_queue_agents_available";
pub const QUEUE_RINGING: &str = "acd_queue_calls_ringing";
pub const QUEUE_ANSWERED_WITHIN: &str = "acd_queue_calls_answered_within_threshold_total";
pub const QUEUE_SL_THRESHOLD: &str = "acd_queue_service_level_threshold_seconds";
pub const QUEUE_SL_TARGET: &str = "acd_queue_service_level_target_ratio";
pub const QUEUE_EXITS: &str = "acd_queue_exits_total";
pub const CALLS_ARRIVED: &str = "acd_calls_arrived_total";
pub const AGENTS: &str = "acd_agents";
pub const AGENT_STATE: &str = "acd_agent_state";
pub const DECISIONS: &str = "acd_routing_decisions_total";
pub const DECISION_LATENCY: &str = "acd_routing_decision_duration_seconds";
pub const RULES_VERSION: &str = "acd_rules_active_version";
pub const RULES_RELOAD_FAILURES: &str = "acd_rules_reload_failures_total";
pub const RULES_RELOADS: &str = "acd_rules_reloads_total";
pub const RULES_FILES_VALID: &str = "acd_rules_files_valid";
pub const RULES_STORE_WRITABLE: &str = "acd_rules_store_writable";
pub const READY: &str = "acd_ready";
pub const TWIN_LEADER: &str = "acd_twin_leader";
pub const TWIN_ROLE: &str = "acd_twin_role";
pub const TWIN_TAKEOVERS: &str = "acd_twin_takeovers_total";
pub const TWIN_LEASE_REMAINING: &str = "acd_twin_lease_remaining_seconds";
pub const TWIN_ETCD_UP: &str = "acd_twin_etcd_up";

/// Histogram buckets for waits, in seconds. Service-level thresholds are merged in so that the
/// share of calls answered within each threshold is read off a bucket exactly.
pub fn wait_buckets(service_level_thresholds_s: &[f64]) -> Vec<f64> {
    let mut b = vec![
        1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0,
    ];
    b.extend(
        service_level_thresholds_s
            .iter()
            .copied()
            .filter(|t| *t > 0.0),
    );
    b.sort_by(f64::total_cmp);
    b.dedup();
    b
}

/// Decision latency buckets: the core decides in microseconds.
const LATENCY_BUCKETS: [f64; 12] = [
    1e-6, 2e-6, 5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 5e-3, 20e-3,
];

/// Installs the global Prometheus recorder and returns the handle that renders `/metrics`.
pub fn install(service_level_thresholds_s: &[f64]) -> Result<PrometheusHandle, BuildError> {
    let waits = wait_buckets(service_level_thresholds_s);
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(QUEUE_ANSWER_WAIT.into()), &waits)?
        .set_buckets_for_metric(Matcher::Full(QUEUE_ABANDON_WAIT.into()), &waits)?
        .set_buckets_for_metric(Matcher::Full(DECISION_LATENCY.into()), &LATENCY_BUCKETS)?
        .install_recorder()?;
    describe();
    // Present from the first scrape: a probe or alert must not see "no data" while the engine
    // is still loading its rules.
    metrics::gauge!(READY).set(0.0);
    metrics::counter!(RULES_RELOAD_FAILURES).increment(0);
    acd_wire::metrics::zero_alerting_series();
    Ok(handle)
}

/// Whether the rule files as last read could be applied. A gauge rather than the failure
/// counter alone: an alert on it fires for a failure at start-up (the counter is already 1 at
/// the first scrape, so `increase` sees nothing) and clears as soon as the files are fixed.
pub fn rules_files_valid(valid: bool) {
    metrics::gauge!(RULES_FILES_VALID).set(if valid { 1.0 } else { 0.0 });
}

/// HELP texts for the daemon's own metrics (the wire layer describes its own).
pub fn describe() {
    describe_gauge!(
        QUEUE_WAITING,
        Unit::Count,
        "Calls waiting in the queue now."
    );
    describe_gauge!(
        QUEUE_LONGEST_WAIT,
        Unit::Seconds,
        "Wait of the longest-waiting call in the queue now."
    );
    describe_counter!(
        QUEUE_OFFERED,
        Unit::Count,
        "Calls that arrived in the queue."
    );
    describe_counter!(QUEUE_ANSWERED, Unit::Count, "Calls answered by an agent.");
    describe_counter!(
        QUEUE_ABANDONED,
        Unit::Count,
        "Calls whose caller hung up before an agent answered."
    );
    describe_counter!(
        QUEUE_OVERFLOWED,
        Unit::Count,
        "Calls the engine sent elsewhere (overflow, exit, night service)."
    );
    describe_histogram!(
        QUEUE_ANSWER_WAIT,
        Unit::Seconds,
        "Wait from arrival to answer, answered calls; buckets include each service-level threshold."
    );
    describe_histogram!(
        QUEUE_ABANDON_WAIT,
        Unit::Seconds,
        "Wait from arrival to hang-up, abandoned calls."
    );
    describe_gauge!(
        QUEUE_AGENTS_LOGGED_IN,
        Unit::Count,
        "Agents of the queue who are logged in (available or busy)."
    );
    describe_gauge!(
        QUEUE_AGENTS_STAFFED,
        Unit::Count,
        "Agents of the queue who take calls: logged in, not on do-not-disturb, phone working \
         (free now or after their current call); NaN while IP Office is not reachable."
    );
    describe_gauge!(
        QUEUE_AGENTS_AVAILABLE,
        Unit::Count,
        "Agents of the queue free to take a call now; NaN while IP Office is not reachable."
    );
    describe_gauge!(
        QUEUE_RINGING,
        Unit::Count,
        "Calls of the queue ringing at (or being transferred to) an agent, not yet answered; \
         NaN while IP Office is not reachable."
    );
    describe_counter!(
        QUEUE_ANSWERED_WITHIN,
        Unit::Count,
        "Answered calls that waited at most the queue's service-level threshold \
         (acd_queue_service_level_threshold_seconds)."
    );
    describe_gauge!(
        QUEUE_SL_THRESHOLD,
        Unit::Seconds,
        "The queue's service-level threshold from the rules (its first `service_level`)."
    );
    describe_gauge!(
        QUEUE_SL_TARGET,
        Unit::Count,
        "Share of finished calls the queue should answer within its threshold \
         (`service_level_target` in the rules, 0.8 by default)."
    );
    describe_counter!(
        QUEUE_EXITS,
        Unit::Count,
        "Calls the engine sent out of the queue, by reason (overflow, closed, no_agents, \
         queue_full) and target; a refused transfer that is retried counts again."
    );
    describe_counter!(
        CALLS_ARRIVED,
        Unit::Count,
        "Calls that arrived in the routed queues, each counted once however many routed queues \
         it passes through (acd_queue_calls_offered_total counts it in each)."
    );
    describe_gauge!(AGENTS, Unit::Count, "Agents by availability state.");
    describe_gauge!(
        AGENT_STATE,
        Unit::Count,
        "1 for the state each agent is in, 0 for the others (one series per agent and state)."
    );
    describe_counter!(DECISIONS, Unit::Count, "Routing decisions taken, by kind.");
    describe_histogram!(
        DECISION_LATENCY,
        Unit::Seconds,
        "Time the routing core took to handle one event."
    );
    describe_gauge!(
        RULES_VERSION,
        Unit::Count,
        "Version number of the active ruleset."
    );
    describe_counter!(
        RULES_RELOAD_FAILURES,
        Unit::Count,
        "Rule reloads refused because the files did not validate."
    );
    describe_counter!(RULES_RELOADS, Unit::Count, "Rule reloads applied.");
    describe_gauge!(
        RULES_FILES_VALID,
        Unit::Count,
        "1 when the rule files as last read were applied, 0 while they are refused (the last \
         good version keeps running)."
    );
    describe_gauge!(
        RULES_STORE_WRITABLE,
        Unit::Count,
        "1 when the rules store could be opened and written at the last attempt, 0 while it \
         cannot (full disk, read-only or damaged data directory): routing goes on, new \
         versions are stored when it can."
    );
    describe_gauge!(
        READY,
        Unit::Count,
        "1 when the engine is connected and subscribed, 0 otherwise."
    );
    describe_gauge!(
        TWIN_LEADER,
        Unit::Count,
        "1 when this engine sends commands (leader of its twin with a valid lease, or alone), \
         0 when it only computes (follower)."
    );
    describe_gauge!(
        TWIN_ROLE,
        Unit::Count,
        "1 for this engine's role in its twin (alone, leader, follower), 0 for the others."
    );
    describe_counter!(
        TWIN_TAKEOVERS,
        Unit::Count,
        "Times this engine became the twin's leader and started sending."
    );
    describe_gauge!(
        TWIN_LEASE_REMAINING,
        Unit::Seconds,
        "How long the leader's lease is surely valid without a renewal (0 for a follower, NaN \
         alone)."
    );
    describe_gauge!(
        TWIN_ETCD_UP,
        Unit::Count,
        "1 while etcd answers this engine's leadership requests, 0 when it does not (NaN alone)."
    );
}

/// The twin's series from start-up, for the cluster this engine belongs to (`""` alone), so
/// the "no leader" and "standby missing" alerts see values, not "no data".
pub fn register_twin(cluster: &str, alone: bool) {
    let c = cluster.to_string();
    metrics::counter!(TWIN_TAKEOVERS, "cluster" => c.clone()).increment(0);
    if alone {
        metrics::gauge!(TWIN_ETCD_UP, "cluster" => c).set(f64::NAN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_level_thresholds_become_exact_buckets() {
        let b = wait_buckets(&[20.0, 25.0, 0.0]);
        assert!(b.contains(&25.0));
        assert_eq!(b.iter().filter(|x| **x == 20.0).count(), 1);
        assert!(b.windows(2).all(|w| w[0] < w[1]));
    }
}
