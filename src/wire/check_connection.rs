//! `acd check-connection`: the "Test" button of a PBX-connector set-up. It connects,
//! authenticates, subscribes to Lines and reports how many users and queues IP Office has, or
//! says in an administrator's words why it could not.

use super::connect::{self, ConnectError, Endpoint};
use super::framing::{self, FrameError};
use super::pb;
use super::result_code::WireResult;
use super::session::{hint_for, SessionConfig, LINES_FLAGS};
use super::tls::Fingerprint;
use futures_util::{SinkExt, StreamExt};
use std::fmt;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// What a successful check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionReport {
    pub endpoint: String,
    /// The certificate's SHA-256 fingerprint (wss only).
    pub fingerprint: Option<Fingerprint>,
    pub users: usize,
    pub queues: usize,
    pub park_server_available: bool,
    /// The users' extensions, sorted: agents the rules name must be among them.
    pub user_extensions: Vec<String>,
}

impl ConnectionReport {
    /// Of `agents` (extensions the rules name), those no IP Office user has, in their order.
    pub fn unknown_agents<'a>(&self, agents: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        (agents.into_iter())
            .filter(|a| {
                self.user_extensions
                    .binary_search_by(|e| e.as_str().cmp(a))
                    .is_err()
            })
            .collect()
    }
}

impl fmt::Display for ConnectionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "connected to IP Office at {}", self.endpoint)?;
        if let Some(fp) = &self.fingerprint {
            writeln!(f, "certificate SHA-256 fingerprint: {fp}")?;
        }
        writeln!(f, "service user authenticated, Lines subscription accepted")?;
        // A full last line: a shell prompt after it starts on a line of its own.
        writeln!(f, "users: {}, queues: {}", self.users, self.queues)
    }
}

/// Why the check failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("no IP Office endpoint is configured")]
    NoEndpoint,
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("IP Office refused the Lines subscription: {result}{hint}")]
    LinesRefused {
        result: WireResult,
        hint: &'static str,
    },
    #[error(
        "IP Office did not {what} within {}; protocol problem or an overloaded IP Office",
        humantime::format_duration(*after)
    )]
    NoAnswer { what: &'static str, after: Duration },
    #[error("protocol error: {0} (is this an IP Office MT-CTI3 service, and is the framing setting right?)")]
    Protocol(FrameError),
    #[error("the connection closed during the check: {0}")]
    Closed(String),
}

/// By hand rather than `#[from]`, which would also make the error the `source()` and print its
/// text twice in a chain.
impl From<FrameError> for CheckError {
    fn from(e: FrameError) -> Self {
        CheckError::Protocol(e)
    }
}

/// Checks the primary endpoint.
pub async fn run(config: &SessionConfig) -> Result<ConnectionReport, CheckError> {
    let endpoint = config.endpoints.first().ok_or(CheckError::NoEndpoint)?;
    run_endpoint(config, endpoint).await
}

/// Checks one endpoint (for example the secondary).
pub async fn run_endpoint(
    config: &SessionConfig,
    endpoint: &Endpoint,
) -> Result<ConnectionReport, CheckError> {
    config.warn_if_insecure();
    let connected = connect::connect(&config.connect_params(endpoint)).await?;
    let (mut sink, mut stream) = connected.ws.split();
    let send =
        |msg: pb::Message| WsMessage::Binary(framing::encode(&msg, config.protocol.framing).into());
    const REQ: i32 = 1;
    const SUB: i32 = 1;
    sink.send(send(pb::Message {
        payload: Some(pb::message::Payload::Subscribe(pb::Subscribe {
            requestid: REQ,
            subscribe_id: SUB,
            timeout: 0,
            label: "acd check-connection".to_string(),
            payload: Some(pb::subscribe::Payload::Lines(pb::SubscribeLines {
                flags: LINES_FLAGS,
            })),
        })),
    }))
    .await
    .map_err(|e| CheckError::Closed(e.to_string()))?;

    let deadline = Instant::now() + config.protocol.request_timeout;
    let mut accepted = false;
    let lines = loop {
        let what = if accepted {
            "send the Lines list"
        } else {
            "answer the Lines subscription"
        };
        let next = tokio::time::timeout_at(deadline, stream.next())
            .await
            .map_err(|_| CheckError::NoAnswer {
                what,
                after: config.protocol.request_timeout,
            })?;
        let bytes = match next {
            None => return Err(CheckError::Closed("closed by IP Office".to_string())),
            Some(Err(e)) => return Err(CheckError::Closed(e.to_string())),
            Some(Ok(WsMessage::Binary(b))) => b,
            Some(Ok(WsMessage::Close(f))) => {
                return Err(CheckError::Closed(match f {
                    Some(frame) => format!("closed by IP Office: {frame}"),
                    None => "closed by IP Office".to_string(),
                }))
            }
            Some(Ok(WsMessage::Text(t))) => {
                return Err(FrameError::TextMessage { len: t.len() }.into())
            }
            Some(Ok(_)) => continue,
        };
        let msg = framing::decode(
            &bytes,
            config.protocol.framing,
            config.protocol.max_frame_bytes,
        )?;
        match msg.payload {
            Some(pb::message::Payload::Response(r)) if r.requestid == REQ => {
                let result = WireResult::from_code(r.result);
                if !result.is_success() {
                    return Err(CheckError::LinesRefused {
                        result,
                        hint: hint_for(result),
                    });
                }
                accepted = true;
            }
            Some(pb::message::Payload::Notify(n)) if n.subscribe_id == SUB => {
                if n.notify_id != 0 {
                    let ack = pb::Message {
                        payload: Some(pb::message::Payload::Notifyack(pb::NotifyAck {
                            subscribe_id: SUB,
                            notify_id: n.notify_id,
                        })),
                    };
                    let _ = sink.send(send(ack)).await;
                }
                if let Some(pb::notify::Payload::Lines(l)) = n.payload {
                    break l;
                }
            }
            _ => {}
        }
    };
    let end = pb::Message {
        payload: Some(pb::message::Payload::Subscribeend(pb::SubscribeEnd {
            requestid: REQ + 1,
            subscribe_id: SUB,
            reason: "check finished".to_string(),
        })),
    };
    let _ = sink.send(send(end)).await;
    let _ = sink.close().await;
    Ok(ConnectionReport {
        endpoint: endpoint.to_string(),
        fingerprint: connected.fingerprint,
        users: lines.adduser.len(),
        queues: lines.addqueue.len(),
        park_server_available: lines.flags & 1 == 1,
        user_extensions: {
            let mut extns: Vec<String> = lines.adduser.iter().map(|u| u.extn.clone()).collect();
            extns.sort();
            extns
        },
    })
}
