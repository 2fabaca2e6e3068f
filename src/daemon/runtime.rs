//! The run loop: the tokio shell where the wire session, the rules, the clock and the
//! [`RoutingLoop`] meet.
//!
//! It is a single task that owns the routing loop, so the core stays a plain state machine:
//! each session event is stamped with `now`, handed to the routing loop, and the commands that
//! come out are sent at once. Timed work (steps, RONA, wrap-up) is driven by the engine's own
//! `next_wakeup`. The load benchmark runs this same loop ([`drive`]) with a [`Probe`].

use super::clock;
use super::config::DaemonConfig;
use super::leadership::{self, Role};
use super::routing_loop::RoutingLoop;
use super::rules_manager::RulesManager;
use super::rules_worker::RulesWorker;
use super::telemetry;
use crate::wire::session::{self, SessionConfig, SessionEvent, SessionFence, SessionHandle};
use acd_core::{Command, Event, RoutingConfig};
use std::sync::Arc;
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
    #[error(transparent)]
    DataDirInUse(#[from] super::engine_lock::DataDirInUse),
    #[error("invalid IP Office settings: {0}")]
    Session(String),
    #[error("{0}")]
    QueuesDisagree(String),
    /// The cause is in the message, not a `source()`, so a printed chain shows it once.
    #[error("cannot start the twin's leadership: {0}")]
    Twin(leadership::etcd::EtcdError),
}

/// Watches the run loop from outside without changing it (the load benchmark's timing).
pub trait Probe {
    /// A session event (`kind` from [`event_kind`]) produced `commands`, now handed to the
    /// session; `received` is when its frame (or timer) reached the session.
    fn handled(&mut self, _kind: &'static str, _received: Instant, _commands: &[Command]) {}
    /// The link changed.
    fn link(&mut self, _link: &crate::wire::session::LinkStatus) {}
}

/// The daemon watches nothing.
pub struct NoProbe;
impl Probe for NoProbe {}

/// What the loop listens to besides the session.
pub struct LoopInputs {
    pub control: mpsc::Receiver<Control>,
    /// Reloads run there, off the loop; the loop only applies what they compiled.
    pub rules: Option<RulesWorker>,
    pub rule_changes: mpsc::Receiver<()>,
    pub status: Option<watch::Sender<LiveStatus>>,
    pub drain_timeout: Duration,
    /// The engine's clock: real, or the demo's simulator's.
    pub clock: clock::EngineClock,
    /// The engine's role in a hot twin and the twin's name; `None`: alone, always sending.
    pub twin: Option<(watch::Receiver<Role>, String)>,
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
    // Held until the engine returns: a second engine on this data directory is refused.
    let _engine_lock = super::engine_lock::EngineLock::acquire(&config.data_dir)?;
    let (rules, routing) = RulesManager::start(
        &config.data_dir,
        &config.routing.rules_dir,
        &config.routing.queues,
        engine_clock.now(),
    )?;
    let rule_agents = routing.agents.keys().map(|a| a.0.clone()).collect();
    let routed = routed_queues(&config.routing.queues, &routing)?;
    let mut routing = RoutingLoop::new(routing);
    routing.export_only(&config.routing.queues);
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
    // Leadership starts before the session sends anything: a twin member begins as a follower.
    let (leadership, twin) = match &config.twin {
        Some(settings) => {
            tracing::info!(instance = %settings.instance, key = %settings.key(),
                etcd = %settings.etcd.join(", "), ttl = ?settings.lease_ttl,
                "twin: campaigning for leadership; sending nothing until leader");
            telemetry::register_twin(&settings.cluster, false);
            let (leadership, role) = leadership::spawn(settings.clone()).map_err(RunError::Twin)?;
            (Some(leadership), Some((role, settings.cluster.clone())))
        }
        None => {
            telemetry::register_twin("", true);
            Role::Alone.publish("");
            (None, None)
        }
    };
    let inputs = LoopInputs {
        control,
        rules: Some(RulesWorker::spawn(rules, engine_clock)),
        rule_changes,
        status: Some(status_tx),
        drain_timeout: config.drain_timeout,
        clock: engine_clock,
        twin,
    };
    drive(&mut routing, session, events, inputs, &mut NoProbe).await;
    // After the drain and the session's goodbye: the twin takes over at once, not after a TTL.
    if let Some(leadership) = leadership {
        leadership.resign().await;
    }
    Ok(routing.report())
}

/// The loop itself: session events, engine wake-ups, rules changes and control requests in,
/// commands out, until `Control::Stop` (or the session ends); then the drain and the
/// session's shutdown.
pub async fn drive(
    routing: &mut RoutingLoop,
    session: SessionHandle,
    mut events: mpsc::Receiver<SessionEvent>,
    mut inputs: LoopInputs,
    probe: &mut impl Probe,
) {
    let clock = inputs.clock;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut role = Role::Alone;
    if let Some((rx, cluster)) = inputs.twin.as_mut() {
        let first = rx.borrow_and_update().clone();
        role_changed(&session, cluster, &mut role, first);
    }
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
                Some(SessionEvent::Core(event, received)) => {
                    let kind = event_kind(&event);
                    let started = Instant::now();
                    let commands = routing.handle(clock.now(), event);
                    metrics::histogram!(telemetry::DECISION_LATENCY)
                        .record(started.elapsed().as_secs_f64());
                    send(&session, &commands).await;
                    probe.handled(kind, received, &commands);
                }
                Some(SessionEvent::Link(link)) => {
                    let was = routing.is_ready();
                    routing.link(&link);
                    probe.link(&link);
                    // `/readyz` tells a lost (or regained) link at once, not at the next tick.
                    if routing.is_ready() != was {
                        let mut status = routing.publish(clock.now());
                        status.role = role.describe();
                        if let Some(tx) = &inputs.status {
                            let _ = tx.send(status);
                        }
                    }
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
            Some(()) = inputs.rule_changes.recv() => request_reload(&inputs),
            Some(config) = applied(&mut inputs.rules) => {
                apply_rules(clock.now(), config, routing, &session).await;
            }
            req = inputs.control.recv() => match req {
                Some(Control::ReloadRules) => request_reload(&inputs),
                Some(Control::Stop) | None => break,
            },
            Some(next) = role_change(&mut inputs.twin) => {
                if let Some((_, cluster)) = &inputs.twin {
                    let was = role.label();
                    role_changed(&session, cluster, &mut role, next);
                    // `/healthz` tells a takeover at once, not at the next tick.
                    if role.label() != was {
                        let mut status = routing.publish(clock.now());
                        status.role = role.describe();
                        if let Some(tx) = &inputs.status {
                            let _ = tx.send(status);
                        }
                    }
                }
            }
            _ = ticker.tick() => {
                let mut status = routing.publish(clock.now());
                if let Some((_, cluster)) = &inputs.twin {
                    role.publish(cluster);
                }
                status.role = role.describe();
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
    // A dead or stalled link would only answer the drain with its own timeouts (8 to 10 s):
    // checked now, it is found out within a second and its commands are answered at once.
    if routing.in_flight() > 0 {
        let _ = session.probe();
    }
    // A follower's commands were never sent: nothing to wait for.
    while routing.in_flight() > 0 && role.sends() && Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Some(SessionEvent::Core(Event::CommandResult { id, outcome }, _))) => {
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

/// The next role the campaign published; never, for an engine alone.
async fn role_change(twin: &mut Option<(watch::Receiver<Role>, String)>) -> Option<Role> {
    match twin {
        Some((rx, _)) => match rx.changed().await {
            Ok(()) => Some(rx.borrow_and_update().clone()),
            // The campaign ended (it only does at shutdown): keep the last role.
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// Hands the new role to the session as its fence, at once (a deposed leader stops sending
/// before anything else), then counts and logs what changed.
fn role_changed(session: &SessionHandle, cluster: &str, current: &mut Role, next: Role) {
    let fence = match &next {
        Role::Alone => SessionFence::Open,
        Role::Leader { until, .. } => SessionFence::LeaderUntil(*until),
        Role::Follower { .. } => SessionFence::Closed,
    };
    if let Err(e) = session.set_fence(fence) {
        tracing::error!(error = %e, "cannot hand the twin's fence to the IP Office session");
    }
    if next.label() != current.label() {
        match &next {
            Role::Leader { .. } => {
                metrics::counter!(telemetry::TWIN_TAKEOVERS, "cluster" => cluster.to_string())
                    .increment(1);
                tracing::info!("twin: took over: this engine now sends commands");
            }
            Role::Follower { leader } => tracing::info!(leader = ?leader,
                "twin: following: this engine computes and sends nothing"),
            Role::Alone => {}
        }
    }
    *current = next;
    current.publish(cluster);
}

async fn send(session: &SessionHandle, commands: &[Command]) {
    for command in commands {
        if let Err(e) = session.send(command.clone()).await {
            tracing::error!(error = %e, "cannot hand a command to the IP Office session");
        }
    }
}

fn request_reload(inputs: &LoopInputs) {
    match &inputs.rules {
        Some(worker) => worker.request(),
        None => tracing::info!("this loop runs fixed rules; reload request ignored"),
    }
}

/// The next ruleset the rules task compiled; never, when there is no rules task.
async fn applied(rules: &mut Option<RulesWorker>) -> Option<Arc<RoutingConfig>> {
    match rules {
        Some(worker) => worker.applied().await,
        None => std::future::pending().await,
    }
}

/// Swaps a compiled ruleset in: the only part of a reload that runs in the loop.
async fn apply_rules(
    now: acd_core::Timestamp,
    config: Arc<RoutingConfig>,
    routing: &mut RoutingLoop,
    session: &SessionHandle,
) {
    // Agents the new rules name are followed at once (the session skips known ones).
    let agents = config.agents.keys().map(|a| a.0.clone()).collect();
    if let Err(e) = session.follow_agents(agents) {
        tracing::error!(error = %e, "cannot hand the new rules' agents to the session");
    }
    let commands = routing.rules_changed(now, config);
    send(session, &commands).await;
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
            "[routing] queues lists {}, which the rules do not define (they define {}): add \
             [queues.NAME] to the rules, remove the name from the list, or leave the list out \
             to route every queue the rules define",
            some_of(&unknown),
            some_of(&defined)
        )));
    }
    // One line for them all: a rule set of 100,000 queues logged 100,000 lines here.
    let listed_set: std::collections::HashSet<&String> = listed.iter().collect();
    let unrouted: Vec<&String> = defined.iter().filter(|q| !listed_set.contains(q)).collect();
    if !unrouted.is_empty() {
        tracing::warn!(
            count = unrouted.len(),
            "{} queue(s) the rules define are not listed in [routing] queues, so they are not \
             routed: {}",
            unrouted.len(),
            some_of(&unrouted)
        );
    }
    Ok(listed.to_vec())
}

/// Names for a log line or an error: the first few quoted, then how many more.
fn some_of<T: AsRef<str>>(names: &[T]) -> String {
    const SHOWN: usize = 10;
    let mut text = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("\"{}\"", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
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

    /// A reload that blocks until the test lets it finish, as a large ruleset's compile does.
    struct SlowReload {
        started: std::sync::mpsc::Sender<()>,
        release: std::sync::mpsc::Receiver<()>,
    }

    impl crate::daemon::rules_worker::Reloader for SlowReload {
        fn reload(&mut self, _now: acd_core::Timestamp) -> crate::daemon::rules_manager::Reload {
            let _ = self.started.send(());
            let _ = self.release.recv();
            crate::daemon::rules_manager::Reload::Applied(Arc::new(RoutingConfig {
                version: 2,
                ..RoutingConfig::default()
            }))
        }
    }

    /// Counts the session events the loop handled.
    struct Seen(mpsc::UnboundedSender<()>);
    impl Probe for Seen {
        fn link(&mut self, _link: &crate::wire::session::LinkStatus) {
            let _ = self.0.send(());
        }
    }

    /// The loop goes on handling the session's events while a reload compiles, and swaps the
    /// compiled rules in when it is done. The session has no IP Office to reach, so its events
    /// are its reconnect attempts, which keep coming (about every 10 to 50 ms).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_are_handled_while_a_reload_compiles() {
        use crate::wire::connect::Endpoint;
        use crate::wire::secret::Secret;
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let endpoint = Endpoint::parse(&format!("ws://127.0.0.1:{port}")).unwrap();
        let mut config = SessionConfig::new(vec![endpoint], "acd", Secret::new("pw"));
        config.protocol.backoff = acd_wire::backoff::Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
            jitter: 0.5,
        };
        let (session, events) = session::spawn(config);
        let (started_tx, started) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel();
        let worker = RulesWorker::spawn(
            SlowReload {
                started: started_tx,
                release: release_rx,
            },
            clock::EngineClock::real(),
        );
        let (control_tx, control) = mpsc::channel(4);
        let (status_tx, mut status) = watch::channel(LiveStatus::default());
        let inputs = LoopInputs {
            control,
            rules: Some(worker),
            rule_changes: mpsc::channel(1).1,
            status: Some(status_tx),
            drain_timeout: Duration::from_millis(100),
            clock: clock::EngineClock::real(),
            twin: None,
        };
        let (seen_tx, mut seen) = mpsc::unbounded_channel();
        let run = tokio::spawn(async move {
            let mut routing = RoutingLoop::new(Arc::new(RoutingConfig::default()));
            drive(&mut routing, session, events, inputs, &mut Seen(seen_tx)).await;
            routing.report()
        });

        control_tx.send(Control::ReloadRules).await.unwrap();
        let started = tokio::task::spawn_blocking(move || {
            started.recv().unwrap();
            started
        })
        .await
        .unwrap();
        // The compile is running (and will not end until released): the loop keeps handling.
        while seen.try_recv().is_ok() {}
        for _ in 0..3 {
            // A generous bound so a blocked loop fails the test instead of hanging it.
            tokio::time::timeout(Duration::from_secs(30), seen.recv())
                .await
                .expect("the loop handles events during the reload")
                .unwrap();
        }
        // A second request while one runs does not start another compile at once.
        control_tx.send(Control::ReloadRules).await.unwrap();
        for _ in 0..3 {
            seen.recv().await.unwrap();
        }
        assert_eq!(status.borrow().rules_version, 0, "nothing applied yet");

        release.send(()).unwrap();
        // The coalesced second request runs after the first; let it finish too.
        let started = tokio::task::spawn_blocking(move || {
            started.recv().unwrap();
            started
        })
        .await
        .unwrap();
        release.send(()).unwrap();
        status
            .wait_for(|s| s.rules_version == 2)
            .await
            .expect("the compiled rules are swapped in");
        control_tx.send(Control::Stop).await.unwrap();
        let report = run.await.unwrap();
        assert_eq!(report.rules_version, 2);
        drop(started);
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

    #[test]
    fn a_big_rule_set_is_named_in_a_few_words() {
        let names: Vec<String> = (0..100_000).map(|i| format!("Q{i}")).collect();
        let r = rules(&names.iter().map(String::as_str).collect::<Vec<_>>());
        let err = routed_queues(&["Q0".into(), "Nope".into()], &r)
            .unwrap_err()
            .to_string();
        assert!(err.len() < 1000, "{err}");
        assert!(
            err.contains("\"Nope\"") && err.contains("and 99990 more"),
            "{err}"
        );
    }
}
