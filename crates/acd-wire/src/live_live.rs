//! Live-live against a resilient IP Office pair: one [`Connection`] to each system at once,
//! merged into one stream of core events.
//!
//! The MT-CTI3 guide ("Resilient solutions") says both systems report users alike and accept
//! commands for them, but a queued call is seen and controlled only on the system it queues on:
//! the primary's groups while it is up, the secondary's copies when they have taken over (and
//! calls that arrived there stay there after the primary returns). So each system's calls come
//! only from its own connection, numbered in its own [`Site`] range, and every command about a
//! call goes down that call's connection. When the primary fails, the calls queueing on the
//! secondary are routed at once: its connection was subscribed all along, nothing reconnects.
//!
//! Agents are reported by both. The core hears each agent from one system: the primary while
//! its link is up and it has reported that agent since the link came up, the secondary
//! otherwise. The primary wins when they disagree because it is where users normally register;
//! the secondary's view only describes them once the primary cannot. When a system's link
//! drops, every agent it described is described at once by the other's last report, so no
//! agent keeps a state nobody reports any more.
//!
//! With one endpoint this is a single connection and the merge passes everything through, so
//! the daemon, the study and the deterministic simulation run this one path.

use crate::connection::{
    ConnectFailure, Connection, ConnectionConfig, ConnectionEvent, Fence, LinkStatus,
};
use crate::translate::Translator;
use acd_core::{AgentId, AgentSnapshot, Command, CommandKind, Event, Site, Timestamp};
use std::collections::{BTreeMap, VecDeque};

pub struct LiveLive {
    sites: Vec<Connection>,
    /// Each system's last report of each agent since its link came up.
    reports: Vec<BTreeMap<AgentId, AgentSnapshot>>,
    /// The system whose report of an agent the core last heard.
    source: BTreeMap<AgentId, usize>,
    /// Each system's last link status.
    links: Vec<LinkStatus>,
    events: VecDeque<(Site, ConnectionEvent)>,
}

impl LiveLive {
    /// One connection per endpoint, primary first. `seed` drives the reconnect jitter.
    pub fn new(config: ConnectionConfig, endpoints: Vec<String>, seed: u64) -> LiveLive {
        let endpoints = if endpoints.is_empty() {
            // A connection without an endpoint says so (and never connects).
            vec![Vec::new()]
        } else {
            endpoints.into_iter().map(|e| vec![e]).collect()
        };
        let sites: Vec<Connection> = endpoints
            .into_iter()
            .enumerate()
            .map(|(i, endpoint)| {
                let site = Site(u8::try_from(i).unwrap_or(u8::MAX));
                Connection::for_site(config.clone(), endpoint, site, seed.wrapping_add(i as u64))
            })
            .collect();
        let n = sites.len();
        let mut live = LiveLive {
            sites,
            reports: vec![BTreeMap::new(); n],
            source: BTreeMap::new(),
            links: vec![
                LinkStatus::Disconnected {
                    reason: "not connected yet".into(),
                };
                n
            ],
            events: VecDeque::new(),
        };
        live.collect();
        live
    }

    /// How many systems (1, or 2 for a resilient pair).
    pub fn sites(&self) -> usize {
        self.sites.len()
    }

    pub fn connection(&self, site: Site) -> Option<&Connection> {
        self.sites.get(usize::from(site.0))
    }

    /// The translator that numbers `call` (for traces and checks).
    pub fn translator_of(&self, call: acd_core::CallId) -> Option<&Translator> {
        self.connection(call.site()).map(Connection::translator)
    }

    /// The global call id IP Office gave a call the engine knows.
    pub fn gcid_of(&self, call: acd_core::CallId) -> Option<&[u8]> {
        self.translator_of(call).and_then(|t| t.gcid_of(call))
    }

    /// Whether this system's subscriptions are all confirmed (what the engine sees of its
    /// calls is current).
    pub fn site_subscribed(&self, site: Site) -> bool {
        matches!(
            self.links.get(usize::from(site.0)),
            Some(LinkStatus::Subscribed { .. })
        )
    }

    /// Whether some subscription of this system IP Office terminated is not made again yet.
    pub fn site_resubscribing(&self, site: Site) -> bool {
        self.sites
            .get(usize::from(site.0))
            .is_some_and(Connection::resubscribing)
    }

    /// How many calls the translators keep a mapping for, all systems together.
    pub fn tracked_calls(&self) -> usize {
        self.sites
            .iter()
            .map(|c| c.translator().tracked_calls())
            .sum()
    }

    /// When a translator next ends a call nobody has reported since a reconnect.
    pub fn next_ending(&self) -> Option<Timestamp> {
        self.sites
            .iter()
            .filter_map(|c| c.translator().next_ending())
            .min()
    }

    /// The best link of the pair, for readiness: the engine can route while any system's
    /// subscriptions are confirmed (each system's calls need their own link, which the
    /// per-system `acd_pbx_connected` series shows).
    pub fn link_status(&self) -> LinkStatus {
        let rank = |l: &LinkStatus| match l {
            LinkStatus::Subscribed { .. } => 3,
            LinkStatus::Connected { .. } => 2,
            LinkStatus::Connecting { .. } => 1,
            LinkStatus::Disconnected { .. } => 0,
        };
        let mut best = &self.links[0];
        for l in &self.links[1..] {
            if rank(l) > rank(best) {
                best = l;
            }
        }
        best.clone()
    }

    pub fn connected(&mut self, now: Timestamp, site: Site) {
        if let Some(c) = self.site_mut(site) {
            c.connected(now);
        }
        self.collect();
    }

    pub fn connect_failed(
        &mut self,
        now: Timestamp,
        site: Site,
        reason: &str,
        failure: ConnectFailure,
    ) {
        if let Some(c) = self.site_mut(site) {
            c.connect_failed(now, reason, failure);
        }
        self.collect();
    }

    pub fn connection_lost(&mut self, now: Timestamp, site: Site, reason: &str) {
        if let Some(c) = self.site_mut(site) {
            c.connection_lost(now, reason);
        }
        self.collect();
    }

    pub fn handle_frame(&mut self, now: Timestamp, site: Site, bytes: &[u8]) {
        if let Some(c) = self.site_mut(site) {
            c.handle_frame(now, bytes);
        }
        self.collect();
    }

    pub fn handle_text(&mut self, site: Site, len: usize) {
        if let Some(c) = self.site_mut(site) {
            c.handle_text(len);
        }
    }

    /// `site`'s IP Office answered a websocket ping.
    pub fn handle_pong(&mut self, now: Timestamp, site: Site) {
        if let Some(c) = self.site_mut(site) {
            c.handle_pong(now);
        }
    }

    /// This many frames and pings handed out for `site` were written to its socket.
    pub fn handle_written(&mut self, site: Site, count: usize) {
        if let Some(c) = self.site_mut(site) {
            c.handle_written(count);
        }
    }

    /// Checks every link at once (see [`Connection::probe`]).
    pub fn probe(&mut self, now: Timestamp, within: std::time::Duration) {
        for c in &mut self.sites {
            c.probe(now, within);
        }
        self.collect();
    }

    /// A command from the core: about a call, to the system the call queues on; about a
    /// queue's configuration (mirrored on both), to the first system whose link is up.
    pub fn handle_command(&mut self, now: Timestamp, cmd: Command) {
        let site = match &cmd.kind {
            CommandKind::Transfer { call, .. }
            | CommandKind::SetPriority { call, .. }
            | CommandKind::Finish { call, .. }
            | CommandKind::Drop { call } => usize::from(call.site().0),
            CommandKind::SetQueueMember { .. } | CommandKind::SetServiceMode { .. } => {
                self.sites.iter().position(Connection::is_up).unwrap_or(0)
            }
        };
        // A call of a system this engine has no connection to: its own connection's
        // "not connected" answer is the truth for it, given by the primary's.
        let site = if site < self.sites.len() { site } else { 0 };
        self.sites[site].handle_command(now, cmd);
        self.collect();
    }

    /// Who may send now (the same for every system).
    pub fn fence(&self) -> Fence {
        self.sites[0].fence()
    }

    /// Who may send (a twin's fencing check): the same for both systems, since the lease is
    /// the engine's, not a link's.
    pub fn set_fence(&mut self, now: Timestamp, fence: Fence) {
        for c in &mut self.sites {
            c.set_fence(now, fence);
        }
        self.collect();
    }

    pub fn follow_agents(&mut self, now: Timestamp, extns: &[String]) {
        for c in &mut self.sites {
            c.follow_agents(now, extns);
        }
        self.collect();
    }

    pub fn handle_timeout(&mut self, now: Timestamp) {
        for c in &mut self.sites {
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
            }
        }
        self.collect();
    }

    pub fn shutdown(&mut self, now: Timestamp) {
        for c in &mut self.sites {
            c.shutdown(now);
        }
        self.collect();
    }

    pub fn is_shut_down(&self) -> bool {
        self.sites.iter().all(Connection::is_shut_down)
    }

    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.sites.iter().filter_map(Connection::poll_timeout).min()
    }

    /// A frame to send on `site`'s websocket.
    pub fn poll_transmit(&mut self) -> Option<(Site, Vec<u8>)> {
        self.sites
            .iter_mut()
            .find_map(|c| c.poll_transmit().map(|b| (c.site(), b)))
    }

    /// The next event: core events merged (agents from one system at a time), and each
    /// system's link changes, socket requests (`Connect`'s endpoint is always 0: each system
    /// has one) and closes, with the system they concern.
    pub fn poll_event(&mut self) -> Option<(Site, ConnectionEvent)> {
        self.events.pop_front()
    }

    fn site_mut(&mut self, site: Site) -> Option<&mut Connection> {
        self.sites.get_mut(usize::from(site.0))
    }

    /// Moves every system's events into the merged queue, in order per system.
    fn collect(&mut self) {
        for i in 0..self.sites.len() {
            while let Some(ev) = self.sites[i].poll_event() {
                self.merge(i, ev);
            }
        }
    }

    fn merge(&mut self, i: usize, ev: ConnectionEvent) {
        let site = self.sites[i].site();
        match ev {
            ConnectionEvent::Core(Event::AgentChanged(snapshot)) => {
                let agent = snapshot.agent.clone();
                self.reports[i].insert(agent.clone(), snapshot.clone());
                let current = self.source.get(&agent).copied();
                let wins = match current {
                    None => true,
                    Some(s) if s == i => true,
                    // A system earlier in the pair wins; a later one only speaks for an agent
                    // the earlier one no longer reports.
                    Some(s) => i < s || !self.reports[s].contains_key(&agent),
                };
                if wins {
                    self.source.insert(agent, i);
                    self.events
                        .push_back((site, ConnectionEvent::Core(Event::AgentChanged(snapshot))));
                }
            }
            ConnectionEvent::Core(Event::AgentRemoved(agent)) => {
                self.reports[i].remove(&agent);
                // The user is gone from this system's Lines: the primary's word (or that of
                // the only system up) is final; another system's is not while the primary
                // still reports the user.
                let others = (0..self.sites.len())
                    .filter(|&s| s != i && self.sites[s].is_up())
                    .find(|&s| self.reports[s].contains_key(&agent));
                match others {
                    Some(s) if s < i => {}
                    _ => {
                        self.source.remove(&agent);
                        self.events
                            .push_back((site, ConnectionEvent::Core(Event::AgentRemoved(agent))));
                    }
                }
            }
            ConnectionEvent::Link(status) => {
                let restarted = matches!(status, LinkStatus::Connected { .. });
                let lost = matches!(status, LinkStatus::Disconnected { .. });
                self.links[i] = status.clone();
                if restarted || lost {
                    // Its reports describe a link that is gone.
                    self.hand_over_agents(i);
                }
                self.events.push_back((site, ConnectionEvent::Link(status)));
            }
            other => self.events.push_back((site, other)),
        }
    }

    /// System `i`'s link restarted or dropped: every agent the core heard from it is described
    /// by another system's last report, if one has it; the rest keep their last state until a
    /// system reports them (a fresh subscription on `i` does so within moments).
    fn hand_over_agents(&mut self, i: usize) {
        self.reports[i].clear();
        let described: Vec<AgentId> = self
            .source
            .iter()
            .filter(|(_, s)| **s == i)
            .map(|(a, _)| a.clone())
            .collect();
        for agent in described {
            let other = (0..self.sites.len())
                .filter(|&s| s != i)
                .find(|&s| self.reports[s].contains_key(&agent));
            match other.and_then(|s| self.reports[s].get(&agent).map(|r| (s, r.clone()))) {
                Some((s, report)) => {
                    self.source.insert(agent, s);
                    self.events.push_back((
                        self.sites[s].site(),
                        ConnectionEvent::Core(Event::AgentChanged(report)),
                    ));
                }
                None => {
                    self.source.remove(&agent);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
