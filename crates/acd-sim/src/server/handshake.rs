//! The websocket upgrade as IP Office checks it: the path picks framed or unframed messages,
//! HTTP Basic must name a scenario service user, the `openapi` subprotocol must be offered,
//! and no more than the connection limit may be open.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

use super::Shared;
use acd_wire::endpoint::SUBPROTOCOL;
use acd_wire::framing::Framing;

/// What the handshake decided, read by the connection task after the upgrade.
#[derive(Debug, Default)]
pub(crate) struct Accepted {
    pub framing: Framing,
    /// A connection slot was reserved and must be released when the connection ends.
    pub slot: bool,
}

fn reject(status: StatusCode, text: &str) -> ErrorResponse {
    let mut resp = ErrorResponse::new(Some(text.to_string()));
    *resp.status_mut() = status;
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            "WWW-Authenticate",
            HeaderValue::from_static("Basic realm=\"IP Office\""),
        );
    }
    resp
}

fn credentials(req: &Request) -> Option<(String, String)> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// Checks the upgrade request; on success records the outcome in `accepted`.
// The result type is tungstenite's handshake callback contract, not ours to shrink.
#[allow(clippy::result_large_err)]
pub(crate) fn check(
    shared: &Arc<Shared>,
    accepted: &Arc<Mutex<Accepted>>,
    req: &Request,
    mut resp: Response,
) -> Result<Response, ErrorResponse> {
    let path = req.uri().path();
    let Some(framing) = [Framing::Framed, Framing::Unframed]
        .into_iter()
        .find(|f| f.path() == path)
    else {
        return Err(reject(StatusCode::NOT_FOUND, "unknown web service"));
    };
    let authorised = credentials(req).is_some_and(|(u, p)| {
        shared
            .credentials
            .iter()
            .any(|(cu, cp)| *cu == u && *cp == p)
    });
    if !authorised {
        return Err(reject(StatusCode::UNAUTHORIZED, "service user required"));
    }
    let offers_openapi = req
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL);
    if !offers_openapi {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "websocket subprotocol 'openapi' required",
        ));
    }
    let reserved = shared
        .active
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < shared.max_connections).then_some(n + 1)
        })
        .is_ok();
    if !reserved {
        return Err(reject(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many MT-CTI3 connections",
        ));
    }
    resp.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    let mut a = accepted.lock().unwrap_or_else(|e| e.into_inner());
    a.framing = framing;
    a.slot = true;
    Ok(resp)
}
