//! A warning for a collective queue whose routes start with different requirements.
//!
//! With `delivery = "collective"` the engine enables the members who meet the requirement of
//! the call IP Office serves next, and IP Office rings them for whichever waiting call it
//! serves first. Per-call requirements therefore hold for that call only: when the queue's
//! routes ask for different skills, a call may ring at agents chosen for another. Not an error
//! (a queue whose callers all need the same team is the case collective delivery is for, and
//! a supervisor may accept the mix), but `check` says so, naming the routes.

use crate::diag::Diag;
use crate::model::RulesDef;
use crate::skill_expr::format_skill_expr;
use acd_core::Delivery;

/// Appends a warning per collective queue whose routes have different first requirements.
pub fn check(def: &RulesDef, diags: &mut Vec<Diag>) {
    for queue in &def.queues {
        let Some(delivery) = &queue.delivery else {
            continue;
        };
        if delivery.value != Delivery::Collective {
            continue;
        }
        let routes: Vec<_> = (def.routes.iter())
            .filter(|r| {
                r.queue_refs.is_empty() || r.queue_refs.iter().any(|q| q.value == queue.name.value)
            })
            .collect();
        let mut requirements: Vec<String> = routes
            .iter()
            .map(|r| format_skill_expr(&r.requires))
            .collect();
        requirements.sort_unstable();
        requirements.dedup();
        if requirements.len() < 2 {
            continue;
        }
        let named: Vec<String> = routes
            .iter()
            .map(|r| {
                format!(
                    "\"{}\" requires {}",
                    r.name.value,
                    format_skill_expr(&r.requires)
                )
            })
            .collect();
        diags.push(
            Diag::warning(
                "rules::collective-mixed-requirements",
                format!(
                    "queue `{}` is delivered collectively, but its routes start with different \
                     requirements",
                    queue.name.value
                ),
            )
            .at(
                &delivery.loc,
                "IP Office rings the enabled members for any waiting call",
            )
            .help(format!(
                "{}: the engine enables the members who meet the requirement of the call IP \
                 Office serves next, and IP Office may ring them for another waiting call; \
                 give such callers queues of their own, or use delivery = \"offer\"",
                named.join(", ")
            )),
        );
    }
}
