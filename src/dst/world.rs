//! One simulated world: the simulator's model of IP Office and its protocol side
//! ([`SimConnection`]), the network between them ([`Network`]), and the engine's real path
//! (the sans-IO [`Connection`] and the daemon's [`RoutingLoop`]), stepped in virtual time on
//! one thread. Every frame is really encoded and decoded on both sides; nothing is shortcut.

use super::faults::{Fault, Plan};
use super::invariants::{Checker, Violation};
use super::network::{Direction, Network};
use super::trace::Trace;
use crate::daemon::routing_loop::RoutingLoop;
use crate::sim::model::types::CallPhase;
use crate::sim::model::Model;
use crate::sim::server::{CommandFaults, SimConnection};
use crate::sim::Scenario;
use acd_core::Site;
use acd_core::{Command, Event, RoutingConfig, Timestamp};
use acd_wire::connection::{ConnectFailure, EPHEMERAL_CCFLAG};
use acd_wire::framing::Framing;
use acd_wire::{AgentSelector, ConnectionConfig, ConnectionEvent, LiveLive, QueueSelector};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// How long after its `Connect` a socket opens (or fails) in the simulation.
const CONNECT_MS: u64 = 20;
/// After the last call is gone, wait this long (past the translator's orphan grace) before
/// judging quiescence.
const QUIET_MS: u64 = 330_000;
/// One instant may not take more steps than this: more means the path loops.
const MAX_STEPS_PER_INSTANT: u32 = 100_000;

/// One IP Office of the world (two for a resilient pair) and the engine's link to it.
struct SiteLink {
    pbx: Option<SimConnection>,
    net: Network,
    connect_at: Option<Timestamp>,
    /// Unreachable from the engine until then (a restart, a partition, a failure).
    down_until: Timestamp,
}

pub struct World {
    now: Timestamp,
    model: Model,
    sites: Vec<SiteLink>,
    pbx_faults: CommandFaults,
    epoch: i32,
    conn: Option<LiveLive>,
    connection_config: ConnectionConfig,
    routing: RoutingLoop,
    rules: Arc<RoutingConfig>,
    rng: ChaCha8Rng,
    checker: Checker,
    pub trace: Trace,
    faults: VecDeque<(Timestamp, Fault)>,
    engine_start: Timestamp,
    /// When a failed primary comes back.
    primary_back_at: Option<Timestamp>,
    /// Callers still to hang up as the engine transfers their call to an agent.
    hang_ups_armed: u32,
    traffic_end: Timestamp,
    hard_end: Timestamp,
    empty_since: Option<Timestamp>,
    model_version: u64,
    model_changed_at: Timestamp,
    recorder: PrometheusRecorder,
    seed: u64,
    /// Judge the invariants (the simulation) or only run (the study).
    check: bool,
}

impl World {
    /// A world for the simulation: the scenario set up as the README tells operators, with
    /// the seed's plan of delays, load and faults.
    pub fn new(
        seed: u64,
        plan: &Plan,
        scenario: &Scenario,
        rules: Arc<RoutingConfig>,
        traffic_ms: u64,
        keep_lines: usize,
    ) -> Result<World, crate::sim::SimError> {
        let scenario = simulation_scenario(seed, plan, scenario, &rules);
        World::build(seed, plan, &scenario, rules, traffic_ms, keep_lines, true)
    }

    /// A world on `scenario` exactly as given (the routing study configures its own arms).
    /// With `check` false no invariant is judged: the study measures, it does not test.
    pub fn build(
        seed: u64,
        plan: &Plan,
        scenario: &Scenario,
        rules: Arc<RoutingConfig>,
        traffic_ms: u64,
        keep_lines: usize,
        check: bool,
    ) -> Result<World, crate::sim::SimError> {
        let mut model = Model::new(scenario)?;
        if let Some(share) = plan.pair {
            model.set_secondary_share(share);
        }
        let site_count = if plan.pair.is_some() { 2 } else { 1 };
        let sites = (0..site_count)
            .map(|_| SiteLink {
                pbx: None,
                net: Network::new(plan.delays),
                connect_at: None,
                down_until: Timestamp::ZERO,
            })
            .collect();
        let mut protocol = ConnectionConfig {
            routed_queues: rules
                .queues
                .keys()
                .map(|q| QueueSelector::Name(q.0.clone()))
                .collect(),
            agents: AgentSelector::MembersAnd(rules.agents.keys().map(|a| a.0.clone()).collect()),
            request_timeout: Duration::from_secs(5),
            ..ConnectionConfig::default()
        };
        if !plan.ephemeral {
            protocol.queue_ccflags &= !EPHEMERAL_CCFLAG;
        }
        let bound_ms = 8_000 + 2 * plan.delays.max();
        Ok(World {
            now: Timestamp::ZERO,
            model,
            sites,
            pbx_faults: CommandFaults::default(),
            epoch: 0,
            conn: None,
            connection_config: protocol,
            routing: RoutingLoop::new(rules.clone()),
            rules,
            rng: ChaCha8Rng::seed_from_u64(seed),
            checker: Checker::new(bound_ms),
            trace: Trace::keeping(keep_lines),
            faults: plan
                .faults
                .iter()
                .map(|(at, f)| (Timestamp(*at), *f))
                .collect(),
            engine_start: Timestamp(plan.engine_start_ms),
            primary_back_at: None,
            hang_ups_armed: 0,
            traffic_end: Timestamp(traffic_ms),
            hard_end: Timestamp(traffic_ms + 3_600_000),
            empty_since: None,
            model_version: 0,
            model_changed_at: Timestamp::ZERO,
            recorder: PrometheusBuilder::new().build_recorder(),
            seed,
            check,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn routing(&self) -> &RoutingLoop {
        &self.routing
    }

    /// Steps every event due up to `end`, then sets the model's clock to `end`.
    pub fn run_until(&mut self, end: Timestamp) -> Result<(), Violation> {
        while let Some(t) = self.next_time().filter(|t| *t <= end) {
            let t = t.max(self.now);
            self.step(t)?;
        }
        self.now = self.now.max(end);
        self.model.advance_to(end);
        Ok(())
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Runs to quiescence, checking every invariant after every step.
    pub fn run(&mut self) -> Result<(), Violation> {
        let mut last = Timestamp::ZERO;
        let mut steps_here = 0u32;
        while let Some(t) = self.next_time() {
            if t > self.hard_end {
                break;
            }
            let t = t.max(self.now);
            if t == last {
                steps_here += 1;
                if steps_here > MAX_STEPS_PER_INSTANT {
                    return Err(Violation {
                        invariant: "progress",
                        detail: format!("more than {MAX_STEPS_PER_INSTANT} steps at one instant"),
                    });
                }
            } else {
                (last, steps_here) = (t, 0);
            }
            self.step(t)?;
            if self.quiescent() {
                break;
            }
        }
        self.final_checks()
    }

    fn next_time(&self) -> Option<Timestamp> {
        let engine = self.conn.as_ref().map_or(Some(self.engine_start), |c| {
            [c.poll_timeout(), self.routing.next_wakeup()]
                .into_iter()
                .flatten()
                .min()
        });
        let end = (self.now < self.traffic_end).then_some(self.traffic_end);
        let ending = self.conn.as_ref().and_then(LiveLive::next_ending);
        let quiet = self.empty_since.map(|t| {
            t.plus(QUIET_MS)
                .max(self.model_changed_at.plus(self.checker.bound_ms))
                .max(ending.unwrap_or(Timestamp::ZERO))
        });
        let sites = self.sites.iter().flat_map(|s| {
            [
                s.pbx.as_ref().and_then(SimConnection::next_deadline),
                s.net.next_arrival(),
                s.connect_at,
            ]
        });
        [
            self.model.next_event_at(),
            self.faults.front().map(|(t, _)| *t),
            self.primary_back_at,
            engine,
            end,
            quiet,
        ]
        .into_iter()
        .chain(sites)
        .flatten()
        .min()
    }

    /// No call for a long while, nothing on the network, and the last change at IP Office
    /// long enough ago for the engine to have heard of it.
    fn quiescent(&self) -> bool {
        self.empty_since
            .is_some_and(|t| self.now.since(t) >= QUIET_MS)
            && self.sites.iter().all(|s| s.net.next_arrival().is_none())
            // A call that vanished while its system was unreachable is ended by the translator
            // only after its orphan grace from the reconnect, which can come after the world
            // went quiet (a long failure of one system of a pair).
            && self
                .conn
                .as_ref()
                .is_none_or(|c| c.next_ending().is_none())
            && self.now.since(self.model_changed_at) >= self.checker.bound_ms
    }

    fn step(&mut self, t: Timestamp) -> Result<(), Violation> {
        self.now = t;
        self.trace.steps += 1;
        self.model.advance_to(t);
        if t >= self.traffic_end {
            self.model.stop_arrivals();
        }
        if self.conn.is_none() && t >= self.engine_start {
            self.trace.line(t.0, "engine starts".into());
            let endpoints = ["primary", "secondary"][..self.sites.len()]
                .iter()
                .map(|e| e.to_string())
                .collect();
            self.conn = Some(LiveLive::new(
                self.connection_config.clone(),
                endpoints,
                self.seed,
            ));
        }
        if self.primary_back_at.is_some_and(|at| at <= t) {
            self.primary_back_at = None;
            self.trace.line(t.0, "the primary IP Office is back".into());
            self.model.restore_site(0);
            self.checker.disturbed(t);
        }
        while self.faults.front().is_some_and(|(at, _)| *at <= t) {
            if let Some((_, fault)) = self.faults.pop_front() {
                self.fault(fault)?;
            }
        }
        for site in 0..self.sites.len() {
            if self.sites[site].connect_at.is_some_and(|at| at <= t) {
                self.sites[site].connect_at = None;
                self.connect(site);
            }
            if let Some(pbx) = self.sites[site].pbx.as_mut() {
                if pbx.next_deadline().is_some_and(|d| d <= t) {
                    pbx.on_timer(t);
                }
            }
            while let Some((dir, bytes)) = self.sites[site].net.pop_due(t) {
                self.deliver(site, dir, bytes)?;
            }
        }
        if let Some(conn) = self.conn.as_mut() {
            if conn.poll_timeout().is_some_and(|d| d <= t) {
                conn.handle_timeout(t);
            }
        }
        if self.conn.is_some() && self.routing.next_wakeup().is_some_and(|w| w <= t) {
            let commands = self.routing.handle(t, Event::Tick);
            self.after_engine(commands)?;
        }
        self.pump()?;
        if self.model.version() != self.model_version {
            self.model_version = self.model.version();
            self.model_changed_at = t;
        }
        let ready = self.ready();
        if self.check {
            self.checker
                .after_step(t, &ready, self.routing.engine(), &self.model)?;
        }
        if self.model.calls().next().is_none() && t >= self.traffic_end {
            self.empty_since.get_or_insert(t);
        } else {
            self.empty_since = None;
        }
        Ok(())
    }

    /// Per system: the engine's link is subscribed (what it sees of that system's calls is
    /// current, so liveness and the other timely invariants can be judged for them).
    fn ready(&self) -> Vec<bool> {
        (0..self.sites.len())
            .map(|s| {
                self.conn
                    .as_ref()
                    .is_some_and(|c| c.site_subscribed(Site(s as u8)) && self.routing.is_ready())
            })
            .collect()
    }

    fn connect(&mut self, site: usize) {
        let t = self.now;
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let link = &mut self.sites[site];
        if t < link.down_until || self.model.site_down(site as u8) {
            self.trace
                .line(t.0, format!("connect to site {site} fails"));
            conn.connect_failed(
                t,
                Site(site as u8),
                "IP Office unreachable",
                ConnectFailure::Other,
            );
            return;
        }
        self.trace.line(t.0, format!("connected to site {site}"));
        link.net.reset();
        link.pbx = Some(SimConnection::for_site(
            Framing::Framed,
            self.epoch,
            site as u8,
        ));
        conn.connected(t, Site(site as u8));
        self.checker.disturbed(t);
    }

    fn drop_link(&mut self, site: usize, why: &str) {
        let link = &mut self.sites[site];
        if link.pbx.take().is_some() {
            link.net.reset();
            if let Some(conn) = self.conn.as_mut() {
                conn.connection_lost(self.now, Site(site as u8), why);
            }
        }
    }

    fn fault(&mut self, fault: Fault) -> Result<(), Violation> {
        let t = self.now;
        self.trace.line(t.0, format!("FAULT: {fault}"));
        self.checker.disturbed(t);
        match fault {
            Fault::DropConnection => {
                for site in 0..self.sites.len() {
                    self.drop_link(site, "connection reset");
                }
            }
            Fault::Restart { down_ms } => {
                self.epoch += 1;
                self.sites[0].down_until = t.plus(down_ms);
                self.drop_link(0, "IP Office restarted");
            }
            Fault::TerminateSubscriptions => {
                for link in &mut self.sites {
                    if let Some(pbx) = link.pbx.as_mut() {
                        pbx.terminate_all("terminated");
                    }
                }
            }
            Fault::RejectCommands { code, count } => self.pbx_faults.reject = Some((code, count)),
            Fault::LoseResponses { count } => self.sites[0].net.lose_responses += count,
            Fault::RulesChange => {
                let mut next = (*self.rules).clone();
                next.version += 1;
                self.rules = Arc::new(next);
                if self.conn.is_some() {
                    let commands = self.routing.rules_changed(t, self.rules.clone());
                    self.after_engine(commands)?;
                }
            }
            Fault::HangUpDuringTransfer => self.hang_ups_armed += 1,
            Fault::PrimaryDown { down_ms } => {
                self.sites[0].down_until = t.plus(down_ms);
                self.drop_link(0, "primary IP Office unreachable");
            }
            Fault::PrimaryFails { down_ms } => {
                if self.sites.len() > 1 && !self.model.site_down(0) {
                    let waiting = |site: u8| {
                        self.model
                            .calls()
                            .filter(|c| c.site == site && c.phase == CallPhase::Queued)
                            .count()
                    };
                    let line = format!(
                        "calls waiting when the primary fails: {} on the primary, {} on the \
                         secondary",
                        waiting(0),
                        waiting(1)
                    );
                    self.trace.line(t.0, line);
                    self.model.fail_site(0);
                    self.primary_back_at = Some(t.plus(down_ms));
                    self.drop_link(0, "primary IP Office failed");
                }
            }
        }
        Ok(())
    }

    fn deliver(&mut self, site: usize, dir: Direction, bytes: Vec<u8>) -> Result<(), Violation> {
        let t = self.now;
        match dir {
            Direction::ToEngine => {
                self.trace.bytes(b"E", t.0, &bytes);
                if let Some(conn) = self.conn.as_mut() {
                    conn.handle_frame(t, Site(site as u8), &bytes);
                }
            }
            Direction::ToPbx => {
                self.trace.bytes(b"P", t.0, &bytes);
                if let Some(pbx) = self.sites[site].pbx.as_mut() {
                    let outcome = pbx.on_frame(t, &bytes, &mut self.model, self.pbx_faults);
                    if outcome.rejected {
                        self.pbx_faults.consume_rejection();
                    }
                }
            }
        }
        Ok(())
    }

    /// Moves everything produced until nothing moves: the connection's events into the
    /// routing loop, commands back into the connection, frames onto the network.
    fn pump(&mut self) -> Result<(), Violation> {
        loop {
            let mut moved = false;
            while let Some((site, ev)) = self.conn.as_mut().and_then(LiveLive::poll_event) {
                moved = true;
                self.connection_event(site, ev)?;
            }
            while let Some((site, bytes)) = self.conn.as_mut().and_then(LiveLive::poll_transmit) {
                moved = true;
                let now = self.now;
                let mut draw = self.draw_fn();
                if let Some(link) = self.sites.get_mut(usize::from(site.0)) {
                    link.net.send(now, Direction::ToPbx, bytes, &mut draw);
                }
            }
            for site in 0..self.sites.len() {
                let Some(pbx) = self.sites[site].pbx.as_mut() else {
                    continue;
                };
                pbx.flush(&self.model);
                let frames = pbx.take_due(self.now);
                for bytes in frames {
                    moved = true;
                    let now = self.now;
                    let mut draw = self.draw_fn();
                    self.sites[site]
                        .net
                        .send(now, Direction::ToEngine, bytes, &mut draw);
                }
            }
            if !moved {
                return Ok(());
            }
        }
    }

    fn draw_fn(&mut self) -> impl FnMut(u64) -> u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(self.rng.random());
        move |max| {
            if max == 0 {
                0
            } else {
                rng.random_range(0..=max)
            }
        }
    }

    fn connection_event(&mut self, site: Site, ev: ConnectionEvent) -> Result<(), Violation> {
        let t = self.now;
        match ev {
            ConnectionEvent::Core(event) => {
                let gcid = match &event {
                    Event::CallQueued(q) => self
                        .conn
                        .as_ref()
                        .and_then(|c| c.gcid_of(q.call))
                        .map(|g| format!(" gcid {}", hex::encode(g)))
                        .unwrap_or_default(),
                    Event::CallAnswered { call, .. } => {
                        let gcid = self.conn.as_ref().and_then(|c| c.gcid_of(*call));
                        if let Some(g) = gcid {
                            self.checker.answer_seen.insert(g.to_vec());
                        }
                        String::new()
                    }
                    _ => String::new(),
                };
                let from = if site == Site::PRIMARY {
                    String::new()
                } else {
                    format!(" from {site}")
                };
                self.trace
                    .line(t.0, format!("event{from}{gcid} {}", short(&event)));
                self.checker.on_event(t, &event);
                let commands = self.routing.handle(t, event);
                self.after_engine(commands)?;
            }
            ConnectionEvent::Link(link) => {
                self.trace.line(t.0, format!("link {site}: {link}"));
                self.checker.disturbed(t);
                if let Some(status) = self.conn.as_ref().map(LiveLive::link_status) {
                    self.routing.link(&status);
                }
            }
            ConnectionEvent::Connect { .. } => {
                if let Some(link) = self.sites.get_mut(usize::from(site.0)) {
                    link.connect_at = Some(t.plus(CONNECT_MS));
                }
            }
            ConnectionEvent::Close { reason } => {
                self.trace
                    .line(t.0, format!("engine closes the link to {site}: {reason}"));
                if let Some(link) = self.sites.get_mut(usize::from(site.0)) {
                    link.pbx = None;
                    link.net.reset();
                }
            }
        }
        Ok(())
    }

    fn after_engine(&mut self, commands: Vec<Command>) -> Result<(), Violation> {
        let t = self.now;
        if let Some(conn) = self.conn.as_ref().filter(|_| self.check) {
            self.checker.on_decisions(
                self.routing.last_decisions(),
                self.routing.engine(),
                &self.model,
                conn,
            )?;
        }
        for d in self.routing.last_decisions() {
            self.trace.line(t.0, format!("decision {d}"));
        }
        let ready = self.ready();
        if let Some(conn) = self.conn.as_ref().filter(|_| self.check) {
            self.checker.on_commands(t, &ready, &commands, conn)?;
        }
        for c in commands {
            self.trace
                .line(t.0, format!("command {} {:?}", c.id.0, c.kind));
            self.hang_up_if_armed(&c);
            if let Some(conn) = self.conn.as_mut() {
                conn.handle_command(t, c);
            }
        }
        Ok(())
    }

    /// An armed hang-up fault: the caller of this transfer to an agent hangs up before the
    /// transfer reaches IP Office.
    fn hang_up_if_armed(&mut self, command: &Command) {
        let acd_core::CommandKind::Transfer {
            call,
            target: acd_core::Target::Agent(_),
            ..
        } = &command.kind
        else {
            return;
        };
        if self.hang_ups_armed == 0 {
            return;
        }
        let Some(gcid) = self
            .conn
            .as_ref()
            .and_then(|c| c.gcid_of(*call))
            .map(<[u8]>::to_vec)
        else {
            return;
        };
        if self.model.hang_up(&gcid) {
            self.hang_ups_armed -= 1;
            self.checker.disturbed(self.now);
            self.trace.line(
                self.now.0,
                format!(
                    "FAULT: caller of {call} (gcid {}) hangs up",
                    hex::encode(&gcid)
                ),
            );
        }
    }

    fn final_checks(&mut self) -> Result<(), Violation> {
        let now = self.now;
        let routing = &mut self.routing;
        metrics::with_local_recorder(&self.recorder, || {
            routing.publish(now);
        });
        let exported = parse_exposition(&self.recorder.handle().render());
        let Some(conn) = self.conn.as_ref().filter(|_| self.check) else {
            return Ok(());
        };
        self.checker
            .at_quiescence(self.routing.engine(), &self.model, conn, &exported)
    }
}

fn short(event: &Event) -> String {
    let text = format!("{event:?}");
    if text.len() > 400 {
        let mut end = 400;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &text[..end])
    } else {
        text
    }
}

/// `name{labels} value` lines of a Prometheus exposition, by series.
fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The scenario of one simulated world: the seed's callers, agents that let calls ring out as
/// the plan says, its load, and the routed queues set up as the README tells operators (members
/// disabled in IP Office, its overflow and voicemail timers off: the rules' steps do that work).
fn simulation_scenario(
    seed: u64,
    plan: &Plan,
    scenario: &Scenario,
    rules: &RoutingConfig,
) -> Scenario {
    let mut scenario = scenario.clone();
    scenario.sim.seed = seed;
    scenario.sim.no_answer_probability = plan.no_answer_probability;
    for t in scenario
        .queues
        .iter_mut()
        .filter_map(|q| q.traffic.as_mut())
    {
        t.calls_per_hour *= plan.load;
    }
    scenario.set_up_for_engine(|name| rules.queues.keys().any(|r| r.0 == name));
    scenario
}
