//! One simulated world: the simulator's model of IP Office and its protocol side
//! ([`SimConnection`], one per engine and IP Office), the network between them ([`Network`]),
//! and the engine's real path (the sans-IO [`LiveLive`] connections and the daemon's
//! [`RoutingLoop`]), stepped in virtual time on one thread. Every frame is really encoded and
//! decoded on both sides; nothing is shortcut. A world has one engine, or a hot twin of two
//! with leadership from a virtual etcd lease ([`VirtualEtcd`]), and one IP Office or a
//! resilient pair.

use super::faults::{Fault, Plan, TwinFault};
use super::invariants::{Checker, Violation};
use super::lease::{Campaign, VirtualEtcd};
use super::network::{Direction, Network};
use super::trace::Trace;
use crate::daemon::routing_loop::RoutingLoop;
use crate::sim::model::types::CallPhase;
use crate::sim::model::Model;
use crate::sim::server::{CommandFaults, SimConnection};
use crate::sim::Scenario;
use acd_core::{Command, Event, RoutingConfig, Site, Timestamp};
use acd_wire::connection::{ConnectFailure, Fence, EPHEMERAL_CCFLAG};
use acd_wire::framing::Framing;
use acd_wire::{AgentSelector, ConnectionConfig, ConnectionEvent, LiveLive, QueueSelector};
use metrics_exporter_prometheus::PrometheusBuilder;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// How long after its `Connect` a socket opens (or fails) in the simulation.
const CONNECT_MS: u64 = 20;
/// After the last call is gone, wait this long (past the translator's orphan grace) before
/// judging quiescence.
const QUIET_MS: u64 = 330_000;
/// One instant may not take more steps than this: more means the path loops.
const MAX_STEPS_PER_INSTANT: u32 = 100_000;
/// Longer than any ring time the example rules give an offer (and than IP Office's 15 s
/// default): a call another engine offered within this window is that engine's offer.
const TWIN_RING_WINDOW_MS: u64 = 30_000;
/// The subscribe-rate invariant's window and bound: a storm of terminations with the backoff
/// gives about six Subscribes of one target in 10 s, a reconnect in the same window as many
/// again; without a backoff it was hundreds a second.
const SUBSCRIBE_WINDOW_MS: u64 = 10_000;
const SUBSCRIBES_PER_WINDOW: usize = 16;

/// The twin's second engine starts this much after the first (so the first leads at first).
const TWIN_START_LAG_MS: u64 = 1_000;

/// One engine's link to one IP Office.
struct SiteLink {
    pbx: Option<SimConnection>,
    net: Network,
    connect_at: Option<Timestamp>,
}

/// One engine process: its connections, its routing loop, its links, and what has been done
/// to it.
struct Node {
    conn: Option<LiveLive>,
    routing: RoutingLoop,
    links: Vec<SiteLink>,
    checker: Checker,
    start: Timestamp,
    /// Killed: it never runs again.
    dead: bool,
    /// Paused until then: nothing of it runs; frames for it wait on the network.
    paused_until: Timestamp,
    /// Cannot reach etcd until then.
    cut_until: Timestamp,
    /// The next campaign step (a twin's member only).
    campaign_at: Option<Timestamp>,
    /// Per system: whether the timely invariants could judge it after the last step.
    was_ready: Vec<bool>,
    /// When each subscription target (per system) was last subscribed, within the window of
    /// the subscribe-rate invariant.
    subscribes: HashMap<String, VecDeque<Timestamp>>,
}

impl Node {
    fn runs(&self, t: Timestamp) -> bool {
        !self.dead && t >= self.paused_until && self.conn.is_some()
    }
}

pub struct World {
    now: Timestamp,
    model: Model,
    nodes: Vec<Node>,
    /// Each IP Office is unreachable from every engine until then (a restart, a partition).
    site_down_until: Vec<Timestamp>,
    pbx_faults: CommandFaults,
    epoch: i32,
    connection_config: ConnectionConfig,
    rules: Arc<RoutingConfig>,
    rng: ChaCha8Rng,
    pub trace: Trace,
    faults: VecDeque<(Timestamp, Fault)>,
    /// A hot twin's etcd and the fault planned for its leader.
    etcd: Option<VirtualEtcd>,
    twin_fault: Option<(Timestamp, TwinFault)>,
    /// When a failed primary comes back.
    primary_back_at: Option<Timestamp>,
    /// A twin's: which engine last transferred each call to an agent.
    transferred_by: BTreeMap<crate::sim::model::types::SimCallId, (usize, Timestamp)>,
    /// Callers still to hang up as the engine transfers their call to an agent.
    hang_ups_armed: u32,
    /// IP Office terminates every subscription as soon as it is made until then.
    storm_until: Timestamp,
    /// Agents (extension) whose forward unconditional is on at IP Office, since when.
    forwarded_since: BTreeMap<String, Timestamp>,
    traffic_end: Timestamp,
    hard_end: Timestamp,
    empty_since: Option<Timestamp>,
    model_version: u64,
    model_changed_at: Timestamp,
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
        let rules = match plan.collective {
            Some(mask) => Arc::new(super::collective::deliver_collectively(&rules, mask)),
            None => rules,
        };
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
        if plan.twin.is_some() {
            model.log_transfers();
        }
        if let Some(share) = plan.pair {
            model.set_secondary_share(share);
        }
        let site_count = if plan.pair.is_some() { 2 } else { 1 };
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
        let node_count = if plan.twin.is_some() { 2 } else { 1 };
        let nodes = (0..node_count)
            .map(|i| Node {
                conn: None,
                routing: RoutingLoop::new(rules.clone()),
                links: (0..site_count)
                    .map(|_| SiteLink {
                        pbx: None,
                        net: Network::new(plan.delays),
                        connect_at: None,
                    })
                    .collect(),
                checker: Checker::new(bound_ms),
                start: Timestamp(plan.engine_start_ms + i as u64 * TWIN_START_LAG_MS),
                dead: false,
                paused_until: Timestamp::ZERO,
                cut_until: Timestamp::ZERO,
                campaign_at: None,
                was_ready: Vec::new(),
                subscribes: HashMap::new(),
            })
            .collect();
        Ok(World {
            now: Timestamp::ZERO,
            model,
            nodes,
            site_down_until: vec![Timestamp::ZERO; site_count],
            pbx_faults: CommandFaults::default(),
            epoch: 0,
            connection_config: protocol,
            rules,
            rng: ChaCha8Rng::seed_from_u64(seed),
            trace: Trace::keeping(keep_lines),
            faults: plan
                .faults
                .iter()
                .map(|(at, f)| (Timestamp(*at), *f))
                .collect(),
            etcd: plan.twin.map(|t| VirtualEtcd::new(t.ttl_ms)),
            twin_fault: plan.twin.map(|t| (Timestamp(t.at_ms), t.fault)),
            primary_back_at: None,
            transferred_by: BTreeMap::new(),
            hang_ups_armed: 0,
            storm_until: Timestamp::ZERO,
            forwarded_since: BTreeMap::new(),
            traffic_end: Timestamp(traffic_ms),
            hard_end: Timestamp(traffic_ms + 3_600_000),
            empty_since: None,
            model_version: 0,
            model_changed_at: Timestamp::ZERO,
            seed,
            check,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The routing loop of the engine that leads (or runs alone); the first one when none
    /// does.
    pub fn routing(&self) -> &RoutingLoop {
        &self.nodes[self.judged()].routing
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

    /// The engine whose decisions the timely invariants judge: the one whose fence lets it
    /// send now (alone, or the twin's leader), else the first that runs.
    fn judged(&self) -> usize {
        let t = self.now;
        let sends = |n: &Node| n.runs(t) && n.conn.as_ref().is_some_and(|c| c.fence().allows(t));
        self.nodes
            .iter()
            .position(sends)
            .or_else(|| self.nodes.iter().position(|n| !n.dead))
            .unwrap_or(0)
    }

    fn next_time(&self) -> Option<Timestamp> {
        let now = self.now;
        let mut times: Vec<Option<Timestamp>> = vec![
            self.model.next_event_at(),
            self.faults.front().map(|(t, _)| *t),
            self.twin_fault.map(|(t, _)| t),
            self.primary_back_at,
            (self.now < self.traffic_end).then_some(self.traffic_end),
        ];
        let mut ending = None;
        for n in self.nodes.iter().filter(|n| !n.dead) {
            if n.conn.is_none() {
                times.push(Some(n.start));
                continue;
            }
            if now < n.paused_until {
                // Nothing of a paused engine runs; its wake-up is its next time. What it
                // wrote before the pause still arrives.
                times.push(Some(n.paused_until));
                for l in &n.links {
                    times.push(l.net.next_arrival_toward(Direction::ToPbx));
                }
            } else {
                let conn = n.conn.as_ref();
                times.push(conn.and_then(LiveLive::poll_timeout));
                times.push(n.routing.next_wakeup());
                times.push(n.campaign_at);
                for l in &n.links {
                    times.push(l.net.next_arrival());
                }
            }
            for l in &n.links {
                times.push(l.pbx.as_ref().and_then(SimConnection::next_deadline));
                times.push(l.connect_at);
            }
            ending = ending.max(n.conn.as_ref().and_then(LiveLive::next_ending));
        }
        let bound = self.nodes[0].checker.bound_ms;
        times.push(self.empty_since.map(|t| {
            t.plus(QUIET_MS)
                .max(self.model_changed_at.plus(bound))
                .max(ending.unwrap_or(Timestamp::ZERO))
        }));
        times.into_iter().flatten().min()
    }

    /// No call for a long while, nothing on the network, and the last change at IP Office
    /// long enough ago for the engines to have heard of it.
    fn quiescent(&self) -> bool {
        let bound = self.nodes[0].checker.bound_ms;
        self.empty_since
            .is_some_and(|t| self.now.since(t) >= QUIET_MS)
            && self.now.since(self.model_changed_at) >= bound
            && self.nodes.iter().filter(|n| !n.dead).all(|n| {
                n.links.iter().all(|l| l.net.next_arrival().is_none())
                    // A call that vanished while its system was unreachable is ended by the
                    // translator only after its orphan grace from the reconnect, which can
                    // come after the world went quiet (a long failure of one system).
                    && n.conn.as_ref().is_none_or(|c| c.next_ending().is_none())
            })
    }

    fn step(&mut self, t: Timestamp) -> Result<(), Violation> {
        self.now = t;
        self.trace.steps += 1;
        self.model.advance_to(t);
        if t >= self.traffic_end {
            self.model.stop_arrivals();
        }
        for i in 0..self.nodes.len() {
            self.start_engine(i);
        }
        if self.primary_back_at.is_some_and(|at| at <= t) {
            self.primary_back_at = None;
            self.trace.line(t.0, "the primary IP Office is back".into());
            self.model.restore_site(0);
            self.disturbed();
        }
        while self.faults.front().is_some_and(|(at, _)| *at <= t) {
            if let Some((_, fault)) = self.faults.pop_front() {
                self.fault(fault)?;
            }
        }
        if let Some((_, fault)) = self.twin_fault.filter(|(at, _)| *at <= t) {
            self.twin_fault = None;
            self.twin(fault);
        }
        for i in 0..self.nodes.len() {
            self.campaign(i);
            self.step_node(i)?;
        }
        self.pump()?;
        if self.model.version() != self.model_version {
            self.model_version = self.model.version();
            self.model_changed_at = t;
        }
        if self.check {
            let judged = self.judged();
            for i in 0..self.nodes.len() {
                if self.nodes[i].dead || self.nodes[i].conn.is_none() {
                    continue;
                }
                let ready = self.ready(i);
                let node = &mut self.nodes[i];
                // A system the engine sees again (its subscriptions made again after IP Office
                // terminated them) is judged from then on, as after a reconnect.
                let regained = ready
                    .iter()
                    .enumerate()
                    .any(|(s, r)| *r && !node.was_ready.get(s).copied().unwrap_or(false));
                if regained {
                    node.checker.disturbed(t);
                }
                node.was_ready.clone_from(&ready);
                node.checker.after_step(
                    t,
                    &ready,
                    i == judged,
                    node.routing.engine(),
                    &self.model,
                )?;
            }
        }
        if self.model.calls().next().is_none() && t >= self.traffic_end {
            self.empty_since.get_or_insert(t);
        } else {
            self.empty_since = None;
        }
        Ok(())
    }

    fn start_engine(&mut self, i: usize) {
        let t = self.now;
        let twin = self.etcd.is_some();
        let node = &mut self.nodes[i];
        if node.conn.is_some() || t < node.start {
            return;
        }
        let name = engine_name(i, twin);
        self.trace.line(t.0, format!("{name} starts"));
        let endpoints = ["primary", "secondary"][..node.links.len()]
            .iter()
            .map(|e| e.to_string())
            .collect();
        let mut conn = LiveLive::new(
            self.connection_config.clone(),
            endpoints,
            self.seed.wrapping_add(i as u64),
        );
        if twin {
            // A twin's member sends nothing until it has the lease.
            conn.set_fence(t, Fence::Closed);
            node.campaign_at = Some(t);
        }
        node.conn = Some(conn);
    }

    /// A twin's member reaches etcd (when it runs and is not cut off): renews or takes the
    /// lease, or learns that the other leads; its fence follows at once.
    fn campaign(&mut self, i: usize) {
        let t = self.now;
        let Some(etcd) = self.etcd.as_mut() else {
            return;
        };
        let node = &mut self.nodes[i];
        if !node.runs(t) || node.campaign_at.is_none_or(|at| at > t) {
            return;
        }
        node.campaign_at = Some(t.plus((etcd.ttl_ms() / 3).max(1)));
        if t < node.cut_until {
            // Unreachable: nothing changes; a lease it holds lapses by its own deadline.
            return;
        }
        let (fence, took_over) = match etcd.campaign(i, t) {
            Campaign::Leads { until, took_over } => (Fence::LeaderUntil(until), took_over),
            Campaign::Follows => (Fence::Closed, false),
        };
        if let Some(conn) = node.conn.as_mut() {
            conn.set_fence(t, fence);
        }
        if took_over {
            // A takeover: the new leader's bound starts now.
            self.trace
                .line(t.0, format!("{} takes the lead", engine_name(i, true)));
            self.disturbed();
        }
    }

    fn step_node(&mut self, i: usize) -> Result<(), Violation> {
        let t = self.now;
        for site in 0..self.nodes[i].links.len() {
            if self.nodes[i].links[site]
                .connect_at
                .is_some_and(|at| at <= t)
            {
                self.nodes[i].links[site].connect_at = None;
                self.connect(i, site);
            }
            if let Some(pbx) = self.nodes[i].links[site].pbx.as_mut() {
                if pbx.next_deadline().is_some_and(|d| d <= t) {
                    pbx.on_timer(t);
                }
            }
            if !self.nodes[i].runs(t) {
                if !self.nodes[i].dead {
                    while let Some(bytes) = self.nodes[i].links[site]
                        .net
                        .pop_due_toward(t, Direction::ToPbx)
                    {
                        self.deliver(i, site, Direction::ToPbx, bytes)?;
                    }
                }
                continue;
            }
            while let Some((dir, bytes)) = self.nodes[i].links[site].net.pop_due(t) {
                self.deliver(i, site, dir, bytes)?;
            }
        }
        if !self.nodes[i].runs(t) {
            return Ok(());
        }
        if let Some(conn) = self.nodes[i].conn.as_mut() {
            if conn.poll_timeout().is_some_and(|d| d <= t) {
                conn.handle_timeout(t);
            }
        }
        if self.nodes[i].routing.next_wakeup().is_some_and(|w| w <= t) {
            let commands = self.nodes[i].routing.handle(t, Event::Tick);
            self.after_engine(i, commands)?;
        }
        Ok(())
    }

    /// Per system: the engine's link is subscribed (what it sees of that system's calls is
    /// current, so liveness and the other timely invariants can be judged for them).
    fn ready(&self, i: usize) -> Vec<bool> {
        let node = &self.nodes[i];
        (0..node.links.len())
            .map(|s| {
                node.conn.as_ref().is_some_and(|c| {
                    c.site_subscribed(Site(s as u8))
                        && !c.site_resubscribing(Site(s as u8))
                        && node.routing.is_ready()
                })
            })
            .collect()
    }

    fn disturbed(&mut self) {
        let t = self.now;
        for n in &mut self.nodes {
            n.checker.disturbed(t);
        }
    }

    fn connect(&mut self, i: usize, site: usize) {
        let t = self.now;
        let down = t < self.site_down_until[site] || self.model.site_down(site as u8);
        let epoch = self.epoch;
        let node = &mut self.nodes[i];
        if node.dead {
            return;
        }
        let Some(conn) = node.conn.as_mut() else {
            return;
        };
        let link = &mut node.links[site];
        if down {
            self.trace.line(
                t.0,
                format!("{} connect to site {site} fails", engine_tag(i)),
            );
            conn.connect_failed(
                t,
                Site(site as u8),
                "IP Office unreachable",
                ConnectFailure::Other,
            );
            return;
        }
        self.trace
            .line(t.0, format!("{}connected to site {site}", engine_tag(i)));
        link.net.reset();
        link.pbx = Some(SimConnection::for_site(Framing::Framed, epoch, site as u8));
        conn.connected(t, Site(site as u8));
        node.checker.disturbed(t);
    }

    /// Every engine's link to this IP Office drops.
    fn drop_site(&mut self, site: usize, why: &str) {
        for i in 0..self.nodes.len() {
            self.drop_link(i, site, why);
        }
    }

    fn drop_link(&mut self, i: usize, site: usize, why: &str) {
        let t = self.now;
        let node = &mut self.nodes[i];
        let link = &mut node.links[site];
        if link.pbx.take().is_some() {
            link.net.reset();
            if let Some(conn) = node.conn.as_mut().filter(|_| !node.dead) {
                conn.connection_lost(t, Site(site as u8), why);
            }
        }
    }

    fn fault(&mut self, fault: Fault) -> Result<(), Violation> {
        let t = self.now;
        self.trace.line(t.0, format!("FAULT: {fault}"));
        self.disturbed();
        match fault {
            Fault::DropConnection => {
                for site in 0..self.site_down_until.len() {
                    self.drop_site(site, "connection reset");
                }
            }
            Fault::Restart { down_ms } => {
                self.epoch += 1;
                self.site_down_until[0] = t.plus(down_ms);
                self.drop_site(0, "IP Office restarted");
            }
            Fault::TerminationStorm { ms } => {
                self.storm_until = t.plus(ms);
                self.terminate_every_subscription();
            }
            Fault::TerminateSubscriptions => {
                for node in &mut self.nodes {
                    for link in &mut node.links {
                        if let Some(pbx) = link.pbx.as_mut() {
                            pbx.terminate_all("terminated");
                        }
                    }
                }
            }
            Fault::RejectCommands { code, count } => self.pbx_faults.reject = Some((code, count)),
            Fault::LoseResponses { count } => {
                let i = self.judged();
                self.nodes[i].links[0].net.lose_responses += count;
            }
            Fault::RulesChange => {
                let mut next = (*self.rules).clone();
                next.version += 1;
                self.rules = Arc::new(next);
                for i in 0..self.nodes.len() {
                    if self.nodes[i].runs(t) {
                        let commands = self.nodes[i].routing.rules_changed(t, self.rules.clone());
                        self.after_engine(i, commands)?;
                    }
                }
            }
            Fault::HangUpDuringTransfer => self.hang_ups_armed += 1,
            Fault::HangUpWhileRinging => {
                let ringing = self
                    .model
                    .calls()
                    .find(|c| c.phase == CallPhase::Ringing && c.queue.is_none())
                    .map(|c| (c.id, c.gcid.clone()));
                if let Some((id, gcid)) = ringing {
                    self.model.hang_up(&gcid);
                    self.trace.line(
                        t.0,
                        format!("FAULT: caller of sim call {id} hangs up while ringing"),
                    );
                }
            }
            Fault::Forward { agent, on } => {
                let users = self.model.users().len();
                if users > 0 {
                    let extn = self.model.users()[agent % users].extn.clone();
                    self.model
                        .apply(crate::sim::model::ModelAction::SetForward {
                            user: extn.clone(),
                            on,
                        });
                    if on {
                        self.forwarded_since.entry(extn).or_insert(t);
                    } else {
                        self.forwarded_since.remove(&extn);
                    }
                }
            }
            Fault::PrimaryDown { down_ms } => {
                self.site_down_until[0] = t.plus(down_ms);
                self.drop_site(0, "primary IP Office unreachable");
            }
            Fault::PrimaryFails { down_ms } => {
                if self.site_down_until.len() > 1 && !self.model.site_down(0) {
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
                    self.drop_site(0, "primary IP Office failed");
                }
            }
        }
        Ok(())
    }

    /// The twin's leader (the engine holding the lease now, else the first) is killed, paused
    /// or cut off from etcd.
    fn terminate_every_subscription(&mut self) {
        for node in &mut self.nodes {
            for link in &mut node.links {
                if let Some(pbx) = link.pbx.as_mut() {
                    pbx.terminate_all("terminated");
                }
            }
        }
    }

    fn twin(&mut self, fault: TwinFault) {
        let t = self.now;
        let i = self.etcd.as_ref().and_then(|e| e.leader(t)).unwrap_or(0);
        self.trace.line(
            t.0,
            format!("TWIN FAULT: {} ({})", fault, engine_name(i, true)),
        );
        self.disturbed();
        match fault {
            TwinFault::Kill => {
                for site in 0..self.nodes[i].links.len() {
                    let link = &mut self.nodes[i].links[site];
                    link.pbx = None;
                    link.net.reset();
                    link.connect_at = None;
                }
                self.nodes[i].dead = true;
            }
            TwinFault::Pause { ms } => self.nodes[i].paused_until = t.plus(ms),
            TwinFault::Partition { ms } => self.nodes[i].cut_until = t.plus(ms),
        }
    }

    fn deliver(
        &mut self,
        i: usize,
        site: usize,
        dir: Direction,
        bytes: Vec<u8>,
    ) -> Result<(), Violation> {
        let t = self.now;
        match dir {
            Direction::ToEngine => {
                self.trace.bytes(b"E", t.0, &bytes);
                if let Some(conn) = self.nodes[i].conn.as_mut() {
                    conn.handle_frame(t, Site(site as u8), &bytes);
                }
            }
            Direction::ToPbx => {
                self.trace.bytes(b"P", t.0, &bytes);
                self.bounded_subscribe_rate(i, site, &bytes)?;
                let storm = t < self.storm_until;
                if let Some(pbx) = self.nodes[i].links[site].pbx.as_mut() {
                    let outcome = pbx.on_frame(t, &bytes, &mut self.model, self.pbx_faults);
                    if outcome.rejected {
                        self.pbx_faults.consume_rejection();
                    }
                    if storm {
                        pbx.terminate_all("terminated");
                    }
                }
                self.transfers_from(i)?;
            }
        }
        Ok(())
    }

    /// **bounded-subscribe-rate**: no subscription target (a user, a queue, the lines) is
    /// subscribed more than [`SUBSCRIBES_PER_WINDOW`] times on one link in any
    /// [`SUBSCRIBE_WINDOW_MS`], whatever IP Office does: a subscription it keeps terminating
    /// is made again with a growing delay (it was made again ~930 times a second, issue 24).
    fn bounded_subscribe_rate(
        &mut self,
        i: usize,
        site: usize,
        bytes: &[u8],
    ) -> Result<(), Violation> {
        let t = self.now;
        let Ok(acd_wire::pb::Message {
            payload: Some(acd_wire::pb::message::Payload::Subscribe(sub)),
        }) = acd_wire::framing::decode(bytes, Framing::Framed, usize::MAX)
        else {
            return Ok(());
        };
        let key = format!("{site} {:?}", sub.payload);
        let times = self.nodes[i].subscribes.entry(key).or_default();
        times.push_back(t);
        while times
            .front()
            .is_some_and(|at| t.since(*at) >= SUBSCRIBE_WINDOW_MS)
        {
            times.pop_front();
        }
        if self.check && times.len() > SUBSCRIBES_PER_WINDOW {
            return Err(Violation {
                invariant: "bounded-subscribe-rate",
                detail: format!(
                    "{} subscribed the same target {} times in {} s on link {site}: {:?}",
                    engine_name(i, self.etcd.is_some()),
                    times.len(),
                    SUBSCRIBE_WINDOW_MS / 1000,
                    sub.payload
                ),
            });
        }
        Ok(())
    }

    /// A twin's engines never both act on one call: a transfer of a call already ringing
    /// because of the other engine's transfer is two engines routing it at once (one engine's
    /// own retries after a lost response are its own business, judged by its invariants).
    fn transfers_from(&mut self, i: usize) -> Result<(), Violation> {
        if self.etcd.is_none() {
            return Ok(());
        }
        let t = self.now;
        for (call, ringing) in self.model.take_transfers() {
            let previous = self.transferred_by.insert(call, (i, t));
            let Some((p, at)) = previous.filter(|(p, _)| *p != i) else {
                continue;
            };
            // Within the ring time the other engine's offer is live (it would take the call
            // back itself at its ring timeout); after it, a call still ringing was left by a
            // leader that is gone, and the new one rightly moves it on.
            if ringing && t.since(at) < TWIN_RING_WINDOW_MS && self.check {
                return Err(Violation {
                    invariant: "no-double-transfer",
                    detail: format!(
                        "{} transferred call {call} while it rang after {}'s transfer {:.1} s \
                         earlier",
                        engine_name(i, true),
                        engine_name(p, true),
                        t.since(at) as f64 / 1000.0
                    ),
                });
            }
        }
        Ok(())
    }

    /// Moves everything produced until nothing moves: each running engine's connection events
    /// into its routing loop, commands back into the connection, frames onto the network, and
    /// what IP Office renders for every connection onto theirs.
    fn pump(&mut self) -> Result<(), Violation> {
        let t = self.now;
        loop {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                if !self.nodes[i].runs(t) {
                    continue;
                }
                while let Some((site, ev)) =
                    self.nodes[i].conn.as_mut().and_then(LiveLive::poll_event)
                {
                    moved = true;
                    self.connection_event(i, site, ev)?;
                }
                while let Some((site, bytes)) = self.nodes[i]
                    .conn
                    .as_mut()
                    .and_then(LiveLive::poll_transmit)
                {
                    moved = true;
                    let mut draw = self.draw_fn();
                    if let Some(link) = self.nodes[i].links.get_mut(usize::from(site.0)) {
                        link.net.send(t, Direction::ToPbx, bytes, &mut draw);
                    }
                    // The network takes every frame at once: writes never stall here.
                    if let Some(conn) = self.nodes[i].conn.as_mut() {
                        conn.handle_written(site, 1);
                    }
                }
            }
            for i in 0..self.nodes.len() {
                for site in 0..self.nodes[i].links.len() {
                    let Some(pbx) = self.nodes[i].links[site].pbx.as_mut() else {
                        continue;
                    };
                    pbx.flush(&self.model);
                    let frames = pbx.take_due(t);
                    for bytes in frames {
                        moved = true;
                        let mut draw = self.draw_fn();
                        self.nodes[i].links[site].net.send(
                            t,
                            Direction::ToEngine,
                            bytes,
                            &mut draw,
                        );
                    }
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

    fn connection_event(
        &mut self,
        i: usize,
        site: Site,
        ev: ConnectionEvent,
    ) -> Result<(), Violation> {
        let t = self.now;
        let tag = engine_tag(i);
        match ev {
            ConnectionEvent::Core(event) => {
                let node = &mut self.nodes[i];
                let conn = node.conn.as_ref();
                let gcid = match &event {
                    Event::CallQueued(q) => conn
                        .and_then(|c| c.gcid_of(q.call))
                        .map(|g| format!(" gcid {}", hex::encode(g)))
                        .unwrap_or_default(),
                    Event::CallAnswered { call, .. } => {
                        // Only an answer to a call the engine had seen queue can be counted:
                        // an engine that starts (a twin's second one, say) while a call rings
                        // hears the answer before its queue's first report of the call.
                        let countable = node.routing.engine().has_open_call(*call);
                        if let Some(g) = conn.and_then(|c| c.gcid_of(*call)).filter(|_| countable) {
                            node.checker.answer_seen.insert(g.to_vec());
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
                    .line(t.0, format!("{tag}event{from}{gcid} {}", short(&event)));
                self.nodes[i].checker.on_event(t, &event);
                let commands = self.nodes[i].routing.handle(t, event);
                self.after_engine(i, commands)?;
            }
            ConnectionEvent::Link(link) => {
                self.trace.line(t.0, format!("{tag}link {site}: {link}"));
                let node = &mut self.nodes[i];
                node.checker.disturbed(t);
                if let Some(status) = node.conn.as_ref().map(LiveLive::link_status) {
                    node.routing.link(&status);
                }
            }
            ConnectionEvent::Connect { .. } => {
                if let Some(link) = self.nodes[i].links.get_mut(usize::from(site.0)) {
                    link.connect_at = Some(t.plus(CONNECT_MS));
                }
            }
            ConnectionEvent::Ping => {
                // A websocket ping is written at once and answered by the peer's websocket
                // layer while its socket is open, whatever the protocol above it is doing.
                let open = self.nodes[i]
                    .links
                    .get(usize::from(site.0))
                    .is_some_and(|l| l.pbx.is_some());
                if let Some(conn) = self.nodes[i].conn.as_mut() {
                    conn.handle_written(site, 1);
                    if open {
                        conn.handle_pong(t, site);
                    }
                }
            }
            ConnectionEvent::Close { reason } => {
                self.trace.line(
                    t.0,
                    format!("{tag}engine closes the link to {site}: {reason}"),
                );
                if let Some(link) = self.nodes[i].links.get_mut(usize::from(site.0)) {
                    link.pbx = None;
                    link.net.reset();
                }
            }
        }
        Ok(())
    }

    fn after_engine(&mut self, i: usize, commands: Vec<Command>) -> Result<(), Violation> {
        let t = self.now;
        let tag = engine_tag(i);
        let ready = self.ready(i);
        if self.check {
            let node = &mut self.nodes[i];
            if let Some(conn) = node.conn.as_ref() {
                node.checker.on_decisions(
                    t,
                    &ready,
                    node.routing.last_decisions(),
                    node.routing.engine(),
                    &self.model,
                    conn,
                )?;
                node.checker.on_commands(t, &ready, &commands, conn)?;
                // The twin's fencing: a command goes out only from the engine etcd says leads.
                let sends = conn.fence().allows(t);
                if let (Some(etcd), true, false) = (&self.etcd, sends, commands.is_empty()) {
                    if !etcd.holds(i, t) {
                        return Err(Violation {
                            invariant: "single-writer",
                            detail: format!(
                                "{} sent {} command(s) at {:.3} s without holding the lease (etcd's \
                                 leader: {:?})",
                                engine_name(i, true),
                                commands.len(),
                                t.0 as f64 / 1000.0,
                                etcd.leader(t)
                            ),
                        });
                    }
                }
            }
        }
        for d in self.nodes[i].routing.last_decisions() {
            self.trace.line(t.0, format!("{tag}decision {d}"));
        }
        if self.check && i == self.judged() {
            self.no_offer_to_a_forwarded_agent(i, &commands)?;
        }
        for c in commands {
            self.trace
                .line(t.0, format!("{tag}command {} {:?}", c.id.0, c.kind));
            self.hang_up_if_armed(i, &c);
            if let Some(conn) = self.nodes[i].conn.as_mut() {
                conn.handle_command(t, c);
            }
        }
        Ok(())
    }

    /// **no-offer-to-a-forwarded-agent**: the engine sends no call to an agent whose forward
    /// unconditional has been on at IP Office for longer than the liveness bound (time enough
    /// for the user notify to arrive however late the seed makes it), counted from the last
    /// fault or link change too (a forward switched on while the link was down is heard only
    /// in the fresh snapshot after it), and judged only while the link is subscribed.
    fn no_offer_to_a_forwarded_agent(
        &self,
        i: usize,
        commands: &[Command],
    ) -> Result<(), Violation> {
        let bound = self.nodes[i].checker.bound_ms;
        let disturbed_at = self.nodes[i].checker.disturbed_at();
        if !self.ready(i).iter().all(|r| *r) {
            return Ok(());
        }
        for c in commands {
            let acd_core::CommandKind::Transfer {
                call,
                target: acd_core::Target::Agent(agent),
                ..
            } = &c.kind
            else {
                continue;
            };
            // The rules may say this agent's forward leads to a phone they answer.
            let takes_them = self.nodes[i]
                .routing
                .engine()
                .config()
                .agents
                .get(agent)
                .is_some_and(|p| p.takes_calls_when_forwarded);
            if let Some(since) = self.forwarded_since.get(&agent.0).filter(|_| !takes_them) {
                if self.now.since((*since).max(disturbed_at)) > bound {
                    return Err(Violation {
                        invariant: "no-offer-to-a-forwarded-agent",
                        detail: format!(
                            "{call} sent to {agent} at {:.3} s, whose calls IP Office has \
                             forwarded since {:.3} s",
                            self.now.0 as f64 / 1000.0,
                            since.0 as f64 / 1000.0
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// An armed hang-up fault: the caller of this transfer to an agent hangs up before the
    /// transfer reaches IP Office.
    fn hang_up_if_armed(&mut self, i: usize, command: &Command) {
        let acd_core::CommandKind::Transfer {
            call,
            target: acd_core::Target::Agent(_),
            ..
        } = &command.kind
        else {
            return;
        };
        if self.hang_ups_armed == 0 || i != self.judged() {
            return;
        }
        let Some(gcid) = self.nodes[i]
            .conn
            .as_ref()
            .and_then(|c| c.gcid_of(*call))
            .map(<[u8]>::to_vec)
        else {
            return;
        };
        if self.model.hang_up(&gcid) {
            self.hang_ups_armed -= 1;
            self.disturbed();
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
        if !self.check {
            return Ok(());
        }
        for i in 0..self.nodes.len() {
            let node = &mut self.nodes[i];
            if node.dead || node.conn.is_none() {
                continue;
            }
            let recorder = PrometheusBuilder::new().build_recorder();
            let routing = &mut node.routing;
            metrics::with_local_recorder(&recorder, || {
                routing.publish(now);
            });
            let exported = parse_exposition(&recorder.handle().render());
            let Some(conn) = node.conn.as_ref() else {
                continue;
            };
            node.checker
                .at_quiescence(node.routing.engine(), &self.model, conn, &exported)
                .map_err(|v| Violation {
                    invariant: v.invariant,
                    detail: format!("{}{}", engine_tag(i), v.detail),
                })?;
        }
        Ok(())
    }
}

/// How the trace names engine `i`.
fn engine_name(i: usize, twin: bool) -> String {
    if twin {
        format!("engine {}", ["A", "B"].get(i).copied().unwrap_or("?"))
    } else {
        "engine".into()
    }
}

/// The prefix of an engine's trace lines: none for the only (or first) engine.
fn engine_tag(i: usize) -> String {
    if i == 0 {
        String::new()
    } else {
        format!("[{}] ", engine_name(i, true))
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
    super::collective::set_up_groups(&mut scenario, rules);
    scenario.set_up_for_engine(|name| rules.queues.keys().any(|r| r.0 == name));
    scenario
}
