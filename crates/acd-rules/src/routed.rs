//! The queues the engine routes must stay defined in the rules.
//!
//! The daemon's `[routing] queues` names the hunt groups whose members the operator disabled
//! in IP Office: nobody answers their callers but the engine. A ruleset that renames or drops
//! one of them would leave those callers waiting for no one, with the queue's metrics frozen
//! and no alert able to fire; at start such rules are refused, and a change to them (a hot
//! reload, a rollback reaching the engine) must be refused the same way, naming the queue.

use crate::diag::Diag;
use acd_core::{QueueId, RoutingConfig};

/// An error for each queue in `routed` that `config` does not define. Names written as
/// `guid:…` select a group by IP Office's id and are not names the rules can define.
pub fn missing(config: &RoutingConfig, routed: &[String]) -> Vec<Diag> {
    routed
        .iter()
        .filter(|q| !q.starts_with("guid:"))
        .filter(|q| !config.queues.contains_key(&QueueId::from(q.as_str())))
        .map(|q| {
            Diag::error(
                "rules::routed-queue-missing",
                format!(
                    "queue `{q}` is routed by the engine ([routing] queues in its config) but \
                     these rules do not define it: its callers would wait with nobody to answer"
                ),
            )
            .help(format!(
                "put [queues.{q}] back in the rules (a renamed queue must keep IP Office's \
                 hunt-group name); to stop routing it, first remove \"{q}\" from [routing] \
                 queues, re-enable the group's members in IP Office and restart the engine"
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check_sources, SourceFile};

    #[test]
    fn each_routed_queue_the_rules_lack_is_named() {
        let checked = check_sources(vec![SourceFile::new("q.toml", "[queues.Sales]\n")]);
        let routed = ["Sales", "Support", "guid:0a0b"].map(String::from);
        let found = missing(&checked.config, &routed);
        assert_eq!(found.len(), 1);
        assert!(
            found[0].message.contains("`Support`"),
            "{}",
            found[0].message
        );
        assert!(missing(&checked.config, &routed[..1]).is_empty());
    }
}
