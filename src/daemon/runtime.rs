//! The run loop: the tokio shell where the wire session, the rules, the clock and the
//! [`RoutingLoop`] meet.
//!
//! It is a single task that owns the routing loop, so the core stays a plain state machine:
//! each session event is stamped with `now`, handed to the routing loop, and the commands that
//! come out are sent at once. Timed work (steps, RONA, wrap-up) is driven by the engine's own
//! `next_wakeup`. The load benchmark runs this same loop ([`drive`]) with a [`Probe`].

use super::clock;
use super::config::DaemonConfig;
use super::routing_loop::RoutingLoop;
use super::rules_manager::{Reload, RulesManager};
use super::telemetry;
use crate::wire::session::{self, SessionConfig, SessionEvent, SessionHandle};
use acd_core::{Command, Event};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

pub use super::routing_loop::{LiveStatus, QueueReport, RunReport};

/// Requests from outside the loop (signals, the demo, tests, the load benchmark).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Stop,
    ReloadRules,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Rules(#[from] super::rules_manager::RulesError),
    #[error("invalid IP Office settings: {0}")]
    Session(String),
    #[error("{0}")]
    QueuesDisagree(String),
}

/// Watches the run loop from outside without changing it (the load benchmark's timing).
pub trait Probe {
    /// A session event (`kind` from [`event_kind`]) that arrived at `received` produced
    /// `commands`, now sent.
    fn handled(&mut self, _kind: &'static str, _received: Instant, _commands: &[Command]) {}
    /// The link changed.
    fn link(&mut self, _link: &crate::wire::session::LinkStatus) {}
}

/// The daemon watches nothing.
pub struct NoProbe;
impl Probe for NoProbe {}

/// What the loop listens to besides the session.
pub struct LoopInputs<'a> {
    pub control: mpsc::Receiver<Control>,
    pub rules: Option<&'a mut RulesManager>,
    pub rule_changes: mpsc::Receiver<()>,
    pub status: Option<watch::Sender<LiveStatus>>,
    pub drain_timeout: Duration,
    /// The engine's clock: real, or the demo's simulator's.
    pub clock: clock::EngineClock,
}

/// Runs until `Control::Stop`, then drains: no new decisions, in-flight commands get up to
/// `drain_timeout` to finish, the store is flushed.
pub async fn run(
    config: DaemonConfig,
    control: mpsc::Receiver<Control>,
    status_tx: watch::Sender<LiveStatus>,
) -> Result<RunReport, RunError> {
    run_with_clock(config, control, status_tx, clock::EngineClock::real()).await
}

/// `run` with the engine on a given clock (the demo's, running as fast as its simulator).
pub async fn run_with_clock(
    config: DaemonConfig,
    control: mpsc::Receiver<Control>,
    status_tx: watch::Sender<LiveStatus>,
    engine_clock: clock::EngineClock,
) -> Result<RunReport, RunError> {
    let (mut rules, routing) = RulesManager::start(
        &config.data_dir,
        &config.routing.rules_dir,
        engine_clock.now(),
    )?;
    let rule_agents = routing.agents.keys().map(|a| a.0.clone()).collect();
    let routed = routed_queues(&config.routing.queues, &routing)?;
    let mut routing = RoutingLoop::new(routing);
    let session_config = session_config(&config, routed, rule_agents)?;
    let (session, events) = session::spawn(session_config);

    // The watcher lives as long as the loop; without it no file events arrive.
    let (_watcher, rule_changes) = if config.routing.watch_rules {
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
    metrics::counter!(telemetry::RULES_RELOAD_FAILURES).increment(0);
    metrics::gauge!(telemetry::READY).set(0.0);
    let inputs = LoopInputs {
        control,
        rules: Some(&mut rules),
        rule_changes,
        status: Some(status_tx),
        drain_timeout: config.drain_timeout,
        clock: engine_clock,
    };
    drive(&mut routing, session, events, inputs, &mut NoProbe).await;
    Ok(routing.report())
}

/// The loop itself: session events, engine wake-ups, rules changes and control requests in,
/// commands out, until `Control::Stop` (or the session ends); then the drain and the
/// session's shutdown.
pub async fn drive(
    routing: &mut RoutingLoop,
    session: SessionHandle,
    mut events: mpsc::Receiver<SessionEvent>,
    mut inputs: LoopInputs<'_>,
    probe: &mut impl Probe,
) {
    let clock = inputs.clock;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let wake = routing.next_wakeup();
        let sleep = async {
            match wake {
                Some(at) => tokio::time::sleep(clock.until(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = events.recv() => match ev {
                Some(SessionEvent::Core(event)) => {
                    let received = Instant::now();
                    let kind = event_kind(&event);
                    let started = Instant::now();
                    let commands = routing.handle(clock.now(), event);
                    metrics::histogram!(telemetry::DECISION_LATENCY)
                        .record(started.elapsed().as_secs_f64());
                    send(&session, &commands).await;
                    probe.handled(kind, received, &commands);
                }
                Some(SessionEvent::Link(link)) => {
                    routing.link(&link);
                    probe.link(&link);
                }
                None => {
                    tracing::error!("the IP Office session ended unexpectedly");
                    break;
                }
            },
            _ = sleep => {
                let commands = routing.handle(clock.now(), Event::Tick);
                send(&session, &commands).await;
            }
            Some(()) = inputs.rule_changes.recv() => reload(&mut inputs, routing, &session).await,
            req = inputs.control.recv() => match req {
                Some(Control::ReloadRules) => reload(&mut inputs, routing, &session).await,
                Some(Control::Stop) | None => break,
            },
            _ = ticker.tick() => {
                let status = routing.publish(clock.now());
                if let Some(tx) = &inputs.status {
                    let _ = tx.send(status);
                }
            }
        }
    }

    // Drain: stop deciding, let commands already sent be answered, then leave cleanly.
    tracing::info!(
        in_flight = routing.in_flight(),
        "stopping: draining in-flight commands"
    );
    let deadline = Instant::now() + inputs.drain_timeout;
    while routing.in_flight() > 0 && Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Some(SessionEvent::Core(Event::CommandResult { id, outcome }))) => {
                routing.command_done(id, outcome);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    if routing.in_flight() > 0 {
        tracing::warn!(
            left = routing.in_flight(),
            "drain timeout: some commands had no answer"
        );
    }
    session.shutdown().await;
    let status = routing.publish(clock.now());
    if let Some(tx) = &inputs.status {
        let _ = tx.send(status);
    }
}

async fn send(session: &SessionHandle, commands: &[Command]) {
    for command in commands {
        if let Err(e) = session.send(command.clone()).await {
            tracing::error!(error = %e, "cannot hand a command to the IP Office session");
        }
    }
}

async fn reload(inputs: &mut LoopInputs<'_>, routing: &mut RoutingLoop, session: &SessionHandle) {
    let Some(rules) = inputs.rules.as_deref_mut() else {
        return;
    };
    if let Reload::Applied(config) = rules.reload(inputs.clock.now()) {
        // Agents the new rules name are followed at once (the session skips known ones).
        let agents = config.agents.keys().map(|a| a.0.clone()).collect();
        if let Err(e) = session.follow_agents(agents) {
            tracing::error!(error = %e, "cannot hand the new rules' agents to the session");
        }
        let commands = routing.rules_changed(inputs.clock.now(), config);
        send(session, &commands).await;
    }
}

fn session_config(
    config: &DaemonConfig,
    routed: Vec<String>,
    rule_agents: Vec<String>,
) -> Result<SessionConfig, RunError> {
    super::pbx_link::session_config(config, routed, rule_agents)
        .map_err(|e| RunError::Session(e.to_string()))
}

/// The queues the engine routes: `[routing] queues` when given, else every queue the rules
/// define. A listed queue the rules do not define would have its IP Office members disabled
/// with nobody routing its calls, so it is refused; a rules queue not listed is only warned
/// about (the rules may be ready for a group IP Office does not have yet).
pub fn routed_queues(
    listed: &[String],
    rules: &acd_core::RoutingConfig,
) -> Result<Vec<String>, RunError> {
    let defined: Vec<String> = rules.queues.keys().map(|q| q.0.clone()).collect();
    if listed.is_empty() {
        return Ok(defined);
    }
    let unknown: Vec<&String> = listed
        .iter()
        .filter(|q| !q.starts_with("guid:") && !defined.contains(q))
        .collect();
    if !unknown.is_empty() {
        return Err(RunError::QueuesDisagree(format!(
            "[routing] queues lists {unknown:?}, which the rules do not define (they define \
             {defined:?}): add [queues.NAME] to the rules, remove the name from the list, or \
             leave the list out to route every queue the rules define"
        )));
    }
    for q in defined.iter().filter(|q| !listed.contains(q)) {
        tracing::warn!(queue = %q, "the rules define this queue but [routing] queues does not list it: it is not routed");
    }
    Ok(listed.to_vec())
}

/// A label for an event, for probes and logs.
pub fn event_kind(event: &Event) -> &'static str {
    match event {
        Event::CallQueued(_) => "call_queued",
        Event::CommandResult { .. } => "command_result",
        Event::Tick => "tick",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use acd_core::{PickStrategy, QueueId, QueuePolicy, RoutingConfig};

    fn rules(queues: &[&str]) -> RoutingConfig {
        let mut config = RoutingConfig::default();
        for q in queues {
            config.queues.insert(
                QueueId::from(*q),
                QueuePolicy::new(QueueId::from(*q), PickStrategy::LongestIdle, Vec::new()),
            );
        }
        config
    }

    #[test]
    fn routed_queues_come_from_the_rules_or_must_agree_with_them() {
        let r = rules(&["Sales", "Support"]);
        assert_eq!(routed_queues(&[], &r).unwrap(), vec!["Sales", "Support"]);
        assert_eq!(
            routed_queues(&["Sales".into()], &r).unwrap(),
            vec!["Sales".to_string()]
        );
        assert_eq!(
            routed_queues(&["guid:0a0b".into()], &r).unwrap(),
            vec!["guid:0a0b".to_string()]
        );
        let err = routed_queues(&["Sales".into(), "Billing".into()], &r)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Billing") && err.contains("do not define"),
            "{err}"
        );
    }
}
