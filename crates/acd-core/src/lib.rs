//! The routing core of the ACD engine.
//!
//! It exists so that every routing decision is a pure function of the events seen so far and
//! the `now` passed in: no I/O, no clock, no async runtime, no protobuf. The wire layer
//! translates IP Office notifies into [`Event`]s and turns [`Command`]s back into MT-CTI3
//! messages; the routing study drives the same engine in virtual time.
//!
//! # Using it
//!
//! ```text
//! let mut engine = Engine::new(Arc::new(config));
//! loop {
//!     let out = engine.handle(now, event);        // commands to send, decisions, finished calls
//!     sleep_until(engine.next_wakeup());           // then feed Event::Tick
//! }
//! ```
//!
//! # Model
//!
//! - **Calls** enter when a routed queue (one with a [`QueuePolicy`]) reports them
//!   ([`Event::CallQueued`]; later snapshots of the same call are updates and keep its arrival
//!   time). Calls in queues without a policy are left to IP Office's own distribution and are
//!   neither routed nor accounted. The first matching [`Route`] gives the required skills,
//!   the starting priority and timed [`Step`]s (widen skills, raise priority mirrored with
//!   SetPriority, overflow).
//! - **Agents** are candidates for a queue when listed in its policy (first choice, backup or
//!   helper tier; if no first-choice list, the PBX members, enabled or not), logged in, not DND or
//!   faulty, phone idle, and not reserved, in engine-side wrap-up, or not-ready after a
//!   ring-no-answer; and when their skills satisfy the call's current requirement (helpers only
//!   while their queue condition holds).
//! - **Decisions** (no hidden score; see the engine's dispatch module): calls are served by
//!   priority, then arrival (strict, or aging by an explicit step, [`PriorityOrder`]); the agent
//!   is the first free allowed one of the first tier by the queue's strategy. When several calls
//!   and agents are ready at once they are assigned jointly ([`assign`]): as many calls as
//!   possible, chosen in serving order, then the best tier/strategy fit.
//! - **Call flow**: offer = `Transfer{Agent}`; on success the agent rings; an answer
//!   ([`Event::CallAnswered`]) counts the call answered; no answer within the queue's
//!   `ring_timeout_ms` (RONA) makes the agent not-ready and transfers the call back to its
//!   queue, where it keeps its arrival time. A failed transfer retries another agent (the
//!   failed one is excluded for that call for a minute); a failed exit falls back to waiting.
//! - **Exits**: night and holiday service by calendar (calls already waiting at closing time
//!   are served unless the calendar says otherwise), no agent logged in, no qualified agent
//!   logged in, queue too long (checked on arrival), and overflow steps; all by BlindTransfer,
//!   only when the call's `featuresavailable` allows it, and external numbers only when the
//!   rules allow them. A rules change reaches waiting calls at their next step and fires no
//!   exit or past-due overflow by itself.
//! - **Safety**: at most one transfer in flight per call, at most one call offered per agent,
//!   and the PBX snapshots are the truth (agents' presence and phone, the set of queued calls).
//! - **Accounting**: per routed queue, `offered = answered + abandoned + overflowed + open`,
//!   where open calls are those still in the engine's hands ([`Engine::open_calls`]).
//!   A call that leaves its queue without our transfer and without an answer report within a
//!   short grace period counts as abandoned.
//!
//! Every decision carries an [`Explanation`]; its `Display` is a one-line trace.

// Rules, events and stored data come from outside: a panic on them would stop routing.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod accounting;
pub mod assign;
pub mod calendar;
pub mod command;
pub mod config;
pub mod decision;
pub mod engine;
pub mod event;
pub mod ids;
pub mod lookup;
pub mod number;
pub mod pattern;
pub(crate) mod prng;
pub mod routes;
pub mod skill;
pub mod time;
pub mod utc_offsets;
pub mod view;

pub use accounting::{CallOutcome, FinishedCall, QueueCounters};
pub use command::{Command, CommandId, CommandKind, Priority, ServiceMode, Target};
pub use config::*;
pub use decision::{Candidate, Decision, DecisionAction, ExitReason, Explanation, PassedOver};
pub use engine::{Engine, Output};
pub use event::*;
pub use ids::{AgentId, CallId, QueueId, Site};
pub use lookup::Lookup;
pub use number::NumberPlan;
pub use pattern::Pattern;
pub use time::{Millis, Timestamp};
pub use utc_offsets::{OffsetChange, UtcOffsets};
pub use view::{AgentAvailability, EngineView, QueueView};
