//! Decisions and their explanations.
//!
//! Every command the engine issues comes from a decision that says what was decided and why:
//! which route and step applied, which agents were considered with their scores, and why the
//! winner won. Supervisors need this to trust the routing, and the daemon logs it in one line.

use crate::command::Target;
use crate::config::SkillExpr;
use crate::ids::{AgentId, CallId, QueueId};
use crate::skill::ExprDisplay;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a call left its queue without an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitReason {
    /// The queue's calendar says closed: night service.
    Closed,
    /// No agent serving the queue is logged in.
    NoAgents,
    /// No logged-in agent serving the queue could ever take the call (its requirement now or
    /// after any later step of its route).
    NoQualifiedAgents,
    /// The queue's calendar says closed for a holiday.
    Holiday,
    /// More calls wait than the queue allows.
    QueueFull,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DecisionAction {
    /// Transfer the call to this agent.
    Offer { agent: AgentId },
    /// A timed step changed the call (required skills or priority).
    StepApplied { step: usize },
    /// A timed overflow step sent the call elsewhere.
    Overflow { target: Target },
    /// The call left by an exit rule.
    Exit { target: Target, reason: ExitReason },
    /// The engine is done with the call and told IP Office to stop reporting it.
    Finish,
    /// Ring-no-answer: the agent did not answer in time; the call goes back to its queue and
    /// the agent is made not-ready. (Added to the contract: RONA is a decision of its own.)
    Rona { agent: AgentId },
    /// New rules reached a waiting call: what they changed for it (route, requirement, next
    /// step) is the explanation's reason.
    RulesApplied { version: u64 },
}

/// A call that waited longer (or had a higher priority) than the one an agent was offered,
/// and why that agent did not get it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassedOver {
    pub call: CallId,
    pub waited_ms: u64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub agent: AgentId,
    pub score: f64,
    pub eligible: bool,
    /// Why not eligible, or what the score is made of.
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The route that matched, if any.
    pub route: Option<String>,
    /// The last timed step applied (index into the route's steps).
    pub step: Option<usize>,
    pub required: SkillExpr,
    pub candidates: Vec<Candidate>,
    /// For an offer: calls ahead of the offered one in serving order that this agent did not
    /// get, and why (at most a few).
    #[serde(default)]
    pub passed_over: Vec<PassedOver>,
    pub winner: Option<AgentId>,
    pub reason: String,
}

impl Explanation {
    pub(crate) fn bare(route: Option<String>, step: Option<usize>, required: SkillExpr) -> Self {
        Explanation {
            route,
            step,
            required,
            candidates: Vec::new(),
            passed_over: Vec::new(),
            winner: None,
            reason: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub call: CallId,
    pub queue: QueueId,
    pub action: DecisionAction,
    pub explanation: Explanation,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Agent(a) => write!(f, "agent:{a}"),
            Target::Queue(q) => write!(f, "queue:{q}"),
            Target::Voicemail(m) => write!(f, "voicemail:{m}"),
            Target::External(n) => write!(f, "external:{n}"),
        }
    }
}

impl fmt::Display for DecisionAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecisionAction::Offer { agent } => write!(f, "offer {agent}"),
            DecisionAction::StepApplied { step } => write!(f, "step {step}"),
            DecisionAction::Overflow { target } => write!(f, "overflow {target}"),
            DecisionAction::Exit { target, reason } => write!(f, "exit {target} ({reason:?})"),
            DecisionAction::Finish => f.write_str("finish"),
            DecisionAction::Rona { agent } => write!(f, "rona {agent}"),
            DecisionAction::RulesApplied { version } => write!(f, "rules v{version}"),
        }
    }
}

/// How many candidates the one-line trace shows (the struct keeps them all).
const TRACE_CANDIDATES: usize = 4;

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.explanation;
        write!(f, "{} q={} {}", self.call, self.queue, self.action)?;
        write!(f, " route={}", e.route.as_deref().unwrap_or("-"))?;
        match e.step {
            Some(s) => write!(f, " step={s}")?,
            None => f.write_str(" step=-")?,
        }
        write!(f, " req={}", ExprDisplay(&e.required))?;
        if !e.candidates.is_empty() {
            f.write_str(" cands=[")?;
            for (i, c) in e.candidates.iter().take(TRACE_CANDIDATES).enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                let mark = if e.winner.as_ref() == Some(&c.agent) {
                    "*"
                } else {
                    ""
                };
                if c.eligible {
                    write!(f, "{}{mark}:{:.1}", c.agent, c.score)?;
                } else {
                    write!(f, "{}:x", c.agent)?;
                }
            }
            if e.candidates.len() > TRACE_CANDIDATES {
                write!(f, " +{}", e.candidates.len() - TRACE_CANDIDATES)?;
            }
            f.write_str("]")?;
        }
        if !e.passed_over.is_empty() {
            f.write_str(" passed=[")?;
            for (i, p) in e.passed_over.iter().enumerate() {
                if i > 0 {
                    f.write_str("; ")?;
                }
                write!(f, "{} waited {}s: {}", p.call, p.waited_ms / 1000, p.reason)?;
            }
            f.write_str("]")?;
        }
        if !e.reason.is_empty() {
            write!(f, " why={}", e.reason)?;
        }
        Ok(())
    }
}
