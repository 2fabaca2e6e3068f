//! The Lines table (IP Office's users and hunt groups) and what a change to it means for the
//! session: routed queues appear and are subscribed, followed users are subscribed, a
//! renumbered or deleted user stops being an agent.

use super::link::Link;
use super::subscriptions::SubTarget;
use super::ConnectionEvent;
use crate::pb;
use crate::translate::Translator;
use acd_core::{AgentId, Event, QueueId, Timestamp};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone)]
struct LineEntry {
    extn: String,
    name: String,
}

#[derive(Debug, Default)]
pub(crate) struct LinesTable {
    /// Extension -> GUID of the users in the table.
    extns: HashMap<String, Vec<u8>>,
    users: HashMap<Vec<u8>, LineEntry>,
    queues: HashMap<Vec<u8>, LineEntry>,
    queue_names: HashSet<String>,
}

impl LinesTable {
    pub fn guid_of(&self, extn: &str) -> Option<&[u8]> {
        self.extns.get(extn).map(Vec::as_slice)
    }

    pub fn has_user(&self, extn: &str) -> bool {
        self.extns.contains_key(extn)
    }

    pub fn has_queue_named(&self, name: &str) -> bool {
        self.queue_names.contains(name)
    }

    /// Records a user; returns its previous extension if it changed.
    fn put_user(&mut self, u: &pb::LinesUser) -> Option<String> {
        let entry = LineEntry {
            extn: u.extn.clone(),
            name: u.name.clone(),
        };
        let previous = self.users.insert(u.guid.clone(), entry);
        if let Some(prev) = &previous {
            if self.extns.get(&prev.extn) == Some(&u.guid) {
                self.extns.remove(&prev.extn);
            }
        }
        self.extns.insert(u.extn.clone(), u.guid.clone());
        previous.filter(|p| p.extn != u.extn).map(|p| p.extn)
    }

    fn remove_user(&mut self, guid: &[u8]) {
        if let Some(prev) = self.users.remove(guid) {
            if self.extns.get(&prev.extn).map(Vec::as_slice) == Some(guid) {
                self.extns.remove(&prev.extn);
            }
        }
    }

    fn put_queue(&mut self, q: &pb::LinesQueue) {
        if let Some(old) = self.queues.insert(
            q.guid.clone(),
            LineEntry {
                extn: q.extn.clone(),
                name: q.name.clone(),
            },
        ) {
            self.queue_names.remove(&old.name);
        }
        self.queue_names.insert(q.name.clone());
    }

    fn remove_queue(&mut self, guid: &[u8]) {
        if let Some(old) = self.queues.remove(guid) {
            self.queue_names.remove(&old.name);
        }
    }

    #[cfg(test)]
    pub fn assert_consistent(&self) {
        let extns: HashMap<String, Vec<u8>> = self
            .users
            .iter()
            .map(|(g, u)| (u.extn.clone(), g.clone()))
            .collect();
        assert_eq!(self.extns, extns);
    }
}

impl Link {
    pub fn lines(&mut self, t: &mut Translator, lines: &pb::NotifyLines, now: Timestamp) {
        for u in lines.adduser.iter().chain(&lines.changeuser) {
            if let Some(prev_extn) = self.lines.put_user(u) {
                // The agent's identity is its extension: a renumbered user is a new agent.
                if let Some(id) = self.subs.user_sub(&u.guid) {
                    self.end(t, id, "extension changed", now);
                    self.events
                        .push(ConnectionEvent::Core(Event::AgentRemoved(AgentId(
                            prev_extn,
                        ))));
                }
            }
            if self.config.agents.names(&u.extn) {
                self.follow_agent(t, &u.extn, now);
            }
        }
        for u in &lines.deleteuser {
            self.lines.remove_user(&u.guid);
            if let Some(id) = self.subs.user_sub(&u.guid) {
                self.end(t, id, "user deleted", now);
                self.events
                    .push(ConnectionEvent::Core(Event::AgentRemoved(AgentId(
                        u.extn.clone(),
                    ))));
            }
        }
        for q in lines.addqueue.iter().chain(&lines.changequeue) {
            self.lines.put_queue(q);
            let routed = self.config.routed_queues.iter().any(|s| s.matches(q));
            if routed && self.subs.queue_sub(&q.guid).is_none() {
                let target = SubTarget::Queue {
                    queue: QueueId(q.name.clone()),
                    guid: q.guid.clone(),
                };
                self.subscribe(t, target, now);
            }
        }
        for q in &lines.deletequeue {
            self.lines.remove_queue(&q.guid);
            if let Some(id) = self.subs.queue_sub(&q.guid) {
                self.end(t, id, "queue deleted", now);
                self.events
                    .push(ConnectionEvent::Core(Event::QueueRemoved(QueueId(
                        q.name.clone(),
                    ))));
            }
        }
        if !self.lines_ready {
            let unknown = self.config.agents.unknown_to(&self.lines);
            if !unknown.is_empty() {
                // Once per link start: such an agent stays "logged off" for the engine, which
                // looks like an absent agent rather than a wrong extension in the rules.
                tracing::warn!(
                    agents = %unknown.join(", "),
                    "the rules name agents IP Office does not know (no user has these \
                     extensions): they stay logged off for the engine; correct [agents.EXTENSION] \
                     in the rules or add the users in IP Office"
                );
            }
            self.lines_ready = true;
            self.subscribe_unlisted_queues(t, now);
            self.report_subscribed();
        }
    }
}
