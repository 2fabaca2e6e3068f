//! Opening hours and route time windows under `time_zone = "Europe/Berlin"`: they follow the
//! wall clock through daylight saving, including the two nights a year the clocks change.
//!
//! Instants are written in UTC; Berlin is UTC+1 in winter and UTC+2 from the last Sunday of
//! March 01:00 UTC (02:00 → 03:00 local) to the last Sunday of October 01:00 UTC (03:00 → 02:00
//! local).

use acd_core::calendar::is_open;
use acd_core::routes::match_route;
use acd_core::{CallAttributes, QueueId, RoutingConfig, Timestamp};
use acd_rules::explain::{explain_call, parse_call};
use acd_rules::{check_sources, SourceFile};

const RULES: &str = r#"
[settings]
time_zone = "Europe/Berlin"

[agents.201]
name = "Anna"

[queues.Office]
agents = ["201"]
[queues.Office.calendar]
open = ["Mon-Fri 08:00-18:00"]
night = "voicemail:Office"

[queues.Night]
agents = ["201"]
[queues.Night.calendar]
open = ["Sun 01:00-04:00"]
night = "voicemail:Night"

[[routes]]
name = "The hour that comes twice"
queue = "Night"
time = "02:00-03:00"

[[routes]]
name = "Mornings"
queue = "Office"
time = "08:00-12:00"
"#;

fn config() -> RoutingConfig {
    let checked = check_sources(vec![SourceFile::new("rules.toml", RULES)]);
    assert!(!checked.report.has_errors(), "{}", checked.report.render());
    checked.config
}

/// An instant written as UTC, for example `2025-01-06T07:00Z`.
fn utc(text: &str) -> Timestamp {
    let ts: jiff::Timestamp = text.parse().unwrap();
    Timestamp(u64::try_from(ts.as_millisecond()).unwrap())
}

fn open(config: &RoutingConfig, queue: &str, at: &str) -> bool {
    let calendar = config.queues[&QueueId::from(queue)]
        .calendar
        .as_ref()
        .unwrap();
    is_open(calendar, utc(at))
}

/// The name of the route a call in `queue` gets at `at`, if any.
fn route(config: &RoutingConfig, queue: &str, at: &str) -> Option<String> {
    match_route(
        config,
        &QueueId::from(queue),
        &CallAttributes::default(),
        utc(at),
        &|_| true,
    )
    .map(|i| config.routes[i].name.clone())
}

/// Asserts the queue is closed just before `opens` and open from it, open just before `closes`
/// and closed from it.
fn assert_window(config: &RoutingConfig, queue: &str, opens: &str, closes: &str) {
    let before = |at: &str| Timestamp(utc(at).0 - 1);
    let calendar = config.queues[&QueueId::from(queue)]
        .calendar
        .as_ref()
        .unwrap();
    assert!(
        !is_open(calendar, before(opens)),
        "{queue} open before {opens}"
    );
    assert!(open(config, queue, opens), "{queue} closed at {opens}");
    assert!(
        is_open(calendar, before(closes)),
        "{queue} closed before {closes}"
    );
    assert!(!open(config, queue, closes), "{queue} open at {closes}");
}

#[test]
fn office_hours_are_local_in_winter_and_in_summer() {
    let c = config();
    // Monday 2025-01-06, UTC+1: 08:00-18:00 local is 07:00-17:00 UTC.
    assert_window(&c, "Office", "2025-01-06T07:00Z", "2025-01-06T17:00Z");
    // Monday 2025-07-07, UTC+2: 08:00-18:00 local is 06:00-16:00 UTC.
    assert_window(&c, "Office", "2025-07-07T06:00Z", "2025-07-07T16:00Z");
}

#[test]
fn office_hours_around_the_spring_forward_night() {
    let c = config();
    // Friday 2025-03-28, still winter time.
    assert_window(&c, "Office", "2025-03-28T07:00Z", "2025-03-28T17:00Z");
    // Monday 2025-03-31, summer time since Sunday 01:00 UTC.
    assert_window(&c, "Office", "2025-03-31T06:00Z", "2025-03-31T16:00Z");
}

#[test]
fn office_hours_around_the_fall_back_night() {
    let c = config();
    // Friday 2025-10-24, still summer time.
    assert_window(&c, "Office", "2025-10-24T06:00Z", "2025-10-24T16:00Z");
    // Monday 2025-10-27, winter time since Sunday 01:00 UTC.
    assert_window(&c, "Office", "2025-10-27T07:00Z", "2025-10-27T17:00Z");
}

#[test]
fn a_window_over_the_spring_forward_lasts_two_hours() {
    let c = config();
    // Sunday 2025-03-30: 01:00 CET is 00:00 UTC; 04:00 CEST is 02:00 UTC. The clock jumps from
    // 02:00 to 03:00 local at 01:00 UTC, and the queue stays open across the jump.
    assert_window(&c, "Night", "2025-03-30T00:00Z", "2025-03-30T02:00Z");
    assert!(open(&c, "Night", "2025-03-30T00:59:59Z"));
    assert!(open(&c, "Night", "2025-03-30T01:00Z"));
}

#[test]
fn a_window_over_the_fall_back_lasts_four_hours() {
    let c = config();
    // Sunday 2025-10-26: 01:00 CEST is 23:00 UTC on Saturday; 04:00 CET is 03:00 UTC. The clock
    // goes back from 03:00 to 02:00 local at 01:00 UTC, and the queue stays open across it.
    assert_window(&c, "Night", "2025-10-25T23:00Z", "2025-10-26T03:00Z");
    assert!(open(&c, "Night", "2025-10-26T00:59:59Z"));
    assert!(open(&c, "Night", "2025-10-26T01:00Z"));
}

#[test]
fn route_time_windows_follow_the_clock_change_both_ways() {
    let c = config();
    let twice = Some("The hour that comes twice".to_string());
    // Spring: local 02:00-03:00 does not exist on 2025-03-30; 01:59 CET (00:59 UTC) is
    // followed by 03:00 CEST (01:00 UTC).
    assert_eq!(route(&c, "Night", "2025-03-30T00:59:59Z"), None);
    assert_eq!(route(&c, "Night", "2025-03-30T01:00Z"), None);
    // The next day it is an ordinary summer hour: 00:00-01:00 UTC.
    assert_eq!(route(&c, "Night", "2025-03-31T00:00Z"), twice);
    assert_eq!(route(&c, "Night", "2025-03-31T01:00Z"), None);
    // Autumn: 02:00-03:00 local happens twice on 2025-10-26, first in summer time (00:00-01:00
    // UTC), then in winter time (01:00-02:00 UTC).
    assert_eq!(route(&c, "Night", "2025-10-25T23:59:59Z"), None);
    assert_eq!(route(&c, "Night", "2025-10-26T00:00Z"), twice);
    assert_eq!(route(&c, "Night", "2025-10-26T01:00Z"), twice);
    assert_eq!(route(&c, "Night", "2025-10-26T01:59:59Z"), twice);
    assert_eq!(route(&c, "Night", "2025-10-26T02:00Z"), None);
    // Mornings are 08:00 local all year.
    assert_eq!(
        route(&c, "Office", "2025-01-06T07:00Z").as_deref(),
        Some("Mornings")
    );
    assert_eq!(route(&c, "Office", "2025-07-07T05:59:59Z"), None);
    assert_eq!(
        route(&c, "Office", "2025-07-07T06:00Z").as_deref(),
        Some("Mornings")
    );
}

#[test]
fn explain_uses_the_offset_in_force_at_the_time_it_explains() {
    let c = config();
    let call = |words: &str| {
        let words: Vec<String> = words.split(' ').map(str::to_string).collect();
        parse_call(&words).unwrap()
    };
    // 06:30 UTC in July is 08:30 summer time: open, and a morning call.
    let text = explain_call(&c, &call("queue=Office"), utc("2025-07-07T06:30Z"));
    assert!(text.contains("at 08:30 local (UTC+02:00)"), "{text}");
    assert!(!text.contains("closed now"), "{text}");
    assert!(text.contains("route \"Mornings\": MATCHES"), "{text}");
    // The same UTC time in January is 07:30 winter time: closed.
    let text = explain_call(&c, &call("queue=Office"), utc("2025-01-06T06:30Z"));
    assert!(text.contains("at 07:30 local (UTC+01:00)"), "{text}");
    assert!(text.contains("queue Office is closed now"), "{text}");
    // Asked at 01:30 winter time on the spring-forward night, `time=10:00` is 10:00 summer time.
    let text = explain_call(
        &c,
        &call("queue=Night time=10:00"),
        utc("2025-03-30T00:30Z"),
    );
    assert!(text.contains("at 10:00 local (UTC+02:00)"), "{text}");
}

#[test]
fn a_fixed_utc_offset_still_ignores_daylight_saving() {
    let rules = RULES.replace("time_zone = \"Europe/Berlin\"", "utc_offset = \"+01:00\"");
    let checked = check_sources(vec![SourceFile::new("rules.toml", &rules)]);
    assert!(!checked.report.has_errors(), "{}", checked.report.render());
    let c = checked.config;
    assert!(c.utc_offsets.changes.is_empty());
    assert_window(&c, "Office", "2025-07-07T07:00Z", "2025-07-07T17:00Z");
}
