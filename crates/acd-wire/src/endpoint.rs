//! Where an IP Office listens, as an operator writes it (`wss://host[:port]`), and the
//! websocket subprotocol it serves MT-CTI3 on. Both sides need them: the engine's socket shell
//! connects to an endpoint, the simulator says which endpoint to give the engine.

use crate::framing::Framing;
use std::fmt;

/// The websocket subprotocol IP Office serves MT-CTI3 on.
pub const SUBPROTOCOL: &str = "openapi";

/// Where an IP Office listens: `wss://host:port` (or `ws://` for the simulator and tests). The
/// path follows from the [`Framing`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub secure: bool,
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("invalid IP Office address `{text}`: {reason}")]
    Invalid { text: String, reason: String },
}

impl Endpoint {
    /// Parses `wss://host[:port]` (port 443 by default) or `ws://host[:port]`.
    pub fn parse(text: &str) -> Result<Endpoint, EndpointError> {
        let invalid = |reason: &str| EndpointError::Invalid {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let url = url::Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
        let secure = match url.scheme() {
            "wss" => true,
            "ws" => false,
            _ => return Err(invalid("the scheme must be wss (or ws for a simulator)")),
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_string(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            None => return Err(invalid("no host")),
        };
        if !(url.path().is_empty() || url.path() == "/") || url.query().is_some() {
            return Err(invalid(
                "give only scheme://host:port; the path follows from the framing setting",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "credentials belong in the username/password settings, not the address",
            ));
        }
        let port = url.port_or_known_default().unwrap_or(443);
        Ok(Endpoint { secure, host, port })
    }

    /// The websocket URL for this endpoint and framing.
    pub fn url(&self, framing: Framing) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}{}", self.host, self.port, framing.path())
        } else {
            format!("{scheme}://{}:{}{}", self.host, self.port, framing.path())
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "wss" } else { "ws" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            Endpoint::parse("wss://ipo.example").unwrap(),
            Endpoint {
                secure: true,
                host: "ipo.example".into(),
                port: 443
            }
        );
        let e = Endpoint::parse("ws://127.0.0.1:8080/").unwrap();
        assert_eq!((e.secure, e.port), (false, 8080));
        assert_eq!(
            e.url(Framing::Unframed),
            "ws://127.0.0.1:8080/tpkt/openapinoframing"
        );
        assert_eq!(e.to_string(), "ws://127.0.0.1:8080");
        assert!(Endpoint::parse("https://ipo").is_err());
        assert!(Endpoint::parse("wss://ipo/tpkt/openapi").is_err());
        assert!(Endpoint::parse("wss://user:pw@ipo").is_err());
        let v6 = Endpoint::parse("wss://[::1]:444").unwrap();
        assert_eq!(v6.to_string(), "wss://[::1]:444");
    }
}
