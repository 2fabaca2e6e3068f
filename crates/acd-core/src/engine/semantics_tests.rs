//! What supervisors asked for in issue 12, each as a test: exits that fit real centres, queue
//! state conditions, tiers and helpers, calendars with holidays, and rules changes that never
//! dump waiting callers.

use super::tests::{
    agent_event, config, policy, profile, queue_event, queued_call, skill, transfers, Sim,
};
use super::*;
use crate::calendar::days_from_civil;
use crate::config::*;
use crate::decision::{DecisionAction, ExitReason};
use crate::event::*;
use crate::utc_offsets::UtcOffsets;

const Q: &str = "Sales";
const DAY_MS: u64 = 86_400_000;
const HOUR_MS: u64 = 3_600_000;

fn german_call(id: u64, queue: &str) -> Event {
    let mut event = queued_call(id, queue, 1, Features::ALL_QUEUE_ACTIONS);
    if let Event::CallQueued(q) = &mut event {
        q.attributes.language = "deu".into();
    }
    event
}

fn route(name: &str, conditions: Vec<Condition>, requires: SkillExpr, steps: Vec<Step>) -> Route {
    Route {
        name: name.into(),
        conditions,
        requires,
        steps,
        priority: None,
    }
}

fn step(after_ms: Millis, action: StepAction) -> Step {
    Step {
        after_ms,
        action,
        when: vec![],
    }
}

fn exits(out: &Output) -> Vec<(CallId, ExitReason, Target)> {
    out.decisions
        .iter()
        .filter_map(|d| match &d.action {
            DecisionAction::Exit { target, reason } => Some((d.call, *reason, target.clone())),
            _ => None,
        })
        .collect()
}

fn overflows(out: &Output) -> Vec<CallId> {
    out.decisions
        .iter()
        .filter(|d| matches!(d.action, DecisionAction::Overflow { .. }))
        .map(|d| d.call)
        .collect()
}

/// Issue 12: a German Support call waited 75 s and abandoned while only an English agent was
/// idle: `when_no_agents` fires only when nobody at all is logged in.
#[test]
fn no_qualified_agent_exit_takes_a_german_call_only_english_agents_could_answer() {
    let mut p = policy(Q, PickStrategy::LongestIdle, &["2001"]);
    p.no_qualified_target = Some(Target::Voicemail("de".into()));
    let mut c = config(vec![p], vec![profile("2001", &[("eng", 9)])]);
    c.routes.push(route(
        "german",
        vec![Condition::Language(vec!["deu".into()])],
        skill("deu", 5),
        vec![],
    ));
    let mut sim = Sim::new(c);
    sim.idle("2001");
    let out = sim.send(german_call(1, Q)).clone();
    assert_eq!(
        exits(&out),
        vec![(
            CallId(1),
            ExitReason::NoQualifiedAgents,
            Target::Voicemail("de".into())
        )]
    );
    assert!(out.decisions[0]
        .to_string()
        .contains("no logged-in agent has deu>=5"));
    // An English call still reaches the English agent.
    let out = sim.call(2).clone();
    assert_eq!(transfers(&out)[0].2, Target::Agent("2001".into()));
}

#[test]
fn no_qualified_agent_exit_waits_when_a_later_step_widens_to_a_logged_in_agent() {
    let mut p = policy(Q, PickStrategy::LongestIdle, &["2001", "2002"]);
    p.no_qualified_target = Some(Target::Voicemail("de".into()));
    let mut c = config(
        vec![p],
        vec![
            profile("2001", &[("eng", 9)]),
            profile("2002", &[("deu", 9)]),
        ],
    );
    c.routes.push(route(
        "german",
        vec![Condition::Language(vec!["deu".into()])],
        skill("deu", 5),
        vec![step(30_000, StepAction::Require(skill("eng", 1)))],
    ));
    let mut sim = Sim::new(c);
    sim.send(agent_event("2001", true, PhoneState::OnCall));
    sim.send(agent_event("2002", false, PhoneState::Idle));
    let out = sim.send(german_call(1, Q)).clone();
    // No German agent is logged in, but the step at 30 s lets the English agent take it.
    assert!(
        exits(&out).is_empty(),
        "the English agent may take it at 30 s"
    );
    sim.wait(30_000);
    let out = sim.idle("2001").clone();
    assert_eq!(transfers(&out)[0].2, Target::Agent("2001".into()));
}

/// Issue 12: a reload re-played every waiting call from its arrival: adding a 15 s overflow
/// sent a call that had waited 20 s to voicemail within a millisecond of the new version.
#[test]
fn a_rules_change_never_fires_an_overflow_already_past_due() {
    let mut c = config(
        vec![policy(Q, PickStrategy::LongestIdle, &["2001"])],
        vec![profile("2001", &[("sales", 5), ("eng", 5)])],
    );
    c.routes
        .push(route("sales", vec![], skill("sales", 9), vec![]));
    let mut sim = Sim::new(c.clone());
    sim.send(agent_event("2001", true, PhoneState::OnCall));
    sim.call(1);
    sim.wait(20_000);
    c.version = 2;
    c.routes[0].steps = vec![
        step(10_000, StepAction::Require(skill("eng", 1))),
        step(15_000, StepAction::Overflow(Target::Voicemail("vm".into()))),
        step(
            60_000,
            StepAction::Overflow(Target::Voicemail("late".into())),
        ),
    ];
    let out = sim.send(Event::RulesChanged(Arc::new(c))).clone();
    assert!(
        overflows(&out).is_empty(),
        "no overflow because rules changed"
    );
    assert!(transfers(&out).is_empty());
    let applied = out
        .decisions
        .iter()
        .find(|d| matches!(d.action, DecisionAction::RulesApplied { version: 2 }))
        .map(|d| d.explanation.reason.clone())
        .unwrap_or_default();
    assert!(applied.contains("keeps route \"sales\""), "{applied}");
    assert!(applied.contains("requires eng>=1"), "{applied}");
    assert!(applied.contains("next step at 60s"), "{applied}");
    assert!(
        applied.contains("1 overflow step(s) already past due"),
        "{applied}"
    );
    // The past-due requirement applied once: the agent, free again, may take it now.
    let out = sim.idle("2001").clone();
    assert_eq!(transfers(&out)[0].2, Target::Agent("2001".into()));
}

#[test]
fn after_a_rules_change_the_next_step_still_runs_on_time() {
    let mut c = config(
        vec![policy(Q, PickStrategy::LongestIdle, &["2001"])],
        vec![profile("2001", &[])],
    );
    c.routes
        .push(route("sales", vec![], skill("sales", 9), vec![]));
    let mut sim = Sim::new(c.clone());
    sim.idle("2001");
    sim.call(1);
    sim.wait(20_000);
    c.routes[0].steps = vec![
        step(15_000, StepAction::Overflow(Target::Voicemail("vm".into()))),
        step(
            60_000,
            StepAction::Overflow(Target::Voicemail("late".into())),
        ),
    ];
    let out = sim.send(Event::RulesChanged(Arc::new(c))).clone();
    assert!(overflows(&out).is_empty());
    let out = sim.wait(39_000);
    assert!(overflows(&out).is_empty(), "not before 60 s");
    let out = sim.wait(1_000);
    assert_eq!(overflows(&out), vec![CallId(1)]);
    assert_eq!(transfers(&out)[0].3, "/102/late");
}

#[test]
fn a_rules_change_does_not_fire_the_no_agents_exit_by_itself() {
    let c = config(
        vec![policy(Q, PickStrategy::LongestIdle, &["2001"])],
        vec![profile("2001", &[])],
    );
    let mut sim = Sim::new(c.clone());
    sim.send(agent_event("2001", false, PhoneState::Idle));
    sim.call(1);
    sim.wait(30_000);
    let mut c2 = c.clone();
    if let Some(p) = c2.queues.get_mut(&QueueId::from(Q)) {
        p.no_agents_target = Some(Target::Voicemail("vm".into()));
    }
    let out = sim.send(Event::RulesChanged(Arc::new(c2))).clone();
    assert!(exits(&out).is_empty(), "nobody logged in before and after");
    let out = sim.wait(60_000);
    assert!(exits(&out).is_empty());
    // The queue's state changes: an agent logs in and out again; the exit now applies.
    sim.send(agent_event("2001", true, PhoneState::OnCall));
    let out = sim
        .send(agent_event("2001", false, PhoneState::Idle))
        .clone();
    assert_eq!(exits(&out).len(), 1);
    // A call arriving after the change takes the exit at once.
    let out = sim.call(2).clone();
    assert_eq!(exits(&out)[0].0, CallId(2));
}

fn lunch_calendar(at_close: AtClose) -> Calendar {
    Calendar {
        utc_offsets: UtcOffsets::fixed(0),
        open: vec![
            OpenWindow {
                weekdays: 0b001_1111,
                from_minute: 8 * 60,
                to_minute: 12 * 60,
            },
            OpenWindow {
                weekdays: 0b001_1111,
                from_minute: 13 * 60,
                to_minute: 17 * 60,
            },
        ],
        holidays: vec![
            Holiday::Annual { month: 12, day: 25 },
            Holiday::Easter { offset_days: -2 },
        ],
        night_target: Target::Voicemail("night".into()),
        holiday_target: Some(Target::Voicemail("holiday".into())),
        at_close,
    }
}

/// Friday 2026-12-04, `hh:mm` UTC.
fn friday(hour: u64, minute: u64) -> u64 {
    days_from_civil(2026, 12, 4) as u64 * DAY_MS + hour * HOUR_MS + minute * 60_000
}

fn calendar_sim(at_close: AtClose) -> Sim {
    let mut p = policy(Q, PickStrategy::LongestIdle, &["2001"]);
    p.calendar = Some(lunch_calendar(at_close));
    let mut sim = Sim::new(config(vec![p], vec![profile("2001", &[])]));
    sim.now = friday(11, 58);
    sim.send(agent_event("2001", true, PhoneState::OnCall));
    sim
}

/// Issue 12: when a calendar closed (a Friday lunch break), calls already waiting went to night
/// service at that minute.
#[test]
fn at_closing_time_calls_already_waiting_are_served() {
    let mut sim = calendar_sim(AtClose::Serve);
    sim.call(1);
    let out = sim.wait(5 * 60_000);
    assert!(exits(&out).is_empty(), "waiting at 12:00 stays");
    // A call arriving during lunch goes to night service.
    let out = sim.call(2).clone();
    assert_eq!(
        exits(&out),
        vec![(
            CallId(2),
            ExitReason::Closed,
            Target::Voicemail("night".into())
        )]
    );
    // The agent frees up during lunch: the call that waited is answered.
    let out = sim.idle("2001").clone();
    assert_eq!(transfers(&out)[0].1, CallId(1));
}

#[test]
fn at_closing_time_waiting_calls_can_be_sent_on() {
    let mut sim = calendar_sim(AtClose::Send);
    sim.call(1);
    let out = sim.wait(5 * 60_000);
    assert_eq!(exits(&out)[0].0, CallId(1));
    assert_eq!(exits(&out)[0].1, ExitReason::Closed);
}

/// Issue 12: holidays and after-hours shared one target, and every holiday date was listed by
/// hand.
#[test]
fn holidays_recur_every_year_and_take_their_own_target() {
    for (y, m, d) in [(2026, 12, 25), (2027, 12, 25), (2027, 3, 26)] {
        let mut sim = calendar_sim(AtClose::Serve);
        sim.now = days_from_civil(y, m, d) as u64 * DAY_MS + 10 * HOUR_MS;
        let out = sim.call(1).clone();
        assert_eq!(
            exits(&out),
            vec![(
                CallId(1),
                ExitReason::Holiday,
                Target::Voicemail("holiday".into())
            )],
            "{y}-{m}-{d}"
        );
    }
}

/// Issue 12: a team lead who helps "when the queue's oldest call waits over 60 s" could not be
/// expressed.
#[test]
fn helpers_take_calls_only_while_the_oldest_call_waits_over_a_minute() {
    let mut p = policy(Q, PickStrategy::LongestIdle, &["2001"]);
    p.helpers = vec!["lead".into()];
    p.helpers_when = vec![StateTest {
        metric: QueueMetric::OldestWait,
        comparison: Comparison::Greater,
        value: 60_000,
    }];
    let mut sim = Sim::new(config(
        vec![p],
        vec![profile("2001", &[]), profile("lead", &[])],
    ));
    sim.send(agent_event("2001", true, PhoneState::OnCall));
    sim.idle("lead");
    let out = sim.call(1).clone();
    assert!(transfers(&out).is_empty(), "the lead is not needed yet");
    let out = sim.wait(60_000);
    assert!(transfers(&out).is_empty(), "60 s is not over 60 s");
    let out = sim.wait(1);
    assert_eq!(transfers(&out)[0].2, Target::Agent("lead".into()));
    // A fresh call with nobody waiting long does not go to the lead.
    sim.send(agent_event("lead", true, PhoneState::Idle));
    let out = sim.call(2).clone();
    assert!(transfers(&out).is_empty());
}

#[test]
fn backup_agents_get_a_call_only_when_no_first_choice_agent_is_free() {
    let mut p = policy(Q, PickStrategy::LongestIdle, &["2001"]);
    p.backup_agents = vec!["2002".into()];
    let mut sim = Sim::new(config(
        vec![p],
        vec![profile("2001", &[]), profile("2002", &[])],
    ));
    sim.idle("2002");
    sim.wait(600_000);
    sim.idle("2001");
    // 2002 idled ten minutes longer, but 2001 is first choice.
    let out = sim.call(1).clone();
    assert_eq!(transfers(&out)[0].2, Target::Agent("2001".into()));
    let out = sim.call(2).clone();
    assert_eq!(transfers(&out)[0].2, Target::Agent("2002".into()));
}

#[test]
fn routes_and_steps_test_the_queue_state() {
    let busy = StateTest {
        metric: QueueMetric::CallsWaiting,
        comparison: Comparison::GreaterOrEqual,
        value: 2,
    };
    let mut c = config(
        vec![policy(Q, PickStrategy::LongestIdle, &["2001"])],
        vec![profile("2001", &[])],
    );
    c.routes.push(route(
        "busy",
        vec![Condition::QueueState(vec![busy])],
        SkillExpr::Any,
        vec![],
    ));
    c.routes.push(route(
        "normal",
        vec![],
        SkillExpr::Any,
        vec![Step {
            after_ms: 10_000,
            action: StepAction::Overflow(Target::Voicemail("vm".into())),
            when: vec![busy],
        }],
    ));
    let mut sim = Sim::new(c);
    sim.send(agent_event("2001", true, PhoneState::OnCall));
    let out = sim.call(1).clone();
    assert_eq!(out.decisions.len(), 0);
    sim.call(2);
    sim.call(3);
    // Call 3 arrived with two waiting: route "busy".
    assert_eq!(
        sim.engine.calls[&CallId(3)].route_name.as_deref(),
        Some("busy")
    );
    assert_eq!(
        sim.engine.calls[&CallId(2)].route_name.as_deref(),
        Some("normal")
    );
    // At 10 s call 1's step finds three calls waiting: it overflows.
    let out = sim.wait(10_000);
    assert!(overflows(&out).contains(&CallId(1)));
}

#[test]
fn a_step_whose_condition_does_not_hold_is_skipped() {
    let mut c = config(
        vec![policy(Q, PickStrategy::LongestIdle, &["2001"])],
        vec![profile("2001", &[])],
    );
    c.routes.push(route(
        "normal",
        vec![],
        SkillExpr::Any,
        vec![Step {
            after_ms: 10_000,
            action: StepAction::Overflow(Target::Voicemail("vm".into())),
            when: vec![StateTest {
                metric: QueueMetric::CallsWaiting,
                comparison: Comparison::GreaterOrEqual,
                value: 5,
            }],
        }],
    ));
    let mut sim = Sim::new(c);
    sim.send(agent_event("2001", true, PhoneState::OnCall));
    sim.call(1);
    let out = sim.wait(20_000);
    assert!(overflows(&out).is_empty());
    assert!(out
        .decisions
        .iter()
        .any(|d| d.explanation.reason.contains("skipped")));
}

#[test]
fn weekday_conditions_choose_routes_by_local_day() {
    let mut c = config(
        vec![policy(Q, PickStrategy::LongestIdle, &["2001"])],
        vec![profile("2001", &[])],
    );
    c.routes.push(route(
        "weekend",
        vec![Condition::Weekdays(0b110_0000)],
        SkillExpr::Any,
        vec![],
    ));
    c.routes
        .push(route("weekday", vec![], SkillExpr::Any, vec![]));
    let mut sim = Sim::new(c);
    sim.send(queue_event(Q, "300", &[]));
    sim.now = friday(10, 0);
    sim.call(1);
    sim.now = friday(10, 0) + DAY_MS;
    sim.call(2);
    assert_eq!(
        sim.engine.calls[&CallId(1)].route_name.as_deref(),
        Some("weekday")
    );
    assert_eq!(
        sim.engine.calls[&CallId(2)].route_name.as_deref(),
        Some("weekend")
    );
}

mod serving_order {
    use super::*;
    use proptest::prelude::*;

    /// (arrival offset s, priority 1..=3, needs the skill)
    fn calls() -> impl Strategy<Value = Vec<(u64, u8, bool)>> {
        prop::collection::vec((0u64..300, 1u8..=3, any::<bool>()), 1..8)
    }

    proptest! {
        /// With strict priority, a freed agent takes the first call in serving order
        /// (priority, then arrival) that it may take, whatever the skill fit of the others.
        #[test]
        fn a_freed_agent_takes_the_first_call_it_may_take(
            calls in calls(),
            has_skill in any::<bool>(),
            level in 1u8..=10,
        ) {
            let skills: Vec<(&str, u8)> = if has_skill { vec![("x", level)] } else { vec![] };
            let mut c = config(
                vec![policy(Q, PickStrategy::BestSkill, &["a"])],
                vec![profile("a", &skills)],
            );
            c.routes.push(route(
                "needs x",
                vec![Condition::Tag(vec![crate::pattern::Pattern::new("x")])],
                skill("x", 1),
                vec![],
            ));
            let mut sim = Sim::new(c);
            sim.send(agent_event("a", true, PhoneState::OnCall));
            let start = sim.now;
            let mut order: Vec<(u64, u8, bool, u64)> = calls
                .iter()
                .enumerate()
                .map(|(i, (t, p, x))| (start + t * 1000 + i as u64, *p, *x, i as u64 + 1))
                .collect();
            order.sort_by_key(|(t, ..)| *t);
            for (t, p, x, id) in &order {
                sim.now = *t;
                let mut event = queued_call(*id, Q, *p, Features::ALL_QUEUE_ACTIONS);
                if let Event::CallQueued(q) = &mut event {
                    if *x {
                        q.attributes.tag = "x".into();
                    }
                }
                sim.send(event);
            }
            sim.now = start + 400_000;
            let out = sim.idle("a").clone();
            let expected = order
                .iter()
                .filter(|(_, _, x, _)| !x || has_skill)
                .min_by_key(|(t, p, _, _)| (std::cmp::Reverse(*p), *t))
                .map(|(.., id)| CallId(*id));
            let got = transfers(&out).first().map(|(_, call, ..)| *call);
            prop_assert_eq!(got, expected);
        }
    }
}
