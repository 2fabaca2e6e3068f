//! A caller who hangs up while the offered call rings at the agent (issue 24, item 1): IP Office
//! shows the agent's ringing appearance go away without ever being connected, and later the
//! call's end. The agent is free at once, nobody is blamed for a ring-no-answer, and the call is
//! counted abandoned exactly once.

use super::tests::*;
use super::*;
use crate::accounting::CallOutcome;
use crate::config::PickStrategy;
use crate::decision::DecisionAction;
use crate::event::*;

const Q: &str = "Sales";

/// Call `call` rings at 2001 (transfer done, queue lost it, 2001's phone rings with it).
fn ringing_at_2001(sim: &mut Sim, call: u64) {
    let out = sim.call(call).clone();
    assert_eq!(offered_agent(&out).as_deref(), Some("2001"));
    sim.ok(transfers(&out)[0].0);
    sim.send(Event::CallLeftQueue {
        call: CallId(call),
        queue: Q.into(),
    });
    sim.send(Event::CallRinging {
        call: CallId(call),
        agent: "2001".into(),
    });
    sim.send(agent_event("2001", true, PhoneState::Ringing));
}

#[test]
fn a_hang_up_while_ringing_frees_the_agent_at_once_without_a_ring_no_answer() {
    let mut sim = basic(PickStrategy::Linear, &["2001"]);
    sim.idle("2001");
    ringing_at_2001(&mut sim, 1);
    // The caller hangs up: the ringing appearance goes, the phone is idle again.
    sim.at(3_000, agent_event("2001", true, PhoneState::Idle));
    assert_eq!(
        sim.availability("2001"),
        AgentAvailability::Idle,
        "free at once, not reserved for a call that is gone"
    );
    // The next caller is offered to 2001 at once.
    let out = sim.call(2).clone();
    assert_eq!(offered_agent(&out).as_deref(), Some("2001"));
    // The wire layer's end of call 1 comes later: counted abandoned once, no RONA ever.
    let out = sim.at(2_000, Event::CallEnded { call: CallId(1) }).clone();
    let mut all = out.clone();
    let later = sim.wait(60_000);
    all.decisions.extend(later.decisions);
    all.finished.extend(later.finished);
    assert!(
        !all.decisions
            .iter()
            .any(|d| d.call == CallId(1) && matches!(d.action, DecisionAction::Rona { .. })),
        "no ring-no-answer for a call that ended: {all:?}"
    );
    let ends: Vec<_> = all
        .finished
        .iter()
        .filter(|f| f.call == CallId(1))
        .collect();
    assert!(
        matches!(&ends[..], [f] if f.outcome == CallOutcome::Abandoned),
        "{all:?}"
    );
    assert_eq!(sim.engine.accounting()[&QueueId::from(Q)].abandoned, 1);
    counters_balance(&sim.engine);
}

#[test]
fn two_hang_ups_while_ringing_never_make_the_agent_not_ready() {
    let mut sim = basic(PickStrategy::Linear, &["2001"]);
    sim.idle("2001");
    for call in [1, 2] {
        ringing_at_2001(&mut sim, call);
        sim.at(1_000, agent_event("2001", true, PhoneState::Idle));
        // The wire layer may take up to its transfer grace to report the end.
        sim.wait(25_000);
        sim.send(Event::CallEnded { call: CallId(call) });
    }
    assert_eq!(sim.availability("2001"), AgentAvailability::Idle);
    assert_eq!(sim.engine.accounting()[&QueueId::from(Q)].abandoned, 2);
    counters_balance(&sim.engine);
}

/// The ringing appearance going away is not always a hang-up: the call can come back to its
/// queue (IP Office sent it back). It is then routed again, the agent not blamed.
#[test]
fn a_call_that_leaves_the_agents_phone_and_comes_back_to_the_queue_is_routed_again() {
    let mut sim = basic(PickStrategy::Linear, &["2001", "2002"]);
    sim.idle("2001");
    ringing_at_2001(&mut sim, 1);
    sim.at(1_000, agent_event("2001", true, PhoneState::Idle));
    sim.idle("2002");
    let out = sim
        .at(500, queued_call(1, Q, 1, Features::ALL_QUEUE_ACTIONS))
        .clone();
    assert!(
        offered_agent(&out).is_some(),
        "routed again at once: {out:?}"
    );
    assert_eq!(sim.engine.accounting()[&QueueId::from(Q)].abandoned, 0);
    counters_balance(&sim.engine);
}

fn forwarded_event(agent: &str, forwarded: bool, phone: PhoneState) -> Event {
    Event::AgentChanged(AgentSnapshot {
        agent: agent.into(),
        name: agent.into(),
        presence: Presence {
            logged_in: true,
            dnd: false,
            phone_fault: false,
            forwarded,
        },
        phone,
    })
}

/// Issue 24, item 2: an agent whose calls are forwarded unconditionally (a presence hub sent
/// them away, or they did it themselves) gets no offers, like DND; back, they do.
#[test]
fn a_forwarded_agent_gets_no_offers_until_the_forward_is_off() {
    let mut sim = basic(PickStrategy::Linear, &["2001"]);
    sim.send(forwarded_event("2001", true, PhoneState::Idle));
    assert_eq!(sim.availability("2001"), AgentAvailability::Forwarded);
    let out = sim.call(1).clone();
    assert!(transfers(&out).is_empty(), "{out:?}");
    let out = sim
        .at(5_000, forwarded_event("2001", false, PhoneState::Idle))
        .clone();
    assert_eq!(offered_agent(&out).as_deref(), Some("2001"));
}

/// Forwarding switched on while the offered call rings: declined, back to the queue at once,
/// no ring-no-answer penalty.
#[test]
fn forwarding_switched_on_while_the_call_rings_declines_it() {
    let mut sim = basic(PickStrategy::Linear, &["2001", "2002"]);
    sim.idle("2001");
    ringing_at_2001(&mut sim, 1);
    let out = sim
        .at(1_000, forwarded_event("2001", true, PhoneState::Ringing))
        .clone();
    assert!(
        matches!(
            &transfers(&out)[..],
            [(_, CallId(1), crate::command::Target::Queue(_), _)]
        ),
        "{out:?}"
    );
    assert!(
        sim.engine.agents[sim.engine.agent_ix[&AgentId::from("2001")]]
            .not_ready_until
            .is_none()
    );
}

/// An agent whose rules say `take_calls_when_forwarded` (their forward leads to a phone they
/// answer, a home worker's mobile) is offered calls forwarded or not, and a forward switched on
/// while it rings does not decline the call.
#[test]
fn an_agent_who_takes_calls_when_forwarded_is_offered_them_all_the_same() {
    let mut profiles = vec![
        profile("2001", &[("sales", 5)]),
        profile("2002", &[("sales", 5)]),
    ];
    profiles[0].takes_calls_when_forwarded = true;
    let mut sim = Sim::new(config(
        vec![policy(Q, PickStrategy::Linear, &["2001", "2002"])],
        profiles,
    ));
    sim.send(forwarded_event("2001", true, PhoneState::Idle));
    sim.send(forwarded_event("2002", true, PhoneState::Idle));
    assert_eq!(sim.availability("2001"), AgentAvailability::Idle);
    assert_eq!(sim.availability("2002"), AgentAvailability::Forwarded);
    let out = sim.call(1).clone();
    assert_eq!(offered_agent(&out).as_deref(), Some("2001"), "{out:?}");
    let (cmd, ..) = transfers(&out)[0].clone();
    sim.ok(cmd);
    let out = sim
        .at(1_000, forwarded_event("2001", true, PhoneState::Ringing))
        .clone();
    assert!(transfers(&out).is_empty(), "declined: {out:?}");
}

/// Issue 25, missed rings at low load: with `ring_when_others_free`, an offer made while
/// another agent who could take the call is free rings only that long, so a missed ring moves
/// the caller on to the free colleague quickly; with nobody else free the full ring applies.
#[test]
fn a_short_ring_applies_while_another_eligible_agent_is_free() {
    let mut p = policy(Q, PickStrategy::Linear, &["2001", "2002"]);
    p.rona.ring_when_others_free_ms = Some(6_000);
    let ring = p.rona.ring_timeout_ms;
    let mut sim = Sim::new(config(
        vec![p],
        vec![
            profile("2001", &[("sales", 5)]),
            profile("2002", &[("sales", 5)]),
        ],
    ));
    sim.idle("2001");
    sim.idle("2002");
    ringing_at_2001(&mut sim, 1);
    let out = sim.wait(6_000);
    assert!(
        out.decisions
            .iter()
            .any(|d| matches!(d.action, DecisionAction::Rona { .. })),
        "rang out after the short ring: {out:?}"
    );

    // Alone: the full ring.
    let mut p = policy(Q, PickStrategy::Linear, &["2001"]);
    p.rona.ring_when_others_free_ms = Some(6_000);
    let mut sim = Sim::new(config(vec![p], vec![profile("2001", &[("sales", 5)])]));
    sim.idle("2001");
    ringing_at_2001(&mut sim, 1);
    let out = sim.wait(ring - 1);
    assert!(
        !out.decisions
            .iter()
            .any(|d| matches!(d.action, DecisionAction::Rona { .. })),
        "{out:?}"
    );
    let out = sim.wait(1);
    assert!(out
        .decisions
        .iter()
        .any(|d| matches!(d.action, DecisionAction::Rona { .. })));
}
