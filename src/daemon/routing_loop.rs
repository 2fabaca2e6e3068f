//! What the daemon's run loop does with each event, as a plain struct: stamp it, hand it to the
//! engine, keep the bookkeeping only the daemon needs (commands in flight, readiness, what to
//! export), and return the commands to send. No tokio, no clock: the tokio loop in
//! [`super::runtime`], the load benchmark and the deterministic simulation all drive this same
//! struct, so none of them runs a copy of the production path.

use super::telemetry;
use acd_core::{
    AgentAvailability, AgentId, CallOutcome, Command, CommandId, CommandOutcome, Decision,
    DecisionAction, Engine, Event, ExitReason, FinishedCall, Output, QueueCounters, QueueId,
    RoutingConfig, Timestamp,
};
use acd_wire::translate::command_label;
use acd_wire::LinkStatus;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// What the wallboard line and `/readyz` need, refreshed every second.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LiveStatus {
    pub ready: bool,
    /// The link to IP Office in words (for `/readyz`'s body and logs).
    pub link: String,
    /// This engine's role in its twin in words (for `/healthz`'s body); set by the run loop.
    pub role: String,
    pub rules_version: u64,
    pub waiting: usize,
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub overflowed: u64,
    /// Share of answered + abandoned calls answered within the first service-level threshold.
    pub service_level: Option<f64>,
    pub agents: BTreeMap<String, usize>,
}

/// The engine's own account of what happened, returned when the loop ends.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    pub rules_version: u64,
    pub queues: BTreeMap<String, QueueReport>,
    pub commands_sent: BTreeMap<String, u64>,
    pub commands_failed: u64,
    pub decisions: u64,
    /// Events handed to the engine (ticks included).
    pub events: u64,
    /// Outcomes per route and queue, for the calls that ended (the study prints them beside
    /// the per-queue figures).
    pub routes: Vec<RouteReport>,
}

/// The outcomes of the calls that ended under one route in one queue (or under no route).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RouteReport {
    pub queue: String,
    /// `None`: calls no route matched.
    pub route: Option<String>,
    pub answered: u64,
    pub abandoned: u64,
    /// Left by an overflow step, an exit (night service, no agents, queue full) or a move.
    pub overflowed: u64,
    /// Answered within the queue's first service-level threshold.
    pub answered_within_threshold: u64,
    pub threshold_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct QueueReport {
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub overflowed: u64,
    pub answered_within_threshold: u64,
    pub threshold_ms: u64,
    pub longest_wait_ms: u64,
    /// Calls that left by an exit or overflow, by reason (`closed` is night service by the
    /// calendar; `no_agents`, `queue_full`, `overflow` for timed overflow steps).
    pub exits: BTreeMap<String, u64>,
}

pub struct RoutingLoop {
    engine: Engine,
    in_flight: HashMap<CommandId, &'static str>,
    ready: bool,
    link: String,
    rules_version: u64,
    commands_sent: BTreeMap<String, u64>,
    commands_failed: u64,
    decisions: u64,
    events: u64,
    /// The decisions of the last event handled (for checks from outside, and tests).
    last_decisions: Vec<Decision>,
    /// The state last exported per agent: only changes are written to `acd_agent_state`, so
    /// 3,000 agents cost nothing per second when nobody moves.
    agent_states: HashMap<AgentId, AgentAvailability>,
    /// Per (queue, route): bounded by the rules' routes times queues.
    route_outcomes: BTreeMap<(String, Option<String>), RouteReport>,
    /// Per queue, exits and overflows by reason.
    exits: BTreeMap<String, BTreeMap<String, u64>>,
    /// The queues whose per-queue series are exported (`[routing] queues`); `None`: every queue
    /// of the rules.
    exported: Option<HashSet<QueueId>>,
}

impl RoutingLoop {
    pub fn new(config: Arc<RoutingConfig>) -> RoutingLoop {
        let rules_version = config.version;
        RoutingLoop {
            engine: Engine::new(config),
            in_flight: HashMap::new(),
            ready: false,
            link: "not connected yet".into(),
            rules_version,
            commands_sent: BTreeMap::new(),
            commands_failed: 0,
            decisions: 0,
            events: 0,
            last_decisions: Vec::new(),
            agent_states: HashMap::new(),
            route_outcomes: BTreeMap::new(),
            exits: BTreeMap::new(),
            exported: None,
        }
    }

    /// Exports per-queue series only for `routed` (the config's `[routing] queues`): a queue
    /// the rules define but the engine does not route would only fill the dashboard's queue
    /// list with series that never move. Empty, or naming a group by `guid:`, exports every
    /// queue of the rules.
    pub fn export_only(&mut self, routed: &[String]) {
        self.exported = (!routed.is_empty() && !routed.iter().any(|q| q.starts_with("guid:")))
            .then(|| routed.iter().map(|q| QueueId::from(q.as_str())).collect());
    }

    fn exports(&self, queue: &QueueId) -> bool {
        self.exported.as_ref().is_none_or(|set| set.contains(queue))
    }

    /// The decisions the last `handle` took.
    pub fn last_decisions(&self) -> &[Decision] {
        &self.last_decisions
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn next_wakeup(&self) -> Option<Timestamp> {
        self.engine.next_wakeup()
    }

    /// Commands sent whose outcome has not come back yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// One event from the session (or `Event::Tick` when `next_wakeup` is due): the commands
    /// to send, in order.
    pub fn handle(&mut self, now: Timestamp, event: Event) -> Vec<Command> {
        if let Event::CommandResult { id, outcome } = &event {
            self.command_done(*id, *outcome);
        }
        self.events += 1;
        let output = self.engine.handle(now, event);
        self.account(output)
    }

    /// A new ruleset was applied.
    pub fn rules_changed(&mut self, now: Timestamp, config: Arc<RoutingConfig>) -> Vec<Command> {
        self.rules_version = config.version;
        self.handle(now, Event::RulesChanged(config))
    }

    /// Stops deciding: what is left is waiting for the outcomes of commands in flight.
    pub fn command_done(&mut self, id: CommandId, outcome: CommandOutcome) {
        self.in_flight.remove(&id);
        if let CommandOutcome::Failed(code) = outcome {
            self.commands_failed += 1;
            tracing::info!(
                command = id.0,
                code,
                "a command failed (see the wire layer's log for why)"
            );
        }
    }

    fn account(&mut self, output: Output) -> Vec<Command> {
        for decision in &output.decisions {
            self.decisions += 1;
            metrics::counter!(telemetry::DECISIONS, "kind" => decision_kind(&decision.action))
                .increment(1);
            if let Some(reason) = record_exit(decision) {
                *self
                    .exits
                    .entry(decision.queue.0.clone())
                    .or_default()
                    .entry(reason.to_string())
                    .or_default() += 1;
            }
            tracing::debug!(target: "acd::decision", "{decision}");
        }
        for finished in &output.finished {
            record_finished(finished);
            self.count_route_outcome(finished);
        }
        for command in &output.commands {
            let kind = command_label(&command.kind);
            *self.commands_sent.entry(kind.to_string()).or_default() += 1;
            self.in_flight.insert(command.id, kind);
        }
        self.last_decisions = output.decisions;
        output.commands
    }

    fn count_route_outcome(&mut self, f: &FinishedCall) {
        let threshold_ms = self
            .engine
            .config()
            .queues
            .get(&f.queue)
            .and_then(|p| p.service_level_ms.first().copied())
            .unwrap_or(0);
        let key = (f.queue.0.clone(), f.route.clone());
        let r = self
            .route_outcomes
            .entry(key)
            .or_insert_with(|| RouteReport {
                queue: f.queue.0.clone(),
                route: f.route.clone(),
                ..RouteReport::default()
            });
        r.threshold_ms = threshold_ms;
        match f.outcome {
            CallOutcome::Answered => {
                r.answered += 1;
                if f.wait_ms <= threshold_ms {
                    r.answered_within_threshold += 1;
                }
            }
            CallOutcome::Abandoned => r.abandoned += 1,
            CallOutcome::Overflowed => r.overflowed += 1,
        }
    }

    pub fn link(&mut self, link: &LinkStatus) {
        let ready = matches!(link, LinkStatus::Subscribed { .. });
        if ready != self.ready {
            tracing::info!(link = %link, "IP Office link");
        }
        self.ready = ready;
        self.link = link.to_string();
        metrics::gauge!(telemetry::READY).set(if ready { 1.0 } else { 0.0 });
    }

    /// Sets every gauge from the engine's view at `now` and returns the live status. Every
    /// label a gauge ever had is set each time (zero when empty), so no state keeps a stale
    /// value after the last agent left it; every routed queue has all its series from the
    /// first publish, so no alert or panel goes blind on a queue that has answered nobody.
    /// While IP Office is not reachable the queue gauges read NaN: the engine cannot know them,
    /// and a frozen last value would tell a wallboard that nothing changed.
    pub fn publish(&mut self, now: Timestamp) -> LiveStatus {
        let view = self.engine.view(now);
        let mut status = LiveStatus {
            ready: self.ready,
            link: self.link.clone(),
            rules_version: self.rules_version,
            ..LiveStatus::default()
        };
        let mut within = 0u64;
        let mut judged = 0u64;
        let known = |n: f64| if self.ready { n } else { f64::NAN };
        for q in &view.queues {
            let name = q.queue.0.as_str();
            status.waiting += q.waiting;
            if !self.exports(&q.queue) {
                continue;
            }
            let gauges = [
                (telemetry::QUEUE_WAITING, q.waiting as f64),
                (telemetry::QUEUE_RINGING, q.offering as f64),
                (
                    telemetry::QUEUE_LONGEST_WAIT,
                    q.oldest_wait_ms as f64 / 1000.0,
                ),
                (telemetry::QUEUE_AGENTS_LOGGED_IN, q.logged_in_agents as f64),
                (telemetry::QUEUE_AGENTS_STAFFED, q.staffed_agents as f64),
                (telemetry::QUEUE_AGENTS_AVAILABLE, q.available_agents as f64),
            ];
            for (metric, value) in gauges {
                metrics::gauge!(metric, "queue" => name.to_string()).set(known(value));
            }
        }
        let config = self.engine.config();
        for (queue, policy) in config.queues.iter().filter(|(q, _)| self.exports(q)) {
            let q = queue.0.clone();
            let threshold_ms = policy.service_level_ms.first().copied().unwrap_or(0);
            metrics::gauge!(telemetry::QUEUE_SL_THRESHOLD, "queue" => q.clone())
                .set(threshold_ms as f64 / 1000.0);
            metrics::gauge!(telemetry::QUEUE_SL_TARGET, "queue" => q.clone())
                .set(policy.service_level_target);
            // Registered without a sample: present (count 0) before the first call ends.
            let _registered =
                metrics::histogram!(telemetry::QUEUE_ANSWER_WAIT, "queue" => q.clone());
            let _registered = metrics::histogram!(telemetry::QUEUE_ABANDON_WAIT, "queue" => q);
            if !self.engine.accounting().contains_key(queue) {
                publish_counters(
                    queue,
                    &QueueCounters::with_thresholds(&policy.service_level_ms),
                );
            }
        }
        metrics::counter!(telemetry::CALLS_ARRIVED).absolute(self.engine.calls_arrived());
        for (queue, c) in self.engine.accounting() {
            if self.exports(queue) {
                publish_counters(queue, c);
            }
            status.offered += c.offered;
            status.answered += c.answered;
            status.abandoned += c.abandoned;
            status.overflowed += c.overflowed;
            if let Some((_, n)) = c.answered_within.first() {
                within += n;
                judged += c.answered + c.abandoned;
            }
        }
        status.service_level = (judged > 0).then(|| within as f64 / judged as f64);
        for state in AgentAvailability::ALL {
            let n = view.agents.get(&state).copied().unwrap_or(0);
            let label = state_label(state);
            metrics::gauge!(telemetry::AGENTS, "state" => label).set(n as f64);
            status.agents.insert(label.to_string(), n);
        }
        for agent in self.engine.config().agents.keys() {
            let state = self
                .engine
                .agent_availability(agent, now)
                .unwrap_or(AgentAvailability::LoggedOff);
            let before = self.agent_states.insert(agent.clone(), state);
            if before == Some(state) {
                continue;
            }
            for s in AgentAvailability::ALL {
                if before.is_none() || s == state || Some(s) == before {
                    let value = if s == state { 1.0 } else { 0.0 };
                    metrics::gauge!(telemetry::AGENT_STATE, "agent" => agent.0.clone(), "state" => state_label(s))
                        .set(value);
                }
            }
        }
        metrics::gauge!(telemetry::RULES_VERSION).set(self.rules_version as f64);
        status
    }

    pub fn report(&self) -> RunReport {
        let queues = self
            .engine
            .accounting()
            .iter()
            .map(|(q, c)| {
                let (threshold_ms, within) = c.answered_within.first().copied().unwrap_or((0, 0));
                (
                    q.0.clone(),
                    QueueReport {
                        offered: c.offered,
                        answered: c.answered,
                        abandoned: c.abandoned,
                        overflowed: c.overflowed,
                        answered_within_threshold: within,
                        threshold_ms,
                        longest_wait_ms: c.longest_wait_ms,
                        exits: self.exits.get(&q.0).cloned().unwrap_or_default(),
                    },
                )
            })
            .collect();
        RunReport {
            rules_version: self.rules_version,
            queues,
            commands_sent: self.commands_sent.clone(),
            commands_failed: self.commands_failed,
            decisions: self.decisions,
            events: self.events,
            routes: self.route_outcomes.values().cloned().collect(),
        }
    }
}

/// Counters are cumulative in the engine; Prometheus counters are set to the engine's totals so
/// they can never drift from the engine's own accounting.
fn publish_counters(queue: &QueueId, c: &QueueCounters) {
    let q = queue.0.clone();
    let within = c.answered_within.first().map_or(0, |(_, n)| *n);
    metrics::counter!(telemetry::QUEUE_ANSWERED_WITHIN, "queue" => q.clone()).absolute(within);
    metrics::counter!(telemetry::QUEUE_OFFERED, "queue" => q.clone()).absolute(c.offered);
    metrics::counter!(telemetry::QUEUE_ANSWERED, "queue" => q.clone()).absolute(c.answered);
    metrics::counter!(telemetry::QUEUE_ABANDONED, "queue" => q.clone()).absolute(c.abandoned);
    metrics::counter!(telemetry::QUEUE_OVERFLOWED, "queue" => q).absolute(c.overflowed);
}

fn record_finished(f: &FinishedCall) {
    let secs = f.wait_ms as f64 / 1000.0;
    let queue = f.queue.0.clone();
    match f.outcome {
        CallOutcome::Answered => {
            metrics::histogram!(telemetry::QUEUE_ANSWER_WAIT, "queue" => queue).record(secs)
        }
        CallOutcome::Abandoned => {
            metrics::histogram!(telemetry::QUEUE_ABANDON_WAIT, "queue" => queue).record(secs)
        }
        CallOutcome::Overflowed => {}
    }
}

/// Where calls left to, by reason: voicemail and overflow are what a supervisor must see
/// beside the service level. Returns the reason's label (`None`: not an exit).
fn record_exit(decision: &Decision) -> Option<&'static str> {
    let (reason, target) = match &decision.action {
        DecisionAction::Overflow { target } => ("overflow", target),
        DecisionAction::Exit { target, reason } => (exit_reason_label(*reason), target),
        _ => return None,
    };
    metrics::counter!(
        telemetry::QUEUE_EXITS,
        "queue" => decision.queue.0.clone(),
        "reason" => reason,
        "target" => target.to_string()
    )
    .increment(1);
    Some(reason)
}

fn exit_reason_label(reason: ExitReason) -> &'static str {
    match reason {
        ExitReason::Closed => "closed",
        ExitReason::NoAgents => "no_agents",
        ExitReason::NoQualifiedAgents => "no_qualified_agents",
        ExitReason::Holiday => "holiday",
        ExitReason::QueueFull => "queue_full",
    }
}

fn decision_kind(action: &DecisionAction) -> &'static str {
    match action {
        DecisionAction::Offer { .. } => "offer",
        DecisionAction::StepApplied { .. } => "step",
        DecisionAction::Overflow { .. } => "overflow",
        DecisionAction::Exit { .. } => "exit",
        DecisionAction::Finish => "finish",
        DecisionAction::Rona { .. } => "rona",
        DecisionAction::RulesApplied { .. } => "rules",
    }
}

/// The `state` label of `acd_agents`.
pub fn state_label(state: AgentAvailability) -> &'static str {
    match state {
        AgentAvailability::LoggedOff => "logged_off",
        AgentAvailability::Dnd => "dnd",
        AgentAvailability::Forwarded => "forwarded",
        AgentAvailability::PhoneFault => "phone_fault",
        AgentAvailability::Idle => "idle",
        AgentAvailability::Reserved => "reserved",
        AgentAvailability::Ringing => "ringing",
        AgentAvailability::OnCall => "on_call",
        AgentAvailability::AfterCallWork => "after_call_work",
        AgentAvailability::WrapUp => "wrap_up",
        AgentAvailability::NotReady => "not_ready",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use acd_core::{AgentProfile, PickStrategy, QueuePolicy};
    use metrics_exporter_prometheus::PrometheusBuilder;

    fn one_queue_two_agents() -> RoutingConfig {
        let mut config = RoutingConfig::default();
        let agents: Vec<AgentId> = vec!["201".into(), "202".into()];
        let mut policy =
            QueuePolicy::new("Sales".into(), PickStrategy::LongestIdle, agents.clone());
        policy.service_level_ms = vec![30_000];
        config.queues.insert("Sales".into(), policy);
        for agent in agents {
            config.agents.insert(
                agent.clone(),
                AgentProfile {
                    agent,
                    skills: Default::default(),
                    wrap_up_ms: None,
                    takes_calls_when_forwarded: false,
                },
            );
        }
        config
    }

    fn value(exposition: &str, series: &str) -> Option<String> {
        exposition.lines().find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')
                .map(str::to_string)
        })
    }

    #[test]
    fn every_series_of_a_routed_queue_exists_before_its_first_call() {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(telemetry::QUEUE_ANSWER_WAIT.into()),
                &telemetry::wait_buckets(&[30.0]),
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        telemetry::QUEUE_ABANDON_WAIT.into(),
                    ),
                    &telemetry::wait_buckets(&[30.0]),
                )
            })
            .unwrap()
            .build_recorder();
        let handle = recorder.handle();
        let mut routing = RoutingLoop::new(Arc::new(one_queue_two_agents()));
        metrics::with_local_recorder(&recorder, || {
            routing.publish(Timestamp(0));
        });
        let text = handle.render();
        for (series, expected) in [
            ("acd_queue_calls_offered_total{queue=\"Sales\"}", "0"),
            ("acd_calls_arrived_total", "0"),
            ("acd_queue_calls_answered_total{queue=\"Sales\"}", "0"),
            ("acd_queue_calls_abandoned_total{queue=\"Sales\"}", "0"),
            (
                "acd_queue_calls_answered_within_threshold_total{queue=\"Sales\"}",
                "0",
            ),
            ("acd_queue_answer_wait_seconds_count{queue=\"Sales\"}", "0"),
            ("acd_queue_abandon_wait_seconds_count{queue=\"Sales\"}", "0"),
            (
                "acd_queue_service_level_threshold_seconds{queue=\"Sales\"}",
                "30",
            ),
            (
                "acd_queue_service_level_target_ratio{queue=\"Sales\"}",
                "0.8",
            ),
            // Not connected yet: the engine cannot know who waits or who is free.
            ("acd_queue_calls_waiting{queue=\"Sales\"}", "NaN"),
            ("acd_queue_agents_available{queue=\"Sales\"}", "NaN"),
            ("acd_agent_state{agent=\"201\",state=\"logged_off\"}", "1"),
            ("acd_agent_state{agent=\"201\",state=\"idle\"}", "0"),
        ] {
            assert_eq!(
                value(&text, series).as_deref(),
                Some(expected),
                "{series} in\n{text}"
            );
        }

        routing.link(&LinkStatus::Subscribed {
            users: 2,
            queues: 1,
        });
        metrics::with_local_recorder(&recorder, || {
            routing.publish(Timestamp(1_000));
        });
        let text = handle.render();
        assert_eq!(
            value(&text, "acd_queue_calls_waiting{queue=\"Sales\"}").as_deref(),
            Some("0")
        );
    }

    /// Issue 24 (10): per-queue series were exported for queues the rules define but the
    /// engine does not route, filling the dashboard's queue list.
    #[test]
    fn per_queue_series_only_for_routed_queues() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let mut config = one_queue_two_agents();
        let mut support = config.queues[&QueueId::from("Sales")].clone();
        support.queue = QueueId::from("Support");
        config.queues.insert(support.queue.clone(), support);
        let mut routing = RoutingLoop::new(Arc::new(config));
        routing.export_only(&["Sales".to_string()]);
        metrics::with_local_recorder(&recorder, || {
            routing.publish(Timestamp(0));
        });
        let text = handle.render();
        assert!(text.contains("queue=\"Sales\""), "{text}");
        assert!(!text.contains("queue=\"Support\""), "{text}");
    }
}
