//! A minimal IP Office stand-in for the wire integration tests: a websocket server on
//! 127.0.0.1 (optionally TLS with certificates from a test CA) that checks HTTP Basic auth and
//! the `openapi` subprotocol, and hands each connection's decoded messages to the test, which
//! plays IP Office's side of the conversation.
#![allow(dead_code)]

use acd::wire::framing::{self, Framing};
use acd::wire::pb;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::Message as WsMessage;

pub const USER: &str = "acd-service";
pub const PASSWORD: &str = "s3cret-pw";
pub const WAIT: Duration = Duration::from_secs(10);

/// Certificates for a TLS peer.
pub struct TestPki {
    pub ca_pem: String,
    pub server_cert_der: Vec<u8>,
    server_key_der: Vec<u8>,
}

impl TestPki {
    /// A test CA and a server certificate for localhost/127.0.0.1 signed by it.
    pub fn new() -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "acd test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "ipoffice test");
        let cert = params.signed_by(&server_key, &ca).unwrap();
        TestPki {
            ca_pem: ca.pem(),
            server_cert_der: cert.der().to_vec(),
            server_key_der: server_key.serialize_der(),
        }
    }

    /// A peer presenting `server_cert_der` (with its PKCS#8 key), for certificate cases the
    /// test CA does not cover.
    pub fn with_server(ca_pem: String, server_cert_der: Vec<u8>, server_key_der: Vec<u8>) -> Self {
        TestPki {
            ca_pem,
            server_cert_der,
            server_key_der,
        }
    }

    pub fn fingerprint(&self) -> [u8; 32] {
        acd::wire::tls::Fingerprint::of(&self.server_cert_der).0
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(self.server_cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone())),
        )
        .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}

#[derive(Clone)]
pub struct PeerOptions {
    pub tls: Option<Arc<TestPki>>,
    /// Answer the upgrade with `Sec-WebSocket-Protocol: openapi`.
    pub accept_subprotocol: bool,
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            tls: None,
            accept_subprotocol: true,
        }
    }
}

/// One accepted websocket connection, seen from IP Office's side.
pub struct PeerConn {
    pub path: String,
    rx: mpsc::UnboundedReceiver<pb::Message>,
    tx: mpsc::UnboundedSender<Out>,
}

enum Out {
    Msg(Box<pb::Message>),
    Raw(Vec<u8>),
    Drop,
}

impl PeerConn {
    /// The next message the engine sent.
    pub async fn recv(&mut self) -> pb::Message {
        tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .expect("engine sent nothing in time")
            .expect("connection closed")
    }

    /// Whether the engine sends nothing for `d`.
    pub async fn quiet_for(&mut self, d: Duration) -> Option<pb::Message> {
        tokio::time::timeout(d, self.rx.recv()).await.ok().flatten()
    }

    pub fn send(&self, msg: pb::Message) {
        self.tx
            .send(Out::Msg(Box::new(msg)))
            .expect("peer connection gone");
    }

    /// Sends bytes as one binary websocket message, as they are.
    pub fn send_raw(&self, bytes: Vec<u8>) {
        self.tx.send(Out::Raw(bytes)).expect("peer connection gone");
    }

    /// Drops the TCP connection without a websocket close (a crashed or rebooting IP Office).
    pub fn drop_connection(&self) {
        let _ = self.tx.send(Out::Drop);
    }

    /// Expects a Subscribe, answers it with `result`, returns it.
    pub async fn expect_subscribe(&mut self, result: i32) -> pb::Subscribe {
        let msg = self.recv().await;
        let Some(pb::message::Payload::Subscribe(s)) = msg.payload else {
            panic!("expected Subscribe, got {msg:?}")
        };
        self.send(response(s.requestid, result));
        s
    }
}

pub struct Peer {
    pub addr: SocketAddr,
    conns: mpsc::UnboundedReceiver<PeerConn>,
}

impl Peer {
    pub async fn start(options: PeerOptions) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (conn_tx, conns) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let options = options.clone();
                let conn_tx = conn_tx.clone();
                tokio::spawn(async move {
                    match &options.tls {
                        Some(pki) => {
                            if let Ok(tls) = pki.acceptor().accept(tcp).await {
                                serve(tls, options, conn_tx).await
                            }
                        }
                        None => serve(tcp, options, conn_tx).await,
                    }
                });
            }
        });
        Peer { addr, conns }
    }

    pub fn url(&self, secure: bool) -> String {
        let scheme = if secure { "wss" } else { "ws" };
        format!("{scheme}://127.0.0.1:{}", self.addr.port())
    }

    pub async fn accept(&mut self) -> PeerConn {
        tokio::time::timeout(WAIT, self.conns.recv())
            .await
            .expect("no connection in time")
            .expect("server gone")
    }
}

async fn serve<S>(stream: S, options: PeerOptions, conns: mpsc::UnboundedSender<PeerConn>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    let mut path = String::new();
    // The callback's signature is tungstenite's, large error type included.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        path = req.uri().path().to_string();
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if auth != Some(expected.as_str()) {
            let mut err = ErrorResponse::new(Some("unauthorized".to_string()));
            *err.status_mut() = StatusCode::UNAUTHORIZED;
            return Err(err);
        }
        let offered = req
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok());
        if options.accept_subprotocol && offered == Some("openapi") {
            resp.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_static("openapi"),
            );
        }
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let framing = if path == Framing::Unframed.path() {
        Framing::Unframed
    } else {
        Framing::Framed
    };
    let (mut sink, mut source) = ws.split();
    let (in_tx, rx) = mpsc::unbounded_channel();
    let (tx, mut out_rx) = mpsc::unbounded_channel::<Out>();
    let _ = conns.send(PeerConn { path, rx, tx });
    loop {
        tokio::select! {
            out = out_rx.recv() => match out {
                Some(out @ (Out::Msg(_) | Out::Raw(_))) => {
                    let bytes = match out {
                        Out::Msg(msg) => framing::encode(&msg, framing),
                        Out::Raw(bytes) => bytes,
                        Out::Drop => return,
                    };
                    if sink.send(WsMessage::Binary(bytes.into())).await.is_err() { return; }
                }
                // Dropping both halves closes the socket without a close frame.
                Some(Out::Drop) | None => return,
            },
            incoming = source.next() => match incoming {
                Some(Ok(WsMessage::Binary(b))) => {
                    let msg = framing::decode(&b, framing, 1 << 20).expect("engine sent a bad frame");
                    let _ = in_tx.send(msg);
                }
                Some(Ok(_)) => {}
                _ => return,
            },
        }
    }
}

pub fn response(requestid: i32, result: i32) -> pb::Message {
    pb::Message {
        payload: Some(pb::message::Payload::Response(pb::RequestResponse {
            requestid,
            result,
            additional: String::new(),
        })),
    }
}

pub fn notify(subscribe_id: i32, notify_id: i32, payload: pb::notify::Payload) -> pb::Message {
    pb::Message {
        payload: Some(pb::message::Payload::Notify(pb::Notify {
            subscribe_id,
            notify_id,
            label: String::new(),
            payload: Some(payload),
        })),
    }
}

/// A Lines list with users 201, 202 and queue "Sales".
pub fn lines_list() -> pb::notify::Payload {
    pb::notify::Payload::Lines(pb::NotifyLines {
        flags: 1,
        adduser: vec![
            pb::LinesUser {
                guid: vec![0xa1; 16],
                extn: "201".into(),
                name: "Anna".into(),
            },
            pb::LinesUser {
                guid: vec![0xa2; 16],
                extn: "202".into(),
                name: "Ben".into(),
            },
        ],
        addqueue: vec![pb::LinesQueue {
            guid: vec![0xb1; 16],
            extn: "300".into(),
            name: "Sales".into(),
        }],
        ..Default::default()
    })
}

pub fn queued_call(callid: i32, gcid: &[u8]) -> pb::notify::Payload {
    pb::notify::Payload::Callcontrol(pb::NotifyCallControl {
        refreshinstance: 0,
        callinfo: vec![pb::CallInfo {
            callid,
            gcid: gcid.to_vec(),
            state: pb::call_info::State::Queueing as i32,
            direction: pb::call_info::Direction::Inbound as i32,
            featuresavailable: acd_core::Features::ALL_QUEUE_ACTIONS.0 as i32,
            ..Default::default()
        }],
        calllost: vec![],
    })
}

pub fn payload_of(msg: &pb::Message) -> &pb::message::Payload {
    msg.payload.as_ref().expect("message without payload")
}
