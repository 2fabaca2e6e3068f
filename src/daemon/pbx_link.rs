//! Turns the daemon's `[pbx]` and `[routing]` settings into the wire session's configuration.

use super::config::DaemonConfig;
use crate::wire::connect::{Endpoint, EndpointError};
use crate::wire::framing::Framing;
use crate::wire::session::{AgentSelector, QueueSelector, SessionConfig, EPHEMERAL_CCFLAG};
use crate::wire::tls::TlsOptions;
use acd_wire::connection::{DEFAULT_PING_INTERVAL, DEFAULT_PONG_TIMEOUT, DEFAULT_WRITE_TIMEOUT};
use std::time::Duration;

/// The deadlines on the link itself (`[pbx]` `ping_interval`, `pong_timeout`, `write_timeout`,
/// `tcp_keepalive`; `None`: off). The defaults find a silent or stalled IP Office within 13 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkDeadlines {
    pub ping_interval: Option<Duration>,
    pub pong_timeout: Duration,
    pub write_timeout: Option<Duration>,
    pub tcp_keepalive: Option<Duration>,
}

impl Default for LinkDeadlines {
    fn default() -> Self {
        LinkDeadlines {
            ping_interval: Some(DEFAULT_PING_INTERVAL),
            pong_timeout: DEFAULT_PONG_TIMEOUT,
            write_timeout: Some(DEFAULT_WRITE_TIMEOUT),
            tcp_keepalive: Some(crate::wire::session::DEFAULT_TCP_KEEPALIVE),
        }
    }
}

/// Builds the session configuration; fails only on an address the wire layer cannot parse.
/// `routed` are the queues to subscribe (see `runtime::routed_queues`); `rule_agents` the
/// extensions the routing rules name, followed along with the members of the routed queues.
pub fn session_config(
    config: &DaemonConfig,
    routed: Vec<String>,
    rule_agents: Vec<String>,
) -> Result<SessionConfig, EndpointError> {
    let endpoints = config
        .pbx
        .endpoints
        .iter()
        .map(|e| Endpoint::parse(e))
        .collect::<Result<Vec<_>, _>>()?;
    let mut session = SessionConfig::new(
        endpoints,
        config.pbx.username.clone(),
        config.pbx.password.clone(),
    );
    session.tls = TlsOptions {
        ca_file: config.pbx.ca_file.clone(),
        pin_sha256: config.pbx.pin_sha256,
        insecure: config.pbx.insecure,
    };
    session.protocol.framing = if config.pbx.unframed {
        Framing::Unframed
    } else {
        Framing::Framed
    };
    session.protocol.routed_queues = routed.iter().map(|q| QueueSelector::parse(q)).collect();
    if !config.pbx.ephemeral_queues {
        session.protocol.queue_ccflags &= !EPHEMERAL_CCFLAG;
    }
    session.protocol.agents = AgentSelector::MembersAnd(rule_agents);
    session.protocol.request_timeout = config.pbx.request_timeout;
    session.protocol.subscription_timeout = config.pbx.subscription_timeout;
    let deadlines = config.pbx.deadlines;
    session.protocol.ping_interval = deadlines.ping_interval;
    session.protocol.pong_timeout = deadlines.pong_timeout;
    session.protocol.write_timeout = deadlines.write_timeout;
    session.tcp_keepalive = deadlines.tcp_keepalive;
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(extra: &str) -> Result<DaemonConfig, super::super::config::ConfigError> {
        let text = format!(
            "[pbx]\nendpoints = [\"wss://192.0.2.10\"]\nusername = \"acd\"\npassword = \"pw\"\n{extra}"
        );
        DaemonConfig::parse(&text, Path::new("acd.toml"), &|_| None)
    }

    #[test]
    fn the_link_deadlines_default_to_detection_within_13_s_and_reach_the_session() {
        let config = parse("").unwrap();
        assert_eq!(config.pbx.deadlines, LinkDeadlines::default());
        let session = session_config(&config, Vec::new(), Vec::new()).unwrap();
        assert_eq!(session.protocol.ping_interval, Some(Duration::from_secs(5)));
        assert_eq!(session.protocol.pong_timeout, Duration::from_secs(8));
        assert_eq!(
            session.protocol.write_timeout,
            Some(Duration::from_secs(10))
        );
        assert_eq!(session.tcp_keepalive, Some(Duration::from_secs(5)));
    }

    #[test]
    fn each_deadline_is_configurable_and_zero_turns_it_off() {
        let config = parse(
            "ping_interval = \"2s\"\npong_timeout = \"3s\"\nwrite_timeout = \"0s\"\ntcp_keepalive = \"0s\"\n",
        )
        .unwrap();
        assert_eq!(
            config.pbx.deadlines,
            LinkDeadlines {
                ping_interval: Some(Duration::from_secs(2)),
                pong_timeout: Duration::from_secs(3),
                write_timeout: None,
                tcp_keepalive: None,
            }
        );
        let refused = parse("pong_timeout = \"0s\"\n").unwrap_err().to_string();
        assert!(refused.contains("pbx.pong_timeout"), "{refused}");
        let refused = parse("ping_interval = \"soon\"\n").unwrap_err().to_string();
        assert!(refused.contains("pbx.ping_interval"), "{refused}");
    }
}
