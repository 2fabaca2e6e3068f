//! What the daemon's run loop does with each event, as a plain struct: stamp it, hand it to the
//! engine, keep the bookkeeping only the daemon needs (commands in flight, readiness, what to
//! export), and return the commands to send. No tokio, no clock: the tokio loop in
//! [`super::runtime`], the load benchmark and the deterministic simulation all drive this same
//! struct, so none of them runs a copy of the production path.

use super::telemetry;
use acd_core::{
    AgentAvailability, CallOutcome, Command, CommandId, CommandOutcome, Decision, DecisionAction,
    Engine, Event, FinishedCall, Output, QueueCounters, QueueId, RoutingConfig, Timestamp,
};
use acd_wire::translate::command_label;
use acd_wire::LinkStatus;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What the wallboard line and `/readyz` need, refreshed every second.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LiveStatus {
    pub ready: bool,
    /// The link to IP Office in words (for `/readyz`'s body and logs).
    pub link: String,
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
        }
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
            tracing::debug!(target: "acd::decision", "{decision}");
        }
        for finished in &output.finished {
            record_finished(finished);
        }
        for command in &output.commands {
            let kind = command_label(&command.kind);
            *self.commands_sent.entry(kind.to_string()).or_default() += 1;
            self.in_flight.insert(command.id, kind);
        }
        self.last_decisions = output.decisions;
        output.commands
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
    /// value after the last agent left it.
    pub fn publish(&self, now: Timestamp) -> LiveStatus {
        let view = self.engine.view(now);
        let mut status = LiveStatus {
            ready: self.ready,
            link: self.link.clone(),
            rules_version: self.rules_version,
            ..LiveStatus::default()
        };
        let mut within = 0u64;
        let mut judged = 0u64;
        for q in &view.queues {
            let name = q.queue.0.as_str();
            status.waiting += q.waiting;
            metrics::gauge!(telemetry::QUEUE_WAITING, "queue" => name.to_string())
                .set(q.waiting as f64);
            metrics::gauge!(telemetry::QUEUE_LONGEST_WAIT, "queue" => name.to_string())
                .set(q.oldest_wait_ms as f64 / 1000.0);
            metrics::gauge!(telemetry::QUEUE_AGENTS_LOGGED_IN, "queue" => name.to_string())
                .set(q.logged_in_agents as f64);
        }
        for (queue, c) in self.engine.accounting() {
            publish_counters(queue, c);
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
        }
    }
}

/// Counters are cumulative in the engine; Prometheus counters are set to the engine's totals so
/// they can never drift from the engine's own accounting.
fn publish_counters(queue: &QueueId, c: &QueueCounters) {
    let q = queue.0.clone();
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

fn decision_kind(action: &DecisionAction) -> &'static str {
    match action {
        DecisionAction::Offer { .. } => "offer",
        DecisionAction::StepApplied { .. } => "step",
        DecisionAction::Overflow { .. } => "overflow",
        DecisionAction::Exit { .. } => "exit",
        DecisionAction::Finish => "finish",
        DecisionAction::Rona { .. } => "rona",
    }
}

/// The `state` label of `acd_agents`.
pub fn state_label(state: AgentAvailability) -> &'static str {
    match state {
        AgentAvailability::LoggedOff => "logged_off",
        AgentAvailability::Dnd => "dnd",
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
