//! Behaviour of the native hunt groups and of the model's bookkeeping.

use std::path::Path;

use acd_core::{CallAttributes, QueueMember, QueueServiceMode, Timestamp};
use proptest::prelude::*;

use super::*;
use crate::scenario::Scenario;

/// Three agents A=201 (slow to answer), B=202, C=203; queue Q (3000) with the given ring mode
/// and extra settings; queue R (3001) with C only.
fn model(ring_mode: &str, extra: &str) -> Model {
    model_members(ring_mode, r#"["201", "202", "203"]"#, extra)
}

/// As `model`, with Q's members given.
fn model_members(ring_mode: &str, members: &str, extra: &str) -> Model {
    let text = format!(
        r#"
        [sim]
        seed = 3
        answer_delay = {{ dist = "fixed", s = 1 }}
        wrap_up = {{ dist = "fixed", s = 0 }}
        voicemail_message = {{ dist = "fixed", s = 30 }}
        [[user]]
        extn = "201"
        name = "A"
        answer_delay = {{ dist = "fixed", s = 3 }}
        [[user]]
        extn = "202"
        name = "B"
        [[user]]
        extn = "203"
        name = "C"
        [[queue]]
        name = "R"
        extn = "3001"
        members = ["203"]
        [[queue]]
        name = "Q"
        extn = "3000"
        ring_mode = "{ring_mode}"
        no_answer_s = 10
        members = {members}
        {extra}
        "#
    );
    Model::new(&Scenario::from_toml_str(&text, Path::new(".")).unwrap()).unwrap()
}

fn inject(m: &mut Model, queue: &str, talk_s: u64, patience_s: Option<u64>) -> SimCallId {
    m.inject_call(
        queue,
        InjectedCall {
            attributes: CallAttributes::default(),
            priority: 1,
            talk_ms: talk_s * 1000,
            patience_ms: patience_s.map(|s| s * 1000),
        },
    )
    .unwrap()
}

fn at(m: &mut Model, s: u64) {
    m.advance_to(Timestamp(s * 1000));
    check_invariants(m);
}

fn ringing(m: &Model, call: SimCallId) -> Vec<String> {
    let c = m.call(call).unwrap();
    c.ringing
        .iter()
        .map(|&u| m.users()[u].extn.clone())
        .collect()
}

fn agent(m: &Model, call: SimCallId) -> Option<String> {
    m.call(call)
        .and_then(|c| c.agent)
        .map(|u| m.users()[u].extn.clone())
}

fn set_no_answer(m: &mut Model, extn: &str) {
    let u = m.user_by_extn(extn).unwrap();
    m.users[u].no_answer_probability = 1.0;
}

/// What must hold between users, calls and queues after every event.
fn check_invariants(m: &Model) {
    for (i, u) in m.users().iter().enumerate() {
        match u.activity {
            Activity::Ringing(c) => {
                let call = m.call(c).expect("ringing for a call that exists");
                assert_eq!(call.phase, CallPhase::Ringing);
                assert!(call.ringing.contains(&i));
            }
            Activity::OnCall(c) => {
                let call = m.call(c).expect("on a call that exists");
                assert_eq!((call.phase, call.agent), (CallPhase::Connected, Some(i)));
            }
            Activity::WrapUp(c) => {
                let call = m.call(c).expect("wrap-up for a call that exists");
                assert_eq!((call.phase, call.agent), (CallPhase::AfterCall, Some(i)));
            }
            Activity::Idle => {}
        }
    }
    for c in m.calls() {
        for &u in &c.ringing {
            assert_eq!(m.users()[u].activity, Activity::Ringing(c.id));
        }
        if let Some(q) = c.queue {
            assert!(m.queues()[q].waiting_calls().any(|id| id == c.id));
        }
    }
    for (qi, q) in m.queues().iter().enumerate() {
        for id in q.waiting_calls() {
            assert_eq!(m.call(id).unwrap().queue, Some(qi));
        }
    }
}

#[test]
fn sequential_starts_at_the_top_and_moves_on_after_no_answer() {
    let mut m = model("sequential", "");
    set_no_answer(&mut m, "201");
    let c = inject(&mut m, "Q", 60, None);
    assert_eq!(ringing(&m, c), ["201"]);
    at(&mut m, 9);
    assert_eq!(ringing(&m, c), ["201"]);
    at(&mut m, 10);
    assert_eq!(ringing(&m, c), ["202"]);
    at(&mut m, 11);
    assert_eq!(agent(&m, c).as_deref(), Some("202"));
    // Next call: top of the list again (A, who still does not answer).
    let d = inject(&mut m, "Q", 60, None);
    assert_eq!(ringing(&m, d), ["201"]);
}

#[test]
fn rotary_continues_after_the_last_member_rung() {
    let mut m = model("rotary", "");
    let c = inject(&mut m, "Q", 1, None);
    assert_eq!(ringing(&m, c), ["201"]);
    at(&mut m, 10);
    assert!(m.call(c).is_none());
    let d = inject(&mut m, "Q", 1, None);
    assert_eq!(ringing(&m, d), ["202"]);
    at(&mut m, 20);
    let e = inject(&mut m, "Q", 1, None);
    assert_eq!(ringing(&m, e), ["203"]);
    at(&mut m, 30);
    let f = inject(&mut m, "Q", 1, None);
    assert_eq!(ringing(&m, f), ["201"]);
}

#[test]
fn longest_waiting_rings_the_agent_idle_longest() {
    let mut m = model("longest_waiting", "");
    // All idle since 0: ties go to list order.
    let c = inject(&mut m, "Q", 5, None);
    assert_eq!(ringing(&m, c), ["201"]);
    at(&mut m, 3);
    assert_eq!(agent(&m, c).as_deref(), Some("201"));
    at(&mut m, 8);
    // A has just finished; B and C have been idle since 0.
    let d = inject(&mut m, "Q", 5, None);
    assert_eq!(ringing(&m, d), ["202"]);
}

/// The study's bound (`sim.in_time_first`): a free agent takes a caller still within the
/// service-level threshold (20 s) before one already past it; IP Office takes the oldest.
#[test]
fn in_time_first_serves_a_caller_within_the_threshold_before_a_late_one() {
    for in_time_first in [false, true] {
        let mut m = model_members("sequential", r#"["202"]"#, "");
        m.in_time_first = in_time_first;
        let first = inject(&mut m, "Q", 60, None);
        at(&mut m, 10);
        let late = inject(&mut m, "Q", 60, None);
        at(&mut m, 50);
        let in_time = inject(&mut m, "Q", 60, None);
        at(&mut m, 61);
        // B finished the first call at 61 s: the second caller has waited 51 s, the third 11 s.
        assert_eq!(agent(&m, first), None);
        let (taken, waiting) = if in_time_first {
            (in_time, late)
        } else {
            (late, in_time)
        };
        assert_eq!(ringing(&m, taken), ["202"], "in_time_first {in_time_first}");
        assert!(ringing(&m, waiting).is_empty());
    }
}

#[test]
fn collective_rings_everyone_and_the_first_to_answer_wins() {
    let mut m = model("collective", "");
    let c = inject(&mut m, "Q", 60, None);
    assert_eq!(ringing(&m, c), ["201", "202", "203"]);
    at(&mut m, 1);
    // B and C answer after 1 s, B was rung first.
    assert_eq!(agent(&m, c).as_deref(), Some("202"));
    let a = m.user_by_extn("201").unwrap();
    assert_eq!(m.users()[a].activity, Activity::Idle);
}

#[test]
fn an_overflowing_call_stays_in_its_queue_and_overflow_members_may_answer_it() {
    let mut m = model(
        "longest_waiting",
        "overflow_after_s = 30\noverflow_to = \"R\"\ndisabled_members = [\"201\", \"202\", \"203\"]",
    );
    let c = inject(&mut m, "Q", 60, None);
    assert_eq!(m.call(c).unwrap().phase, CallPhase::Queued);
    at(&mut m, 30);
    // R's member C rings at once, and the call is still Q's (IP Office: "still targeted to
    // the original group").
    assert_eq!(ringing(&m, c), ["203"]);
    let q = m.queue_by_name("Q").unwrap();
    assert_eq!(m.call(c).unwrap().queue, Some(q));
    at(&mut m, 31);
    let s = m.summary();
    assert_eq!(s.queues["Q"].overflowed, 1);
    assert_eq!(s.queues["Q"].answered, 1);
    assert_eq!(s.queues["Q"].asa_s, 31.0);
    assert_eq!(
        s.queues["R"].offered, 0,
        "counted on the queue it arrived at"
    );
}

#[test]
fn an_overflowing_call_keeps_its_place_and_goes_to_whichever_member_frees_first() {
    // Q's own members are busy; R's only member C too. The overflowed call waits in Q, not in
    // R behind R's own callers: when B (a Q member) frees up first, B gets it.
    let mut m = model_members(
        "longest_waiting",
        r#"["201", "202"]"#,
        "overflow_after_s = 5\noverflow_to = \"R\"",
    );
    let _a = inject(&mut m, "Q", 100, None);
    let _b = inject(&mut m, "Q", 20, None);
    let r = inject(&mut m, "R", 100, None);
    at(&mut m, 4);
    let c = inject(&mut m, "Q", 60, None);
    at(&mut m, 12);
    assert_eq!(m.call(c).unwrap().phase, CallPhase::Queued);
    assert!(m.call(r).unwrap().answered);
    // B's call (20 s talk, answered at 1 s) ends at 21 s: B takes the overflowed call.
    at(&mut m, 23);
    assert_eq!(agent(&m, c).as_deref(), Some("202"));
}

#[test]
fn group_overflow_mode_overflows_every_queued_call_once_one_has() {
    let mut m = model_members(
        "longest_waiting",
        r#"["201", "202"]"#,
        "overflow_after_s = 30\noverflow_to = \"R\"\ndisabled_members = [\"201\", \"202\"]",
    );
    let c1 = inject(&mut m, "Q", 5, None);
    at(&mut m, 20);
    let c2 = inject(&mut m, "Q", 5, None);
    // c1 overflows at 30 s and C answers it at 31 s; c2 (waited 10 s) overflows with it in
    // group mode and gets C once C is free (36 s).
    at(&mut m, 32);
    assert_eq!(agent(&m, c1).as_deref(), Some("203"));
    at(&mut m, 38);
    assert_eq!(agent(&m, c2).as_deref(), Some("203"));

    let mut m = model_members(
        "longest_waiting",
        r#"["201", "202"]"#,
        "overflow_after_s = 30\noverflow_to = \"R\"\noverflow_mode = \"call\"\ndisabled_members = [\"201\", \"202\"]",
    );
    let _c1 = inject(&mut m, "Q", 5, None);
    at(&mut m, 20);
    let c2 = inject(&mut m, "Q", 5, None);
    // In call mode c2 waits for its own 30 s (until 50 s).
    at(&mut m, 45);
    assert!(!m.call(c2).is_some_and(|c| c.answered));
    at(&mut m, 52);
    assert_eq!(agent(&m, c2).as_deref(), Some("203"));
}

#[test]
fn overflow_never_cascades_to_the_overflow_groups_own_overflow() {
    // Q overflows to R, R to S: a call of Q reaches R's members, never S's.
    let text = r#"
        [sim]
        answer_delay = { dist = "fixed", s = 1 }
        [[user]]
        extn = "201"
        name = "A"
        [[user]]
        extn = "202"
        name = "B"
        [[queue]]
        name = "Q"
        extn = "3000"
        members = []
        overflow_after_s = 5
        overflow_to = "R"
        [[queue]]
        name = "R"
        extn = "3001"
        members = []
        overflow_after_s = 5
        overflow_to = "S"
        [[queue]]
        name = "S"
        extn = "3002"
        members = ["201"]
    "#;
    let mut m = Model::new(&Scenario::from_toml_str(text, Path::new(".")).unwrap()).unwrap();
    let c = inject(&mut m, "Q", 60, None);
    at(&mut m, 60);
    assert!(m.call(c).is_some_and(|c| !c.answered));
    let r = inject(&mut m, "R", 60, None);
    at(&mut m, 70);
    assert_eq!(agent(&m, r).as_deref(), Some("201"));
}

#[test]
fn the_queue_limit_sends_callers_to_voicemail_or_busy() {
    let mut m = model(
        "longest_waiting",
        "queue_limit = 1\ndisabled_members = [\"201\", \"202\", \"203\"]",
    );
    let _first = inject(&mut m, "Q", 60, None);
    let second = inject(&mut m, "Q", 60, None);
    assert!(m.call(second).is_none(), "busy: the caller is gone");
    let s = m.summary();
    assert_eq!((s.queues["Q"].blocked, s.queues["Q"].abandoned), (1, 1));

    let mut m = model(
        "longest_waiting",
        "queue_limit = 1\nvoicemail = true\ndisabled_members = [\"201\", \"202\", \"203\"]",
    );
    let _first = inject(&mut m, "Q", 60, None);
    let second = inject(&mut m, "Q", 60, None);
    assert_eq!(m.call(second).unwrap().phase, CallPhase::Voicemail);
}

#[test]
fn impatient_callers_abandon_and_voicemail_takes_the_rest() {
    let mut m = model(
        "longest_waiting",
        "voicemail = true\nvoicemail_after_s = 20\ndisabled_members = [\"201\", \"202\", \"203\"]",
    );
    let impatient = inject(&mut m, "Q", 60, Some(10));
    let patient = inject(&mut m, "Q", 60, None);
    at(&mut m, 10);
    assert!(m.call(impatient).is_none());
    at(&mut m, 20);
    assert_eq!(m.call(patient).unwrap().phase, CallPhase::Voicemail);
    at(&mut m, 50);
    assert!(m.call(patient).is_none());
    let s = m.summary().queues["Q"].clone();
    assert_eq!((s.abandoned, s.voicemail, s.in_progress), (1, 1, 0));
    assert_eq!(s.longest_wait_s, 10.0);
}

#[test]
fn night_service_sends_calls_to_the_fallback_and_reopening_serves_the_queue() {
    let mut m = model(
        "longest_waiting",
        "service_mode = \"night_service\"\nnight_service_to = \"R\"",
    );
    let c = inject(&mut m, "Q", 60, None);
    assert_eq!(m.call(c).unwrap().queue, m.queue_by_name("R"));
    let code = m.apply(ModelAction::SetServiceMode {
        queue: "Q".into(),
        mode: QueueServiceMode::Active,
    });
    assert!(code.is_success());
    let d = inject(&mut m, "Q", 60, None);
    assert_eq!(ringing(&m, d), ["201"]);
}

#[test]
fn member_updates_enable_and_disable_hunting() {
    let mut m = model(
        "longest_waiting",
        "disabled_members = [\"201\", \"202\", \"203\"]",
    );
    let c = inject(&mut m, "Q", 60, None);
    assert!(ringing(&m, c).is_empty());
    let code = m.apply(ModelAction::UpsertQueueMembers {
        queue: "Q".into(),
        members: vec![QueueMember {
            agent: acd_core::AgentId("202".into()),
            enabled: true,
        }],
    });
    assert!(code.is_success());
    assert_eq!(ringing(&m, c), ["202"]);
    let bad = m.apply(ModelAction::SetQueueMembers {
        queue: "Q".into(),
        members: vec![QueueMember {
            agent: acd_core::AgentId("999".into()),
            enabled: true,
        }],
    });
    assert_eq!(bad, ResultCode::NotFound);
}

#[test]
fn schedule_and_dnd_change_availability() {
    let text = r#"
        [[user]]
        extn = "201"
        name = "A"
        [[queue]]
        name = "Q"
        extn = "3000"
        members = ["201"]
        [[schedule]]
        at_s = 5
        user = "201"
        action = "dnd_on"
        [[schedule]]
        at_s = 9
        user = "201"
        action = "logout"
    "#;
    let mut m = Model::new(&Scenario::from_toml_str(text, Path::new(".")).unwrap()).unwrap();
    at(&mut m, 5);
    assert!(m.users()[0].dnd);
    let c = inject(&mut m, "Q", 60, None);
    assert!(ringing(&m, c).is_empty());
    at(&mut m, 9);
    assert!(!m.users()[0].logged_in);
    assert_eq!(
        m.apply(ModelAction::SetDnd {
            user: "999".into(),
            on: true
        }),
        ResultCode::UserNotFound
    );
}

#[test]
fn recording_produces_complete_snapshots() {
    let mut m = model("longest_waiting", "");
    m.set_recording(true);
    let c = inject(&mut m, "Q", 2, None);
    let n = m.take_notifications();
    let snap = n
        .iter()
        .find_map(|(_, n)| match n {
            ModelNotification::Call(s) if s.call == c => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(snap.phase, CallPhase::Ringing);
    assert_eq!(snap.queue.as_deref(), Some("Q"));
    assert_eq!(snap.ringing, ["201"]);
    assert!(n
        .iter()
        .any(|(_, n)| matches!(n, ModelNotification::User(u) if u.extn == "201")));
    at(&mut m, 5);
    let n = m.take_notifications();
    assert!(n
        .iter()
        .any(|(t, n)| *t == Timestamp(5000) && *n == ModelNotification::CallGone { call: c }));
}

#[derive(Debug, Clone)]
enum Op {
    Call {
        queue: bool,
        talk_s: u64,
        patience_s: Option<u64>,
    },
    Advance(u64),
    Transfer {
        pick: usize,
        target: &'static str,
    },
    Priority {
        pick: usize,
        level: &'static str,
    },
    Drop {
        pick: usize,
    },
    Dnd {
        user: &'static str,
        on: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<bool>(), 1u64..120, proptest::option::of(1u64..60)).prop_map(
            |(queue, talk_s, patience_s)| Op::Call {
                queue,
                talk_s,
                patience_s
            }
        ),
        (1u64..30).prop_map(Op::Advance),
        (
            0usize..8,
            prop::sample::select(vec!["201", "202", "203", "3000", "3001", "/102/1", "x"])
        )
            .prop_map(|(pick, target)| Op::Transfer { pick, target }),
        (0usize..8, prop::sample::select(vec!["1", "2", "3", "9"]))
            .prop_map(|(pick, level)| Op::Priority { pick, level }),
        (0usize..8).prop_map(|pick| Op::Drop { pick }),
        (
            prop::sample::select(vec!["201", "202", "203"]),
            any::<bool>()
        )
            .prop_map(|(user, on)| Op::Dnd { user, on }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn bookkeeping_stays_consistent(
        mode in prop::sample::select(vec!["collective", "sequential", "rotary", "longest_waiting"]),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let mut m = model(mode, "overflow_after_s = 40\noverflow_to = \"R\"");
        let mut t = 0;
        for o in ops {
            let ids: Vec<SimCallId> = m.calls().map(|c| c.id).collect();
            let pick = |i: usize| ids.get(i % ids.len().max(1)).copied().unwrap_or(0);
            match o {
                Op::Call { queue, talk_s, patience_s } => {
                    inject(&mut m, if queue { "Q" } else { "R" }, talk_s, patience_s);
                }
                Op::Advance(s) => {
                    t += s;
                    at(&mut m, t);
                }
                Op::Transfer { pick: i, target } => {
                    let view = View::Queue("Q".into());
                    m.apply(ModelAction::BlindTransfer { call: pick(i), view, target: target.into() });
                }
                Op::Priority { pick: i, level } => {
                    let view = View::Queue("Q".into());
                    m.apply(ModelAction::SetPriority { call: pick(i), view, level: level.into() });
                }
                Op::Drop { pick: i } => {
                    m.apply(ModelAction::Drop { call: pick(i), view: View::Queue("Q".into()) });
                }
                Op::Dnd { user, on } => {
                    m.apply(ModelAction::SetDnd { user: user.into(), on });
                }
            }
            check_invariants(&m);
        }
        // Every offered call is accounted for exactly once.
        let s = m.summary().totals;
        let live = m.calls().filter(|c| !c.answered && c.phase != CallPhase::Voicemail).count() as u64;
        prop_assert_eq!(s.in_progress, live);
    }
}

#[test]
fn the_summary_reports_commands_by_result_and_who_answered_which_language() {
    let mut m = model(
        "longest_waiting",
        "disabled_members = [\"201\", \"202\", \"203\"]",
    );
    let c = m
        .inject_call(
            "Q",
            InjectedCall {
                attributes: CallAttributes {
                    language: "deu".into(),
                    ..CallAttributes::default()
                },
                priority: 1,
                talk_ms: 60_000,
                patience_ms: None,
            },
        )
        .unwrap();
    let ok = m.apply(ModelAction::BlindTransfer {
        call: c,
        view: View::Queue("Q".into()),
        target: "202".into(),
    });
    assert!(ok.is_success());
    let bad = m.apply(ModelAction::SetQueueMembers {
        queue: "Q".into(),
        members: vec![QueueMember {
            agent: acd_core::AgentId("999".into()),
            enabled: true,
        }],
    });
    at(&mut m, 5);
    assert_eq!(agent(&m, c).as_deref(), Some("202"));
    let observed = m.summary().observed;
    assert_eq!(observed.commands["blind_transfer"][&0], 1);
    assert_eq!(observed.commands["set_queue_members"][&bad.code()], 1);
    assert_eq!(observed.answered_by_language["deu"]["202"], 1);
    assert_eq!(observed.answered_by_language.len(), 1);
}

#[test]
fn a_ringing_call_moves_only_by_redirect() {
    // Only 203 of R can take calls; 201 rings (never answers) with a call of Q.
    let mut m = model("sequential", "");
    set_no_answer(&mut m, "201");
    let c = inject(&mut m, "Q", 60, None);
    assert_eq!(ringing(&m, c), ["201"]);
    let view = View::User("201".into());
    // BlindTransfer is not available on a ringing appearance: ignored, as IP Office does.
    assert_eq!(
        m.apply(ModelAction::BlindTransfer {
            call: c,
            view: view.clone(),
            target: "3001".into(),
        }),
        ResultCode::Success
    );
    assert_eq!(ringing(&m, c), ["201"]);
    // Redirect is: the call goes to queue R, where 203 is rung.
    assert_eq!(
        m.apply(ModelAction::Redirect {
            call: c,
            view,
            target: "3001".into(),
        }),
        ResultCode::Success
    );
    assert_eq!(ringing(&m, c), ["203"]);
    check_invariants(&m);
}

#[test]
fn talk_time_stretches_with_the_answering_agents_weakest_needed_skill() {
    let text = r#"
        [sim]
        seed = 3
        answer_delay = { dist = "fixed", s = 1 }
        skill_talk_factor = 1.0
        [[user]]
        extn = "201"
        name = "Cross-trained"
        skills = { eng = 10, sales = 5 }
        [[user]]
        extn = "202"
        name = "Proficiency not modelled"
        [[queue]]
        name = "Q"
        extn = "3000"
        members = ["201"]
        [queue.traffic]
        calls_per_hour = 0
        talk = { dist = "fixed", s = 60 }
        needs = ["sales"]
        [[queue]]
        name = "R"
        extn = "3001"
        members = ["202"]
    "#;
    let mut m = Model::new(&Scenario::from_toml_str(text, Path::new(".")).unwrap()).unwrap();
    let call = |m: &mut Model, queue: &str| {
        m.inject_call(
            queue,
            InjectedCall {
                attributes: CallAttributes {
                    language: "eng".into(),
                    ..CallAttributes::default()
                },
                priority: 1,
                talk_ms: 60_000,
                patience_ms: None,
            },
        )
        .unwrap()
    };
    let (weak, plain) = (call(&mut m, "Q"), call(&mut m, "R"));
    let talking = |m: &Model, c| m.call(c).is_some_and(|c| c.phase == CallPhase::Connected);
    at(&mut m, 1);
    assert!(talking(&m, weak) && talking(&m, plain));
    // Answered at 1 s; 202 has no skills, so 60 s as drawn.
    at(&mut m, 60);
    assert!(talking(&m, plain));
    at(&mut m, 61);
    assert!(!talking(&m, plain));
    // Sales level 5 with k = 1: 60 s x 1.5 = 90 s.
    at(&mut m, 90);
    assert!(talking(&m, weak));
    at(&mut m, 91);
    assert!(!talking(&m, weak));
}

/// Two routers transferring one call: the second transfer finds the call ringing and is
/// counted, the first is not.
#[test]
fn a_transfer_of_a_call_already_ringing_is_counted() {
    let mut m = model(
        "longest_waiting",
        "disabled_members = [\"201\", \"202\", \"203\"]",
    );
    let c = m
        .inject_call(
            "Q",
            InjectedCall {
                attributes: CallAttributes::default(),
                priority: 1,
                talk_ms: 60_000,
                patience_ms: None,
            },
        )
        .unwrap();
    let transfer = |m: &mut Model, to: &str| {
        m.apply(ModelAction::BlindTransfer {
            call: c,
            view: View::Queue("Q".into()),
            target: to.into(),
        })
    };
    assert!(transfer(&mut m, "202").is_success());
    assert_eq!(m.summary().observed.transfers_to_ringing_calls, 0);
    transfer(&mut m, "203");
    assert_eq!(m.summary().observed.transfers_to_ringing_calls, 1);
}

/// Forward unconditional as IP Office renders it (issue 24, item 2): the hunt group skips the
/// user, and a call transferred to the user goes to the forward destination (voicemail here),
/// counted; forwarding off, the user takes calls again.
#[test]
fn a_forwarded_user_is_skipped_by_hunting_and_a_transfer_to_them_is_forwarded() {
    let mut m = model("longest_waiting", "");
    assert!(m
        .apply(ModelAction::SetForward {
            user: "201".into(),
            on: true,
        })
        .is_success());
    assert!(m.user_snapshot(&m.users()[0]).forwarded);
    assert!(!m.users()[0].available());
    let hunted = inject(&mut m, "Q", 60, None);
    assert!(!ringing(&m, hunted).contains(&"201".to_string()));
    let sent = inject(&mut m, "Q", 60, None);
    assert!(m
        .apply(ModelAction::BlindTransfer {
            call: sent,
            view: View::Queue("Q".into()),
            target: "201".into(),
        })
        .is_success());
    assert!(m
        .call(sent)
        .is_some_and(|c| c.phase == CallPhase::Voicemail && !c.ringing.contains(&0)));
    assert_eq!(m.summary().observed.transfers_to_forwarded_users, 1);
    m.apply(ModelAction::SetForward {
        user: "201".into(),
        on: false,
    });
    assert!(!m.user_snapshot(&m.users()[0]).forwarded);
}

/// Issue 25: queue voicemail and the agents' own (personal) voicemail are different outcomes
/// for a contact centre (a personal mailbox is a caller nobody in the queue will call back),
/// so the counters tell them apart: a queue's voicemail timer is the queue's, a transfer that
/// rings out at an agent with voicemail on, or goes to a forwarded agent, is personal.
#[test]
fn queue_voicemail_and_personal_voicemail_are_counted_apart() {
    let text = r#"
        [sim]
        seed = 3
        answer_delay = { dist = "fixed", s = 1 }
        voicemail_message = { dist = "fixed", s = 30 }
        [[user]]
        extn = "201"
        name = "A"
        voicemail = true
        no_answer_s = 10
        no_answer_probability = 1
        [[user]]
        extn = "202"
        name = "B"
        [[queue]]
        name = "Q"
        extn = "3000"
        members = ["201", "202"]
        disabled_members = ["201", "202"]
        voicemail = true
        voicemail_after_s = 60
    "#;
    let mut m = Model::new(&Scenario::from_toml_str(text, Path::new(".")).unwrap()).unwrap();
    let to_mailbox = inject(&mut m, "Q", 60, None);
    let rung_out = inject(&mut m, "Q", 60, None);
    let forwarded = inject(&mut m, "Q", 60, None);
    let transfer = |m: &mut Model, call, to: &str| {
        assert!(m
            .apply(ModelAction::BlindTransfer {
                call,
                view: View::Queue("Q".into()),
                target: to.into(),
            })
            .is_success());
    };
    transfer(&mut m, rung_out, "201");
    m.apply(ModelAction::SetForward {
        user: "202".into(),
        on: true,
    });
    transfer(&mut m, forwarded, "202");
    at(&mut m, 11);
    for call in [rung_out, forwarded] {
        assert_eq!(m.call(call).map(|c| c.phase), Some(CallPhase::Voicemail));
    }
    at(&mut m, 61);
    assert_eq!(
        m.call(to_mailbox).map(|c| c.phase),
        Some(CallPhase::Voicemail)
    );
    let s = &m.summary().queues["Q"];
    assert_eq!((s.voicemail, s.personal_voicemail), (3, 2), "{s:?}");
}

/// The study judges who answered each call against the rules (the right-agent rate), so the
/// model can keep a log of every answer: the call as it arrived and the agent who took it.
#[test]
fn answers_are_logged_with_the_caller_and_the_agent_only_when_asked() {
    let mut m = model("longest_waiting", "");
    let c = inject(&mut m, "Q", 60, None);
    at(&mut m, 5);
    assert!(agent(&m, c).is_some());
    assert!(m.answers().is_empty(), "no log unless asked");

    let mut m = model("longest_waiting", "");
    m.keep_answer_log();
    let c = m
        .inject_call(
            "Q",
            InjectedCall {
                attributes: CallAttributes {
                    language: "deu".into(),
                    did: "4930".into(),
                    ..CallAttributes::default()
                },
                priority: 1,
                talk_ms: 60_000,
                patience_ms: None,
            },
        )
        .unwrap();
    at(&mut m, 5);
    let who = agent(&m, c).unwrap();
    let log = m.answers();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].queue.as_str(), log[0].agent.as_str()),
        ("Q", who.as_str())
    );
    assert_eq!(log[0].attributes.language, "deu");
    assert_eq!(log[0].arrived_at, Timestamp(0));
}
