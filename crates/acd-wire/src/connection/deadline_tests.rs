//! The link's own deadlines at the level of the whole connection: an unanswered ping or a
//! write that never completes ends the link like a socket error would (the core told, the
//! link reported down, a reconnect and a fresh Lines subscription), and answered pings with
//! written frames keep it up indefinitely.

use super::*;
use crate::framing::Framing;
use crate::pb;
use std::time::Duration;

const T0: Timestamp = Timestamp(1_000_000);

fn at(ms: u64) -> Timestamp {
    T0 + Duration::from_millis(ms)
}

fn config() -> ConnectionConfig {
    ConnectionConfig {
        routed_queues: vec![QueueSelector::Name("Sales".into())],
        ..ConnectionConfig::default()
    }
}

fn events(c: &mut Connection) -> Vec<ConnectionEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// Hands out every frame waiting, as a shell would, and reports them written or not.
fn transmit(c: &mut Connection, written: bool) -> Vec<pb::Message> {
    let frames: Vec<pb::Message> = std::iter::from_fn(|| c.poll_transmit())
        .map(|b| crate::framing::decode(&b, Framing::Framed, 1 << 20).unwrap())
        .collect();
    if written {
        c.handle_written(frames.len());
    }
    frames
}

/// A connection whose websocket opened at `T0` and whose Lines subscription was answered.
fn up(cfg: ConnectionConfig) -> Connection {
    let mut c = Connection::new(cfg, vec!["wss://pbx".into()], 7);
    events(&mut c);
    c.connected(T0);
    events(&mut c);
    let sent = transmit(&mut c, true);
    let Some(pb::message::Payload::Subscribe(lines)) = sent[0].payload.clone() else {
        panic!("no Lines subscription first: {sent:?}");
    };
    let msg = pb::Message {
        payload: Some(pb::message::Payload::Response(pb::RequestResponse {
            requestid: lines.requestid,
            result: 0,
            additional: String::new(),
        })),
    };
    c.handle_frame(T0, &crate::framing::encode(&msg, Framing::Framed));
    c
}

/// Runs the connection's timers up to `until`, answering pings when `answer` says so and
/// reporting every frame written when `written` does; returns every event.
fn run(
    c: &mut Connection,
    until: Timestamp,
    answer: bool,
    written: bool,
) -> Vec<(Timestamp, ConnectionEvent)> {
    let mut seen = Vec::new();
    while let Some(next) = c.poll_timeout().filter(|t| *t <= until) {
        c.handle_timeout(next);
        transmit(c, written);
        for ev in events(c) {
            if matches!(ev, ConnectionEvent::Ping) {
                if written {
                    c.handle_written(1);
                }
                if answer {
                    c.handle_pong(next);
                }
            }
            seen.push((next, ev));
        }
    }
    seen
}

fn lost_at(seen: &[(Timestamp, ConnectionEvent)]) -> Option<(Timestamp, String)> {
    seen.iter().find_map(|(t, ev)| match ev {
        ConnectionEvent::Link(LinkStatus::Disconnected { reason }) => Some((*t, reason.clone())),
        _ => None,
    })
}

#[test]
fn answered_pings_and_written_frames_keep_the_link_up() {
    let mut c = up(config());
    let seen = run(&mut c, at(300_000), true, true);
    let pings = seen
        .iter()
        .filter(|(_, e)| matches!(e, ConnectionEvent::Ping))
        .count();
    assert_eq!(pings, 60, "one ping every 5 s");
    assert_eq!(lost_at(&seen), None);
    assert!(c.is_up());
}

#[test]
fn a_silent_link_is_lost_within_its_bound_and_reconnects() {
    let mut c = up(config());
    let seen = run(&mut c, at(60_000), false, true);
    let (when, why) = lost_at(&seen).expect("a silent link was never declared lost");
    // Pinged at 5 s, unanswered for 8 s.
    assert_eq!(when, at(13_000));
    assert!(why.contains("no answer to a websocket ping"), "{why}");
    let after: Vec<&ConnectionEvent> = seen
        .iter()
        .filter(|(t, _)| *t == when)
        .map(|(_, e)| e)
        .collect();
    assert!(
        matches!(after[0], ConnectionEvent::Close { .. }),
        "the socket is closed first: {after:?}"
    );
    assert!(
        after
            .iter()
            .any(|e| matches!(e, ConnectionEvent::Core(Event::LinkRestarted(_)))),
        "the core holds this system's calls: {after:?}"
    );
    // The usual reconnect follows, and a new websocket subscribes to Lines afresh.
    assert!(
        seen.iter()
            .any(|(t, e)| *t > when && matches!(e, ConnectionEvent::Connect { endpoint: 0 })),
        "no reconnect: {seen:?}"
    );
    c.connected(at(61_000));
    let sent = transmit(&mut c, true);
    assert!(matches!(
        sent[0].payload,
        Some(pb::message::Payload::Subscribe(pb::Subscribe {
            payload: Some(pb::subscribe::Payload::Lines(_)),
            ..
        }))
    ));
}

#[test]
fn traffic_from_a_peer_that_does_not_read_does_not_stand_in_for_a_pong() {
    let mut c = up(config());
    let mut seen = Vec::new();
    for second in 1..=20u64 {
        let now = at(second * 1000);
        // IP Office's side keeps sending (an empty Lines notify), as a stalled proxy can.
        let msg = pb::Message {
            payload: Some(pb::message::Payload::Notify(pb::Notify {
                subscribe_id: 1,
                notify_id: 0,
                label: String::new(),
                payload: Some(pb::notify::Payload::Lines(pb::NotifyLines::default())),
            })),
        };
        c.handle_frame(now, &crate::framing::encode(&msg, Framing::Framed));
        seen.extend(run(&mut c, now, false, true));
    }
    let (when, _) = lost_at(&seen).expect("never lost");
    assert_eq!(when, at(13_000));
}

#[test]
fn a_write_that_never_completes_ends_the_link() {
    let mut c = up(ConnectionConfig {
        ping_interval: None,
        ..config()
    });
    // The Lines subscription at T0 was written; the NotifyAck of the first Lines notify is
    // handed out at 2 s, and the socket never takes it.
    let msg = pb::Message {
        payload: Some(pb::message::Payload::Notify(pb::Notify {
            subscribe_id: 1,
            notify_id: 1,
            label: String::new(),
            payload: Some(pb::notify::Payload::Lines(pb::NotifyLines::default())),
        })),
    };
    c.handle_frame(at(2_000), &crate::framing::encode(&msg, Framing::Framed));
    assert!(!transmit(&mut c, false).is_empty());
    let seen = run(&mut c, at(60_000), true, false);
    let (when, why) = lost_at(&seen).expect("a stuck write was never noticed");
    assert_eq!(when, at(12_000));
    assert!(why.contains("stopped reading"), "{why}");
}

#[test]
fn a_probe_finds_a_dead_link_within_its_own_bound() {
    let mut c = up(config());
    c.probe(at(1_000), Duration::from_secs(1));
    let probe: Vec<_> = events(&mut c);
    assert!(matches!(probe[..], [ConnectionEvent::Ping]), "{probe:?}");
    c.handle_written(1);
    let seen = run(&mut c, at(10_000), false, true);
    let (when, why) = lost_at(&seen).expect("the probe found nothing");
    assert_eq!(when, at(2_000));
    assert!(why.contains("within 1s"), "{why}");

    // A live link answers, and stays up.
    let mut c = up(config());
    c.probe(at(1_000), Duration::from_secs(1));
    events(&mut c);
    c.handle_written(1);
    c.handle_pong(at(1_010));
    assert_eq!(lost_at(&run(&mut c, at(4_000), true, true)), None);
    assert!(c.is_up());
}

#[test]
fn a_dead_link_during_shutdown_stops_without_reconnecting() {
    let mut c = up(config());
    c.shutdown(at(1_000));
    transmit(&mut c, true);
    assert!(!c.is_shut_down(), "waits for the SubscribeEnd's answer");
    c.probe(at(1_000), Duration::from_secs(1));
    events(&mut c);
    let seen = run(&mut c, at(30_000), false, true);
    assert!(c.is_shut_down());
    assert!(
        !seen
            .iter()
            .any(|(_, e)| matches!(e, ConnectionEvent::Connect { .. })),
        "{seen:?}"
    );
}
