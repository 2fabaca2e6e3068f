//! What a rules change does to calls already in the engine's hands.
//!
//! A supervisor who shortens an overflow timer at peak time means "from now on", not "replay
//! the day under the new rules": re-running every waiting call from its arrival would send a
//! call that already waited 20 s to voicemail the instant a 15 s overflow appears, and would do
//! so for the whole queue at once. So new rules apply to new calls and to the *next* step of
//! waiting calls:
//!
//! - a waiting call keeps its route (by name) if the new rules still have it; otherwise the
//!   new rules' first matching route takes it over;
//! - steps of that route already past due are not replayed one by one: their combined effect
//!   (the last requirement, the highest priority) is applied once, and an overflow among them
//!   does not fire; the call goes on with the first step still ahead of it;
//! - exits (night service, no agents, no qualified agent) that would fire only because the
//!   rules changed are held until the queue's state changes (see `ExitHold`).
//!
//! Each waiting call gets a decision saying what the change did to it.

use super::state::{ExitHold, Phase};
use super::Engine;
use crate::calendar::is_open;
use crate::config::{RoutingConfig, SkillExpr, StepAction};
use crate::decision::{Decision, DecisionAction, Explanation};
use crate::event::CallAttributes;
use crate::ids::CallId;
use crate::routes::match_route;
use crate::skill::ExprDisplay;
use crate::time::Timestamp;
use std::sync::Arc;

impl Engine {
    /// The first route that applies to a call with `attributes` arriving in queue `q` now,
    /// with the queue's state as it is.
    pub(super) fn match_route_now(
        &self,
        q: usize,
        attributes: &CallAttributes,
        now: Timestamp,
    ) -> Option<usize> {
        let queue = &self.queues[q].id;
        match_route(&self.config, queue, attributes, now, &|tests| {
            self.state_holds(q, tests, now)
        })
    }

    pub(super) fn on_rules_changed(&mut self, now: Timestamp, config: Arc<RoutingConfig>) {
        self.config = config;
        let config = Arc::clone(&self.config);
        let mut waiting = Vec::new();
        for call in self.calls.values_mut() {
            // The new table's answer; an entry removed keeps its old value until the call's
            // next snapshot brings IP Office's own back.
            crate::lookup::apply_config(&config, &mut call.attributes);
            // Every call keeps its route by name when the new rules still have it; a route
            // that disappeared leaves calls on their way to an agent or out of the queue with
            // their current requirement and no further steps.
            call.route = call
                .route_name
                .as_ref()
                .and_then(|name| config.routes.iter().position(|r| &r.name == name));
            if call.phase == Phase::Waiting {
                waiting.push(call.id);
            } else if call.route.is_none() {
                call.route_name = None;
            }
        }
        self.reindex_all(now);
        for id in waiting {
            self.carry_over(now, id);
        }
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            self.schedule_call(id, now);
        }
    }

    /// Brings one waiting call under the new rules without replaying its past (see the module
    /// docs), and says what changed.
    fn carry_over(&mut self, now: Timestamp, id: CallId) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let q = call.queue;
        let waited = now.since(call.arrival);
        let old_route = call.route_name.clone();
        let old_required = call.required.clone();
        let kept = call.route.is_some();
        let route_ix = if kept {
            call.route
        } else {
            self.match_route_now(q, &call.attributes.clone(), now)
        };
        let config = Arc::clone(&self.config);
        let route = route_ix.and_then(|r| config.routes.get(r));
        let mut required = route.map_or(SkillExpr::Any, |r| r.requires.clone());
        let mut priority = route.and_then(|r| r.priority).map_or(1, |p| p.level());
        let mut next_step = 0;
        let mut skipped_overflows = 0;
        if let Some(route) = route {
            for step in route.steps.iter().take_while(|s| s.after_ms <= waited) {
                next_step += 1;
                match &step.action {
                    StepAction::Require(expr) => required = expr.clone(),
                    StepAction::Priority(p) => priority = priority.max(p.level()),
                    StepAction::Overflow(_) => skipped_overflows += 1,
                }
            }
        }
        let open = self.queues[q]
            .policy
            .as_ref()
            .and_then(|p| p.calendar.as_ref())
            .is_none_or(|c| is_open(c, now));
        let hold = ExitHold {
            presence_epoch: self.queues[q].presence_epoch,
            open,
        };
        let next_at = route
            .and_then(|r| r.steps.get(next_step))
            .map(|s| s.after_ms / 1000);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.route = route_ix;
        call.route_name = route.map(|r| r.name.clone());
        call.required = required.clone();
        // Priority never drops under a call: IP Office already queues it at the old one.
        call.priority = call.priority.max(priority);
        call.next_step = next_step;
        call.last_step = next_step.checked_sub(1);
        call.exit_hold = Some(hold);
        let mut what = Vec::new();
        match (&old_route, &call.route_name) {
            (Some(a), Some(b)) if a == b => what.push(format!("keeps route \"{b}\"")),
            (_, Some(b)) => what.push(format!("now route \"{b}\"")),
            (Some(_), None) => what.push("no route applies any more".to_string()),
            (None, None) => what.push("no route".to_string()),
        }
        if required != old_required {
            what.push(format!("requires {}", ExprDisplay(&required)));
        }
        match next_at {
            Some(s) => what.push(format!("next step at {s}s")),
            None => what.push("no further step".to_string()),
        }
        if skipped_overflows > 0 {
            what.push(format!(
                "{skipped_overflows} overflow step(s) already past due at {}s of waiting: not fired",
                waited / 1000
            ));
        }
        let mut explanation = Explanation::bare(
            call.route_name.clone(),
            call.last_step,
            call.required.clone(),
        );
        explanation.reason = what.join("; ");
        let version = self.config.version;
        let queue = self.queues[q].id.clone();
        self.index_call(id);
        self.dirty_calls.insert(id);
        self.decide(Decision {
            call: id,
            queue,
            action: DecisionAction::RulesApplied { version },
            explanation,
        });
    }
}
