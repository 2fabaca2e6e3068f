//! Opening one MT-CTI3 websocket: TCP, TLS (for `wss`), then the HTTP upgrade with Basic auth
//! and the `openapi` subprotocol. Every way this can fail has its own [`ConnectError`] variant
//! whose text tells an administrator what to fix, because "connection failed" is useless when
//! setting up a PBX connector.

use super::framing::Framing;
use super::secret::Secret;
use super::tls::{self, CertProblem, CertVerdict, Fingerprint, TlsConfigError, TlsOptions};
use base64::Engine as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{header, HeaderValue, StatusCode};
use tokio_tungstenite::WebSocketStream;

pub use acd_wire::endpoint::{Endpoint, EndpointError, SUBPROTOCOL};

/// The byte stream under the websocket: plain TCP (`ws`) or TLS over TCP (`wss`), or any
/// other stream a test puts there (one that can stall, go silent or half-close on demand).
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Other(Pin<Box<dyn ByteStream>>),
}

/// A byte stream a websocket can run over.
pub trait ByteStream: AsyncRead + AsyncWrite + Send {}
impl<T: AsyncRead + AsyncWrite + Send> ByteStream for T {}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Transport::Other(s) => s.as_mut().poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Transport::Other(s) => s.as_mut().poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Transport::Other(s) => s.as_mut().poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Transport::Other(s) => s.as_mut().poll_shutdown(cx),
        }
    }
}

pub type WsStream = WebSocketStream<Transport>;

/// Bytes tungstenite reads (and zeroes first) per read call.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// What one connection needs to know.
#[derive(Debug, Clone)]
pub struct ConnectParams<'a> {
    pub endpoint: &'a Endpoint,
    pub framing: Framing,
    pub username: &'a str,
    pub password: &'a Secret,
    pub tls: &'a TlsOptions,
    /// Limit for each step (TCP, TLS, upgrade).
    pub timeout: Duration,
    pub max_frame_bytes: usize,
    /// TCP keepalive: probes after this long without traffic (`None`: the system's default,
    /// usually off).
    pub tcp_keepalive: Option<Duration>,
}

/// A successful connection.
pub struct Connected {
    pub ws: WsStream,
    /// The certificate's fingerprint (wss only).
    pub fingerprint: Option<Fingerprint>,
}

/// Why a connection could not be opened, in words an administrator can act on.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot resolve host `{host}`: {reason}; check the IP Office address")]
    Resolve { host: String, reason: String },
    #[error(
        "IP Office at {endpoint} is unreachable ({reason}); check the address and port \
         (web services use 443 unless changed in Security settings), firewalls, and that IP Office is running"
    )]
    Unreachable { endpoint: String, reason: String },
    #[error(
        "no answer from {endpoint} within {} while {stage}; check network and address",
        humantime::format_duration(*after)
    )]
    Timeout {
        endpoint: String,
        stage: &'static str,
        after: Duration,
    },
    #[error("TLS configuration: {0}")]
    TlsConfig(TlsConfigError),
    #[error(
        "the IP Office certificate is not trusted: {problem}. Certificate SHA-256 fingerprint: \
         {fingerprint}"
    )]
    CertificateNotTrusted {
        fingerprint: Fingerprint,
        problem: CertProblem,
    },
    #[error(
        "the IP Office certificate does not match the pinned fingerprint: it presented {found}, \
         the configuration pins {expected}. If the certificate was renewed on purpose, update the pin"
    )]
    PinMismatch {
        found: Fingerprint,
        expected: Fingerprint,
    },
    #[error(
        "IP Office at {endpoint} and the engine share no TLS version or cipher suite ({reason}). \
         The engine accepts TLS 1.3, or TLS 1.2 with ECDHE key exchange and AES-GCM or \
         ChaCha20-Poly1305 (for example ECDHE-RSA-AES128-GCM-SHA256); in IP Office's security \
         settings allow TLS 1.2 or later and at least one such cipher suite"
    )]
    TlsIncompatible { endpoint: String, reason: String },
    #[error("TLS handshake with {endpoint} failed: {reason}")]
    TlsHandshake { endpoint: String, reason: String },
    #[error(
        "IP Office refused the login (HTTP 401): check the service-user name and password, and that the \
         service user's rights group has \"Enhanced TSPI Access\""
    )]
    Unauthorized,
    #[error(
        "IP Office refused the websocket (HTTP 403): check that the service user's rights group has \
         \"Enhanced TSPI Access\" and that \"Avaya HTTP Clients only\" is disabled in Security settings"
    )]
    Forbidden,
    // Most 503s are IP Office starting or restarting (its web services answer before the CTI
    // service is up), so that comes first; blaming the licence sent administrators hunting
    // for a problem that went away by itself a minute later.
    #[error(
        "IP Office's MT-CTI3 service is not available (HTTP {status}). Most often IP Office is \
         starting or restarting: the engine keeps retrying and connects once the service is up. \
         If it lasts beyond a restart, check that no more than 10 MT-CTI3 connections are open \
         (other CTI applications, a second engine) and that a CTI Link Pro licence is installed"
    )]
    Unavailable { status: u16 },
    #[error(
        "IP Office answered the websocket upgrade with HTTP {status}; check that the address points at \
         IP Office web services and that \"Avaya HTTP Clients only\" is disabled"
    )]
    HttpStatus { status: u16 },
    #[error(
        "the server did not accept the \"openapi\" websocket subprotocol ({detail}); \
         this is not an IP Office MT-CTI3 service (IP Office 11.1 or later is required)"
    )]
    SubprotocolRejected { detail: String },
    #[error("websocket handshake with {endpoint} failed: {reason}")]
    Handshake { endpoint: String, reason: String },
}

/// By hand rather than `#[from]`, which would also make the error the `source()` and print its
/// text twice in a chain.
impl From<TlsConfigError> for ConnectError {
    fn from(e: TlsConfigError) -> Self {
        ConnectError::TlsConfig(e)
    }
}

impl ConnectError {
    /// A stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectError::Resolve { .. } => "resolve",
            ConnectError::Unreachable { .. } => "unreachable",
            ConnectError::Timeout { .. } => "timeout",
            ConnectError::TlsConfig(_) => "tls_config",
            ConnectError::CertificateNotTrusted { .. } => "certificate_not_trusted",
            ConnectError::PinMismatch { .. } => "pin_mismatch",
            ConnectError::TlsIncompatible { .. } => "tls_incompatible",
            ConnectError::TlsHandshake { .. } => "tls_handshake",
            ConnectError::Unauthorized => "unauthorized",
            ConnectError::Forbidden => "forbidden",
            ConnectError::Unavailable { .. } => "unavailable",
            ConnectError::HttpStatus { .. } => "http_status",
            ConnectError::SubprotocolRejected { .. } => "subprotocol_rejected",
            ConnectError::Handshake { .. } => "handshake",
        }
    }
}

/// The `Authorization` header value for HTTP Basic auth.
fn basic_auth(username: &str, password: &Secret) -> Result<HeaderValue, ConnectError> {
    let token = base64::engine::general_purpose::STANDARD
        .encode(format!("{username}:{}", password.expose()));
    let mut value =
        HeaderValue::from_str(&format!("Basic {token}")).map_err(|_| ConnectError::Handshake {
            endpoint: String::new(),
            reason: "the user name cannot be sent in an HTTP header".to_string(),
        })?;
    value.set_sensitive(true);
    Ok(value)
}

async fn with_timeout<T>(
    params: &ConnectParams<'_>,
    stage: &'static str,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, ConnectError> {
    tokio::time::timeout(params.timeout, fut)
        .await
        .map_err(|_| ConnectError::Timeout {
            endpoint: params.endpoint.to_string(),
            stage,
            after: params.timeout,
        })
}

/// Opens the websocket.
pub async fn connect(params: &ConnectParams<'_>) -> Result<Connected, ConnectError> {
    let endpoint = params.endpoint;
    let tls_setup = if endpoint.secure {
        Some(tls::client_config(params.tls)?)
    } else {
        None
    };

    let addrs: Vec<_> = with_timeout(
        params,
        "resolving the host name",
        tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port)),
    )
    .await?
    .map_err(|e| ConnectError::Resolve {
        host: endpoint.host.clone(),
        reason: e.to_string(),
    })?
    .collect();
    let tcp = with_timeout(
        params,
        "opening the TCP connection",
        TcpStream::connect(addrs.as_slice()),
    )
    .await?
    .map_err(|e| ConnectError::Unreachable {
        endpoint: endpoint.to_string(),
        reason: e.to_string(),
    })?;
    // Notifies are small and latency matters more than packet count.
    let _ = tcp.set_nodelay(true);
    if let Some(idle) = params.tcp_keepalive {
        set_tcp_keepalive(&tcp, idle);
    }

    let (transport, fingerprint) = match tls_setup {
        None => (Transport::Plain(tcp), None),
        Some((config, verdict)) => {
            let server_name = rustls::pki_types::ServerName::try_from(endpoint.host.clone())
                .map_err(|e| ConnectError::TlsHandshake {
                    endpoint: endpoint.to_string(),
                    reason: format!("invalid server name: {e}"),
                })?;
            let connector = tokio_rustls::TlsConnector::from(config);
            let result = with_timeout(
                params,
                "negotiating TLS",
                connector.connect(server_name, tcp),
            )
            .await?;
            match result {
                Ok(stream) => {
                    let fp = match verdict.take() {
                        Some(CertVerdict::Trusted(fp)) => Some(fp),
                        _ => None,
                    };
                    (Transport::Tls(Box::new(stream)), fp)
                }
                Err(e) => {
                    return Err(match verdict.take() {
                        Some(CertVerdict::NotTrusted {
                            fingerprint,
                            problem,
                        }) => ConnectError::CertificateNotTrusted {
                            fingerprint,
                            problem,
                        },
                        Some(CertVerdict::PinMismatch {
                            fingerprint,
                            expected,
                        }) => ConnectError::PinMismatch {
                            found: fingerprint,
                            expected,
                        },
                        _ => tls_failure(endpoint, &e),
                    })
                }
            }
        }
    };

    let ws = upgrade(params, transport).await?;
    Ok(Connected { ws, fingerprint })
}

/// TCP keepalive after `idle` without traffic, probing every `idle` twice more: the kernel
/// drops a link whose peer vanished after about three times `idle`, and firewalls and NAT
/// on the way keep the connection's state. Best effort: a system that refuses keeps the
/// websocket's own pings.
fn set_tcp_keepalive(tcp: &TcpStream, idle: Duration) {
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(idle)
        .with_interval(idle);
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    let keepalive = keepalive.with_retries(2);
    if let Err(e) = socket2::SockRef::from(tcp).set_tcp_keepalive(&keepalive) {
        tracing::debug!(error = %e, "cannot set TCP keepalive");
    }
}

/// The websocket upgrade (Basic auth, `openapi` subprotocol) over an open byte stream.
pub async fn upgrade(
    params: &ConnectParams<'_>,
    transport: Transport,
) -> Result<WsStream, ConnectError> {
    let endpoint = params.endpoint;
    let mut request = endpoint
        .url(params.framing)
        .into_client_request()
        .map_err(|e| ConnectError::Handshake {
            endpoint: endpoint.to_string(),
            reason: e.to_string(),
        })?;
    let headers = request.headers_mut();
    headers.insert(
        header::AUTHORIZATION,
        basic_auth(params.username, params.password)?,
    );
    headers.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(SUBPROTOCOL),
    );

    // tungstenite's own limit only guards memory: it is set above ours so that a frame a bit
    // over the limit reaches the framing layer, which counts it and keeps the session going.
    let ws_limit = params.max_frame_bytes.saturating_mul(4).max(1 << 16);
    // Each read zeroes up to `read_buffer_size` of the buffer before reading into it: at the
    // default 128 KiB that memset was 7 % of the engine's time under a notify flood, for
    // notifies of a few hundred bytes. Larger messages are still read whole, in 16 KiB reads.
    let ws_config = tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(Some(ws_limit))
        .max_frame_size(Some(ws_limit));
    let handshake = with_timeout(
        params,
        "upgrading to a websocket",
        tokio_tungstenite::client_async_with_config(request, transport, Some(ws_config)),
    )
    .await?;
    let (ws, response) = handshake.map_err(|e| handshake_error(endpoint, e))?;
    let accepted = response
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok());
    if accepted != Some(SUBPROTOCOL) {
        return Err(ConnectError::SubprotocolRejected {
            detail: match accepted {
                Some(other) => format!("server answered with subprotocol `{other}`"),
                None => "server named no subprotocol".to_string(),
            },
        });
    }
    Ok(ws)
}

/// A TLS failure the certificate verifier had no part in. A fatal alert or an incompatible
/// answer before any certificate means the two sides found no protocol version or cipher
/// suite in common; rustls' own words for it ("received fatal alert: HandshakeFailure") do
/// not say what to change.
fn tls_failure(endpoint: &Endpoint, e: &io::Error) -> ConnectError {
    use rustls::AlertDescription as Alert;
    let reason = e.to_string();
    let endpoint = endpoint.to_string();
    let rustls_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(rustls::Error::AlertReceived(
            Alert::HandshakeFailure | Alert::ProtocolVersion | Alert::InsufficientSecurity,
        ))
        | Some(rustls::Error::PeerIncompatible(_)) => {
            ConnectError::TlsIncompatible { endpoint, reason }
        }
        _ => ConnectError::TlsHandshake { endpoint, reason },
    }
}

fn handshake_error(endpoint: &Endpoint, e: tungstenite::Error) -> ConnectError {
    use tungstenite::error::ProtocolError;
    match e {
        tungstenite::Error::Http(response) => match response.status() {
            StatusCode::UNAUTHORIZED => ConnectError::Unauthorized,
            StatusCode::FORBIDDEN => ConnectError::Forbidden,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
                ConnectError::Unavailable {
                    status: response.status().as_u16(),
                }
            }
            other => ConnectError::HttpStatus {
                status: other.as_u16(),
            },
        },
        tungstenite::Error::Protocol(ProtocolError::SecWebSocketSubProtocolError(sub)) => {
            ConnectError::SubprotocolRejected {
                detail: sub.to_string(),
            }
        }
        other => ConnectError::Handshake {
            endpoint: endpoint.to_string(),
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_show_values_as_people_write_them() {
        let timeout = ConnectError::Timeout {
            endpoint: "wss://192.0.2.10:443".into(),
            stage: "negotiating TLS",
            after: Duration::from_millis(2500),
        };
        assert!(timeout
            .to_string()
            .contains("within 2s 500ms while negotiating TLS"));
        let invalid = Endpoint::parse("ftp://ipo").unwrap_err().to_string();
        assert!(invalid.contains("address `ftp://ipo`"), "{invalid}");
    }

    #[test]
    fn a_503_says_restart_first_then_limits_and_licence() {
        let endpoint = Endpoint::parse("wss://ipo.example").unwrap();
        let response = tungstenite::http::Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .body(None)
            .unwrap();
        let e = handshake_error(&endpoint, tungstenite::Error::Http(Box::new(response)));
        assert!(
            matches!(e, ConnectError::Unavailable { status: 503 }),
            "{e:?}"
        );
        let text = e.to_string();
        let restart = text.find("restarting").expect(&text);
        let limit = text.find("10 MT-CTI3 connections").expect(&text);
        let licence = text.find("licence").expect(&text);
        assert!(restart < limit && limit < licence, "{text}");
        assert!(text.contains("keeps retrying"), "{text}");
    }

    #[test]
    fn basic_auth_header_is_sensitive_and_correct() {
        let v = basic_auth("svc", &Secret::new("pw")).unwrap();
        assert!(v.is_sensitive());
        assert_eq!(v.to_str().unwrap(), "Basic c3ZjOnB3");
    }
}
