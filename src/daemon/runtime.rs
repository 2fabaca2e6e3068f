//! The run loop: the one place where the wire session, the routing core, the rules and the clock
//! meet.
//!
//! It is a single task that owns the engine, so the core stays a plain state machine: each
//! session event is stamped with `now`, handed to the engine, and the commands that come out
//! are sent at once. Timed work (steps, RONA, wrap-up) is driven by the engine's own
//! `next_wakeup`.

use super::clock;
use super::config::DaemonConfig;
use super::rules_manager::{Reload, RulesManager};
use super::telemetry;
use crate::wire::session::{self, LinkStatus, SessionConfig, SessionEvent, SessionHandle};
use crate::wire::translate::command_label;
use acd_core::{
    CallOutcome, CommandId, DecisionAction, Engine, Event, FinishedCall, Output, QueueCounters,
    QueueId,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Requests from outside the loop (signals, the demo, tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Stop,
    ReloadRules,
}

/// What the wallboard line and `/readyz` need, refreshed every second.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LiveStatus {
    pub ready: bool,
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

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Rules(#[from] super::rules_manager::RulesError),
    #[error("invalid IP Office settings: {0}")]
    Session(String),
}

/// Runs until `Control::Stop`, then drains: no new decisions, in-flight commands get up to
/// `drain_timeout` to finish, the store is flushed.
pub async fn run(
    config: DaemonConfig,
    mut control: mpsc::Receiver<Control>,
    status_tx: watch::Sender<LiveStatus>,
) -> Result<RunReport, RunError> {
    let (mut rules, routing) =
        RulesManager::start(&config.data_dir, &config.routing.rules_dir, clock::now())?;
    let rule_agents = routing.agents.keys().map(|a| a.0.clone()).collect();
    let mut engine = Engine::new(routing);
    let session_config = session_config(&config, rule_agents)?;
    let (session, mut events) = session::spawn(session_config);

    // The watcher lives as long as the loop; without it no file events arrive.
    let (_watcher, mut rule_changes) = if config.routing.watch_rules {
        match super::rules_watch::watch(rules.rules_dir()) {
            Ok((w, rx)) => (Some(w), rx),
            Err(e) => {
                tracing::warn!(error = %e, dir = %rules.rules_dir().display(),
                    "cannot watch the rules directory; use SIGHUP to reload");
                (None, mpsc::channel(1).1)
            }
        }
    } else {
        (None, mpsc::channel(1).1)
    };

    let mut state = LoopState::new(engine.config().version);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    metrics::counter!(telemetry::RULES_RELOAD_FAILURES).increment(0);
    metrics::gauge!(telemetry::READY).set(0.0);

    loop {
        let wake = engine.next_wakeup();
        let sleep = async {
            match wake {
                Some(at) => tokio::time::sleep(clock::until(at, clock::now())).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = events.recv() => match ev {
                Some(SessionEvent::Core(event)) => {
                    state.handle(&mut engine, &session, event).await;
                }
                Some(SessionEvent::Link(link)) => state.link(link),
                None => {
                    tracing::error!("the IP Office session ended unexpectedly");
                    break;
                }
            },
            _ = sleep => state.handle(&mut engine, &session, Event::Tick).await,
            Some(()) = rule_changes.recv() => reload(&mut rules, &mut engine, &session, &mut state).await,
            req = control.recv() => match req {
                Some(Control::ReloadRules) => reload(&mut rules, &mut engine, &session, &mut state).await,
                Some(Control::Stop) | None => break,
            },
            _ = ticker.tick() => {
                let status = state.publish(&engine);
                let _ = status_tx.send(status);
            }
        }
    }

    // Drain: stop deciding, let commands already sent be answered, then leave cleanly.
    tracing::info!(
        in_flight = state.in_flight.len(),
        "stopping: draining in-flight commands"
    );
    let deadline = Instant::now() + config.drain_timeout;
    while !state.in_flight.is_empty() && Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Some(SessionEvent::Core(Event::CommandResult { id, outcome }))) => {
                state.command_done(id, outcome);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    if !state.in_flight.is_empty() {
        tracing::warn!(
            left = state.in_flight.len(),
            "drain timeout: some commands had no answer"
        );
    }
    session.shutdown().await;
    let _ = status_tx.send(state.publish(&engine));
    Ok(state.report(&engine))
}

async fn reload(
    rules: &mut RulesManager,
    engine: &mut Engine,
    session: &SessionHandle,
    state: &mut LoopState,
) {
    if let Reload::Applied(config) = rules.reload(clock::now()) {
        state.rules_version = config.version;
        state
            .handle(engine, session, Event::RulesChanged(config))
            .await;
    }
}

fn session_config(
    config: &DaemonConfig,
    rule_agents: Vec<String>,
) -> Result<SessionConfig, RunError> {
    super::pbx_link::session_config(config, rule_agents)
        .map_err(|e| RunError::Session(e.to_string()))
}

/// Bookkeeping around the engine that only the daemon needs: commands in flight (for draining
/// and command metrics) and readiness.
struct LoopState {
    in_flight: HashMap<CommandId, (&'static str, Instant)>,
    ready: bool,
    rules_version: u64,
    commands_sent: BTreeMap<String, u64>,
    commands_failed: u64,
    decisions: u64,
}

impl LoopState {
    fn new(rules_version: u64) -> Self {
        LoopState {
            in_flight: HashMap::new(),
            ready: false,
            rules_version,
            commands_sent: BTreeMap::new(),
            commands_failed: 0,
            decisions: 0,
        }
    }

    async fn handle(&mut self, engine: &mut Engine, session: &SessionHandle, event: Event) {
        if let Event::CommandResult { id, outcome } = &event {
            self.command_done(*id, *outcome);
        }
        let started = Instant::now();
        let output = engine.handle(clock::now(), event);
        metrics::histogram!(telemetry::DECISION_LATENCY).record(started.elapsed().as_secs_f64());
        self.emit(output, session).await;
    }

    async fn emit(&mut self, output: Output, session: &SessionHandle) {
        for decision in &output.decisions {
            self.decisions += 1;
            metrics::counter!(telemetry::DECISIONS, "kind" => decision_kind(&decision.action))
                .increment(1);
            tracing::debug!(target: "acd::decision", "{decision}");
        }
        for finished in &output.finished {
            record_finished(finished);
        }
        for command in output.commands {
            let kind = command_label(&command.kind);
            *self.commands_sent.entry(kind.to_string()).or_default() += 1;
            self.in_flight.insert(command.id, (kind, Instant::now()));
            if let Err(e) = session.send(command).await {
                tracing::error!(error = %e, "cannot hand a command to the IP Office session");
            }
        }
    }

    fn command_done(&mut self, id: CommandId, outcome: acd_core::CommandOutcome) {
        self.in_flight.remove(&id);
        if let acd_core::CommandOutcome::Failed(code) = outcome {
            self.commands_failed += 1;
            tracing::info!(command = id.0, code, "IP Office refused a command");
        }
    }

    fn link(&mut self, link: LinkStatus) {
        let ready = matches!(link, LinkStatus::Subscribed { .. });
        if ready != self.ready {
            tracing::info!(?link, "IP Office link");
        }
        self.ready = ready;
        metrics::gauge!(telemetry::READY).set(if ready { 1.0 } else { 0.0 });
    }

    fn publish(&self, engine: &Engine) -> LiveStatus {
        let now = clock::now();
        let view = engine.view(now);
        let mut status = LiveStatus {
            ready: self.ready,
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
        for (queue, c) in engine.accounting() {
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
        for (state, n) in &view.agents {
            let label = format!("{state:?}");
            metrics::gauge!(telemetry::AGENTS, "state" => snake(&label)).set(*n as f64);
            status.agents.insert(snake(&label), *n);
        }
        metrics::gauge!(telemetry::RULES_VERSION).set(self.rules_version as f64);
        status
    }

    fn report(&self, engine: &Engine) -> RunReport {
        let queues = engine
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

/// `AfterCallWork` → `after_call_work`, for label values.
fn snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn state_labels_are_snake_case() {
        assert_eq!(super::snake("AfterCallWork"), "after_call_work");
        assert_eq!(super::snake("Idle"), "idle");
    }
}
