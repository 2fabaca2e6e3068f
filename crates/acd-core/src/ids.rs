//! Identifiers the core uses. They are the core's own: the wire layer maps IP Office's
//! per-subscription call ids and GUIDs onto them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An engine-wide call identity, stable for the call's whole life in the engine (the wire layer
/// keys it on the call's global call id, so a call that moves between queues keeps it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CallId(pub u64);

/// Which IP Office a call queues on: 0 the primary, 1 the secondary of a resilient pair.
///
/// The MT-CTI3 guide's "Resilient solutions": users are reported alike by both systems, but a
/// queued call is seen and controlled only on the system it queues on. The wire layer numbers
/// each system's calls in a range of their own (the site is the call id's top byte), so one
/// engine can route both systems' calls and a link restart on one system holds only its calls.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Site(pub u8);

impl Site {
    pub const PRIMARY: Site = Site(0);
    pub const SECONDARY: Site = Site(1);
    const SHIFT: u32 = 56;

    /// The first call id of this site's range.
    pub fn first_call(self) -> CallId {
        CallId((u64::from(self.0) << Site::SHIFT) + 1)
    }
}

impl CallId {
    /// The IP Office this call queues on.
    pub fn site(self) -> Site {
        Site((self.0 >> Site::SHIFT) as u8)
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Site::PRIMARY => f.write_str("primary"),
            Site::SECONDARY => f.write_str("secondary"),
            Site(n) => write!(f, "site {n}"),
        }
    }
}

/// An agent is an IP Office user, identified by extension number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AgentId(pub String);

/// A queue is an IP Office hunt group, identified by its name (unique on an IP Office).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QueueId(pub String);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.site() {
            Site::PRIMARY => write!(f, "call#{}", self.0),
            site => write!(
                f,
                "call#{}.{}",
                site.0,
                self.0 & ((1u64 << Site::SHIFT) - 1)
            ),
        }
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for AgentId {
    fn from(s: &str) -> Self {
        AgentId(s.to_string())
    }
}

impl From<&str> for QueueId {
    fn from(s: &str) -> Self {
        QueueId(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_site_numbers_its_calls_in_its_own_range() {
        assert_eq!(CallId(1).site(), Site::PRIMARY);
        assert_eq!(Site::PRIMARY.first_call(), CallId(1));
        let secondary = Site::SECONDARY.first_call();
        assert_eq!(secondary.site(), Site::SECONDARY);
        assert_ne!(secondary, CallId(1));
        assert_eq!(CallId(7).to_string(), "call#7");
        assert_eq!(secondary.to_string(), "call#1.1");
    }
}
