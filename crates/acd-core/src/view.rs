//! A read-only summary of the engine for metrics and wallboards.

use crate::ids::QueueId;
use crate::time::Millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where an agent stands, combining IP Office's view with the engine's own states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AgentAvailability {
    LoggedOff,
    Dnd,
    /// Forward unconditional is on at IP Office: calls sent to the agent go elsewhere.
    Forwarded,
    PhoneFault,
    /// Free to take a call.
    Idle,
    /// Offered a call by the engine: transfer in flight or ringing not yet reported.
    Reserved,
    Ringing,
    OnCall,
    /// IP Office's own after-call-work state.
    AfterCallWork,
    /// Engine-side wrap-up after a call.
    WrapUp,
    /// Engine-side not-ready after a ring-no-answer.
    NotReady,
}

impl AgentAvailability {
    /// Every state, so a gauge per state can be set to zero when nobody is in it.
    pub const ALL: [AgentAvailability; 11] = [
        AgentAvailability::LoggedOff,
        AgentAvailability::Dnd,
        AgentAvailability::Forwarded,
        AgentAvailability::PhoneFault,
        AgentAvailability::Idle,
        AgentAvailability::Reserved,
        AgentAvailability::Ringing,
        AgentAvailability::OnCall,
        AgentAvailability::AfterCallWork,
        AgentAvailability::WrapUp,
        AgentAvailability::NotReady,
    ];
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueView {
    pub queue: QueueId,
    /// Calls in the queue not yet offered to an agent (including ones being moved back to the
    /// queue or out of it).
    pub waiting: usize,
    /// Calls offered to an agent and not yet answered (added to the contract).
    pub offering: usize,
    /// Wait of the oldest caller not yet answered, ringing at an agent or not, 0 if none: a
    /// caller who hears ringing still waits.
    pub oldest_wait_ms: Millis,
    /// Agents serving this queue who are logged in (whatever else they are doing): zero with
    /// calls waiting is what the "no agent logged in" alert looks for.
    pub logged_in_agents: usize,
    /// Agents serving this queue who take calls: logged in, not on do-not-disturb, phone
    /// working (free now or after what they are doing). Zero with calls waiting means nobody
    /// will answer them, although agents may be logged in.
    pub staffed_agents: usize,
    /// Agents serving this queue who are free to take a call now.
    pub available_agents: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineView {
    pub queues: Vec<QueueView>,
    pub agents: BTreeMap<AgentAvailability, usize>,
    pub rules_version: u64,
}
