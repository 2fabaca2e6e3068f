//! The deadlines on one websocket itself, apart from any request: a websocket ping every
//! `ping_interval`, answered within `pong_timeout`, and every frame handed to the caller
//! written to the socket within `write_timeout`. They exist because TCP alone can keep a dead
//! link looking alive for minutes: a silent link (nothing moves, nothing fails) and a peer that
//! stopped reading (a stalled TLS proxy: it may even go on sending) both leave the protocol
//! waiting forever, and the engine saying "subscribed" while callers abandon.
//!
//! Inbound traffic does not stand in for a pong: a peer that stopped reading our side may still
//! be sending its own, so only the answer to our ping proves that what we send arrives.

use super::config::ConnectionConfig;
use acd_core::Timestamp;
use std::collections::VecDeque;
use std::time::Duration;

/// What the keepalive wants done now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeepaliveDue {
    /// Send a websocket ping (and report it written like a frame).
    Ping,
    /// The link is dead, for this reason.
    Dead(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Keepalive {
    ping_interval: Option<Duration>,
    pong_timeout: Duration,
    write_timeout: Option<Duration>,
    next_ping: Option<Timestamp>,
    /// When the ping in flight must have been answered.
    pong_due: Option<Timestamp>,
    /// Why `pong_due` is what it is (a shutdown's probe is shorter than the usual timeout).
    pong_wait: Duration,
    /// The write deadline of each frame (or ping) handed out and not yet reported written,
    /// oldest first.
    unwritten: VecDeque<Timestamp>,
    /// How long the oldest unwritten frame may take, for the reason given when it is late.
    write_wait: Duration,
}

impl Keepalive {
    /// The keepalive of a websocket that opened at `now`.
    pub fn new(config: &ConnectionConfig, now: Timestamp) -> Keepalive {
        Keepalive {
            ping_interval: config.ping_interval,
            pong_timeout: config.pong_timeout,
            write_timeout: config.write_timeout,
            next_ping: config.ping_interval.map(|i| now + i),
            pong_due: None,
            pong_wait: config.pong_timeout,
            unwritten: VecDeque::new(),
            write_wait: config.write_timeout.unwrap_or_default(),
        }
    }

    /// A frame (or ping) was handed to the caller at `now`.
    pub fn handed_out(&mut self, now: Timestamp) {
        if let Some(limit) = self.write_timeout {
            self.unwritten.push_back(now + limit);
        }
    }

    /// The caller wrote this many of the frames (and pings) handed out, oldest first.
    pub fn written(&mut self, count: usize) {
        let count = count.min(self.unwritten.len());
        self.unwritten.drain(..count);
        if self.unwritten.is_empty() {
            self.write_wait = self.write_timeout.unwrap_or_default();
        }
    }

    /// The peer answered a ping.
    pub fn pong(&mut self) {
        self.pong_due = None;
        self.pong_wait = self.pong_timeout;
    }

    /// Checks the link at once: a ping now (unless one is in flight) that must be answered, and
    /// every frame handed out so far written, within `within` (a shutdown that cannot wait for a
    /// dead link's usual timeouts). Returns whether a ping is to be sent.
    pub fn probe(&mut self, now: Timestamp, within: Duration) -> bool {
        let by = now + within;
        for deadline in self.unwritten.iter_mut() {
            if *deadline > by {
                *deadline = by;
                self.write_wait = within;
            }
        }
        match self.pong_due {
            Some(due) => {
                if due > by {
                    self.pong_due = Some(by);
                    self.pong_wait = within;
                }
                false
            }
            None => {
                self.pong_due = Some(by);
                self.pong_wait = within;
                self.handed_out(now);
                true
            }
        }
    }

    /// What is due at `now`, if anything. A ping returned here counts as handed out.
    pub fn due(&mut self, now: Timestamp) -> Option<KeepaliveDue> {
        if self.unwritten.front().is_some_and(|d| *d <= now) {
            return Some(KeepaliveDue::Dead(format!(
                "IP Office has not taken the engine's data for {}: it stopped reading (a \
                 stalled link or proxy)",
                in_words(self.write_wait)
            )));
        }
        if self.pong_due.is_some_and(|d| d <= now) {
            return Some(KeepaliveDue::Dead(format!(
                "no answer to a websocket ping from IP Office within {}: the link is silent \
                 or dead",
                in_words(self.pong_wait)
            )));
        }
        let interval = self.ping_interval?;
        if self.pong_due.is_none() && self.next_ping.is_some_and(|p| p <= now) {
            self.next_ping = Some(now + interval);
            self.pong_due = Some(now + self.pong_timeout);
            self.pong_wait = self.pong_timeout;
            self.handed_out(now);
            return Some(KeepaliveDue::Ping);
        }
        None
    }

    /// When `due` has something to say next.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let ping = self.next_ping.filter(|_| self.pong_due.is_none());
        [self.unwritten.front().copied(), self.pong_due, ping]
            .into_iter()
            .flatten()
            .min()
    }
}

/// `8s`, or `500ms` below a second, as the config file writes them.
fn in_words(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp(1_000);

    fn config(ping: Option<u64>, pong: u64, write: Option<u64>) -> ConnectionConfig {
        ConnectionConfig {
            ping_interval: ping.map(Duration::from_secs),
            pong_timeout: Duration::from_secs(pong),
            write_timeout: write.map(Duration::from_secs),
            ..ConnectionConfig::default()
        }
    }

    fn at(secs: u64) -> Timestamp {
        T0 + Duration::from_secs(secs)
    }

    #[test]
    fn pings_every_interval_while_answered() {
        let mut k = Keepalive::new(&config(Some(5), 8, None), T0);
        assert_eq!(k.next_deadline(), Some(at(5)));
        assert_eq!(k.due(at(4)), None);
        assert_eq!(k.due(at(5)), Some(KeepaliveDue::Ping));
        // Only one ping in flight: the next waits for its answer.
        assert_eq!(k.next_deadline(), Some(at(13)));
        k.pong();
        assert_eq!(k.next_deadline(), Some(at(10)));
        assert_eq!(k.due(at(10)), Some(KeepaliveDue::Ping));
    }

    #[test]
    fn an_unanswered_ping_is_a_dead_link_whatever_else_arrives() {
        let mut k = Keepalive::new(&config(Some(5), 8, None), T0);
        assert_eq!(k.due(at(5)), Some(KeepaliveDue::Ping));
        assert_eq!(k.due(at(12)), None);
        let Some(KeepaliveDue::Dead(why)) = k.due(at(13)) else {
            panic!("not dead at the pong deadline");
        };
        assert!(why.contains("within 8s"), "{why}");
    }

    #[test]
    fn a_write_not_done_in_time_is_a_dead_link() {
        let mut k = Keepalive::new(&config(None, 8, Some(10)), T0);
        k.handed_out(at(0));
        k.handed_out(at(3));
        assert_eq!(k.next_deadline(), Some(at(10)));
        k.written(1);
        assert_eq!(k.next_deadline(), Some(at(13)));
        assert_eq!(k.due(at(12)), None);
        let Some(KeepaliveDue::Dead(why)) = k.due(at(13)) else {
            panic!("not dead at the write deadline");
        };
        assert!(why.contains("stopped reading"), "{why}");
        k.written(5);
        assert_eq!(k.due(at(100)), None);
        assert_eq!(k.next_deadline(), None);
    }

    #[test]
    fn a_probe_shortens_every_wait() {
        let mut k = Keepalive::new(&config(Some(5), 8, Some(10)), T0);
        k.handed_out(at(0));
        assert!(k.probe(at(1), Duration::from_secs(1)));
        assert_eq!(k.next_deadline(), Some(at(2)));
        let Some(KeepaliveDue::Dead(why)) = k.due(at(2)) else {
            panic!("the probe's deadline passed unnoticed");
        };
        assert!(why.contains("for 1s"), "{why}");
        // A ping in flight is not sent twice; its deadline is brought forward.
        let mut k = Keepalive::new(&config(Some(5), 8, None), T0);
        assert_eq!(k.due(at(5)), Some(KeepaliveDue::Ping));
        assert!(!k.probe(at(6), Duration::from_secs(1)));
        assert_eq!(k.next_deadline(), Some(at(7)));
        k.pong();
        assert_eq!(k.due(at(7)), None);
    }

    #[test]
    fn off_means_never() {
        let mut k = Keepalive::new(&config(None, 8, None), T0);
        k.handed_out(T0);
        assert_eq!(k.next_deadline(), None);
        assert_eq!(k.due(at(1_000_000)), None);
    }
}
