//! Choosing the route for a call: the first route whose conditions all hold.
//!
//! A separate module because the same matcher serves live calls and `explain` for hypothetical
//! ones, and both must agree exactly.

use crate::calendar::{local_day_minute, weekday};
use crate::config::{Condition, Route, RoutingConfig, StateTest};
use crate::event::CallAttributes;
use crate::ids::QueueId;
use crate::number;
use crate::time::Timestamp;

/// Index of the first route in `config` that applies to a call in `queue` with `attributes` at
/// `now`, if any. `queue_state` answers the routes' queue-state conditions (`when`) for that
/// queue now; the engine measures its queue, tools without one decide what to assume.
pub fn match_route(
    config: &RoutingConfig,
    queue: &QueueId,
    attributes: &CallAttributes,
    now: Timestamp,
    queue_state: &dyn Fn(&[StateTest]) -> bool,
) -> Option<usize> {
    config
        .routes
        .iter()
        .position(|route| route_applies(config, route, queue, attributes, now, queue_state))
}

fn route_applies(
    config: &RoutingConfig,
    route: &Route,
    queue: &QueueId,
    attributes: &CallAttributes,
    now: Timestamp,
    queue_state: &dyn Fn(&[StateTest]) -> bool,
) -> bool {
    route.conditions.iter().all(|condition| match condition {
        Condition::Queue(queues) => queues.contains(queue),
        Condition::Did(patterns) => patterns
            .iter()
            .any(|p| number::matches(config.numbering.as_ref(), p, &attributes.did)),
        Condition::CallingNumber(patterns) => patterns
            .iter()
            .any(|p| number::matches(config.numbering.as_ref(), p, &attributes.calling_number)),
        Condition::Language(languages) => languages
            .iter()
            .any(|l| l.eq_ignore_ascii_case(&attributes.language)),
        Condition::Trunk(trunks) => trunks.contains(&attributes.trunk),
        Condition::Tag(patterns) => patterns.iter().any(|p| p.matches(&attributes.tag)),
        Condition::TimeOfDay {
            from_minute,
            to_minute,
        } => {
            let (_, minute) = local_day_minute(now, config.utc_offsets.at(now));
            if from_minute <= to_minute {
                minute >= *from_minute && minute < *to_minute
            } else {
                minute >= *from_minute || minute < *to_minute
            }
        }
        Condition::Weekdays(days) => {
            let (day, _) = local_day_minute(now, config.utc_offsets.at(now));
            days & (1 << weekday(day)) != 0
        }
        Condition::QueueState(tests) => queue_state(tests),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SkillExpr;
    use crate::event::TrunkKind;
    use crate::pattern::Pattern;
    use crate::utc_offsets::UtcOffsets;

    fn route(name: &str, conditions: Vec<Condition>) -> Route {
        Route {
            name: name.into(),
            conditions,
            requires: SkillExpr::Any,
            steps: vec![],
            priority: None,
        }
    }

    #[test]
    fn first_matching_route_wins() {
        let config = RoutingConfig {
            utc_offsets: UtcOffsets::fixed(60),
            routes: vec![
                route(
                    "german-vip",
                    vec![
                        Condition::Language(vec!["deu".into()]),
                        Condition::CallingNumber(vec![Pattern::new("+4930*")]),
                    ],
                ),
                route(
                    "sip-night",
                    vec![
                        Condition::Trunk(vec![TrunkKind::Sip]),
                        Condition::TimeOfDay {
                            from_minute: 22 * 60,
                            to_minute: 6 * 60,
                        },
                    ],
                ),
                route("sales", vec![Condition::Queue(vec!["Sales".into()])]),
            ],
            ..RoutingConfig::default()
        };
        let sales = QueueId::from("Sales");
        let mut attrs = CallAttributes {
            language: "DEU".into(),
            calling_number: "+49301234".into(),
            ..CallAttributes::default()
        };
        assert_eq!(
            match_route(&config, &sales, &attrs, Timestamp(0), &|_| true),
            Some(0)
        );
        attrs.calling_number = "+4940".into();
        attrs.trunk = TrunkKind::Sip;
        // 00:00 UTC is 01:00 local: inside the overnight window.
        assert_eq!(
            match_route(&config, &sales, &attrs, Timestamp(0), &|_| true),
            Some(1)
        );
        // 12:00 UTC is 13:00 local: outside it.
        assert_eq!(
            match_route(&config, &sales, &attrs, Timestamp(12 * 3_600_000), &|_| {
                true
            }),
            Some(2)
        );
        assert_eq!(
            match_route(
                &config,
                &QueueId::from("Other"),
                &attrs,
                Timestamp(12 * 3_600_000),
                &|_| true
            ),
            None
        );
    }
}
