//! The virtual-time driver: runs the model against a router in-process, without sockets, so
//! an hour of traffic takes seconds. The routing study uses it to compare the engine with
//! IP Office's native hunt groups on identical callers.
//!
//! A [`Router`] sees what an application on MT-CTI3 would see (complete snapshots of calls,
//! users and queues) and answers with the actions it would send. Actions reach the model after
//! `command_latency_ms` and their result codes come back after the same latency again, as on a
//! real connection.

use acd_core::{Millis, Timestamp};

use super::error::SimError;
use super::model::{Model, ModelAction, ModelNotification, ResultCode, Status};
use super::scenario::Scenario;
use super::scheduler::Scheduler;
use super::stats::SimSummary;

/// What a router is told.
#[derive(Debug, Clone)]
pub enum RouterInput {
    /// A change in the model (complete snapshot), boxed to keep the enum small.
    Notification(Box<ModelNotification>),
    /// The result of an action the router asked for.
    ActionResult { id: u64, code: ResultCode },
    /// The time the router asked for with `next_wakeup` has come.
    Wakeup,
}

/// An action with the router's own id, echoed back in `ActionResult`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterAction {
    pub id: u64,
    pub action: ModelAction,
}

/// Anything that routes calls in virtual time: the routing core behind an adapter, or nothing
/// at all ([`NativeRouter`]).
pub trait Router {
    fn on_event(&mut self, now: Timestamp, input: RouterInput) -> Vec<RouterAction>;
    /// When the router next wants `RouterInput::Wakeup`.
    fn next_wakeup(&self) -> Option<Timestamp>;
    /// A router that ignores notifications says so, which spares the model building them.
    fn wants_notifications(&self) -> bool {
        true
    }
}

/// No application at all: IP Office's own hunt groups distribute every call. The baseline.
#[derive(Debug, Default, Clone, Copy)]
pub struct NativeRouter;

impl Router for NativeRouter {
    fn on_event(&mut self, _now: Timestamp, _input: RouterInput) -> Vec<RouterAction> {
        Vec::new()
    }
    fn next_wakeup(&self) -> Option<Timestamp> {
        None
    }
    fn wants_notifications(&self) -> bool {
        false
    }
}

#[derive(Debug, Clone, Copy)]
pub struct DriverOptions {
    /// Virtual run length.
    pub duration_ms: Millis,
    /// One-way delay between router and model.
    pub command_latency_ms: Millis,
}

impl Default for DriverOptions {
    fn default() -> Self {
        DriverOptions {
            duration_ms: 3_600_000,
            command_latency_ms: 20,
        }
    }
}

enum Pending {
    Apply(RouterAction),
    Result { id: u64, code: ResultCode },
}

/// A router reacting to its own actions at one instant more often than this is looping.
const MAX_ROUNDS_PER_INSTANT: usize = 10_000;

pub struct VirtualDriver<R: Router> {
    model: Model,
    router: R,
    pending: Scheduler<Pending>,
    options: DriverOptions,
    last_wakeup: Option<Timestamp>,
    started: bool,
}

impl<R: Router> VirtualDriver<R> {
    pub fn new(scenario: &Scenario, router: R, options: DriverOptions) -> Result<Self, SimError> {
        let mut model = Model::new(scenario)?;
        model.set_recording(router.wants_notifications());
        Ok(VirtualDriver {
            model,
            router,
            pending: Scheduler::default(),
            options,
            last_wakeup: None,
            started: false,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn router(&self) -> &R {
        &self.router
    }

    pub fn router_mut(&mut self) -> &mut R {
        &mut self.router
    }

    pub fn status(&self) -> Status {
        self.model.status()
    }

    /// Runs to the end of the configured duration and returns the summary.
    pub fn run(&mut self) -> SimSummary {
        let end = Timestamp(self.options.duration_ms);
        self.start();
        self.run_until(end);
        self.model.summary()
    }

    /// Shows the router the complete starting state, once, as a subscription's first
    /// snapshots would. `run` does it; callers that step with `run_until` (to sample the
    /// model along the way) call it first.
    pub fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        if self.router.wants_notifications() {
            let start = self.model.full_snapshot();
            for n in start {
                self.deliver(Timestamp::ZERO, RouterInput::Notification(Box::new(n)));
            }
        }
    }

    /// Advances virtual time to `end`, interleaving model events, router actions and wakeups.
    pub fn run_until(&mut self, end: Timestamp) {
        loop {
            let wake = self
                .router
                .next_wakeup()
                .filter(|&w| self.last_wakeup.is_none_or(|l| w > l))
                .map(|w| w.max(self.model.now()));
            let next = [self.model.next_event_at(), self.pending.next_at(), wake]
                .into_iter()
                .flatten()
                .min();
            let Some(t) = next.filter(|&t| t <= end) else {
                break;
            };
            self.model.advance_to(t);
            self.forward_notifications();
            let mut rounds = 0;
            while let Some((_, p)) = self.pending.pop_due(t) {
                rounds += 1;
                if rounds > MAX_ROUNDS_PER_INSTANT {
                    break;
                }
                match p {
                    Pending::Apply(a) => {
                        let code = self.model.apply(a.action);
                        self.forward_notifications();
                        let at = t.plus(self.options.command_latency_ms);
                        self.pending
                            .schedule(at, Pending::Result { id: a.id, code });
                    }
                    Pending::Result { id, code } => {
                        self.deliver(t, RouterInput::ActionResult { id, code });
                    }
                }
            }
            if wake.is_some_and(|w| w <= t) {
                self.last_wakeup = Some(t);
                self.deliver(t, RouterInput::Wakeup);
            }
        }
        self.model.advance_to(end);
        self.forward_notifications();
    }

    fn forward_notifications(&mut self) {
        for (at, n) in self.model.take_notifications() {
            self.deliver(at, RouterInput::Notification(Box::new(n)));
        }
    }

    fn deliver(&mut self, now: Timestamp, input: RouterInput) {
        let actions = self.router.on_event(now, input);
        for a in actions {
            let at = now.plus(self.options.command_latency_ms);
            self.pending.schedule(at, Pending::Apply(a));
        }
    }
}

/// Runs a scenario in virtual time with the given router and returns the summary.
pub fn run_virtual<R: Router>(
    scenario: &Scenario,
    router: R,
    options: DriverOptions,
) -> Result<SimSummary, SimError> {
    Ok(VirtualDriver::new(scenario, router, options)?.run())
}
