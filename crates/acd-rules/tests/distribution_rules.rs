//! The rule keys of the distribution model (issue 12) read into what the engine runs, and their
//! mistakes reported where they were made.

use acd_core::{
    AtClose, Comparison, Condition, Delivery, Holiday, PriorityOrder, QueueId, QueueMetric,
    StateTest, Target,
};
use acd_rules::check_sources;
use acd_store::SourceFile;

fn check(text: &str) -> acd_rules::Checked {
    check_sources(vec![SourceFile::new("rules.toml", text)])
}

const BASE: &str = r#"
[skills]
deu = "German"
sales = "Sales"

[agents.201]
skills = { deu = 9, sales = 5 }
[agents.202]
skills = { sales = 9 }
[agents.203]
skills = { deu = 5 }
"#;

#[test]
fn tiers_helpers_exits_and_calendar_keys_compile() {
    let text = format!(
        r#"{BASE}
[settings]
priority_order = "aging"
priority_step = "90s"

[queues.Sales]
strategy = "linear"
agents = ["201"]
backup_agents = ["202"]
helpers = ["203"]
helpers_when = "oldest_wait > 60s AND agents_free == 0"
when_no_qualified_agents = "voicemail:Sales"

[queues.Sales.calendar]
open = ["Mon-Fri 08:00-12:00", "Mon-Fri 13:00-17:00"]
closed = ["12-25", "easter-2", "easter+1", 2026-12-24]
night = "voicemail:Night"
holiday = "voicemail:Holiday"
waiting_at_close = "send"

[[routes]]
name = "weekend German"
queue = "Sales"
days = "Sat,Sun"
when = "calls_waiting >= 3"
requires = "deu"

  [[routes.steps]]
  after = "1m"
  when = "expected_wait > 2m"
  overflow = "voicemail:Sales"
"#
    );
    let checked = check(&text);
    assert!(checked.is_ok(), "{}", checked.report.render());
    let cfg = checked.config;
    assert_eq!(cfg.priority_order, PriorityOrder::Aging { step_ms: 90_000 });
    let q = &cfg.queues[&QueueId::from("Sales")];
    assert_eq!(q.agents, vec!["201".into()]);
    assert_eq!(q.backup_agents, vec!["202".into()]);
    assert_eq!(q.helpers, vec!["203".into()]);
    assert_eq!(
        q.helpers_when,
        vec![
            StateTest {
                metric: QueueMetric::OldestWait,
                comparison: Comparison::Greater,
                value: 60_000
            },
            StateTest {
                metric: QueueMetric::AgentsFree,
                comparison: Comparison::Equal,
                value: 0
            }
        ]
    );
    assert_eq!(
        q.no_qualified_target,
        Some(Target::Voicemail("Sales".into()))
    );
    let cal = q.calendar.as_ref().unwrap();
    assert_eq!(
        cal.holidays,
        vec![
            Holiday::Annual { month: 12, day: 25 },
            Holiday::Easter { offset_days: -2 },
            Holiday::Easter { offset_days: 1 },
            Holiday::Date(20_811),
        ]
    );
    assert_eq!(
        cal.holiday_target,
        Some(Target::Voicemail("Holiday".into()))
    );
    assert_eq!(cal.at_close, AtClose::Send);
    let route = &cfg.routes[0];
    assert!(route.conditions.contains(&Condition::Weekdays(0b110_0000)));
    assert!(route.conditions.iter().any(|c| matches!(
        c,
        Condition::QueueState(t) if t[0].metric == QueueMetric::CallsWaiting
    )));
    assert_eq!(route.steps[0].when[0].metric, QueueMetric::ExpectedWait);
    assert_eq!(route.steps[0].when[0].value, 120_000);
}

#[test]
fn strict_priority_is_the_default() {
    let checked = check(BASE);
    assert!(checked.is_ok(), "{}", checked.report.render());
    assert_eq!(checked.config.priority_order, PriorityOrder::Strict);
}

#[test]
fn mistakes_in_the_new_keys_are_reported_at_their_place() {
    let text = format!(
        r#"{BASE}
[settings]
priority_step = "1m"

[queues.Sales]
agents = ["201"]
backup_agents = ["201"]
helpers = ["203"]

[queues.Sales.calendar]
open = ["Mon-Fri 08:00-17:00"]
closed = ["easter+x"]
night = "voicemail:Night"
waiting_at_close = "dump"

[[routes]]
name = "r"
when = "oldest_wiat > 1m"
days = "Mon-Fry"
"#
    );
    let checked = check(&text);
    let codes: Vec<&str> = checked.report.diags.iter().map(|d| d.code).collect();
    let rendered = checked.report.render();
    for (code, words) in [
        ("rules::conflict", "priority_step"),
        ("rules::duplicate", "listed twice"),
        ("rules::missing-field", "helpers_when"),
        ("rules::bad-date", "easter+x"),
        ("rules::out-of-range", "waiting_at_close"),
        ("rules::bad-condition", "did you mean `oldest_wait`?"),
        ("rules::bad-time", "Mon-Fry"),
    ] {
        assert!(codes.contains(&code), "{code} missing:\n{rendered}");
        assert!(rendered.contains(words), "{words} missing:\n{rendered}");
    }
}

#[test]
fn old_score_weights_still_read_with_a_warning() {
    let text = format!("{BASE}\n[settings.weights]\nskill = 10.0\n");
    let checked = check(&text);
    assert!(checked.is_ok(), "{}", checked.report.render());
    assert_eq!(checked.report.diags[0].code, "rules::obsolete");
}

#[test]
fn a_conditional_overflow_does_not_make_later_steps_unreachable() {
    let text = format!(
        r#"{BASE}
[queues.Sales]

[[routes]]
name = "r"
requires = "sales"

  [[routes.steps]]
  after = "1m"
  when = "calls_waiting >= 10"
  overflow = "voicemail:Sales"

  [[routes.steps]]
  after = "2m"
  overflow = "voicemail:Sales"
"#
    );
    let checked = check(&text);
    assert_eq!(checked.report.warnings(), 0, "{}", checked.report.render());
}

/// Issue 14: balancing by service level, reserve agents by service level, and not-ready only
/// after repeated missed offers.
#[test]
fn balance_reserves_and_forgiving_rona_compile() {
    let text = format!(
        r#"{BASE}
[settings]
balance = "service-level"
service_level_window = "20m"
default_rona = {{ ring = "15s", not_ready = "30s", not_ready_after = 3 }}

[queues.Sales]
agents = ["201"]
helpers = ["203"]
helpers_when = "service_level < 80%"
"#
    );
    let checked = check(&text);
    assert!(checked.is_ok(), "{}", checked.report.render());
    let cfg = checked.config;
    assert_eq!(cfg.balance, acd_core::Balance::ServiceLevel);
    assert_eq!(cfg.service_level_window_ms, 20 * 60_000);
    assert_eq!(cfg.default_rona.not_ready_after_misses, 3);
    let q = &cfg.queues[&QueueId::from("Sales")];
    assert_eq!(
        q.helpers_when,
        vec![StateTest {
            metric: QueueMetric::ServiceLevel,
            comparison: Comparison::Less,
            value: 80,
        }]
    );
    // Without the keys: balance by waiting time, not-ready after two misses in a row.
    let plain = check(BASE).config;
    assert_eq!(plain.balance, acd_core::Balance::WaitingTime);
    assert_eq!(plain.default_rona.not_ready_after_misses, 2);

    let wrong = check(&format!(
        "{BASE}\n[settings]\nbalance = \"fairness\"\ndefault_rona = {{ not_ready_after = 0 }}\n\
         [queues.Sales]\nagents = [\"201\"]\nhelpers = [\"203\"]\nhelpers_when = \"service_level < 180\"\n"
    ));
    let rendered = wrong.report.render();
    for words in [
        "unknown balance \"fairness\"",
        "`not_ready_after` = 0 is out of range",
        "percentage from 0 to 100",
    ] {
        assert!(rendered.contains(words), "{words} missing:\n{rendered}");
    }
}

/// Issue 24: a forwarded agent takes no calls unless their rules say the forward leads to a
/// phone they answer; the key takes only true or false.
#[test]
fn take_calls_when_forwarded_is_read_per_agent_and_checked() {
    let text = r#"
[skills]
sales = "Sales"

[agents.201]
skills = { sales = 5 }
take_calls_when_forwarded = true
[agents.202]
skills = { sales = 5 }

[queues.Sales]
agents = ["201", "202"]

[[routes]]
name = "all"
queue = "Sales"
requires = "sales"
"#;
    let checked = check(text);
    assert!(checked.is_ok(), "{}", checked.report.render());
    let agents = &checked.config.agents;
    assert!(agents[&"201".into()].takes_calls_when_forwarded);
    assert!(!agents[&"202".into()].takes_calls_when_forwarded);

    let wrong = text.replace(
        "take_calls_when_forwarded = true",
        "take_calls_when_forwarded = \"yes\"",
    );
    let checked = check(&wrong);
    assert!(!checked.is_ok());
    assert!(
        checked
            .report
            .render()
            .contains("take_calls_when_forwarded"),
        "{}",
        checked.report.render()
    );
}

/// Issue 25: `ring_when_others_free` is read into the queue's and the default ring-no-answer
/// policy, and refused when longer than `ring` or shorter than a second.
#[test]
fn ring_when_others_free_is_read_and_bounded_by_ring() {
    let text = |rona: &str| {
        format!(
            r#"{BASE}
[settings]
default_rona = {{ {rona} }}

[queues.Sales]
agents = ["201", "202"]

[[routes]]
name = "all"
queue = "Sales"
requires = "sales"
"#
        )
    };
    let checked = check(&text(r#"ring = "15s", ring_when_others_free = "5s""#));
    assert!(checked.is_ok(), "{}", checked.report.render());
    assert_eq!(
        checked.config.default_rona.ring_when_others_free_ms,
        Some(5_000)
    );
    assert_eq!(
        check(BASE).config.default_rona.ring_when_others_free_ms,
        None
    );
    for wrong in [
        r#"ring = "15s", ring_when_others_free = "20s""#,
        r#"ring = "15s", ring_when_others_free = "500ms""#,
    ] {
        let checked = check(&text(wrong));
        assert!(!checked.is_ok(), "{wrong}");
        assert!(
            checked.report.render().contains("ring_when_others_free"),
            "{}",
            checked.report.render()
        );
    }
}

/// Issue 25, the collective race: `delivery` is read into the queue's policy ("offer" unless
/// set), a wrong value is refused with the two choices, and a collective queue whose routes
/// start with different requirements draws a warning naming them.
#[test]
fn delivery_is_read_refused_when_unknown_and_mixed_requirements_are_warned() {
    let text = |delivery: &str, second_requires: &str| {
        format!(
            r#"{BASE}
[queues.Sales]
agents = ["201", "202"]
{delivery}

[[routes]]
name = "German"
queue = "Sales"
language = "deu"
requires = "{second_requires}"

[[routes]]
name = "all"
queue = "Sales"
requires = "sales"
"#
        )
    };
    let sales = QueueId::from("Sales");
    let checked = check(&text("", "sales"));
    assert!(checked.is_ok(), "{}", checked.report.render());
    assert_eq!(checked.config.queues[&sales].delivery, Delivery::Offer);

    let checked = check(&text(r#"delivery = "collective""#, "sales"));
    assert!(checked.is_ok(), "{}", checked.report.render());
    assert_eq!(checked.report.warnings(), 0, "{}", checked.report.render());
    assert_eq!(checked.config.queues[&sales].delivery, Delivery::Collective);

    let checked = check(&text(r#"delivery = "collective""#, "deu"));
    assert!(checked.is_ok(), "a warning, not an error");
    let rendered = checked.report.render();
    assert!(
        rendered.contains("collective-mixed-requirements")
            && rendered.contains("\"German\" requires deu"),
        "{rendered}"
    );
    // The same routes under offers: each call gets its own requirement, nothing to say.
    assert_eq!(check(&text("", "deu")).report.warnings(), 0);

    let checked = check(&text(r#"delivery = "together""#, "sales"));
    assert!(!checked.is_ok());
    assert!(
        checked.report.render().contains("unknown delivery"),
        "{}",
        checked.report.render()
    );
}
