//! Drives the simulator's MT-CTI3 server through its socket with a minimal client written
//! here (prost + tungstenite), covering the handshake, subscriptions, NotifyAck gating, the
//! ephemeral flag, commands with their result codes, and every fault.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use acd::sim::model::InjectedCall;
use acd::sim::server::{
    decode_frame, encode_frame, SimHandle, SimServer, SimServerConfig, TlsMode, PATH_FRAMED,
    PATH_UNFRAMED,
};
use acd::sim::Scenario;
use acd::wire::pb;
use acd_core::{CallAttributes, TrunkKind};
use futures_util::{SinkExt, StreamExt};
use pb::message::Payload as P;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

const SCENARIO: &str = r#"
[sim]
seed = 7
answer_delay = { dist = "fixed", s = 5 }
no_answer_probability = 0
wrap_up = { dist = "fixed", s = 0 }

[[service_user]]
name = "acd"
password = "secret"

[[user]]
extn = "2001"
name = "Anna"
[[user]]
extn = "2002"
name = "Ben"
[[user]]
extn = "2003"
name = "Clara"

[[queue]]
name = "Sales"
extn = "3001"
ring_mode = "longest_waiting"
members = ["2001", "2002"]

[[queue]]
name = "Support"
extn = "3002"
members = ["2003"]
"#;

const PRIMARY: i32 = 0x01;
const QUEUE_INFO: i32 = 0x40;
const LANGUAGE: i32 = 0x80;
const EPHEMERAL: i32 = 0x4000_0000;
const STATE_RINGING: i32 = 4;
const STATE_CONNECTED: i32 = 6;
const STATE_VOICEMAIL: i32 = 21;
const STATE_QUEUEING: i32 = 22;
const RECV_TIMEOUT: Duration = Duration::from_secs(5);

async fn start() -> SimHandle {
    start_with(|_| {}).await
}

async fn start_with(adjust: impl FnOnce(&mut SimServerConfig)) -> SimHandle {
    let scenario = Scenario::from_toml_str(SCENARIO, Path::new(".")).unwrap();
    let mut config = SimServerConfig::local(scenario);
    // The virtual clock only moves when a test says so.
    config.speed = 0.0;
    adjust(&mut config);
    SimServer::start(config).await.unwrap()
}

fn call(language: &str, priority: u8) -> InjectedCall {
    InjectedCall {
        attributes: CallAttributes {
            calling_number: "+4930555000111".into(),
            did: "+493012340001".into(),
            trunk: TrunkKind::Sip,
            language: language.into(),
            tag: String::new(),
        },
        priority,
        talk_ms: 60_000,
        patience_ms: None,
    }
}

fn inject(h: &SimHandle, queue: &str, language: &str, priority: u8) {
    h.with_model(|m| m.inject_call(queue, call(language, priority)))
        .unwrap();
}

struct Client<S> {
    ws: WebSocketStream<S>,
    framed: bool,
    next_request: i32,
    pending: VecDeque<pb::Message>,
}

async fn connect_as(
    h: &SimHandle,
    path: &str,
    user: &str,
    password: &str,
) -> Result<Client<TcpStream>, tokio_tungstenite::tungstenite::Error> {
    let tcp = TcpStream::connect(h.local_addr()).await.unwrap();
    let request = request(&h.url(path), Some((user, password)), true);
    let (ws, resp) = tokio_tungstenite::client_async(request, tcp).await?;
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").unwrap(),
        "openapi"
    );
    Ok(Client {
        ws,
        framed: path == PATH_FRAMED,
        next_request: 1,
        pending: VecDeque::new(),
    })
}

async fn connect(h: &SimHandle) -> Client<TcpStream> {
    connect_as(h, PATH_FRAMED, "acd", "secret").await.unwrap()
}

fn request(
    url: &str,
    auth: Option<(&str, &str)>,
    subprotocol: bool,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    use base64::Engine as _;
    let mut req = url.into_client_request().unwrap();
    if let Some((u, p)) = auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
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
    req
}

fn http_status(e: &tokio_tungstenite::tungstenite::Error) -> u16 {
    match e {
        tokio_tungstenite::tungstenite::Error::Http(resp) => resp.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    async fn send(&mut self, payload: P) {
        let m = pb::Message {
            payload: Some(payload),
        };
        let bytes = encode_frame(&m, self.framed);
        self.ws.send(WsMessage::Binary(bytes.into())).await.unwrap();
    }

    /// The next message from the server, or None if nothing comes within `wait`.
    async fn recv_within(&mut self, wait: Duration) -> Option<pb::Message> {
        if let Some(m) = self.pending.pop_front() {
            return Some(m);
        }
        loop {
            let m = tokio::time::timeout(wait, self.ws.next()).await.ok()??;
            if let WsMessage::Binary(b) = m.unwrap() {
                return Some(decode_frame(&b, self.framed).unwrap());
            }
        }
    }

    async fn recv(&mut self) -> pb::Message {
        self.recv_within(RECV_TIMEOUT)
            .await
            .expect("no message from the simulator")
    }

    /// Sends a request and returns its result code; other messages are kept for later.
    async fn request(&mut self, make: impl FnOnce(i32) -> P) -> i32 {
        let id = self.next_request;
        self.next_request += 1;
        self.send(make(id)).await;
        let mut kept = VecDeque::new();
        let result = loop {
            let m = tokio::time::timeout(RECV_TIMEOUT, self.ws.next())
                .await
                .expect("no response")
                .unwrap()
                .unwrap();
            let WsMessage::Binary(b) = m else { continue };
            let m = decode_frame(&b, self.framed).unwrap();
            match &m.payload {
                Some(P::Response(r)) if r.requestid == id => break r.result,
                _ => kept.push_back(m),
            }
        };
        self.pending.extend(kept);
        result
    }

    async fn subscribe(
        &mut self,
        sub_id: i32,
        timeout: i32,
        payload: pb::subscribe::Payload,
    ) -> i32 {
        self.request(|id| {
            P::Subscribe(pb::Subscribe {
                requestid: id,
                subscribe_id: sub_id,
                timeout,
                label: String::new(),
                payload: Some(payload),
            })
        })
        .await
    }

    async fn subscribe_queue(&mut self, sub_id: i32, name: &str, flags: i32, ccflags: i32) {
        let code = self
            .subscribe(
                sub_id,
                0,
                pb::subscribe::Payload::Queue(pb::SubscribeQueue {
                    guid: Vec::new(),
                    flags,
                    ccflags,
                    name: name.into(),
                }),
            )
            .await;
        assert_eq!(code, 0);
        // The first notify is the queue's configuration.
        let n = self.notify(sub_id).await;
        assert!(matches!(n.payload, Some(pb::notify::Payload::Queue(_))));
        self.ack(&n).await;
    }

    /// The next Notify on `sub` (any other message in between is a test failure).
    async fn notify(&mut self, sub: i32) -> pb::Notify {
        match self.recv().await.payload {
            Some(P::Notify(n)) if n.subscribe_id == sub => n,
            other => panic!("expected a notify on {sub}, got {other:?}"),
        }
    }

    async fn calls(&mut self, sub: i32) -> pb::NotifyCallControl {
        let n = self.notify(sub).await;
        self.ack(&n).await;
        match n.payload {
            Some(pb::notify::Payload::Callcontrol(cc)) => cc,
            other => panic!("expected callcontrol, got {other:?}"),
        }
    }

    async fn ack(&mut self, n: &pb::Notify) {
        assert_ne!(n.notify_id, 0, "every notify carries a notify_id");
        self.send(P::Notifyack(pb::NotifyAck {
            subscribe_id: n.subscribe_id,
            notify_id: n.notify_id,
        }))
        .await;
    }

    async fn call_function(&mut self, sub: i32, callid: i32, action: i32, arg1: &str) -> i32 {
        self.request(|id| {
            P::Subscribecmd(pb::SubscribeCmd {
                requestid: id,
                subscribe_id: sub,
                payload: Some(pb::subscribe_cmd::Payload::Callcontrol(
                    pb::UpdateCallControl {
                        callid,
                        callfunction: Some(pb::CallFunction {
                            action,
                            arg1: arg1.into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                )),
            })
        })
        .await
    }

    async fn expect_silence(&mut self, wait: Duration) {
        if let Some(m) = self.recv_within(wait).await {
            panic!("expected nothing, got {m:?}");
        }
    }
}

const DROP: i32 = 1;
const BLIND_TRANSFER: i32 = 5;
const SET_PRIORITY: i32 = 34;
const FINISH: i32 = 35;

#[tokio::test]
async fn handshake_checks_path_credentials_subprotocol_and_connection_limit() {
    let h = start_with(|c| c.max_connections = 2).await;
    let e = connect_as(&h, PATH_FRAMED, "acd", "wrong")
        .await
        .err()
        .unwrap();
    assert_eq!(http_status(&e), 401);
    let e = connect_as(&h, PATH_FRAMED, "nobody", "secret")
        .await
        .err()
        .unwrap();
    assert_eq!(http_status(&e), 401);
    let e = connect_as(&h, "/tpkt/other", "acd", "secret")
        .await
        .err()
        .unwrap();
    assert_eq!(http_status(&e), 404);

    let tcp = TcpStream::connect(h.local_addr()).await.unwrap();
    let e = tokio_tungstenite::client_async(request(&h.url(PATH_FRAMED), None, true), tcp)
        .await
        .err()
        .unwrap();
    assert_eq!(http_status(&e), 401);
    let tcp = TcpStream::connect(h.local_addr()).await.unwrap();
    let req = request(&h.url(PATH_FRAMED), Some(("acd", "secret")), false);
    let e = tokio_tungstenite::client_async(req, tcp)
        .await
        .err()
        .unwrap();
    assert_eq!(http_status(&e), 400);

    let first = connect(&h).await;
    let _second = connect_as(&h, PATH_UNFRAMED, "acd", "secret")
        .await
        .unwrap();
    let e = connect_as(&h, PATH_FRAMED, "acd", "secret")
        .await
        .err()
        .unwrap();
    assert_eq!(
        http_status(&e),
        503,
        "an 11th (here: 3rd) connection is refused"
    );
    drop(first);
    for _ in 0..100 {
        if h.connections() < 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(connect_as(&h, PATH_FRAMED, "acd", "secret").await.is_ok());
    h.shutdown().await;
}

#[tokio::test]
async fn unframed_path_and_lines_subscription_with_changes() {
    let h = start().await;
    let mut c = connect_as(&h, PATH_UNFRAMED, "acd", "secret")
        .await
        .unwrap();
    let code = c
        .subscribe(
            5,
            3600,
            pb::subscribe::Payload::Lines(pb::SubscribeLines { flags: 3 }),
        )
        .await;
    assert_eq!(code, 0);
    let n = c.notify(5).await;
    c.ack(&n).await;
    let Some(pb::notify::Payload::Lines(lines)) = n.payload else {
        panic!("expected lines")
    };
    assert_eq!(lines.adduser.len(), 3);
    assert_eq!(lines.addqueue.len(), 2);
    let sales_guid = lines
        .addqueue
        .iter()
        .find(|q| q.name == "Sales")
        .unwrap()
        .guid
        .clone();
    assert_eq!(sales_guid.len(), 16);
    // Only one lines subscription per connection.
    let code = c
        .subscribe(
            6,
            0,
            pb::subscribe::Payload::Lines(pb::SubscribeLines { flags: 1 }),
        )
        .await;
    assert_eq!(code, 5);

    let spec: acd::sim::scenario::UserSpec =
        toml::from_str("extn = \"2004\"\nname = \"Dora\"").unwrap();
    h.with_model(|m| m.add_user(&spec)).unwrap();
    let n = c.notify(5).await;
    c.ack(&n).await;
    let Some(pb::notify::Payload::Lines(lines)) = n.payload else {
        panic!("expected lines")
    };
    assert_eq!(lines.adduser.len(), 1);
    assert_eq!(lines.adduser[0].extn, "2004");

    // Subscribing to a queue by GUID works; deleting it terminates that subscription.
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
    let mut terminated = false;
    let mut deleted = false;
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
    // Unknown queue and unknown user GUID.
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
    let mut c = connect(&h).await;
    c.subscribe_queue(10, "Sales", 0, PRIMARY | LANGUAGE).await;

    inject(&h, "Sales", "deu", 1);
    let first = c.notify(10).await;
    let Some(pb::notify::Payload::Callcontrol(cc)) = &first.payload else {
        panic!("expected callcontrol")
    };
    assert_eq!(cc.callinfo.len(), 1);
    assert_eq!(cc.callinfo[0].state, STATE_RINGING);
    assert_eq!(cc.callinfo[0].calldata.as_ref().unwrap().language, "deu");

    // Not acked: two more calls arrive but nothing is sent.
    inject(&h, "Sales", "eng", 1);
    inject(&h, "Sales", "eng", 1);
    c.expect_silence(Duration::from_millis(300)).await;

    // The ack releases one notify with the current state of both new calls.
    c.ack(&first).await;
    let cc = c.calls(10).await;
    assert_eq!(cc.callinfo.len(), 2);
    let states: Vec<i32> = cc.callinfo.iter().map(|i| i.state).collect();
    assert!(states.contains(&STATE_RINGING) && states.contains(&STATE_QUEUEING));
    h.shutdown().await;
}

#[tokio::test]
async fn ephemeral_subscription_only_shows_queueing_calls() {
    let h = start().await;
    let mut c = connect(&h).await;
    c.subscribe_queue(1, "Sales", 0, PRIMARY).await;
    c.subscribe_queue(2, "Sales", 0, PRIMARY | EPHEMERAL).await;
    inject(&h, "Sales", "eng", 1);
    let a = c.calls(1).await;
    let b = c.calls(2).await;
    assert_eq!(a.callinfo[0].state, STATE_RINGING);
    assert_eq!(b.callinfo[0].state, STATE_RINGING);

    // The agent answers after 5 s.
    h.advance(Duration::from_secs(5));
    let mut seen_connected = false;
    let mut seen_lost = false;
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
            _ => unreachable!(),
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
    let mut c1 = connect(&h).await;
    let mut c2 = connect(&h).await;
    c1.subscribe_queue(1, "Sales", 0, PRIMARY).await;
    c2.subscribe_queue(1, "Sales", 0, PRIMARY).await;
    inject(&h, "Sales", "eng", 1);
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
    let mut c = connect(&h).await;
    c.subscribe_queue(1, "Support", 0, PRIMARY | QUEUE_INFO)
        .await;
    // Clara is busy elsewhere (DND) so calls queue.
    let mut u = connect(&h).await;
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
        inject(&h, "Support", "eng", 1);
        let cc = c.calls(1).await;
        assert_eq!(cc.callinfo[0].state, STATE_QUEUEING);
        assert_eq!(cc.callinfo[0].queueinfo.as_ref().unwrap().priority, 1);
        callids.push(cc.callinfo[0].callid);
    }
    let last = callids[2];
    assert_eq!(c.call_function(1, 999, SET_PRIORITY, "3").await, 602);
    assert_eq!(c.call_function(1, last, SET_PRIORITY, "7").await, 608);
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
    let mut c = connect(&h).await;
    c.subscribe_queue(1, "Support", 0, PRIMARY).await;
    inject(&h, "Support", "eng", 1);
    let info = c.calls(1).await.callinfo[0].clone();
    assert_eq!(info.state, STATE_RINGING);
    assert_eq!(info.featuresavailable as u32 & (1 << 4), 1 << 4);

    assert_eq!(c.call_function(1, 777, BLIND_TRANSFER, "2001").await, 602);
    assert_eq!(
        c.call_function(1, info.callid, BLIND_TRANSFER, "").await,
        608
    );
    let long = "1".repeat(79);
    assert_eq!(
        c.call_function(1, info.callid, BLIND_TRANSFER, &long).await,
        608
    );
    assert_eq!(
        c.call_function(1, info.callid, BLIND_TRANSFER, "9999")
            .await,
        612
    );
    assert_eq!(
        c.call_function(1, info.callid, BLIND_TRANSFER, "/abc")
            .await,
        608
    );
    // Clara (2003) is ringing with this very call, Anna is free: transfer to Anna.
    assert_eq!(
        c.call_function(1, info.callid, BLIND_TRANSFER, "2001")
            .await,
        0
    );
    let cc = c.calls(1).await;
    assert_eq!(cc.callinfo[0].state, STATE_RINGING);
    // Anna answers; a connected call cannot be reprioritised: the command is ignored.
    h.advance(Duration::from_secs(5));
    let cc = c.calls(1).await;
    assert_eq!(cc.callinfo[0].state, STATE_CONNECTED);
    assert_eq!(cc.callinfo[0].featuresavailable as u32 & (1 << 29), 0);
    assert_eq!(c.call_function(1, info.callid, SET_PRIORITY, "3").await, 0);
    c.expect_silence(Duration::from_millis(200)).await;
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
    inject(&h, "Support", "eng", 1);
    let id2 = c.calls(1).await.callinfo[0].callid;
    assert_eq!(c.call_function(1, id2, BLIND_TRANSFER, "3001").await, 0);
    let cc = c.calls(1).await;
    assert_eq!(cc.callinfo[0].callid, id2);
    assert_eq!(cc.callinfo[0].calledparty, "3001");
    h.shutdown().await;
}

#[tokio::test]
async fn faults_reject_delay_terminate_malformed_drop_and_restart() {
    let h = start().await;
    let mut c = connect(&h).await;
    c.subscribe_queue(1, "Sales", 0, PRIMARY | QUEUE_INFO).await;
    inject(&h, "Sales", "eng", 1);
    let callid = c.calls(1).await.callinfo[0].callid;

    // Reject: the next command fails with the given code and has no effect.
    h.faults().reject_commands(5000, 1);
    assert_eq!(c.call_function(1, callid, SET_PRIORITY, "3").await, 5000);
    c.expect_silence(Duration::from_millis(200)).await;
    assert_eq!(c.call_function(1, callid, SET_PRIORITY, "3").await, 0);
    c.calls(1).await;

    // Delayed responses: the notify of the change overtakes the acknowledgement.
    h.faults().delay_responses(Duration::from_millis(300));
    c.send(P::Subscribecmd(pb::SubscribeCmd {
        requestid: 99,
        subscribe_id: 1,
        payload: Some(pb::subscribe_cmd::Payload::Callcontrol(
            pb::UpdateCallControl {
                callid,
                callfunction: Some(pb::CallFunction {
                    action: SET_PRIORITY,
                    arg1: "2".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )),
    }))
    .await;
    assert!(matches!(c.recv().await.payload, Some(P::Notify(_))));
    match c.recv().await.payload {
        Some(P::Response(r)) => assert_eq!((r.requestid, r.result), (99, 0)),
        other => panic!("expected the delayed response, got {other:?}"),
    }
    h.faults().clear();

    // Malformed frame.
    h.faults().send_malformed_frame();
    let raw = tokio::time::timeout(RECV_TIMEOUT, c.ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let WsMessage::Binary(bytes) = raw else {
        panic!("expected binary")
    };
    assert!(decode_frame(&bytes, true).is_err());

    // SubscribeTerminated.
    h.faults().terminate_subscriptions();
    match c.recv().await.payload {
        Some(P::Subscribeterminated(t)) => assert_eq!(t.subscribe_id, 1),
        other => panic!("expected SubscribeTerminated, got {other:?}"),
    }
    assert_eq!(c.call_function(1, callid, DROP, "").await, 101);

    // Drop: the connection ends.
    h.faults().drop_connections();
    let end = tokio::time::timeout(RECV_TIMEOUT, c.ws.next())
        .await
        .unwrap();
    assert!(!matches!(end, Some(Ok(WsMessage::Binary(_)))));

    // Restart: reconnecting shows the same call under a new callid.
    let mut c = connect(&h).await;
    c.subscribe_queue(1, "Sales", 0, PRIMARY).await;
    let before = c.calls(1).await.callinfo[0].callid;
    h.faults().restart();
    let end = tokio::time::timeout(RECV_TIMEOUT, c.ws.next())
        .await
        .unwrap();
    assert!(!matches!(end, Some(Ok(WsMessage::Binary(_)))));
    let mut c = connect(&h).await;
    c.subscribe_queue(1, "Sales", 0, PRIMARY).await;
    let after = c.calls(1).await.callinfo[0].callid;
    assert_ne!(before, after);
    h.shutdown().await;
}

#[tokio::test]
async fn subscription_timeout_refresh_and_end() {
    let h = start().await;
    let mut c = connect(&h).await;
    let lines = |flags| pb::subscribe::Payload::Lines(pb::SubscribeLines { flags });
    assert_eq!(c.subscribe(1, 1, lines(1)).await, 0);
    let n = c.notify(1).await;
    c.ack(&n).await;
    match c.recv().await.payload {
        Some(P::Subscribeterminated(t)) => assert_eq!(t.subscribe_id, 1),
        other => panic!("expected expiry, got {other:?}"),
    }
    // Refresh: same id, only a timeout (0 = never expires).
    assert_eq!(c.subscribe(2, 1, lines(1)).await, 0);
    let n = c.notify(2).await;
    c.ack(&n).await;
    let refresh = c
        .request(|id| {
            P::Subscribe(pb::Subscribe {
                requestid: id,
                subscribe_id: 2,
                timeout: 0,
                label: String::new(),
                payload: None,
            })
        })
        .await;
    assert_eq!(refresh, 0);
    c.expect_silence(Duration::from_millis(1500)).await;
    let end = c
        .request(|id| {
            P::Subscribeend(pb::SubscribeEnd {
                requestid: id,
                subscribe_id: 2,
                reason: "done".into(),
            })
        })
        .await;
    assert_eq!(end, 0);
    let again = c
        .request(|id| {
            P::Subscribeend(pb::SubscribeEnd {
                requestid: id,
                subscribe_id: 2,
                reason: String::new(),
            })
        })
        .await;
    assert_eq!(again, 101);
    // Presence needs a timeout of 60..86400 s.
    let code = c
        .subscribe(3, 5, pb::subscribe::Payload::Presence(Default::default()))
        .await;
    assert_eq!(code, 102);
    h.shutdown().await;
}

#[tokio::test]
async fn wss_with_a_self_signed_certificate() {
    let h = start_with(|c| c.tls = TlsMode::SelfSigned).await;
    let fingerprint = h.cert_sha256().unwrap().to_string();
    assert_eq!(fingerprint.len(), 32 * 3 - 1);
    let pem = h.cert_pem().unwrap().to_string();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(h.local_addr()).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let url = h.url(PATH_FRAMED);
    assert!(url.starts_with("wss://"));
    let req = request(&url, Some(("acd", "secret")), true);
    let (ws, _) = tokio_tungstenite::client_async(req, tls).await.unwrap();
    let mut c = Client {
        ws,
        framed: true,
        next_request: 1,
        pending: VecDeque::new(),
    };
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
