//! Collective delivery in the deterministic simulation (issue 25): for a share of the seeds
//! (drawn in `faults.rs` from a stream of its own) some routed queues are delivered
//! collectively, and their hunt groups are set up as FORMAT.md asks the administrator to: ring
//! mode Collective, every agent the rules name for the queue listed, all disabled.

use crate::sim::scenario::RingMode;
use crate::sim::Scenario;
use acd_core::{Delivery, RoutingConfig};

/// The rules with collective delivery for the routed queues whose bit (in the rules' queue
/// order) is set in `mask`; the first routed queue when no bit falls on one.
pub fn deliver_collectively(rules: &RoutingConfig, mask: u64) -> RoutingConfig {
    let mut rules = rules.clone();
    let count = rules.queues.len().min(64);
    let mask = if (0..count).any(|i| mask & (1 << i) != 0) {
        mask
    } else {
        1
    };
    for (i, policy) in rules.queues.values_mut().enumerate() {
        if i < 64 && mask & (1 << i) != 0 {
            policy.delivery = Delivery::Collective;
        }
    }
    rules
}

/// Each collectively delivered queue's hunt group rings collectively and lists every agent the
/// rules name for it (the engine only enables members IP Office lists). Before
/// `Scenario::set_up_for_engine`, which disables them all.
pub fn set_up_groups(scenario: &mut Scenario, rules: &RoutingConfig) {
    for queue in scenario.queues.iter_mut() {
        let Some(policy) = rules.queues.values().find(|p| p.queue.0 == queue.name) else {
            continue;
        };
        if policy.delivery != Delivery::Collective {
            continue;
        }
        queue.ring_mode = RingMode::Collective;
        let named = (policy.agents.iter())
            .chain(&policy.backup_agents)
            .chain(&policy.helpers);
        for agent in named {
            if !queue.members.contains(&agent.0) {
                queue.members.push(agent.0.clone());
            }
        }
    }
}
