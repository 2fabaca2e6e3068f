//! Shared set-up for the tests that drive the simulator through its socket. The client side is
//! always the engine's own wire layer: [`acd::wire::connect`] opens the websocket (Basic auth,
//! subprotocol, TLS with pinning) and [`acd::wire::framing`] encodes and decodes every message,
//! so a test passing here means the engine and the simulator agree on the protocol.
//!
//! [`Probe`] is a protocol-level client for behaviours the engine's session deliberately hides
//! (it acks every notify at once, so ack gating can only be shown by a client that does not).

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

use acd::sim::model::InjectedCall;
use acd::sim::server::{SimHandle, SimServer, SimServerConfig};
use acd::sim::{ModelAction, Scenario};
use acd::wire::connect::{self, ConnectError, ConnectParams, Connected, WsStream};
use acd::wire::framing::{self, Framing, DEFAULT_MAX_FRAME_BYTES};
use acd::wire::pb;
use acd::wire::secret::Secret;
use acd::wire::tls::TlsOptions;
use acd_core::{CallAttributes, TrunkKind};
use futures_util::{SinkExt, StreamExt};
use pb::message::Payload as P;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Two queues: Sales (Anna, Ben; longest waiting) and Support (Clara). Agents answer after a
/// fixed 5 s and never fail to, so a test decides when a call is answered by advancing the
/// simulator's manual clock.
pub const SCENARIO: &str = r#"
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

pub const USER: &str = "acd";
pub const PASSWORD: &str = "secret";

/// Call-control flag bits (ccflags) as the guide numbers them.
pub const PRIMARY: i32 = 0x01;
pub const QUEUE_INFO: i32 = 0x40;
pub const LANGUAGE: i32 = 0x80;
pub const EPHEMERAL: i32 = 0x4000_0000;

/// CallInfo states.
pub const STATE_RINGING: i32 = 4;
pub const STATE_CONNECTED: i32 = 6;
pub const STATE_AFTERCALLWORK: i32 = 17;
pub const STATE_VOICEMAIL: i32 = 21;
pub const STATE_QUEUEING: i32 = 22;

/// CallFunction actions.
pub const DROP: i32 = 1;
pub const BLIND_TRANSFER: i32 = 5;
pub const SET_PRIORITY: i32 = 34;
pub const FINISH: i32 = 35;

/// The longest any single expected message may take, even on a loaded machine.
pub const WAIT: Duration = Duration::from_secs(10);

pub async fn start() -> SimHandle {
    start_with(SCENARIO, |_| {}).await
}

pub async fn start_with(scenario: &str, adjust: impl FnOnce(&mut SimServerConfig)) -> SimHandle {
    let scenario = Scenario::from_toml_str(scenario, Path::new(".")).unwrap();
    let mut config = SimServerConfig::local(scenario);
    // The virtual clock only moves when a test calls `SimHandle::advance`.
    config.speed = 0.0;
    adjust(&mut config);
    SimServer::start(config).await.unwrap()
}

pub fn call(language: &str) -> InjectedCall {
    InjectedCall {
        attributes: CallAttributes {
            calling_number: "+4930555000111".into(),
            did: "+493012340001".into(),
            trunk: TrunkKind::Sip,
            language: language.into(),
            tag: String::new(),
        },
        priority: 1,
        talk_ms: 60_000,
        patience_ms: None,
    }
}

pub fn inject(h: &SimHandle, queue: &str, language: &str) {
    h.with_model(|m| m.inject_call(queue, call(language)))
        .unwrap();
}

/// Sets a user's DND directly in the model (as if the agent pressed the button).
pub fn set_dnd(h: &SimHandle, extn: &str, on: bool) {
    let code = h.with_model(|m| {
        m.apply(ModelAction::SetDnd {
            user: extn.into(),
            on,
        })
    });
    assert!(code.is_success(), "DND on {extn}: {code:?}");
}

/// Opens a websocket with the engine's connector.
pub async fn open(
    h: &SimHandle,
    framing: Framing,
    user: &str,
    password: &str,
    tls: &TlsOptions,
) -> Result<Connected, ConnectError> {
    let endpoint = h.endpoint();
    let password = Secret::new(password);
    connect::connect(&ConnectParams {
        endpoint: &endpoint,
        framing,
        username: user,
        password: &password,
        tls,
        timeout: WAIT,
        max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
        tcp_keepalive: None,
    })
    .await
}

/// A protocol-level client: the engine's connector and framing, with the test deciding what
/// to send and when to ack.
pub struct Probe {
    pub ws: WsStream,
    framing: Framing,
    next_request: i32,
    /// Messages read while waiting for a response, handed out by later `recv`s.
    pending: VecDeque<pb::Message>,
}

impl Probe {
    pub async fn connect(h: &SimHandle) -> Probe {
        Probe::connect_with(h, Framing::Framed, &TlsOptions::default()).await
    }

    pub async fn connect_with(h: &SimHandle, framing: Framing, tls: &TlsOptions) -> Probe {
        let c = open(h, framing, USER, PASSWORD, tls).await.unwrap();
        Probe::over(c.ws, framing)
    }

    pub fn over(ws: WsStream, framing: Framing) -> Probe {
        Probe {
            ws,
            framing,
            next_request: 1,
            pending: VecDeque::new(),
        }
    }

    pub async fn send(&mut self, payload: P) {
        let m = pb::Message {
            payload: Some(payload),
        };
        let bytes = framing::encode(&m, self.framing);
        self.ws.send(WsMessage::Binary(bytes.into())).await.unwrap();
    }

    /// The next websocket message as it arrived (None: the connection ended).
    pub async fn next_raw(&mut self) -> Option<WsMessage> {
        let next = tokio::time::timeout(WAIT, self.ws.next())
            .await
            .expect("nothing from the simulator in time");
        match next {
            Some(Ok(m)) => Some(m),
            Some(Err(_)) | None => None,
        }
    }

    /// The next MT-CTI3 message.
    pub async fn recv(&mut self) -> pb::Message {
        if let Some(m) = self.pending.pop_front() {
            return m;
        }
        loop {
            match self.next_raw().await {
                Some(WsMessage::Binary(b)) => {
                    return framing::decode(&b, self.framing, DEFAULT_MAX_FRAME_BYTES).unwrap()
                }
                Some(WsMessage::Close(_)) | None => panic!("the simulator closed the connection"),
                Some(_) => {}
            }
        }
    }

    /// Sends a request and returns its result code; other messages are kept for later.
    pub async fn request(&mut self, make: impl FnOnce(i32) -> P) -> i32 {
        let id = self.next_request;
        self.next_request += 1;
        self.send(make(id)).await;
        let mut kept = VecDeque::new();
        let result = loop {
            let m = match self.next_raw().await {
                Some(WsMessage::Binary(b)) => {
                    framing::decode(&b, self.framing, DEFAULT_MAX_FRAME_BYTES).unwrap()
                }
                Some(WsMessage::Close(_)) | None => panic!("connection ended before response"),
                Some(_) => continue,
            };
            match &m.payload {
                Some(P::Response(r)) if r.requestid == id => break r.result,
                _ => kept.push_back(m),
            }
        };
        self.pending.extend(kept);
        result
    }

    /// Proves the simulator has nothing to send: two request round trips (a GeneralCmd without
    /// payload, answered 151) with no other message before their responses. The server handles
    /// one input at a time and flushes every due notify right after it, so whatever an earlier
    /// change causes is on the wire before the second response.
    pub async fn expect_nothing_pending(&mut self) {
        for _ in 0..2 {
            let code = self
                .request(|id| {
                    P::Generalcmd(pb::GeneralCmd {
                        requestid: id,
                        payload: None,
                    })
                })
                .await;
            assert_eq!(code, 151, "GENCMD_INVALID_PAYLOAD");
        }
        if let Some(m) = self.pending.pop_front() {
            panic!("expected nothing from the simulator, got {m:?}");
        }
    }

    pub async fn subscribe(
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

    /// Subscribes to a queue by name and consumes (and acks) its first notify, the queue's
    /// configuration.
    pub async fn subscribe_queue(&mut self, sub_id: i32, name: &str, flags: i32, ccflags: i32) {
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
        let n = self.notify(sub_id).await;
        assert!(matches!(n.payload, Some(pb::notify::Payload::Queue(_))));
        self.ack(&n).await;
    }

    /// The next message, which must be a Notify on `sub`.
    pub async fn notify(&mut self, sub: i32) -> pb::Notify {
        match self.recv().await.payload {
            Some(P::Notify(n)) if n.subscribe_id == sub => n,
            other => panic!("expected a notify on {sub}, got {other:?}"),
        }
    }

    /// The next notify on `sub`, acked, as call control.
    pub async fn calls(&mut self, sub: i32) -> pb::NotifyCallControl {
        let n = self.notify(sub).await;
        self.ack(&n).await;
        match n.payload {
            Some(pb::notify::Payload::Callcontrol(cc)) => cc,
            other => panic!("expected callcontrol, got {other:?}"),
        }
    }

    pub async fn ack(&mut self, n: &pb::Notify) {
        assert_ne!(n.notify_id, 0, "every notify carries a notify_id");
        self.send(P::Notifyack(pb::NotifyAck {
            subscribe_id: n.subscribe_id,
            notify_id: n.notify_id,
        }))
        .await;
    }

    pub async fn call_function(&mut self, sub: i32, callid: i32, action: i32, arg1: &str) -> i32 {
        self.request(|id| call_function(id, sub, callid, action, arg1))
            .await
    }
}

pub fn call_function(requestid: i32, sub: i32, callid: i32, action: i32, arg1: &str) -> P {
    P::Subscribecmd(pb::SubscribeCmd {
        requestid,
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
}

/// Polls `check` until it holds or `WAIT` passes (for state the simulator updates on its own
/// tasks, such as the connection count).
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
