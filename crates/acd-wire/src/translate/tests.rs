//! The translator against hand-written notifies: identity, legs, grace periods, routing of commands.

use super::*;
use crate::pb;
use crate::result_code::ResultCode;
use acd_core::{Command, CommandKind, Features, QueueServiceMode, ServiceMode};
use acd_core::{CommandId, Priority, Target, TrunkKind};
use pb::notify::Payload;

const Q: i32 = 10;
const U: i32 = 20;
const U2: i32 = 21;

fn callinfo(callid: i32, gcid: &[u8], state: State) -> pb::CallInfo {
    let mut ci = pb::CallInfo {
        callid,
        gcid: gcid.to_vec(),
        featuresavailable: Features::ALL_QUEUE_ACTIONS.0 as i32,
        direction: pb::call_info::Direction::Inbound as i32,
        ..Default::default()
    };
    ci.set_state(state);
    ci
}

fn cc(sub: i32, infos: Vec<pb::CallInfo>, lost: Vec<i32>) -> pb::Notify {
    pb::Notify {
        subscribe_id: sub,
        notify_id: 1,
        label: String::new(),
        payload: Some(Payload::Callcontrol(pb::NotifyCallControl {
            refreshinstance: 0,
            callinfo: infos,
            calllost: lost
                .into_iter()
                .map(|callid| pb::CallLost {
                    callid,
                    ..Default::default()
                })
                .collect(),
        })),
    }
}

fn user_notify(sub: i32, loggedoff: bool, dnd: bool) -> pb::Notify {
    pb::Notify {
        subscribe_id: sub,
        notify_id: 2,
        label: String::new(),
        payload: Some(Payload::User(pb::NotifyUser {
            extn: "201".into(),
            name: "Anna".into(),
            loggedoff,
            dnd,
            ..Default::default()
        })),
    }
}

fn setup() -> (Translator, Timestamp) {
    let mut t = Translator::new();
    t.add_queue(Q, QueueId::from("Sales"));
    t.add_user(U, AgentId::from("201"));
    t.add_user(U2, AgentId::from("202"));
    (t, Timestamp::from_millis(1_000_000))
}

#[test]
fn first_queue_notify_is_the_snapshot_and_calls_keep_their_id() {
    let (mut t, now) = setup();
    let mut ci = callinfo(1, b"g1", State::Queueing);
    ci.callingparty = Some(pb::PartyInfo {
        number: "0301234".into(),
        ..Default::default()
    });
    ci.trunkinfo = Some(pb::TrunkInfo {
        trunktype: pb::trunk_info::TrunkType::TrunkSip as i32,
        did: "4930555".into(),
    });
    ci.calldata = Some(pb::CallData {
        language: "deu".into(),
        ..Default::default()
    });
    ci.queueinfo = Some(pb::QueueInfo {
        priority: 3,
        ..Default::default()
    });
    let ev = t.notify(&cc(Q, vec![ci], vec![]), now);
    assert_eq!(ev.len(), 2, "{ev:?}");
    let Event::CallQueued(qc) = &ev[0] else {
        panic!("{ev:?}")
    };
    assert_eq!(qc.call, CallId(1));
    assert_eq!(qc.attributes.calling_number, "0301234");
    assert_eq!(qc.attributes.did, "4930555");
    assert_eq!(qc.attributes.trunk, TrunkKind::Sip);
    assert_eq!(qc.attributes.language, "deu");
    assert_eq!(qc.pbx_priority, 3);
    assert!(qc.features.has(Features::BLIND_TRANSFER));
    assert!(matches!(&ev[1], Event::QueueSnapshotCalls { calls, .. } if calls == &vec![CallId(1)]));

    // A later snapshot of the same call: no second QueueSnapshotCalls, same CallId.
    let ev = t.notify(
        &cc(
            Q,
            vec![in_queue(callinfo(1, b"g1", State::Ringing))],
            vec![],
        ),
        now,
    );
    assert!(matches!(&ev[..], [Event::CallQueued(q)] if q.call == CallId(1)));
}

#[test]
fn settle_without_calls_gives_an_empty_snapshot_once() {
    let (mut t, _) = setup();
    assert!(t.awaiting_snapshot(Q));
    let ev = t.snapshot_settled(Q);
    assert!(matches!(ev, Some(Event::QueueSnapshotCalls { calls, .. }) if calls.is_empty()));
    assert!(t.snapshot_settled(Q).is_none());
}

/// After a resubscription IP Office sends the user notify first and the agent's calls only
/// after its ack. Reporting the phone idle in between ended the agent's call in the core:
/// it started wrap-up, replayed a deferred re-queue of the answered call as a new offer, and
/// the call snapshot that followed counted the same answer twice (dst seeds 1472, 794).
#[test]
fn a_resubscribed_agent_stays_on_the_call_until_the_calls_are_shown() {
    let (mut t, now) = setup();
    t.notify(&user_notify(U, false, false), now);
    t.notify(
        &cc(U, vec![callinfo(7, b"g1", State::Connected)], vec![]),
        now,
    );
    t.reset_connection(now);
    t.add_user(30, AgentId::from("201"));
    assert!(t.awaiting_snapshot(30));
    let ev = t.notify(&user_notify(30, false, false), now);
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::AgentChanged(s) if s.phone != PhoneState::OnCall)),
        "{ev:?}"
    );
    let ev = t.notify(
        &cc(30, vec![callinfo(3, b"g1", State::Connected)], vec![]),
        now,
    );
    assert!(!t.awaiting_snapshot(30));
    assert!(
        !ev.iter().any(|e| matches!(e, Event::AgentChanged(_))),
        "{ev:?}"
    );
}

/// A resubscribed agent whose call ended while unobserved: the settle time without any call
/// notify shows the phone idle.
#[test]
fn a_resubscribed_agent_without_calls_is_idle_after_the_settle_time() {
    let (mut t, now) = setup();
    t.notify(&user_notify(U, false, false), now);
    t.notify(
        &cc(U, vec![callinfo(7, b"g1", State::Connected)], vec![]),
        now,
    );
    t.reset_connection(now);
    t.add_user(30, AgentId::from("201"));
    t.notify(&user_notify(30, false, false), now);
    let ev = t.snapshot_settled(30);
    assert!(
        matches!(&ev, Some(Event::AgentChanged(s)) if s.phone == PhoneState::Idle),
        "{ev:?}"
    );
    assert!(t.snapshot_settled(30).is_none());
}

#[test]
fn queue_call_answered_by_agent_then_ended() {
    let (mut t, now) = setup();
    t.notify(
        &cc(Q, vec![callinfo(1, b"g1", State::Queueing)], vec![]),
        now,
    );
    t.notify(&user_notify(U, false, false), now);
    let ev = t.notify(
        &cc(U, vec![callinfo(7, b"g1", State::Ringing)], vec![]),
        now,
    );
    assert!(matches!(&ev[0], Event::CallRinging { call: CallId(1), agent } if agent.0 == "201"));
    assert!(
        matches!(&ev[1], Event::AgentChanged(s) if s.phone == PhoneState::Ringing),
        "{ev:?}"
    );
    // Ephemeral queue drops the call once answered.
    let ev = t.notify(&cc(Q, vec![], vec![1]), now);
    assert!(
        matches!(
            &ev[..],
            [Event::CallLeftQueue {
                call: CallId(1),
                ..
            }]
        ),
        "{ev:?}"
    );
    let ev = t.notify(
        &cc(U, vec![callinfo(7, b"g1", State::Connected)], vec![]),
        now,
    );
    assert!(matches!(
        &ev[0],
        Event::CallAnswered {
            call: CallId(1),
            ..
        }
    ));
    assert!(matches!(&ev[1], Event::AgentChanged(s) if s.phone == PhoneState::OnCall));
    // Hold and unhold: answered only once.
    t.notify(&cc(U, vec![callinfo(7, b"g1", State::Onhold)], vec![]), now);
    let ev = t.notify(
        &cc(U, vec![callinfo(7, b"g1", State::Connected)], vec![]),
        now,
    );
    assert!(!ev.iter().any(|e| matches!(e, Event::CallAnswered { .. })));
    let ev = t.notify(&cc(U, vec![], vec![7]), now);
    assert!(matches!(&ev[0], Event::AgentChanged(s) if s.phone == PhoneState::Idle));
    // Ended once it has not turned up anywhere else for the grace period.
    assert_eq!(t.next_ending(), Some(now + END_GRACE));
    assert!(t.due_endings(now + END_GRACE / 2).is_empty());
    let ev = t.due_endings(now + END_GRACE);
    assert!(matches!(&ev[..], [Event::CallEnded { call: CallId(1) }]));
    assert_eq!(t.next_ending(), None);
    // The call is forgotten: the same gcid later is a new call.
    let ev = t.notify(
        &cc(Q, vec![callinfo(2, b"g1", State::Queueing)], vec![]),
        now,
    );
    assert!(matches!(&ev[0], Event::CallQueued(q) if q.call == CallId(2)));
}

#[test]
fn call_ringing_two_agents_ends_only_when_the_last_leg_goes() {
    let (mut t, now) = setup();
    t.notify(&cc(U, vec![callinfo(1, b"g", State::Ringing)], vec![]), now);
    t.notify(
        &cc(U2, vec![callinfo(5, b"g", State::Ringing)], vec![]),
        now,
    );
    let ev = t.notify(&cc(U, vec![], vec![1]), now);
    assert!(!ev.iter().any(|e| matches!(e, Event::CallEnded { .. })));
    assert!(t.due_endings(now + END_GRACE).is_empty());
    t.notify(&cc(U2, vec![], vec![5]), now);
    let ev = t.due_endings(now + END_GRACE);
    assert!(matches!(&ev[..], [Event::CallEnded { call: CallId(1) }]));
}

#[test]
fn a_call_ringing_at_an_agent_is_moved_with_redirect() {
    let (mut t, now) = setup();
    t.notify(&cc(U, vec![callinfo(1, b"g", State::Ringing)], vec![]), now);
    let transfer = |id| Command {
        id: CommandId(id),
        kind: CommandKind::Transfer {
            call: CallId(1),
            target: Target::Queue(QueueId::from("Sales")),
            dial: "3001".into(),
        },
    };
    let w = t.command(&transfer(1)).unwrap().sent();
    assert_eq!(w.subscribe_id, U);
    let pb::subscribe_cmd::Payload::Callcontrol(ucc) = &w.payload else {
        panic!()
    };
    let f = ucc.callfunction.as_ref().unwrap();
    assert_eq!((f.action, f.arg1.as_str()), (6, "3001"));
    // Once connected, the engine moves it no more: the agent is talking to the caller.
    t.notify(
        &cc(U, vec![callinfo(1, b"g", State::Connected)], vec![]),
        now,
    );
    assert!(matches!(
        t.command(&transfer(2)),
        Err(CommandRefused::Answered(CallId(1), _))
    ));
}

#[test]
fn a_call_sent_back_to_the_queue_is_not_ended_in_between() {
    let (mut t, now) = setup();
    t.notify(&cc(U, vec![callinfo(1, b"g", State::Ringing)], vec![]), now);
    // RONA: the agent's leg goes before the queue reports the call again.
    t.notify(&cc(U, vec![], vec![1]), now);
    let ev = t.notify(
        &cc(Q, vec![callinfo(4, b"g", State::Queueing)], vec![]),
        now + Duration::from_millis(300),
    );
    assert!(matches!(&ev[0], Event::CallQueued(q) if q.call == CallId(1)));
    assert!(t.due_endings(now + END_GRACE * 10).is_empty());
}

/// A reporting queue follows a call to the agent it rings at. When the caller hangs up there,
/// the agent's appearance goes first and the queue's CallLost (the guide: "once the call is
/// completed") after it: that is the call's end, not a move. It was kept for the 300 s orphan
/// grace, and a hot twin's follower that woke from a pause offered the gone caller (seed 2452).
#[test]
fn a_call_lost_by_a_reporting_queue_after_its_agent_leg_ended_is_ended_soon() {
    let (mut t, now) = setup();
    t.notify(
        &cc(
            Q,
            vec![in_queue(callinfo(4, b"g", State::Queueing))],
            vec![],
        ),
        now,
    );
    t.notify(&cc(U, vec![callinfo(1, b"g", State::Ringing)], vec![]), now);
    t.notify(&cc(Q, vec![callinfo(4, b"g", State::Ringing)], vec![]), now);
    t.notify(&cc(U, vec![], vec![1]), now);
    t.notify(&cc(Q, vec![], vec![4]), now);
    let ev = t.due_endings(now + TRANSFER_END_GRACE);
    assert!(
        matches!(&ev[..], [Event::CallEnded { call: CallId(1) }]),
        "{ev:?}"
    );

    // A subscription ended by IP Office (not a CallLost) still orphans the call for the whole
    // grace: it is reported again after the resubscription.
    let (mut t, now) = setup();
    t.notify(&cc(U, vec![callinfo(1, b"g", State::Ringing)], vec![]), now);
    t.notify(&cc(Q, vec![callinfo(4, b"g", State::Ringing)], vec![]), now);
    t.notify(&cc(U, vec![], vec![1]), now);
    t.remove_subscription(Q, now);
    assert!(t.due_endings(now + TRANSFER_END_GRACE).is_empty());
    // And so does a reconnect.
    let (mut t, now) = setup();
    t.notify(&cc(U, vec![callinfo(1, b"g", State::Ringing)], vec![]), now);
    t.notify(&cc(Q, vec![callinfo(4, b"g", State::Ringing)], vec![]), now);
    t.notify(&cc(U, vec![], vec![1]), now);
    t.reset_connection(now);
    assert!(t.due_endings(now + TRANSFER_END_GRACE).is_empty());
    assert!(!t.due_endings(now + ORPHAN_GRACE).is_empty());
}

/// A reporting queue shows a call connected to the agent who answered it. After a reconnect
/// that report can come seconds before the agent's own subscription shows the call, and the
/// engine, still believing the call rang unanswered, sent it back to the queue from the
/// talking agent (seeds 706 and 2547): the queue's report is the answer too.
#[test]
fn a_reporting_queue_showing_a_call_connected_to_a_followed_agent_reports_the_answer() {
    let (mut t, now) = setup();
    t.notify(
        &cc(
            Q,
            vec![in_queue(callinfo(4, b"g", State::Queueing))],
            vec![],
        ),
        now,
    );
    let connected = |extn: &str| {
        let mut ci = callinfo(4, b"g", State::Connected);
        ci.connectedparty = Some(pb::PartyInfo {
            number: extn.into(),
            ..Default::default()
        });
        ci
    };
    let ev = t.notify(&cc(Q, vec![connected("201")], vec![]), now);
    assert!(
        matches!(&ev[..], [Event::CallLeftQueue { call: CallId(1), .. }, Event::CallAnswered { call: CallId(1), agent }] if agent.0 == "201"),
        "{ev:?}"
    );
    // Connected to someone the engine does not follow: no agent of its to credit.
    let ev = t.notify(&cc(Q, vec![connected("299")], vec![]), now);
    assert!(ev.is_empty(), "{ev:?}");
}

/// A queue call as IP Office shows it while it waits in the queue: with its queue detail.
fn in_queue(mut ci: pb::CallInfo) -> pb::CallInfo {
    ci.queueinfo = Some(pb::QueueInfo {
        name: "Sales".into(),
        priority: 1,
        ..Default::default()
    });
    ci
}

/// A reporting (non-ephemeral) queue subscription follows a call after it left the queue: a
/// call transferred to an agent shows RINGING there, without the queue detail the guide gives
/// only "if the call is in a queue". Taking it as waiting made a hot twin's new leader, which
/// never saw the transfer, offer the ringing call again (seed 1138).
#[test]
fn a_reporting_queue_shows_a_call_ringing_at_a_transfer_target_as_gone_from_the_queue() {
    let (mut t, now) = setup();
    let ev = t.notify(
        &cc(
            Q,
            vec![in_queue(callinfo(4, b"g", State::Queueing))],
            vec![],
        ),
        now,
    );
    assert!(matches!(&ev[0], Event::CallQueued(q) if q.call == CallId(1)));
    // Ringing from the queue (IP Office's own distribution): still in the queue.
    let ev = t.notify(
        &cc(Q, vec![in_queue(callinfo(4, b"g", State::Ringing))], vec![]),
        now,
    );
    assert!(matches!(&ev[..], [Event::CallQueued(q)] if q.call == CallId(1)));
    // Transferred to an agent: ringing there, no longer in the queue.
    let ev = t.notify(&cc(Q, vec![callinfo(4, b"g", State::Ringing)], vec![]), now);
    assert!(
        matches!(
            &ev[..],
            [Event::CallLeftQueue {
                call: CallId(1),
                ..
            }]
        ),
        "{ev:?}"
    );
    let ev = t.notify(&cc(Q, vec![callinfo(4, b"g", State::Ringing)], vec![]), now);
    assert!(ev.is_empty(), "{ev:?}");
    // The queue still reports it, so Finish still goes to the queue.
    let finish = Command {
        id: CommandId(1),
        kind: CommandKind::Finish {
            call: CallId(1),
            report_next: false,
        },
    };
    assert_eq!(t.command(&finish).unwrap().sent().subscribe_id, Q);

    // A fresh subscription (a twin's new leader) whose first snapshot shows the call ringing
    // at the agent: not one of the queue's waiting calls.
    let mut fresh = Translator::new();
    fresh.add_queue(Q, QueueId::from("Sales"));
    let ev = fresh.notify(
        &cc(
            Q,
            vec![
                callinfo(4, b"g", State::Ringing),
                in_queue(callinfo(5, b"h", State::Queueing)),
            ],
            vec![],
        ),
        now,
    );
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert!(matches!(&ev[0], Event::CallQueued(q) if q.call == CallId(2)));
    assert!(
        matches!(&ev[1], Event::QueueSnapshotCalls { calls, .. } if calls == &vec![CallId(2)]),
        "{ev:?}"
    );
}

#[test]
fn presence_comes_from_the_user_notify() {
    let (mut t, now) = setup();
    // Calls before the user notify: no AgentChanged yet.
    let ev = t.notify(
        &cc(U, vec![callinfo(1, b"g", State::Connected)], vec![]),
        now,
    );
    assert!(!ev.iter().any(|e| matches!(e, Event::AgentChanged(_))));
    let ev = t.notify(&user_notify(U, true, true), now);
    let [Event::AgentChanged(s)] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert_eq!(
        s.presence,
        Presence {
            logged_in: false,
            dnd: true,
            phone_fault: false,
            forwarded: false,
        }
    );
    assert_eq!(s.phone, PhoneState::OnCall);
    assert_eq!(s.name, "Anna");
    // Same snapshot again: nothing new.
    assert!(t.notify(&user_notify(U, true, true), now).is_empty());
}

#[test]
fn queue_notify_gives_members_and_service_mode() {
    let (mut t, now) = setup();
    let n = pb::Notify {
        subscribe_id: Q,
        notify_id: 0,
        label: String::new(),
        payload: Some(Payload::Queue(pb::NotifyQueue {
            extn: "300".into(),
            servicemode: pb::notify_queue::ServiceMode::Ns as i32,
            queuemembers: Some(pb::QueueMembers {
                member: vec![
                    pb::QueueMember {
                        extn: "201".into(),
                        disabled: false,
                    },
                    pb::QueueMember {
                        extn: "202".into(),
                        disabled: true,
                    },
                ],
            }),
            ..Default::default()
        })),
    };
    let ev = t.notify(&n, now);
    let [Event::QueueChanged(s)] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert_eq!(s.queue.0, "Sales");
    assert_eq!(s.extension, "300");
    assert_eq!(s.service_mode, QueueServiceMode::NightService);
    assert_eq!(s.members[1].agent.0, "202");
    assert!(!s.members[1].enabled);
}

#[test]
fn unknown_subscriptions_and_empty_payloads_are_ignored() {
    let (mut t, now) = setup();
    assert!(t
        .notify(
            &cc(99, vec![callinfo(1, b"g", State::Queueing)], vec![]),
            now
        )
        .is_empty());
    let empty = pb::Notify {
        subscribe_id: Q,
        ..Default::default()
    };
    assert!(t.notify(&empty, now).is_empty());
    // A user payload on a queue subscription is not the queue's.
    assert!(t.notify(&user_notify(Q, false, false), now).is_empty());
}

#[test]
fn commands_go_to_the_queue_while_queueing_then_to_the_user() {
    let (mut t, now) = setup();
    t.notify(
        &cc(Q, vec![callinfo(4, b"g", State::Queueing)], vec![]),
        now,
    );
    let cmd = |kind| Command {
        id: CommandId(1),
        kind,
    };
    let transfer = cmd(CommandKind::Transfer {
        call: CallId(1),
        target: Target::Agent(AgentId::from("201")),
        dial: "201".into(),
    });
    let w = t.command(&transfer).unwrap().sent();
    assert_eq!(w.subscribe_id, Q);
    let pb::subscribe_cmd::Payload::Callcontrol(ucc) = &w.payload else {
        panic!()
    };
    assert_eq!(ucc.callid, 4);
    let f = ucc.callfunction.as_ref().unwrap();
    assert_eq!((f.action, f.arg1.as_str()), (5, "201"));

    let w = t
        .command(&cmd(CommandKind::SetPriority {
            call: CallId(1),
            priority: Priority::High,
        }))
        .unwrap()
        .sent();
    let pb::subscribe_cmd::Payload::Callcontrol(ucc) = &w.payload else {
        panic!()
    };
    assert_eq!(ucc.callfunction.as_ref().unwrap().action, 34);
    assert_eq!(ucc.callfunction.as_ref().unwrap().arg1, "3");

    let w = t
        .command(&cmd(CommandKind::Finish {
            call: CallId(1),
            report_next: true,
        }))
        .unwrap()
        .sent();
    let pb::subscribe_cmd::Payload::Callcontrol(ucc) = &w.payload else {
        panic!()
    };
    assert_eq!(ucc.callfunction.as_ref().unwrap().action, 35);
    assert_eq!(ucc.callfunction.as_ref().unwrap().arg1, "1");

    // Answered: the queue drops it, the user holds it.
    t.notify(
        &cc(U, vec![callinfo(9, b"g", State::Connected)], vec![]),
        now,
    );
    t.notify(&cc(Q, vec![], vec![4]), now);
    let w = t
        .command(&cmd(CommandKind::Drop { call: CallId(1) }))
        .unwrap()
        .sent();
    assert_eq!(w.subscribe_id, U);
    let pb::subscribe_cmd::Payload::Callcontrol(ucc) = &w.payload else {
        panic!()
    };
    assert_eq!(
        (ucc.callid, ucc.callfunction.as_ref().unwrap().action),
        (9, 1)
    );

    // The queue no longer reports the call: Finish has nothing left to do, and SetPriority
    // (a queue action) has nowhere to go.
    assert_eq!(
        t.command(&cmd(CommandKind::Finish {
            call: CallId(1),
            report_next: false,
        }))
        .unwrap(),
        Translated::AlreadyDone("the queue no longer reports this call")
    );
    let err = t
        .command(&cmd(CommandKind::SetPriority {
            call: CallId(1),
            priority: Priority::High,
        }))
        .unwrap_err();
    assert_eq!(err.result_code(), ResultCode::CallControlCallNotFound);

    let err = t
        .command(&cmd(CommandKind::Drop { call: CallId(77) }))
        .unwrap_err();
    assert_eq!(err.result_code(), ResultCode::CallControlCallNotFound);
}

#[test]
fn queue_commands() {
    let (t, _) = setup();
    let w = t
        .command(&Command {
            id: CommandId(1),
            kind: CommandKind::SetQueueMember {
                queue: QueueId::from("Sales"),
                agent: AgentId::from("201"),
                enabled: false,
            },
        })
        .unwrap()
        .sent();
    assert_eq!(w.subscribe_id, Q);
    let pb::subscribe_cmd::Payload::Queue(uq) = &w.payload else {
        panic!()
    };
    assert_eq!(
        uq.addmember,
        vec![pb::QueueMember {
            extn: "201".into(),
            disabled: true
        }]
    );
    let w = t
        .command(&Command {
            id: CommandId(2),
            kind: CommandKind::SetServiceMode {
                queue: QueueId::from("Sales"),
                mode: ServiceMode::OutOfService,
            },
        })
        .unwrap()
        .sent();
    let pb::subscribe_cmd::Payload::Queue(uq) = &w.payload else {
        panic!()
    };
    assert_eq!(uq.setservicemode.as_ref().unwrap().servicemode, 3);
    let err = t
        .command(&Command {
            id: CommandId(3),
            kind: CommandKind::SetServiceMode {
                queue: QueueId::from("Nope"),
                mode: ServiceMode::Active,
            },
        })
        .unwrap_err();
    assert_eq!(err, CommandRefused::UnknownQueue(QueueId::from("Nope")));
}

#[test]
fn reconnect_keeps_call_ids_within_the_grace_period_only() {
    let (mut t, now) = setup();
    t.notify(
        &cc(Q, vec![callinfo(1, b"g", State::Queueing)], vec![]),
        now,
    );
    t.reset_connection(now);
    t.add_queue(Q + 100, QueueId::from("Sales"));
    let ev = t.notify(
        &cc(Q + 100, vec![callinfo(3, b"g", State::Queueing)], vec![]),
        now + Duration::from_secs(5),
    );
    assert!(matches!(&ev[0], Event::CallQueued(q) if q.call == CallId(1)));
    t.reset_connection(now);
    t.add_queue(Q + 200, QueueId::from("Sales"));
    // Not seen again within the grace period: reported ended and forgotten.
    let ev = t.due_endings(now + ORPHAN_GRACE + Duration::from_secs(10));
    assert!(matches!(&ev[..], [Event::CallEnded { call: CallId(1) }]));
    let ev = t.notify(
        &cc(Q + 200, vec![], vec![]),
        now + ORPHAN_GRACE + Duration::from_secs(10),
    );
    assert!(matches!(&ev[0], Event::QueueSnapshotCalls { calls, .. } if calls.is_empty()));
    let ev = t.notify(
        &cc(Q + 200, vec![callinfo(3, b"g", State::Queueing)], vec![]),
        now + ORPHAN_GRACE + Duration::from_secs(11),
    );
    assert!(matches!(&ev[0], Event::CallQueued(q) if q.call == CallId(2)));
}

/// After a move from Sales to Support, a late Sales report and then Sales dropping the
/// call must not leave it "reported nowhere" (it would be ended after the orphan grace
/// while it waits in Support): dst seed 18.
#[test]
fn a_call_reported_by_two_queues_lives_while_either_reports_it() {
    let (mut t, now) = setup();
    const S: i32 = 11;
    t.add_queue(S, QueueId::from("Support"));
    t.notify(
        &cc(Q, vec![callinfo(1, b"g", State::Queueing)], vec![]),
        now,
    );
    t.notify(
        &cc(S, vec![callinfo(7, b"g", State::Queueing)], vec![]),
        now,
    );
    t.notify(
        &cc(Q, vec![callinfo(1, b"g", State::Queueing)], vec![]),
        now,
    );
    t.notify(&cc(Q, vec![], vec![1]), now);
    assert!(t.due_endings(now + ORPHAN_GRACE * 2).is_empty());
    let cmd = Command {
        id: acd_core::CommandId(1),
        kind: CommandKind::SetPriority {
            call: CallId(1),
            priority: acd_core::Priority::High,
        },
    };
    assert_eq!(t.command(&cmd).unwrap().sent().subscribe_id, S);
}

fn transfer_to(call: u64, agent: &str) -> Command {
    Command {
        id: CommandId(call * 100),
        kind: CommandKind::Transfer {
            call: CallId(call),
            target: Target::Agent(AgentId::from(agent)),
            dial: agent.into(),
        },
    }
}

/// Issue 24, item 1: the caller hangs up while the engine's transfer rings at the agent. IP
/// Office shows the agent's ringing appearance lost (never connected) and no other leg: the
/// call is over, and is reported ended after the ordinary grace, not the 20 s a transfer still
/// on its way gets (which kept the agent reserved until the ring timer blamed them).
#[test]
fn a_caller_hanging_up_while_the_transfer_rings_is_ended_after_the_ordinary_grace() {
    let (mut t, now) = setup();
    t.notify(
        &cc(Q, vec![callinfo(1, b"g1", State::Queueing)], vec![]),
        now,
    );
    t.notify(&user_notify(U, false, false), now);
    t.command_sent(&transfer_to(1, "201"), now);
    t.notify(&cc(Q, vec![], vec![1]), now);
    t.notify(
        &cc(U, vec![callinfo(7, b"g1", State::Ringing)], vec![]),
        now,
    );
    let gone = now + Duration::from_secs(3);
    let ev = t.notify(&cc(U, vec![], vec![7]), gone);
    assert!(matches!(&ev[..], [Event::AgentChanged(s)] if s.phone == PhoneState::Idle));
    assert_eq!(t.next_ending(), Some(gone + END_GRACE));
    let ev = t.due_endings(gone + END_GRACE);
    assert!(
        matches!(&ev[..], [Event::CallEnded { call: CallId(1) }]),
        "{ev:?}"
    );
}

/// What the transfer grace is for: the call leaves one phone (or its queue) for the agent the
/// engine just sent it to, whose user notify trails; that is not an ending.
#[test]
fn a_transfer_on_its_way_to_another_agent_keeps_the_long_grace() {
    let (mut t, now) = setup();
    t.notify(
        &cc(U, vec![callinfo(7, b"g1", State::Ringing)], vec![]),
        now,
    );
    t.command_sent(&transfer_to(1, "201"), now);
    // The call was ringing at 201 and the engine redirects it to 202: 201's leg goes first.
    t.command_sent(&transfer_to(1, "202"), now + Duration::from_secs(1));
    let gone = now + Duration::from_secs(2);
    t.notify(&cc(U, vec![], vec![7]), gone);
    assert_eq!(t.next_ending(), Some(gone + TRANSFER_END_GRACE));
    let ev = t.notify(
        &cc(U2, vec![callinfo(9, b"g1", State::Ringing)], vec![]),
        gone + Duration::from_secs(5),
    );
    assert!(matches!(&ev[0], Event::CallRinging { call: CallId(1), agent } if agent.0 == "202"));
    assert_eq!(t.next_ending(), None);
}

/// Issue 24, item 2: the user record's `fwdu` (field 21) is the agent's forward unconditional;
/// with it on, calls the engine sends there go elsewhere.
#[test]
fn forward_unconditional_comes_from_the_user_notify() {
    let (mut t, now) = setup();
    let forwarded = |fwdu: bool, fwdhg: bool| pb::Notify {
        subscribe_id: U,
        notify_id: 3,
        label: String::new(),
        payload: Some(Payload::User(pb::NotifyUser {
            extn: "201".into(),
            name: "Anna".into(),
            fwdu,
            fwdhg,
            fwdunumber: "209".into(),
            ..Default::default()
        })),
    };
    for (fwdu, fwdhg) in [(true, true), (false, true), (true, false)] {
        let ev = t.notify(&forwarded(fwdu, fwdhg), now);
        let [Event::AgentChanged(s)] = &ev[..] else {
            panic!("{ev:?}")
        };
        assert_eq!(s.presence.forwarded, fwdu, "fwdu {fwdu} fwdhg {fwdhg}");
        assert!(s.presence.logged_in && !s.presence.dnd);
    }
    // The field numbers are the wire's: fwdu = 21 (varint tag 0xA8 0x01).
    use prost::Message;
    let bytes = pb::NotifyUser {
        fwdu: true,
        ..Default::default()
    }
    .encode_to_vec();
    assert_eq!(bytes, vec![0xA8, 0x01, 0x01]);
}

/// Call 5 queueing in a reporting queue (CallId 1), and the engine's transfer of it to 201 sent.
fn sent_to_201_from_a_reporting_queue() -> (Translator, Timestamp) {
    let (mut t, now) = setup();
    t.notify(
        &cc(
            Q,
            vec![in_queue(callinfo(5, b"g", State::Queueing))],
            vec![],
        ),
        now,
    );
    t.command_sent(&transfer_to(1, "201"), now);
    (t, now)
}

/// Seed 804097 (and 7720): the engine's transfer met the agent's forward unconditional, which
/// sends the call to voicemail. The reporting queue then shows it LEAVINGVOICEMAILMESSAGE with
/// no transfer among its features and no phone shows it: IP Office answers a transfer there
/// with success and does nothing, and the engine, believing the call was back in its queue,
/// offered it again 40 s after the caller had left the message and gone. The call is out of
/// reach the moment the queue shows it at voicemail: it is reported ended once.
#[test]
fn a_call_the_queue_shows_at_voicemail_is_ended_at_once_and_once_only() {
    let (mut t, now) = sent_to_201_from_a_reporting_queue();
    let mut vm = callinfo(5, b"g", State::Leavingvoicemailmessage);
    vm.featuresavailable = (Features::DROP | Features::FINISH) as i32;
    let ev = t.notify(
        &cc(Q, vec![vm.clone()], vec![]),
        now + Duration::from_millis(300),
    );
    assert!(
        matches!(
            &ev[..],
            [
                Event::CallLeftQueue {
                    call: CallId(1),
                    ..
                },
                Event::CallEnded { call: CallId(1) }
            ]
        ),
        "{ev:?}"
    );
    // Reported again while the caller speaks, then lost when they hang up: no second end.
    assert!(t
        .notify(&cc(Q, vec![vm], vec![]), now + Duration::from_secs(5))
        .is_empty());
    let gone = now + Duration::from_secs(40);
    assert!(t.notify(&cc(Q, vec![], vec![5]), gone).is_empty());
    assert_eq!(t.next_ending(), Some(gone + END_GRACE));
    assert!(t.due_endings(gone + END_GRACE).is_empty());
    assert_eq!(t.next_ending(), None);
}

/// A reporting queue follows a call until Finish or its end: losing a call that had left the
/// queue and that no phone shows is the call's end, after the short grace (it was kept for the
/// 300 s orphan grace). A call that left an ephemeral queue for the engine's transfer to an
/// agent is on its way there: if no phone ever shows it (a forward took it elsewhere), it ends
/// after the transfer grace.
#[test]
fn a_call_lost_out_of_the_queue_with_no_phone_showing_it_ends_soon() {
    let (mut t, now) = setup();
    t.notify(
        &cc(
            Q,
            vec![in_queue(callinfo(5, b"g", State::Queueing))],
            vec![],
        ),
        now,
    );
    t.notify(
        &cc(Q, vec![callinfo(5, b"g", State::Connected)], vec![]),
        now,
    );
    let gone = now + Duration::from_secs(30);
    t.notify(&cc(Q, vec![], vec![5]), gone);
    assert_eq!(t.next_ending(), Some(gone + END_GRACE));

    let (mut t, now) = setup();
    t.notify(
        &cc(Q, vec![callinfo(1, b"g1", State::Queueing)], vec![]),
        now,
    );
    t.command_sent(&transfer_to(1, "201"), now);
    let left = now + Duration::from_millis(200);
    t.notify(&cc(Q, vec![], vec![1]), left);
    assert_eq!(t.next_ending(), Some(left + TRANSFER_END_GRACE));
    let ev = t.due_endings(left + TRANSFER_END_GRACE);
    assert!(
        matches!(&ev[..], [Event::CallEnded { call: CallId(1) }]),
        "{ev:?}"
    );

    // Without a transfer of ours, a call leaving an ephemeral queue keeps the orphan grace
    // (the core decides from its own state what its leaving means).
    let (mut t, now) = setup();
    t.notify(
        &cc(Q, vec![callinfo(1, b"g1", State::Queueing)], vec![]),
        now,
    );
    t.notify(&cc(Q, vec![], vec![1]), now);
    assert_eq!(t.next_ending(), Some(now + ORPHAN_GRACE));
}

/// Seeds 3036 and 7536: the caller hangs up while the engine's transfer rings. A reporting
/// queue showed the call ringing at that agent (the agent's own notify never did: the ring was
/// folded away), or the agent's phone showed it and a late report of the queue showed it
/// queueing again before losing it. Either way the call is gone: it ends after the short
/// grace, not the transfer grace that let the ring timer blame the agent 15 s later.
#[test]
fn a_call_lost_after_the_transfer_was_seen_ringing_ends_after_the_short_grace() {
    let ringing_at = |agent: &str| {
        let mut ci = callinfo(5, b"g", State::Ringing);
        ci.targets = Some(pb::Targets {
            target: vec![pb::Target {
                partyinfo: Some(pb::PartyInfo {
                    number: agent.into(),
                    ..Default::default()
                }),
            }],
        });
        ci
    };
    let (mut t, now) = sent_to_201_from_a_reporting_queue();
    t.notify(
        &cc(Q, vec![ringing_at("201")], vec![]),
        now + Duration::from_millis(100),
    );
    let gone = now + Duration::from_secs(2);
    t.notify(&cc(Q, vec![], vec![5]), gone);
    assert_eq!(t.next_ending(), Some(gone + END_GRACE));

    // Ringing at someone else is not the engine's transfer arriving.
    let (mut t, now) = sent_to_201_from_a_reporting_queue();
    t.notify(
        &cc(Q, vec![ringing_at("202")], vec![]),
        now + Duration::from_millis(100),
    );
    let gone = now + Duration::from_secs(2);
    t.notify(&cc(Q, vec![], vec![5]), gone);
    assert_eq!(t.next_ending(), Some(gone + TRANSFER_END_GRACE));

    // The agent's phone showed it; a late queue report shows it queueing; then all is lost.
    let (mut t, now) = sent_to_201_from_a_reporting_queue();
    t.notify(&cc(U, vec![callinfo(7, b"g", State::Ringing)], vec![]), now);
    t.notify(&cc(U, vec![], vec![7]), now + Duration::from_millis(100));
    t.notify(
        &cc(
            Q,
            vec![in_queue(callinfo(5, b"g", State::Queueing))],
            vec![],
        ),
        now + Duration::from_millis(300),
    );
    let gone = now + Duration::from_millis(700);
    t.notify(&cc(Q, vec![], vec![5]), gone);
    assert_eq!(t.next_ending(), Some(gone + END_GRACE));
}

/// Seed 3476: the engine's exit moved a Sales call to Support and its result was lost. The
/// Sales subscription (reporting) follows the call and shows it queueing with Support's queue
/// detail: it no longer waits in Sales (taken as waiting there, it was never handed over to
/// Support and was not routed for minutes). A queue named in the rules by its extension number
/// is still this queue.
#[test]
fn a_call_shown_queueing_in_another_queue_has_left_this_one() {
    let detail = |name: &str, number: &str| {
        let mut ci = callinfo(5, b"g", State::Queueing);
        ci.queueinfo = Some(pb::QueueInfo {
            name: name.into(),
            number: number.into(),
            priority: 1,
            ..Default::default()
        });
        ci
    };
    let (mut t, now) = setup();
    let ev = t.notify(&cc(Q, vec![detail("Sales", "3001")], vec![]), now);
    assert!(matches!(&ev[0], Event::CallQueued(_)), "{ev:?}");
    let ev = t.notify(&cc(Q, vec![detail("Support", "3002")], vec![]), now);
    assert!(
        matches!(
            &ev[..],
            [Event::CallLeftQueue {
                call: CallId(1),
                ..
            }]
        ),
        "{ev:?}"
    );

    let mut t = Translator::new();
    t.add_queue(Q, QueueId::from("3001"));
    let ev = t.notify(&cc(Q, vec![detail("Sales", "3001")], vec![]), now);
    assert!(matches!(&ev[0], Event::CallQueued(_)), "{ev:?}");
}

/// Seed 9820: while IP Office terminated every subscription the agent answered; the ring timer
/// fired and its return to the queue went out once the reporting queue was back, moving the
/// talking agent's caller into the queue again. A call IP Office shows connected to a followed
/// agent is never transferred.
#[test]
fn a_call_shown_connected_to_an_agent_is_not_transferred() {
    let (mut t, now) = setup();
    t.notify(
        &cc(
            Q,
            vec![in_queue(callinfo(5, b"g", State::Queueing))],
            vec![],
        ),
        now,
    );
    t.notify(&user_notify(U, false, false), now);
    let mut connected = callinfo(5, b"g", State::Connected);
    connected.connectedparty = Some(pb::PartyInfo {
        number: "201".into(),
        ..Default::default()
    });
    let ev = t.notify(&cc(Q, vec![connected], vec![]), now);
    assert!(
        ev.iter().any(|e| matches!(e, Event::CallAnswered { .. })),
        "{ev:?}"
    );
    let back = Command {
        id: CommandId(9),
        kind: CommandKind::Transfer {
            call: CallId(1),
            target: Target::Queue(QueueId::from("Sales")),
            dial: "3001".into(),
        },
    };
    assert!(matches!(
        t.command(&back),
        Err(CommandRefused::Answered(CallId(1), _))
    ));
    // Shown queueing again (the agent sent it back): it can be routed again.
    t.notify(
        &cc(
            Q,
            vec![in_queue(callinfo(5, b"g", State::Queueing))],
            vec![],
        ),
        now,
    );
    assert!(t.command(&transfer_to(1, "202")).is_ok());
}

/// Issue 25 (voicemail): the engine's offer rang out into the agent's own mailbox (the user's
/// No Answer Time ran out before the engine's ring). The agent's appearance shows it at
/// voicemail: the call is ended for routing at once, and once, instead of being chased with
/// transfers IP Office ignores.
#[test]
fn an_offer_that_rang_into_the_agents_mailbox_is_ended_at_once() {
    let (mut t, now) = setup();
    t.notify(
        &cc(Q, vec![callinfo(1, b"g1", State::Queueing)], vec![]),
        now,
    );
    t.notify(&user_notify(U, false, false), now);
    t.command_sent(&transfer_to(1, "201"), now);
    t.notify(&cc(Q, vec![], vec![1]), now);
    t.notify(
        &cc(U, vec![callinfo(7, b"g1", State::Ringing)], vec![]),
        now,
    );
    let later = now + Duration::from_secs(15);
    let ev = t.notify(
        &cc(
            U,
            vec![callinfo(7, b"g1", State::Answeredbyvoicemail)],
            vec![],
        ),
        later,
    );
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::CallEnded { call: CallId(1) })),
        "{ev:?}"
    );
    assert!(
        !ev.iter().any(|e| matches!(e, Event::CallAnswered { .. })),
        "{ev:?}"
    );
    let ev = t.notify(&cc(U, vec![], vec![7]), later + Duration::from_secs(20));
    assert!(
        !ev.iter().any(|e| matches!(e, Event::CallEnded { .. })),
        "{ev:?}"
    );
    assert!(t.due_endings(later + Duration::from_secs(60)).is_empty());
}
