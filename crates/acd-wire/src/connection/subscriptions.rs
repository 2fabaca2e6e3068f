//! The subscriptions of one websocket connection, with the indexes the session asks of them
//! on every Lines change and every response (is this extension followed? which subscription
//! is this user's or this queue's? how many users and queues are subscribed?). Kept in one
//! place so the indexes can only change together with the map they index.

use acd_core::{AgentId, QueueId, Timestamp};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SubTarget {
    Lines,
    Queue { queue: QueueId, guid: Vec<u8> },
    User { agent: AgentId, guid: Vec<u8> },
}

#[derive(Debug)]
pub(crate) struct Subscription {
    pub target: SubTarget,
    pub confirmed: bool,
    pub refresh_at: Option<Timestamp>,
    pub snapshot_at: Option<Timestamp>,
    /// The last notify id seen, to notice a gap (a notify IP Office sent that never came).
    pub last_notify: Option<i32>,
}

impl Subscription {
    pub fn new(target: SubTarget) -> Subscription {
        Subscription {
            target,
            confirmed: false,
            refresh_at: None,
            snapshot_at: None,
            last_notify: None,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    subs: HashMap<i32, Subscription>,
    /// Extension -> how many user subscriptions follow it (one, in practice).
    followed: HashMap<String, usize>,
    by_user_guid: HashMap<Vec<u8>, i32>,
    by_queue_guid: HashMap<Vec<u8>, i32>,
    by_queue_name: HashMap<String, i32>,
    users: usize,
    queues: usize,
}

impl Subscriptions {
    pub fn get(&self, id: i32) -> Option<&Subscription> {
        self.subs.get(&id)
    }

    pub fn get_mut(&mut self, id: i32) -> Option<&mut Subscription> {
        self.subs.get_mut(&id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&i32, &Subscription)> {
        self.subs.iter()
    }

    pub fn counts(&self) -> (usize, usize) {
        (self.users, self.queues)
    }

    pub fn follows(&self, extn: &str) -> bool {
        self.followed.contains_key(extn)
    }

    pub fn user_sub(&self, guid: &[u8]) -> Option<i32> {
        self.by_user_guid.get(guid).copied()
    }

    pub fn queue_sub(&self, guid: &[u8]) -> Option<i32> {
        self.by_queue_guid.get(guid).copied()
    }

    pub fn queue_sub_named(&self, name: &str) -> Option<i32> {
        self.by_queue_name.get(name).copied()
    }

    pub fn insert(&mut self, id: i32, sub: Subscription) {
        match &sub.target {
            SubTarget::Lines => {}
            SubTarget::Queue { queue, guid } => {
                self.queues += 1;
                if !guid.is_empty() {
                    self.by_queue_guid.insert(guid.clone(), id);
                }
                self.by_queue_name.insert(queue.0.clone(), id);
            }
            SubTarget::User { agent, guid } => {
                self.users += 1;
                *self.followed.entry(agent.0.clone()).or_default() += 1;
                self.by_user_guid.insert(guid.clone(), id);
            }
        }
        if let Some(old) = self.subs.insert(id, sub) {
            self.forget(id, &old);
        }
    }

    pub fn remove(&mut self, id: i32) -> Option<Subscription> {
        let sub = self.subs.remove(&id)?;
        self.forget(id, &sub);
        Some(sub)
    }

    pub fn clear(&mut self) {
        *self = Subscriptions::default();
    }

    fn forget(&mut self, id: i32, sub: &Subscription) {
        match &sub.target {
            SubTarget::Lines => {}
            SubTarget::Queue { queue, guid } => {
                self.queues -= 1;
                if self.by_queue_guid.get(guid) == Some(&id) {
                    self.by_queue_guid.remove(guid);
                }
                if self.by_queue_name.get(&queue.0) == Some(&id) {
                    self.by_queue_name.remove(&queue.0);
                }
            }
            SubTarget::User { agent, guid } => {
                self.users -= 1;
                if let Some(n) = self.followed.get_mut(&agent.0) {
                    *n -= 1;
                    if *n == 0 {
                        self.followed.remove(&agent.0);
                    }
                }
                if self.by_user_guid.get(guid) == Some(&id) {
                    self.by_user_guid.remove(guid);
                }
            }
        }
    }

    /// The indexes agree with a scan of the map (tests call this after every change).
    #[cfg(test)]
    pub fn assert_consistent(&self) {
        let mut followed: HashMap<String, usize> = HashMap::new();
        let (mut users, mut queues) = (0, 0);
        for (id, s) in &self.subs {
            match &s.target {
                SubTarget::User { agent, guid } => {
                    users += 1;
                    *followed.entry(agent.0.clone()).or_default() += 1;
                    assert_eq!(self.by_user_guid.get(guid), Some(id));
                }
                SubTarget::Queue { queue, .. } => {
                    queues += 1;
                    assert_eq!(self.by_queue_name.get(&queue.0), Some(id));
                }
                SubTarget::Lines => {}
            }
        }
        assert_eq!((self.users, self.queues), (users, queues));
        assert_eq!(self.followed, followed);
        assert_eq!(self.by_user_guid.len(), users);
    }
}
