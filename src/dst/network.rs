//! The network between the simulated IP Office and the engine, in virtual time. It carries the
//! very bytes each side produced and decides when each frame arrives: frames of one lane keep
//! their order (one subscription's notifies, the engine's requests), lanes are delayed apart,
//! so IP Office's user notifies can come seconds after its queue notifies or the reverse, and
//! a response can trail behind. A dropped connection loses everything still on the way.

use acd_core::Timestamp;
use acd_wire::framing::{self, Framing};
use acd_wire::pb;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    ToEngine,
    ToPbx,
}

/// Which ordered stream a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    UserSub(i32),
    QueueSub(i32),
    OtherSub(i32),
    Responses,
    Engine,
}

/// How late each kind of frame may arrive (upper bounds of uniform draws), in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delays {
    pub user_notify_ms: u64,
    pub queue_notify_ms: u64,
    pub response_ms: u64,
    pub engine_ms: u64,
}

impl Delays {
    pub fn max(&self) -> u64 {
        self.user_notify_ms
            .max(self.queue_notify_ms)
            .max(self.response_ms)
            .max(self.engine_ms)
    }
}

pub struct Network {
    in_flight: BTreeMap<(Timestamp, u64), (Direction, Vec<u8>)>,
    seq: u64,
    /// The latest arrival scheduled per lane, so a lane never reorders.
    lane_tail: HashMap<Lane, Timestamp>,
    /// Which subscription ids the engine opened for users and queues (from its Subscribes).
    kinds: HashMap<i32, Lane>,
    /// Responses still to lose (each becomes a request timeout on the engine's side).
    pub lose_responses: u32,
    pub delays: Delays,
}

impl Network {
    pub fn new(delays: Delays) -> Network {
        Network {
            in_flight: BTreeMap::new(),
            seq: 0,
            lane_tail: HashMap::new(),
            kinds: HashMap::new(),
            lose_responses: 0,
            delays,
        }
    }

    /// The connection dropped: whatever was on the way is gone.
    pub fn reset(&mut self) {
        self.in_flight.clear();
        self.lane_tail.clear();
        self.kinds.clear();
    }

    pub fn next_arrival(&self) -> Option<Timestamp> {
        self.in_flight.keys().next().map(|(t, _)| *t)
    }

    pub fn pop_due(&mut self, now: Timestamp) -> Option<(Direction, Vec<u8>)> {
        let key = *self.in_flight.keys().next()?;
        if key.0 > now {
            return None;
        }
        self.in_flight.remove(&key)
    }

    /// When the next frame in one direction arrives.
    pub fn next_arrival_toward(&self, dir: Direction) -> Option<Timestamp> {
        self.in_flight
            .iter()
            .find(|(_, (d, _))| *d == dir)
            .map(|(k, _)| k.0)
    }

    /// The next frame due in one direction only: a paused engine's frames already on the way
    /// still arrive (the kernel and the network carry what a process wrote, whatever the
    /// process does next), while frames for it wait until it runs.
    pub fn pop_due_toward(&mut self, now: Timestamp, dir: Direction) -> Option<Vec<u8>> {
        let key = self
            .in_flight
            .iter()
            .take_while(|(k, _)| k.0 <= now)
            .find(|(_, (d, _))| *d == dir)
            .map(|(k, _)| *k)?;
        self.in_flight.remove(&key).map(|(_, bytes)| bytes)
    }

    /// Schedules a frame; `draw(max)` gives a delay in `0..=max` from the simulation's seeded
    /// random stream.
    pub fn send(
        &mut self,
        now: Timestamp,
        dir: Direction,
        bytes: Vec<u8>,
        draw: &mut impl FnMut(u64) -> u64,
    ) {
        let decoded = framing::decode(&bytes, Framing::Framed, usize::MAX).ok();
        let lane = match dir {
            Direction::ToPbx => {
                if let Some(pb::Message {
                    payload: Some(pb::message::Payload::Subscribe(s)),
                }) = &decoded
                {
                    match &s.payload {
                        Some(pb::subscribe::Payload::User(_)) => {
                            self.kinds
                                .insert(s.subscribe_id, Lane::UserSub(s.subscribe_id));
                        }
                        Some(pb::subscribe::Payload::Queue(_)) => {
                            self.kinds
                                .insert(s.subscribe_id, Lane::QueueSub(s.subscribe_id));
                        }
                        _ => {}
                    }
                }
                Lane::Engine
            }
            Direction::ToEngine => match decoded.as_ref().and_then(|m| m.payload.as_ref()) {
                Some(pb::message::Payload::Notify(n)) => self.lane_of(n.subscribe_id),
                Some(pb::message::Payload::Subscribeterminated(t)) => self.lane_of(t.subscribe_id),
                Some(pb::message::Payload::Response(_)) => {
                    if self.lose_responses > 0 {
                        self.lose_responses -= 1;
                        return;
                    }
                    Lane::Responses
                }
                _ => Lane::Responses,
            },
        };
        let max = match lane {
            Lane::UserSub(_) => self.delays.user_notify_ms,
            Lane::QueueSub(_) => self.delays.queue_notify_ms,
            Lane::OtherSub(_) | Lane::Responses => self.delays.response_ms,
            Lane::Engine => self.delays.engine_ms,
        };
        let mut at = now.plus(draw(max));
        if let Some(tail) = self.lane_tail.get(&lane) {
            at = at.max(*tail);
        }
        self.lane_tail.insert(lane, at);
        self.seq += 1;
        self.in_flight.insert((at, self.seq), (dir, bytes));
    }

    fn lane_of(&self, subscribe_id: i32) -> Lane {
        self.kinds
            .get(&subscribe_id)
            .copied()
            .unwrap_or(Lane::OtherSub(subscribe_id))
    }
}
