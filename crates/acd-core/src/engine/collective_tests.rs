//! Collective delivery (issue 25): the engine enables the members IP Office should ring
//! together, never transfers the queue's calls, and accounts for what IP Office's ringing does.

use super::collective::{MEMBER_RESEND_MS, MEMBER_RETRY_AFTER_REFUSAL_MS};
use super::tests::*;
use super::*;
use crate::accounting::CallOutcome;
use crate::config::{Delivery, PickStrategy, Route, Step, StepAction};
use crate::event::*;

const Q: &str = "Sales";
const OTHER: &str = "Billing";

/// A queue snapshot listing `members` with their enabled flags.
fn members_event(queue: &str, ext: &str, members: &[(&str, bool)]) -> Event {
    Event::QueueChanged(QueueSnapshot {
        queue: queue.into(),
        extension: ext.into(),
        members: members
            .iter()
            .map(|(a, enabled)| QueueMember {
                agent: (*a).into(),
                enabled: *enabled,
            })
            .collect(),
        service_mode: QueueServiceMode::Active,
    })
}

/// (queue, agent, enabled) of every membership change in an output.
fn member_changes(out: &Output) -> Vec<(String, String, bool)> {
    out.commands
        .iter()
        .filter_map(|c| match &c.kind {
            CommandKind::SetQueueMember {
                queue,
                agent,
                enabled,
            } => Some((queue.0.clone(), agent.0.clone(), *enabled)),
            _ => None,
        })
        .collect()
}

fn enabled_now(out: &Output, enabled: bool) -> Vec<String> {
    member_changes(out)
        .into_iter()
        .filter(|(_, _, e)| *e == enabled)
        .map(|(_, a, _)| a)
        .collect()
}

/// Sales delivered collectively: 2001 and 2002 first choice with sales, 2003 first choice
/// without, 2004 backup with sales. IP Office lists them all, disabled.
fn collective_sim(requires: SkillExpr) -> Sim {
    let mut sales = policy(Q, PickStrategy::LongestIdle, &["2001", "2002", "2003"]);
    sales.delivery = Delivery::Collective;
    sales.backup_agents = vec!["2004".into()];
    let mut cfg = config(
        vec![sales],
        vec![
            profile("2001", &[("sales", 5)]),
            profile("2002", &[("sales", 5)]),
            profile("2003", &[("support", 5)]),
            profile("2004", &[("sales", 5)]),
        ],
    );
    cfg.routes.push(Route {
        name: "sales".into(),
        conditions: Vec::new(),
        requires,
        steps: Vec::new(),
        priority: None,
    });
    let mut sim = Sim::new(cfg);
    sim.send(all_disabled());
    for a in ["2001", "2002", "2003", "2004"] {
        sim.idle(a);
    }
    sim
}

fn all_disabled() -> Event {
    members_event(
        Q,
        "300",
        &[
            ("2001", false),
            ("2002", false),
            ("2003", false),
            ("2004", false),
        ],
    )
}

fn ring(sim: &mut Sim, call: u64, agent: &str) {
    sim.send(agent_event(agent, true, PhoneState::Ringing));
    sim.send(Event::CallRinging {
        call: CallId(call),
        agent: agent.into(),
    });
}

#[test]
fn a_waiting_call_enables_the_free_qualified_first_choice_members_and_is_never_transferred() {
    let mut sim = collective_sim(skill("sales", 1));
    assert!(member_changes(&sim.last).is_empty(), "nothing waits yet");
    let out = sim.call(1).clone();
    assert!(transfers(&out).is_empty(), "IP Office rings them: {out:?}");
    assert_eq!(enabled_now(&out, true), ["2001", "2002"]);
    assert!(enabled_now(&out, false).is_empty());
}

#[test]
fn a_change_is_sent_once_until_ip_office_reports_it_and_again_after_the_resend_time() {
    let mut sim = collective_sim(skill("sales", 1));
    sim.call(1);
    // A report older than the command still shows them disabled: no second command.
    let out = sim.at(100, all_disabled()).clone();
    assert!(member_changes(&out).is_empty(), "{out:?}");
    // IP Office never reports the change: it is sent again, once, after the resend time.
    let out = sim.wait(MEMBER_RESEND_MS + 1);
    assert_eq!(enabled_now(&out, true), ["2001", "2002"]);
    // Reported: nothing more.
    let out = sim
        .at(
            100,
            members_event(
                Q,
                "300",
                &[
                    ("2001", true),
                    ("2002", true),
                    ("2003", false),
                    ("2004", false),
                ],
            ),
        )
        .clone();
    assert!(member_changes(&out).is_empty(), "{out:?}");
    let out = sim.wait(3 * MEMBER_RESEND_MS);
    assert!(member_changes(&out).is_empty(), "{out:?}");
}

#[test]
fn a_refused_change_is_not_hammered() {
    let mut sim = collective_sim(skill("sales", 1));
    let out = sim.call(1).clone();
    for c in &out.commands {
        sim.send(Event::CommandResult {
            id: c.id,
            outcome: CommandOutcome::Failed(608),
        });
        assert!(member_changes(&sim.last).is_empty(), "{:?}", sim.last);
    }
    let out = sim.wait(MEMBER_RETRY_AFTER_REFUSAL_MS - 1);
    assert!(member_changes(&out).is_empty(), "{out:?}");
    let out = sim.wait(2);
    assert_eq!(
        enabled_now(&out, true),
        ["2001", "2002"],
        "tried again later"
    );
}

#[test]
fn only_the_best_tier_is_enabled_and_the_backup_goes_when_first_choice_is_free() {
    let mut sim = collective_sim(skill("sales", 1));
    sim.send(agent_event("2001", true, PhoneState::OnCall));
    sim.send(agent_event("2002", true, PhoneState::OnCall));
    let out = sim.call(1).clone();
    assert_eq!(enabled_now(&out, true), ["2004"], "only the backup is free");
    sim.send(members_event(
        Q,
        "300",
        &[
            ("2001", false),
            ("2002", false),
            ("2003", false),
            ("2004", true),
        ],
    ));
    let out = sim
        .at(1_000, agent_event("2001", true, PhoneState::Idle))
        .clone();
    assert_eq!(enabled_now(&out, true), ["2001"]);
    assert_eq!(enabled_now(&out, false), ["2004"], "one tier at a time");
}

#[test]
fn a_call_ringing_at_members_is_neither_abandoned_nor_transferred_and_its_answer_counts() {
    let mut sim = collective_sim(skill("sales", 1));
    sim.call(1);
    sim.send(members_event(
        Q,
        "300",
        &[
            ("2001", true),
            ("2002", true),
            ("2003", false),
            ("2004", false),
        ],
    ));
    ring(&mut sim, 1, "2001");
    ring(&mut sim, 1, "2002");
    // Whether or not IP Office's queue still lists a call that rings at members, it rings.
    sim.send(Event::CallLeftQueue {
        call: CallId(1),
        queue: Q.into(),
    });
    let out = sim.wait(120_000);
    assert!(
        out.finished.is_empty(),
        "not abandoned while it rings: {out:?}"
    );
    assert!(transfers(&out).is_empty(), "{out:?}");
    assert!(
        enabled_now(&out, false).is_empty(),
        "a ringing member is never disabled: {out:?}"
    );
    let picked_up = sim
        .send(agent_event("2002", true, PhoneState::OnCall))
        .clone();
    let mut out = sim
        .send(Event::CallAnswered {
            call: CallId(1),
            agent: "2002".into(),
        })
        .clone();
    out.commands.extend(picked_up.commands);
    assert_eq!(out.finished.len(), 1);
    assert_eq!(out.finished[0].outcome, CallOutcome::Answered);
    assert_eq!(out.finished[0].wait_ms, 120_000);
    // Answered, nobody waits: 2002 goes back to disabled, and 2001 once its phone stops
    // ringing (until then it may ring for the queue as far as the engine can tell).
    assert_eq!(enabled_now(&out, false), ["2002"], "{out:?}");
    let out = sim
        .send(agent_event("2001", true, PhoneState::Idle))
        .clone();
    assert_eq!(enabled_now(&out, false), ["2001"], "{out:?}");
    counters_balance(&sim.engine);
}

#[test]
fn a_caller_who_hangs_up_while_it_rings_at_members_is_abandoned_once() {
    let mut sim = collective_sim(skill("sales", 1));
    sim.call(1);
    ring(&mut sim, 1, "2001");
    sim.at(30_000, agent_event("2001", true, PhoneState::Idle));
    let out = sim.send(Event::CallEnded { call: CallId(1) }).clone();
    assert_eq!(out.finished.len(), 1);
    assert_eq!(out.finished[0].outcome, CallOutcome::Abandoned);
    let later = sim.wait(60_000);
    assert!(later.finished.is_empty());
    counters_balance(&sim.engine);
}

#[test]
fn the_requirement_is_the_head_calls_and_a_widening_step_enables_more_members() {
    let mut sim = collective_sim(skill("sales", 1));
    // Replace the route: sales at level 8 (nobody), widened to anyone after 10 s.
    let mut cfg = sim.engine.config().clone();
    cfg.routes[0].requires = skill("sales", 8);
    cfg.routes[0].steps = vec![Step {
        after_ms: 10_000,
        action: StepAction::Require(SkillExpr::Any),
        when: Vec::new(),
    }];
    sim.send(Event::RulesChanged(Arc::new(cfg)));
    let out = sim.call(1).clone();
    assert!(member_changes(&out).is_empty(), "nobody meets sales 8");
    let out = sim.wait(10_001);
    let mut on = enabled_now(&out, true);
    on.sort();
    assert_eq!(on, ["2001", "2002", "2003"], "widened: every first choice");
}

#[test]
fn an_agent_ip_office_may_ring_is_not_offered_another_queues_call_until_disabled() {
    let mut sales = policy(Q, PickStrategy::LongestIdle, &["2001"]);
    sales.delivery = Delivery::Collective;
    let billing = policy(OTHER, PickStrategy::LongestIdle, &["2001"]);
    let mut sim = Sim::new(config(
        vec![sales, billing],
        vec![profile("2001", &[("sales", 5)])],
    ));
    sim.send(members_event(Q, "300", &[("2001", false)]));
    sim.send(members_event(OTHER, "301", &[("2001", false)]));
    sim.idle("2001");
    sim.call(1);
    assert_eq!(enabled_now(&sim.last, true), ["2001"]);
    let out = sim
        .send(queued_call(2, OTHER, 1, Features::ALL_QUEUE_ACTIONS))
        .clone();
    assert!(
        transfers(&out).is_empty(),
        "2001 may ring for Sales: {out:?}"
    );
    // Sales' caller hangs up: 2001 is disabled, and offered Billing's call once IP Office
    // reports it disabled.
    let out = sim.send(Event::CallEnded { call: CallId(1) }).clone();
    assert_eq!(enabled_now(&out, false), ["2001"]);
    assert!(transfers(&out).is_empty(), "{out:?}");
    let out = sim
        .send(members_event(Q, "300", &[("2001", false)]))
        .clone();
    assert_eq!(offered_agent(&out).as_deref(), Some("2001"), "{out:?}");
}

#[test]
fn the_engines_wrap_up_keeps_a_member_disabled() {
    let mut sim = collective_sim(skill("sales", 1));
    let mut cfg = sim.engine.config().clone();
    if let Some(p) = cfg.queues.get_mut(&QueueId::from(Q)) {
        p.wrap_up_ms = 20_000;
    }
    sim.send(Event::RulesChanged(Arc::new(cfg)));
    sim.call(1);
    sim.send(members_event(
        Q,
        "300",
        &[
            ("2001", true),
            ("2002", true),
            ("2003", false),
            ("2004", false),
        ],
    ));
    ring(&mut sim, 1, "2001");
    sim.send(agent_event("2001", true, PhoneState::OnCall));
    sim.send(Event::CallAnswered {
        call: CallId(1),
        agent: "2001".into(),
    });
    sim.send(agent_event("2002", true, PhoneState::OnCall));
    sim.call(2);
    sim.send(all_disabled());
    // 2001's call ends: IP Office would ring them at once; the engine's wrap-up says not yet.
    let out = sim
        .at(60_000, agent_event("2001", true, PhoneState::Idle))
        .clone();
    assert!(
        !enabled_now(&out, true).contains(&"2001".to_string()),
        "{out:?}"
    );
    let out = sim.wait(20_001);
    assert!(
        enabled_now(&out, true).contains(&"2001".to_string()),
        "{out:?}"
    );
}

#[test]
fn members_the_engine_enabled_are_taken_back_when_the_queue_goes_back_to_offers() {
    let mut sim = collective_sim(skill("sales", 1));
    sim.call(1);
    sim.send(members_event(
        Q,
        "300",
        &[
            ("2001", true),
            ("2002", true),
            ("2003", false),
            ("2004", false),
        ],
    ));
    ring(&mut sim, 1, "2001");
    let mut cfg = sim.engine.config().clone();
    if let Some(p) = cfg.queues.get_mut(&QueueId::from(Q)) {
        p.delivery = Delivery::Offer;
    }
    let out = sim.send(Event::RulesChanged(Arc::new(cfg))).clone();
    assert_eq!(enabled_now(&out, false), ["2002"], "2001 rings: left alone");
    assert!(transfers(&out).is_empty(), "not taken from a ringing phone");
    // The ring ends unanswered: 2001 is disabled and the call is offered as usual.
    let out = sim
        .at(5_000, agent_event("2001", true, PhoneState::Idle))
        .clone();
    assert_eq!(enabled_now(&out, false), ["2001"]);
}

#[test]
fn offer_delivery_never_changes_membership() {
    let mut sim = basic(PickStrategy::LongestIdle, &["2001", "2002"]);
    sim.send(members_event(Q, "300", &[("2001", true), ("2002", false)]));
    sim.idle("2001");
    sim.idle("2002");
    let mut all = sim.call(1).clone().commands;
    all.extend(sim.wait(60_000).commands);
    assert!(
        all.iter()
            .all(|c| !matches!(c.kind, CommandKind::SetQueueMember { .. })),
        "{all:?}"
    );
}

#[test]
fn members_ringing_for_an_older_call_do_not_keep_the_backup_from_the_next_one() {
    let mut sim = collective_sim(skill("sales", 1));
    sim.call(1);
    sim.send(members_event(
        Q,
        "300",
        &[
            ("2001", true),
            ("2002", true),
            ("2003", false),
            ("2004", false),
        ],
    ));
    ring(&mut sim, 1, "2001");
    ring(&mut sim, 1, "2002");
    assert!(
        member_changes(&sim.last).is_empty(),
        "first choice rings: {:?}",
        sim.last
    );
    // A second caller: IP Office rings a newly enabled member for the call still queued, so the
    // free backup goes on for it.
    let out = sim.call(2).clone();
    assert_eq!(enabled_now(&out, true), ["2004"], "{out:?}");
}

#[test]
fn a_phone_ringing_for_an_offer_of_another_queue_never_enables_the_member() {
    // 2001 serves Sales (collective) and Billing (offers). A Billing offer rings out at 2001:
    // until the phone's idle report, nothing says which call rang there, and that is no reason
    // to enable 2001 in Sales, where it would then be kept from Billing's next call.
    let mut sales = policy(Q, PickStrategy::LongestIdle, &["2001"]);
    sales.delivery = Delivery::Collective;
    let billing = policy(OTHER, PickStrategy::LongestIdle, &["2001"]);
    let mut sim = Sim::new(config(
        vec![sales, billing],
        vec![profile("2001", &[("sales", 5)])],
    ));
    sim.send(members_event(Q, "300", &[("2001", false)]));
    sim.send(members_event(OTHER, "301", &[("2001", false)]));
    sim.idle("2001");
    let out = sim
        .send(queued_call(1, OTHER, 1, Features::ALL_QUEUE_ACTIONS))
        .clone();
    let t = transfers(&out);
    assert_eq!(offered_agent(&out).as_deref(), Some("2001"));
    sim.ok(t[0].0);
    sim.send(Event::CallLeftQueue {
        call: CallId(1),
        queue: OTHER.into(),
    });
    ring(&mut sim, 1, "2001");
    // A Sales caller waits meanwhile: 2001 rings for Billing's call, so is not enabled.
    let out = sim.call(2).clone();
    assert!(member_changes(&out).is_empty(), "{out:?}");
    // Ring-no-answer: the engine takes the call back; the phone still shows ringing.
    let out = sim.wait(20_000);
    assert!(enabled_now(&out, true).is_empty(), "{out:?}");
}

#[test]
fn calls_not_reported_since_a_link_restart_neither_choose_members_nor_empty_the_group() {
    let mut sim = collective_sim(skill("sales", 1));
    // German callers need support (only 2003 has it); everyone else sales.
    let mut cfg = sim.engine.config().clone();
    cfg.routes.insert(
        0,
        Route {
            name: "german".into(),
            conditions: vec![crate::config::Condition::Language(vec!["deu".into()])],
            requires: skill("support", 1),
            steps: Vec::new(),
            priority: None,
        },
    );
    sim.send(Event::RulesChanged(Arc::new(cfg)));
    let out = sim
        .send(Event::CallQueued(QueuedCall {
            call: CallId(1),
            queue: Q.into(),
            attributes: CallAttributes {
                language: "deu".into(),
                ..CallAttributes::default()
            },
            features: Features::ALL_QUEUE_ACTIONS,
            pbx_priority: 1,
        }))
        .clone();
    assert_eq!(enabled_now(&out, true), ["2003"]);
    sim.send(members_event(
        Q,
        "300",
        &[
            ("2001", false),
            ("2002", false),
            ("2003", true),
            ("2004", false),
        ],
    ));
    // The link restarts: whether call 1 still waits is unknown until its queue reports it.
    let out = sim
        .send(Event::LinkRestarted(crate::ids::Site::PRIMARY))
        .clone();
    assert!(member_changes(&out).is_empty(), "kept as it is: {out:?}");
    // A new caller, reported, is the one known to wait: members for it, not for call 1.
    let out = sim.call(2).clone();
    let mut on = enabled_now(&out, true);
    on.sort();
    assert_eq!(on, ["2001", "2002"], "{out:?}");
    assert_eq!(enabled_now(&out, false), ["2003"], "{out:?}");
}

#[test]
fn a_ring_reported_after_an_overflow_took_the_call_from_the_group_does_not_lose_it() {
    // Sales is collective and overflows after 30 s to Billing (offers, 2005). The call rings at
    // 2001 when the overflow moves it; the ring's report comes after the move.
    let mut cfg = collective_sim(skill("sales", 1)).engine.config().clone();
    cfg.routes[0].conditions = vec![crate::config::Condition::Queue(vec![Q.into()])];
    cfg.routes[0].steps = vec![Step {
        after_ms: 30_000,
        action: StepAction::Overflow(Target::Queue(OTHER.into())),
        when: Vec::new(),
    }];
    cfg.queues.insert(
        OTHER.into(),
        policy(OTHER, PickStrategy::LongestIdle, &["2005"]),
    );
    cfg.agents
        .insert("2005".into(), profile("2005", &[("sales", 5)]));
    let mut sim = Sim::new(cfg);
    sim.send(all_disabled());
    sim.send(members_event(OTHER, "301", &[("2005", false)]));
    sim.idle("2001");
    sim.send(agent_event("2005", true, PhoneState::OnCall));
    sim.call(1);
    let out = sim.wait(30_001);
    let exit = transfers(&out);
    assert_eq!(exit.len(), 1, "{out:?}");
    sim.ok(exit[0].0);
    sim.send(Event::CallLeftQueue {
        call: CallId(1),
        queue: Q.into(),
    });
    sim.send(queued_call(1, OTHER, 1, Features::ALL_QUEUE_ACTIONS));
    // The trailing report of the ring in Sales.
    ring(&mut sim, 1, "2001");
    sim.send(agent_event("2001", true, PhoneState::Idle));
    // Billing's agent frees up a minute later: the call still waits there and is offered.
    let out = sim
        .at(60_000, agent_event("2005", true, PhoneState::Idle))
        .clone();
    assert_eq!(offered_agent(&out).as_deref(), Some("2005"), "{out:?}");
    assert!(
        sim.engine
            .accounting()
            .get(&QueueId::from(OTHER))
            .is_some_and(|c| c.abandoned == 0),
        "not counted abandoned"
    );
}
