//! The session against a local websocket peer playing IP Office: subscription set-up, the
//! notify-ack flow, translation, commands, bad frames, reconnect with resubscribe,
//! SubscribeTerminated and shutdown.

mod wire_support;

use acd::wire::backoff::Backoff;
use acd::wire::connect::Endpoint;
use acd::wire::pb;
use acd::wire::secret::Secret;
use acd::wire::session::{self, LinkStatus, QueueSelector, SessionConfig, SessionEvent};
use acd_core::{CallId, Command, CommandId, CommandKind, CommandOutcome, Event, QueueId, Target};
use pb::message::Payload as P;
use std::time::Duration;
use tokio::sync::mpsc;
use wire_support::*;

fn config(peer: &Peer) -> SessionConfig {
    let mut c = SessionConfig::new(
        vec![Endpoint::parse(&peer.url(false)).unwrap()],
        USER,
        Secret::new(PASSWORD),
    );
    c.protocol.routed_queues = vec![QueueSelector::Name("Sales".into())];
    c.protocol.request_timeout = Duration::from_secs(5);
    c.protocol.backoff = Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
        jitter: 0.5,
    };
    c
}

async fn next_core(rx: &mut mpsc::Receiver<SessionEvent>) -> Event {
    loop {
        let ev = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("no event in time")
            .expect("session ended");
        if let SessionEvent::Core(e, _) = ev {
            return e;
        }
    }
}

async fn next_link(rx: &mut mpsc::Receiver<SessionEvent>) -> LinkStatus {
    loop {
        let ev = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("no event in time")
            .expect("session ended");
        if let SessionEvent::Link(l) = ev {
            return l;
        }
    }
}

fn expect_ack(msg: &pb::Message, subscribe_id: i32, notify_id: i32) {
    assert_eq!(
        payload_of(msg),
        &P::Notifyack(pb::NotifyAck {
            subscribe_id,
            notify_id
        }),
        "expected NotifyAck"
    );
}

struct Subs {
    lines: i32,
    queue: i32,
    user: i32,
}

/// IP Office's side of a fresh connection: Lines, the Sales queue (members 201), user 201.
async fn set_up(conn: &mut PeerConn, first_notify_id: i32) -> Subs {
    let lines = conn.expect_subscribe(0).await;
    assert!(matches!(
        lines.payload,
        Some(pb::subscribe::Payload::Lines(pb::SubscribeLines {
            flags: 3
        }))
    ));
    conn.send(notify(lines.subscribe_id, first_notify_id, lines_list()));
    expect_ack(&conn.recv().await, lines.subscribe_id, first_notify_id);

    let queue = conn.expect_subscribe(0).await;
    let Some(pb::subscribe::Payload::Queue(q)) = &queue.payload else {
        panic!("{queue:?}")
    };
    assert_eq!(q.guid, vec![0xb1; 16]);
    assert_eq!(q.ccflags, 0x4004_00E1);
    assert_eq!(q.flags, 2);
    conn.send(notify(
        queue.subscribe_id,
        first_notify_id + 1,
        pb::notify::Payload::Queue(pb::NotifyQueue {
            extn: "300".into(),
            name: "Sales".into(),
            servicemode: 1,
            queuemembers: Some(pb::QueueMembers {
                member: vec![pb::QueueMember {
                    extn: "201".into(),
                    disabled: false,
                }],
            }),
            ..Default::default()
        }),
    ));
    expect_ack(&conn.recv().await, queue.subscribe_id, first_notify_id + 1);

    let user = conn.expect_subscribe(0).await;
    let Some(pb::subscribe::Payload::User(u)) = &user.payload else {
        panic!("{user:?}")
    };
    assert_eq!(u.guid, vec![0xa1; 16]);
    assert_eq!(u.ccflags, 0x99);
    Subs {
        lines: lines.subscribe_id,
        queue: queue.subscribe_id,
        user: user.subscribe_id,
    }
}

#[tokio::test]
async fn subscribes_acks_translates_and_sends_commands() {
    let mut peer = Peer::start(PeerOptions::default()).await;
    let (handle, mut rx) = session::spawn(config(&peer));
    let mut conn = peer.accept().await;
    let subs = set_up(&mut conn, 1).await;

    // Every connect starts with LinkRestarted: the core holds its calls until reported again.
    assert!(matches!(next_core(&mut rx).await, Event::LinkRestarted(_)));
    let Event::QueueChanged(q) = next_core(&mut rx).await else {
        panic!()
    };
    assert_eq!((q.queue.0.as_str(), q.extension.as_str()), ("Sales", "300"));
    assert!(q.members[0].enabled);

    // A notify for an unknown subscription is acked but ignored; so is one without payload.
    conn.send(notify(999, 5, lines_list()));
    expect_ack(&conn.recv().await, 999, 5);
    conn.send(pb::Message {
        payload: Some(P::Notify(pb::Notify {
            subscribe_id: subs.queue,
            notify_id: 3,
            ..Default::default()
        })),
    });
    expect_ack(&conn.recv().await, subs.queue, 3);

    // A bad frame is counted and skipped; the session goes on.
    conn.send_raw(vec![0, 0, 0, 9, 1, 2, 3]);
    conn.send_raw(vec![0, 0]);

    // IP Office numbers each subscription's notifies 1, 2, 3…: the queue's next is 4.
    conn.send(notify(subs.queue, 4, queued_call(4, b"gcid-1")));
    expect_ack(&conn.recv().await, subs.queue, 4);
    let Event::CallQueued(call) = next_core(&mut rx).await else {
        panic!()
    };
    assert_eq!(call.queue, QueueId::from("Sales"));
    let Event::QueueSnapshotCalls { calls, .. } = next_core(&mut rx).await else {
        panic!()
    };
    assert_eq!(calls, vec![call.call]);

    // Transfer goes to the queue subscription with the queue's callid; the result comes back.
    handle
        .send(Command {
            id: CommandId(77),
            kind: CommandKind::Transfer {
                call: call.call,
                target: Target::External("2001".into()),
                dial: "2001".into(),
            },
        })
        .await
        .unwrap();
    let msg = conn.recv().await;
    let P::Subscribecmd(cmd) = payload_of(&msg) else {
        panic!("{msg:?}")
    };
    assert_eq!(cmd.subscribe_id, subs.queue);
    let Some(pb::subscribe_cmd::Payload::Callcontrol(cc)) = &cmd.payload else {
        panic!()
    };
    assert_eq!(cc.callid, 4);
    let f = cc.callfunction.as_ref().unwrap();
    assert_eq!((f.action, f.arg1.as_str()), (5, "2001"));
    conn.send(response(cmd.requestid, 612));
    let ev = next_core(&mut rx).await;
    assert!(
        matches!(
            ev,
            Event::CommandResult {
                id: CommandId(77),
                outcome: CommandOutcome::Failed(612)
            }
        ),
        "{ev:?}"
    );

    // Unknown calls fail at once with CALLNOTFOUND, nothing is sent.
    handle
        .send(Command {
            id: CommandId(78),
            kind: CommandKind::Drop { call: CallId(999) },
        })
        .await
        .unwrap();
    assert!(matches!(
        next_core(&mut rx).await,
        Event::CommandResult {
            id: CommandId(78),
            outcome: CommandOutcome::Failed(602)
        }
    ));

    // Shutdown ends every subscription, Lines last.
    let shutdown = tokio::spawn(handle.shutdown());
    let mut ended = Vec::new();
    for _ in 0..3 {
        let msg = conn.recv().await;
        let P::Subscribeend(e) = payload_of(&msg) else {
            panic!("{msg:?}")
        };
        ended.push(e.subscribe_id);
    }
    assert_eq!(ended.last(), Some(&subs.lines));
    ended.sort_unstable();
    let mut expected = vec![subs.lines, subs.queue, subs.user];
    expected.sort_unstable();
    assert_eq!(ended, expected);
    shutdown.await.unwrap();
}

#[tokio::test]
async fn command_without_response_times_out_as_5001() {
    let mut peer = Peer::start(PeerOptions::default()).await;
    let mut cfg = config(&peer);
    cfg.protocol.request_timeout = Duration::from_millis(300);
    let (handle, mut rx) = session::spawn(cfg);
    let mut conn = peer.accept().await;
    let subs = set_up(&mut conn, 1).await;
    let _ = next_core(&mut rx).await; // LinkRestarted
    handle
        .send(Command {
            id: CommandId(5),
            kind: CommandKind::SetServiceMode {
                queue: QueueId::from("Sales"),
                mode: acd_core::ServiceMode::NightService,
            },
        })
        .await
        .unwrap();
    let msg = conn.recv().await;
    let P::Subscribecmd(cmd) = payload_of(&msg) else {
        panic!("{msg:?}")
    };
    assert_eq!(cmd.subscribe_id, subs.queue);
    loop {
        if let Event::CommandResult { id, outcome } = next_core(&mut rx).await {
            assert_eq!(id, CommandId(5));
            assert_eq!(outcome, CommandOutcome::Failed(5001));
            break;
        }
    }
}

#[tokio::test]
async fn commands_lost_with_the_connection_are_reported_as_5001() {
    let mut peer = Peer::start(PeerOptions::default()).await;
    let mut cfg = config(&peer);
    // Long enough that only the lost connection can explain a prompt answer.
    cfg.protocol.request_timeout = Duration::from_secs(600);
    let (handle, mut rx) = session::spawn(cfg);
    let mut conn = peer.accept().await;
    let _subs = set_up(&mut conn, 1).await;
    handle
        .send(Command {
            id: CommandId(9),
            kind: CommandKind::SetServiceMode {
                queue: QueueId::from("Sales"),
                mode: acd_core::ServiceMode::NightService,
            },
        })
        .await
        .unwrap();
    let msg = conn.recv().await;
    assert!(matches!(payload_of(&msg), P::Subscribecmd(_)), "{msg:?}");
    conn.drop_connection();
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let SessionEvent::Core(Event::CommandResult { id, outcome }, _) =
                rx.recv().await.expect("session ended")
            {
                assert_eq!(id, CommandId(9));
                return outcome;
            }
        }
    })
    .await
    .expect("no result for the command lost with the connection");
    assert_eq!(outcome, CommandOutcome::Failed(5001));
}

#[tokio::test]
async fn reconnects_and_resubscribes_after_the_server_drops_the_connection() {
    let mut peer = Peer::start(PeerOptions::default()).await;
    let (_handle, mut rx) = session::spawn(config(&peer));
    let mut conn = peer.accept().await;
    let subs = set_up(&mut conn, 1).await;
    conn.send(notify(subs.queue, 3, queued_call(4, b"gcid-1")));
    expect_ack(&conn.recv().await, subs.queue, 3);
    let mut first_call = None;
    while first_call.is_none() {
        if let Event::CallQueued(c) = next_core(&mut rx).await {
            first_call = Some(c.call);
        }
    }

    conn.drop_connection();
    loop {
        if let LinkStatus::Disconnected { .. } = next_link(&mut rx).await {
            break;
        }
    }
    // Everything is subscribed again on the new connection.
    let mut conn = peer.accept().await;
    let subs = set_up(&mut conn, 1).await;
    // The first snapshot is the truth: the call is still there, under the same CallId.
    conn.send(notify(subs.queue, 3, queued_call(8, b"gcid-1")));
    expect_ack(&conn.recv().await, subs.queue, 3);
    loop {
        match next_core(&mut rx).await {
            Event::QueueSnapshotCalls { calls, .. } => {
                assert_eq!(calls, vec![first_call.unwrap()]);
                break;
            }
            Event::CallQueued(c) => assert_eq!(Some(c.call), first_call),
            _ => {}
        }
    }
}

#[tokio::test]
async fn empty_queue_after_resubscribe_gives_an_empty_snapshot() {
    let mut peer = Peer::start(PeerOptions::default()).await;
    let (_handle, mut rx) = session::spawn(config(&peer));
    let mut conn = peer.accept().await;
    let subs = set_up(&mut conn, 1).await;
    conn.send(response(0, 0)); // stray response: ignored
    let _ = subs;
    // No call notify at all: after the settle time the queue is known to be empty.
    loop {
        if let Event::QueueSnapshotCalls { queue, calls, .. } = next_core(&mut rx).await {
            assert_eq!(queue, QueueId::from("Sales"));
            assert!(calls.is_empty());
            break;
        }
    }
}

#[tokio::test]
async fn subscribe_terminated_is_answered_by_subscribing_again() {
    let mut peer = Peer::start(PeerOptions::default()).await;
    let (_handle, mut rx) = session::spawn(config(&peer));
    let mut conn = peer.accept().await;
    let subs = set_up(&mut conn, 1).await;
    conn.send(pb::Message {
        payload: Some(P::Subscribeterminated(pb::SubscribeTerminated {
            subscribe_id: subs.queue,
            reason: String::new(),
        })),
    });
    let again = conn.expect_subscribe(0).await;
    assert_ne!(again.subscribe_id, subs.queue);
    let Some(pb::subscribe::Payload::Queue(q)) = &again.payload else {
        panic!("{again:?}")
    };
    assert_eq!(q.guid, vec![0xb1; 16]);
    // The new subscription's notifies are understood and acked.
    conn.send(notify(again.subscribe_id, 1, queued_call(2, b"g")));
    expect_ack(&conn.recv().await, again.subscribe_id, 1);
    loop {
        if let Event::CallQueued(c) = next_core(&mut rx).await {
            assert_eq!(c.queue, QueueId::from("Sales"));
            break;
        }
    }
}

#[tokio::test]
async fn subscriptions_are_refreshed_before_they_expire() {
    let mut peer = Peer::start(PeerOptions::default()).await;
    let mut cfg = config(&peer);
    cfg.protocol.subscription_timeout = Some(Duration::from_secs(1));
    let (_handle, _rx) = session::spawn(cfg);
    let mut conn = peer.accept().await;
    let lines = conn.expect_subscribe(0).await;
    assert_eq!(lines.timeout, 1);
    // At ~80 % of the timeout: the same subscribe_id, only a new timeout.
    let refresh = conn.expect_subscribe(0).await;
    assert_eq!(refresh.subscribe_id, lines.subscribe_id);
    assert_eq!(refresh.timeout, 1);
    assert!(refresh.payload.is_none());
}

#[tokio::test]
async fn fails_over_to_the_secondary_when_the_primary_is_down() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut secondary = Peer::start(PeerOptions::default()).await;
    let mut cfg = config(&secondary);
    cfg.endpoints.insert(
        0,
        Endpoint::parse(&format!("ws://127.0.0.1:{port}")).unwrap(),
    );
    let (_handle, mut rx) = session::spawn(cfg);
    let mut conn = secondary.accept().await;
    set_up(&mut conn, 1).await;
    loop {
        if let LinkStatus::Connected { endpoint } = next_link(&mut rx).await {
            assert_eq!(endpoint, secondary.url(false));
            break;
        }
    }
}
