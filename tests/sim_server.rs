//! Drives the simulator's MT-CTI3 server through its socket with the engine's wire layer
//! (`acd::wire::connect` and `acd::wire::framing`) at the protocol level: the handshake,
//! subscriptions, NotifyAck gating, the ephemeral flag, commands with their result codes, and
//! every fault. What the engine's session makes of the same behaviours is in `sim_session.rs`.

mod sim_support;

use std::time::Duration;

use acd::sim::server::{TlsMode, MAX_CONNECTIONS};
use acd::wire::connect::ConnectError;
use acd::wire::framing::{self, FrameError, Framing, DEFAULT_MAX_FRAME_BYTES};
use acd::wire::pb;
use acd::wire::result_code::ResultCode;
use acd::wire::tls::{Fingerprint, TlsOptions};
use pb::message::Payload as P;
use sim_support::*;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The engine's connector always sends credentials and the `openapi` subprotocol on a known
/// path, so the refusals of requests it never makes are checked with a bare upgrade.
async fn bare_upgrade_status(
    addr: std::net::SocketAddr,
    url: &str,
    auth: Option<&str>,
    subprotocol: bool,
) -> u16 {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = url.into_client_request().unwrap();
    if let Some(token) = auth {
        req.headers_mut().insert(
            "Authorization",
            HeaderValue::from_str(&format!("Basic {token}")).unwrap(),
        );
    }
    if subprotocol {
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("openapi"),
        );
    }
    match tokio_tungstenite::client_async(req, tcp).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn handshake_checks_credentials_path_subprotocol_and_connection_limit() {
    let h = start_with(SCENARIO, |c| c.max_connections = 2).await;
    let plain = TlsOptions::default();
    for (user, password) in [("acd", "wrong"), ("nobody", "secret"), ("", "")] {
        let e = open(&h, Framing::Framed, user, password, &plain)
            .await
            .err()
            .unwrap();
        assert!(matches!(e, ConnectError::Unauthorized), "{user}: {e}");
    }
    // "acd:secret", but no subprotocol; then no credentials at all; then an unknown service.
    let good = "YWNkOnNlY3JldA==";
    let url = h.url(Framing::Framed);
    assert_eq!(
        bare_upgrade_status(h.local_addr(), &url, Some(good), false).await,
        400
    );
    assert_eq!(
        bare_upgrade_status(h.local_addr(), &url, None, true).await,
        401
    );
    let other = format!("ws://{}/tpkt/other", h.local_addr());
    assert_eq!(
        bare_upgrade_status(h.local_addr(), &other, Some(good), true).await,
        404
    );

    // Both services accept the engine; a connection beyond the limit is refused with 503.
    let first = open(&h, Framing::Framed, USER, PASSWORD, &plain)
        .await
        .unwrap();
    let _second = open(&h, Framing::Unframed, USER, PASSWORD, &plain)
        .await
        .unwrap();
    let e = open(&h, Framing::Framed, USER, PASSWORD, &plain)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(e, ConnectError::Unavailable { status: 503 }),
        "an 11th (here: 3rd) connection is refused: {e}"
    );
    drop(first);
    eventually("the closed connection frees its slot", || {
        h.connections() < 2
    })
    .await;
    assert!(open(&h, Framing::Framed, USER, PASSWORD, &plain)
        .await
        .is_ok());
    assert_eq!(MAX_CONNECTIONS, 10, "IP Office's own limit is the default");
    h.shutdown().await;
}

#[tokio::test]
async fn unframed_path_and_lines_subscription_with_changes() {
    let h = start().await;
    let mut c = Probe::connect_with(&h, Framing::Unframed, &TlsOptions::default()).await;
    let lines = |flags| pb::subscribe::Payload::Lines(pb::SubscribeLines { flags });
    assert_eq!(c.subscribe(5, 3600, lines(3)).await, 0);
    let n = c.notify(5).await;
    c.ack(&n).await;
    let Some(pb::notify::Payload::Lines(l)) = n.payload else {
        panic!("expected lines")
    };
    assert_eq!(l.adduser.len(), 3);
    assert_eq!(l.addqueue.len(), 2);
    let sales_guid = l
        .addqueue
        .iter()
        .find(|q| q.name == "Sales")
        .unwrap()
        .guid
        .clone();
    assert_eq!(sales_guid.len(), 16);
    // Only one Lines subscription per connection: TOOMANY.
    assert_eq!(c.subscribe(6, 0, lines(1)).await, 5);

    let spec: acd::sim::scenario::UserSpec =
        toml::from_str("extn = \"2004\"\nname = \"Dora\"").unwrap();
    h.with_model(|m| m.add_user(&spec)).unwrap();
    let n = c.notify(5).await;
    c.ack(&n).await;
    let Some(pb::notify::Payload::Lines(l)) = n.payload else {
        panic!("expected lines")
    };
    assert_eq!(l.adduser.len(), 1);
    assert_eq!(l.adduser[0].extn, "2004");

    // A queue by GUID with its member list; deleting the queue terminates the subscription
    // and removes it from Lines.
    let code = c
        .subscribe(
            7,
            0,
            pb::subscribe::Payload::Queue(pb::SubscribeQueue {
                guid: sales_guid,
                flags: 2,
                ccflags: PRIMARY,
                name: String::new(),
            }),
        )
        .await;
    assert_eq!(code, 0);
    let n = c.notify(7).await;
    c.ack(&n).await;
    let Some(pb::notify::Payload::Queue(q)) = n.payload else {
        panic!("expected queue")
    };
    assert_eq!(q.name, "Sales");
    assert_eq!(q.queuemembers.unwrap().member.len(), 2);

    h.with_model(|m| m.delete_queue("Sales")).unwrap();
    let (mut terminated, mut deleted) = (false, false);
    for _ in 0..2 {
        match c.recv().await.payload {
            Some(P::Subscribeterminated(t)) => {
                assert_eq!(t.subscribe_id, 7);
                terminated = true;
            }
            Some(P::Notify(n)) => {
                c.ack(&n).await;
                if let Some(pb::notify::Payload::Lines(l)) = n.payload {
                    deleted = l.deletequeue.iter().any(|q| q.name == "Sales");
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(terminated && deleted);
    // Unknown queue: NOTFOUND; unknown user GUID: USERNOTFOUND.
    let code = c
        .subscribe(
            8,
            0,
            pb::subscribe::Payload::Queue(pb::SubscribeQueue {
                name: "Nowhere".into(),
                ..Default::default()
            }),
        )
        .await;
    assert_eq!(code, 4);
    let code = c
        .subscribe(
            9,
            0,
            pb::subscribe::Payload::User(pb::SubscribeUser {
                guid: vec![1, 2, 3],
                flags: 0,
                ccflags: 0,
            }),
        )
        .await;
    assert_eq!(code, 7);
    h.shutdown().await;
}

#[tokio::test]
async fn notify_ack_gates_further_notifies_and_coalesces_changes() {
    let h = start().await;
    let mut c = Probe::connect(&h).await;
    c.subscribe_queue(10, "Sales", 0, PRIMARY | LANGUAGE).await;

    inject(&h, "Sales", "deu");
    let first = c.notify(10).await;
    let Some(pb::notify::Payload::Callcontrol(cc)) = &first.payload else {
        panic!("expected callcontrol")
    };
    assert_eq!(cc.callinfo.len(), 1);
    assert_eq!(cc.callinfo[0].state, STATE_RINGING);
    assert_eq!(cc.callinfo[0].calldata.as_ref().unwrap().language, "deu");

    // Not acked: two more calls arrive, and the simulator sends nothing about them.
    inject(&h, "Sales", "eng");
    inject(&h, "Sales", "eng");
    c.expect_nothing_pending().await;

    // The ack releases one notify with the current state of both new calls.
    c.ack(&first).await;
    let cc = c.calls(10).await;
    assert_eq!(cc.callinfo.len(), 2);
    let states: Vec<i32> = cc.callinfo.iter().map(|i| i.state).collect();
    assert!(states.contains(&STATE_RINGING) && states.contains(&STATE_QUEUEING));
    // An ack with a stale notify_id releases nothing.
    inject(&h, "Sales", "fra");
    let n = c.notify(10).await;
    c.send(P::Notifyack(pb::NotifyAck {
        subscribe_id: 10,
        notify_id: n.notify_id - 1,
    }))
    .await;
    inject(&h, "Sales", "fra");
    c.expect_nothing_pending().await;
    c.ack(&n).await;
    assert_eq!(c.calls(10).await.callinfo.len(), 1);
    h.shutdown().await;
}

#[tokio::test]
async fn ephemeral_subscription_only_shows_queueing_calls() {
    let h = start().await;
    let mut c = Probe::connect(&h).await;
    c.subscribe_queue(1, "Sales", 0, PRIMARY).await;
    c.subscribe_queue(2, "Sales", 0, PRIMARY | EPHEMERAL).await;
    inject(&h, "Sales", "eng");
    let a = c.calls(1).await;
    let b = c.calls(2).await;
    assert_eq!(a.callinfo[0].state, STATE_RINGING);
    assert_eq!(b.callinfo[0].state, STATE_RINGING);

    // The agent answers after 5 s.
    h.advance(Duration::from_secs(5));
    let (mut seen_connected, mut seen_lost) = (false, false);
    for _ in 0..2 {
        let n = match c.recv().await.payload {
            Some(P::Notify(n)) => n,
            other => panic!("unexpected {other:?}"),
        };
        c.ack(&n).await;
        let Some(pb::notify::Payload::Callcontrol(cc)) = n.payload else {
            panic!("expected callcontrol")
        };
        match n.subscribe_id {
            1 => seen_connected = cc.callinfo[0].state == STATE_CONNECTED,
            2 => seen_lost = cc.calllost.len() == 1 && cc.callinfo.is_empty(),
            other => panic!("notify on unknown subscription {other}"),
        }
    }
    assert!(
        seen_connected,
        "the normal subscription follows the answered call"
    );
    assert!(
        seen_lost,
        "the ephemeral one reports it lost once it stops queueing"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn finish_ends_reporting_on_every_connection() {
    let h = start().await;
    let mut c1 = Probe::connect(&h).await;
    let mut c2 = Probe::connect_with(&h, Framing::Unframed, &TlsOptions::default()).await;
    c1.subscribe_queue(1, "Sales", 0, PRIMARY).await;
    c2.subscribe_queue(1, "Sales", 0, PRIMARY).await;
    inject(&h, "Sales", "eng");
    let callid = c1.calls(1).await.callinfo[0].callid;
    c2.calls(1).await;

    assert_eq!(c1.call_function(1, callid, FINISH, "2").await, 608);
    assert_eq!(c1.call_function(1, 4242, FINISH, "").await, 602);
    assert_eq!(c1.call_function(1, callid, FINISH, "").await, 0);
    for c in [&mut c1, &mut c2] {
        let cc = c.calls(1).await;
        assert_eq!(cc.calllost.len(), 1);
    }
    // The call is no longer known on the subscription.
    assert_eq!(c1.call_function(1, callid, DROP, "").await, 602);
    h.shutdown().await;
}

#[tokio::test]
async fn set_priority_reorders_the_native_queue() {
    let h = start().await;
    let mut c = Probe::connect(&h).await;
    c.subscribe_queue(1, "Support", 0, PRIMARY | QUEUE_INFO)
        .await;
    // Clara goes DND through UpdateUser on her own subscription, so calls queue.
    let mut u = Probe::connect(&h).await;
    let guid = h.with_model(|m| m.users()[2].guid.clone());
    let code = u
        .subscribe(
            3,
            0,
            pb::subscribe::Payload::User(pb::SubscribeUser {
                guid,
                flags: 0,
                ccflags: PRIMARY,
            }),
        )
        .await;
    assert_eq!(code, 0);
    let n = u.notify(3).await;
    u.ack(&n).await;
    let dnd = |on: i32| {
        move |id| {
            P::Subscribecmd(pb::SubscribeCmd {
                requestid: id,
                subscribe_id: 3,
                payload: Some(pb::subscribe_cmd::Payload::User(pb::UpdateUser {
                    sac: Some(pb::UpdateUserSac { set: on }),
                    ..Default::default()
                })),
            })
        }
    };
    assert_eq!(u.request(dnd(1)).await, 0);
    let n = u.notify(3).await;
    u.ack(&n).await;
    let Some(pb::notify::Payload::User(user)) = n.payload else {
        panic!("expected user notify")
    };
    assert!(user.dnd);

    let mut callids = Vec::new();
    for _ in 0..3 {
        inject(&h, "Support", "eng");
        let cc = c.calls(1).await;
        assert_eq!(cc.callinfo[0].state, STATE_QUEUEING);
        assert_eq!(cc.callinfo[0].queueinfo.as_ref().unwrap().priority, 1);
        callids.push(cc.callinfo[0].callid);
    }
    let last = callids[2];
    assert_eq!(c.call_function(1, 999, SET_PRIORITY, "3").await, 602);
    for bad in ["7", "0", "", "high"] {
        assert_eq!(c.call_function(1, last, SET_PRIORITY, bad).await, 608);
    }
    assert_eq!(c.call_function(1, last, SET_PRIORITY, "3").await, 0);
    let cc = c.calls(1).await;
    assert_eq!(cc.callinfo[0].callid, last);
    assert_eq!(cc.callinfo[0].queueinfo.as_ref().unwrap().priority, 3);

    // Clara comes back: the high-priority call rings first although it arrived last.
    assert_eq!(u.request(dnd(0)).await, 0);
    let cc = c.calls(1).await;
    let ringing: Vec<&pb::CallInfo> = cc
        .callinfo
        .iter()
        .filter(|i| i.state == STATE_RINGING)
        .collect();
    assert_eq!(ringing.len(), 1);
    assert_eq!(ringing[0].callid, last);
    h.shutdown().await;
}

#[tokio::test]
async fn blind_transfer_result_codes_and_targets() {
    let h = start().await;
    let mut c = Probe::connect(&h).await;
    c.subscribe_queue(1, "Support", 0, PRIMARY).await;
    inject(&h, "Support", "eng");
    let info = c.calls(1).await.callinfo[0].clone();
    assert_eq!(info.state, STATE_RINGING);
    assert_eq!(info.featuresavailable as u32 & (1 << 4), 1 << 4);

    assert_eq!(c.call_function(1, 777, BLIND_TRANSFER, "2001").await, 602);
    let long = "1".repeat(79);
    for bad in ["", long.as_str(), "/abc"] {
        assert_eq!(
            c.call_function(1, info.callid, BLIND_TRANSFER, bad).await,
            608,
            "{bad:?}"
        );
    }
    assert_eq!(
        c.call_function(1, info.callid, BLIND_TRANSFER, "9999")
            .await,
        612
    );
    // Clara (2003) is ringing with this very call, Anna is free: transfer to Anna.
    assert_eq!(
        c.call_function(1, info.callid, BLIND_TRANSFER, "2001")
            .await,
        0
    );
    let cc = c.calls(1).await;
    assert_eq!(cc.callinfo[0].state, STATE_RINGING);
    // Anna answers; a connected call cannot be reprioritised: the command is ignored (success,
    // no effect), as IP Office ignores a command whose featuresavailable bit is clear.
    h.advance(Duration::from_secs(5));
    let cc = c.calls(1).await;
    assert_eq!(cc.callinfo[0].state, STATE_CONNECTED);
    assert_eq!(cc.callinfo[0].featuresavailable as u32 & (1 << 29), 0);
    assert_eq!(c.call_function(1, info.callid, SET_PRIORITY, "3").await, 0);
    c.expect_nothing_pending().await;
    // To a busy agent: refused. To voicemail: fine.
    assert_eq!(
        c.call_function(1, info.callid, BLIND_TRANSFER, "2001")
            .await,
        612
    );
    assert_eq!(
        c.call_function(1, info.callid, BLIND_TRANSFER, "/102/3002")
            .await,
        0
    );
    let cc = c.calls(1).await;
    assert_eq!(cc.callinfo[0].state, STATE_VOICEMAIL);
    // Drop ends it.
    assert_eq!(c.call_function(1, info.callid, DROP, "").await, 0);
    assert_eq!(c.calls(1).await.calllost.len(), 1);

    // Transfer to another queue: the call leaves Support's queue but is still reported here.
    inject(&h, "Support", "eng");
    let id2 = c.calls(1).await.callinfo[0].callid;
    assert_eq!(c.call_function(1, id2, BLIND_TRANSFER, "3001").await, 0);
    let cc = c.calls(1).await;
    assert_eq!(cc.callinfo[0].callid, id2);
    assert_eq!(cc.callinfo[0].calledparty, "3001");
    h.shutdown().await;
}

#[tokio::test]
async fn user_subscription_shows_the_users_call_appearances() {
    let scenario = SCENARIO.replace(
        "wrap_up = { dist = \"fixed\", s = 0 }",
        "wrap_up = { dist = \"fixed\", s = 10 }",
    );
    let h = start_with(&scenario, |_| {}).await;
    let mut c = Probe::connect(&h).await;
    let guid = h.with_model(|m| m.users()[2].guid.clone());
    let code = c
        .subscribe(
            1,
            0,
            pb::subscribe::Payload::User(pb::SubscribeUser {
                guid,
                flags: 0,
                ccflags: PRIMARY,
            }),
        )
        .await;
    assert_eq!(code, 0);
    let n = c.notify(1).await;
    c.ack(&n).await;
    let Some(pb::notify::Payload::User(user)) = n.payload else {
        panic!("the first notify is the user")
    };
    assert_eq!(user.extn, "2003");

    inject(&h, "Support", "eng");
    let cc = c.calls(1).await;
    assert_eq!(cc.callinfo[0].state, STATE_RINGING);
    let callid = cc.callinfo[0].callid;
    // Answered after 5 s, talks for 60 s, then 10 s of after-call work.
    h.advance(Duration::from_secs(5));
    let states =
        |cc: &pb::NotifyCallControl| cc.callinfo.iter().map(|i| i.state).collect::<Vec<_>>();
    let mut seen = Vec::new();
    for step in [5, 60, 10] {
        if step != 5 {
            h.advance(Duration::from_secs(step));
        }
        // A user notify (phone state) may come before the call-control one.
        loop {
            let n = c.notify(1).await;
            c.ack(&n).await;
            if let Some(pb::notify::Payload::Callcontrol(cc)) = n.payload {
                seen.push((states(&cc), cc.calllost.len()));
                break;
            }
        }
    }
    assert_eq!(seen[0], (vec![STATE_CONNECTED], 0));
    assert_eq!(seen[1], (vec![STATE_AFTERCALLWORK], 0));
    assert_eq!(seen[2], (vec![], 1));
    assert_eq!(c.call_function(1, callid, DROP, "").await, 602);
    h.shutdown().await;
}

#[tokio::test]
async fn faults_reject_delay_terminate_malformed_drop_and_restart() {
    let h = start().await;
    let mut c = Probe::connect(&h).await;
    c.subscribe_queue(1, "Sales", 0, PRIMARY | QUEUE_INFO).await;
    inject(&h, "Sales", "eng");
    let callid = c.calls(1).await.callinfo[0].callid;

    // Reject: the next command fails with the given code and has no effect.
    h.faults().reject_commands(ResultCode::RequestFailed, 1);
    assert_eq!(c.call_function(1, callid, SET_PRIORITY, "3").await, 5000);
    c.expect_nothing_pending().await;
    assert_eq!(c.call_function(1, callid, SET_PRIORITY, "3").await, 0);
    c.calls(1).await;
    // Any code can be injected, for as many commands as asked.
    h.faults()
        .reject_commands(ResultCode::CallControlPermission, 2);
    assert_eq!(c.call_function(1, callid, SET_PRIORITY, "2").await, 607);
    assert_eq!(c.call_function(1, callid, SET_PRIORITY, "2").await, 607);
    assert_eq!(c.call_function(1, callid, SET_PRIORITY, "2").await, 0);
    c.calls(1).await;

    // Delayed responses: the notify of the change overtakes the acknowledgement.
    h.faults().delay_responses(Duration::from_millis(300));
    c.send(call_function(99, 1, callid, SET_PRIORITY, "1"))
        .await;
    let n = c.notify(1).await;
    c.ack(&n).await;
    match c.recv().await.payload {
        Some(P::Response(r)) => assert_eq!((r.requestid, r.result), (99, 0)),
        other => panic!("expected the delayed response, got {other:?}"),
    }
    h.faults().clear();

    // Malformed frame: the wire layer's decoder refuses it with a typed error.
    h.faults().send_malformed_frame();
    let Some(WsMessage::Binary(bytes)) = c.next_raw().await else {
        panic!("expected a binary message")
    };
    let err = framing::decode(&bytes, Framing::Framed, DEFAULT_MAX_FRAME_BYTES).unwrap_err();
    assert!(matches!(err, FrameError::WrongHeader { .. }), "{err:?}");
    // The connection carries on.
    c.expect_nothing_pending().await;

    // SubscribeTerminated: the subscription is gone.
    h.faults().terminate_subscriptions();
    match c.recv().await.payload {
        Some(P::Subscribeterminated(t)) => assert_eq!(t.subscribe_id, 1),
        other => panic!("expected SubscribeTerminated, got {other:?}"),
    }
    assert_eq!(c.call_function(1, callid, DROP, "").await, 101);

    // Drop: the connection ends without a close handshake.
    h.faults().drop_connections();
    assert!(!matches!(c.next_raw().await, Some(WsMessage::Binary(_))));

    // Restart: reconnecting shows the same call under a new callid.
    let mut c = Probe::connect(&h).await;
    c.subscribe_queue(1, "Sales", 0, PRIMARY).await;
    let before = c.calls(1).await.callinfo[0].clone();
    h.faults().restart();
    assert!(!matches!(c.next_raw().await, Some(WsMessage::Binary(_))));
    let mut c = Probe::connect(&h).await;
    c.subscribe_queue(1, "Sales", 0, PRIMARY).await;
    let after = c.calls(1).await.callinfo[0].clone();
    assert_ne!(before.callid, after.callid);
    assert_eq!(c.call_function(1, before.callid, DROP, "").await, 602);
    assert_eq!(c.call_function(1, after.callid, DROP, "").await, 0);
    h.shutdown().await;
}

#[tokio::test]
async fn subscription_timeout_refresh_and_end() {
    let h = start().await;
    let mut c = Probe::connect(&h).await;
    let user = |i: usize| {
        let guid = h.with_model(|m| m.users()[i].guid.clone());
        pb::subscribe::Payload::User(pb::SubscribeUser {
            guid,
            flags: 0,
            ccflags: 0,
        })
    };
    // Two subscriptions with a 1 s timeout; the first, older one is refreshed to never expire.
    assert_eq!(c.subscribe(1, 1, user(0)).await, 0);
    assert_eq!(c.subscribe(2, 1, user(1)).await, 0);
    let refresh = c
        .request(|id| {
            P::Subscribe(pb::Subscribe {
                requestid: id,
                subscribe_id: 1,
                timeout: 0,
                label: String::new(),
                payload: None,
            })
        })
        .await;
    assert_eq!(refresh, 0);
    // Only the second expires; had the refresh not worked, the first would have expired first.
    loop {
        match c.recv().await.payload {
            Some(P::Notify(n)) => c.ack(&n).await,
            Some(P::Subscribeterminated(t)) => {
                assert_eq!(t.subscribe_id, 2, "the refreshed subscription expired");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // A refresh of an unknown subscription, then SubscribeEnd: once fine, then unknown.
    let refresh = c
        .request(|id| {
            P::Subscribe(pb::Subscribe {
                requestid: id,
                subscribe_id: 2,
                timeout: 60,
                ..Default::default()
            })
        })
        .await;
    assert_eq!(refresh, 101);
    let end = |reason: &'static str| {
        move |id| {
            P::Subscribeend(pb::SubscribeEnd {
                requestid: id,
                subscribe_id: 1,
                reason: reason.into(),
            })
        }
    };
    assert_eq!(c.request(end("done")).await, 0);
    assert_eq!(c.request(end("")).await, 101);
    // Presence needs a timeout of 60..86400 s; a negative timeout is too small anywhere.
    let code = c
        .subscribe(3, 5, pb::subscribe::Payload::Presence(Default::default()))
        .await;
    assert_eq!(code, 102);
    assert_eq!(c.subscribe(4, -1, user(2)).await, 102);
    h.shutdown().await;
}

#[tokio::test]
async fn wss_with_a_self_signed_certificate_pinned_or_trusted_as_ca() {
    let h = start_with(SCENARIO, |c| c.tls = TlsMode::SelfSigned).await;
    assert!(h.url(Framing::Framed).starts_with("wss://"));
    let printed = h.cert_sha256().unwrap().to_string();
    assert_eq!(printed.len(), 32 * 3 - 1);
    let pin = Fingerprint::parse(&printed).unwrap();

    // Not trusted by default: the refusal names the very fingerprint the simulator printed.
    let e = open(&h, Framing::Framed, USER, PASSWORD, &TlsOptions::default())
        .await
        .err()
        .unwrap();
    match e {
        ConnectError::CertificateNotTrusted { fingerprint, .. } => assert_eq!(fingerprint, pin),
        other => panic!("expected an untrusted certificate, got {other}"),
    }
    // A wrong pin is refused as such.
    let wrong = TlsOptions {
        pin_sha256: Some([0xAB; 32]),
        ..Default::default()
    };
    let e = open(&h, Framing::Framed, USER, PASSWORD, &wrong)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(e, ConnectError::PinMismatch { found, .. } if found == pin),
        "{e}"
    );
    // The certificate's PEM as CA file works too (it names 127.0.0.1).
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("sim.pem");
    std::fs::write(&ca_file, h.cert_pem().unwrap()).unwrap();
    let ca = TlsOptions {
        ca_file: Some(ca_file),
        ..Default::default()
    };
    let connected = open(&h, Framing::Framed, USER, PASSWORD, &ca)
        .await
        .unwrap();
    assert_eq!(connected.fingerprint, Some(pin));
    drop(connected);

    // Pinned: the protocol runs over TLS.
    let pinned = TlsOptions {
        pin_sha256: Some(pin.0),
        ..Default::default()
    };
    let mut c = Probe::connect_with(&h, Framing::Framed, &pinned).await;
    let code = c
        .subscribe(
            1,
            0,
            pb::subscribe::Payload::Lines(pb::SubscribeLines { flags: 2 }),
        )
        .await;
    assert_eq!(code, 0);
    let n = c.notify(1).await;
    let Some(pb::notify::Payload::Lines(l)) = n.payload else {
        panic!("expected lines")
    };
    assert_eq!(l.addqueue.len(), 2);
    h.shutdown().await;
}
