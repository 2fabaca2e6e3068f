//! A follower of a hot twin: its commands are not sent (`CommandOutcome::NotSent`), while the
//! leader routes the same calls. The follower's core must neither blame its agents nor chase or
//! miscount calls the leader moved, so that it is ready to take over with a true picture.

use super::tests::*;
use crate::accounting::CallOutcome;
use crate::event::*;
use crate::ids::CallId;
use crate::PickStrategy;

const Q: &str = "Sales";

fn not_sent(sim: &mut Sim, id: crate::CommandId) -> crate::Output {
    sim.send(Event::CommandResult {
        id,
        outcome: CommandOutcome::NotSent,
    })
    .clone()
}

/// The queue still reports the call: nothing happened anywhere. It waits again and the agent,
/// free and not blamed, gets it offered again at once (at the next withheld deadline for a
/// follower, or sent for real by a new leader).
#[test]
fn an_offer_not_sent_of_a_call_still_queued_is_offered_again_without_blame() {
    let mut sim = basic(PickStrategy::Linear, &["2001"]);
    sim.idle("2001");
    let out = sim.call(1).clone();
    let (cmd, ..) = transfers(&out)[0].clone();
    let out = not_sent(&mut sim, cmd);
    assert_eq!(offered_agent(&out).as_deref(), Some("2001"), "{out:?}");
    assert_ne!(sim.availability("2001"), crate::AgentAvailability::NotReady);
    assert!(out.finished.is_empty());
}

/// The leader sent the call to another agent: the follower's offer comes back not sent after
/// the call left the queue. Nothing is offered again; the call rings at the leader's agent for
/// longer than the left-queue grace without being counted abandoned, and its answer counts.
#[test]
fn a_call_the_leader_routed_elsewhere_is_not_chased_nor_counted_abandoned_while_it_rings() {
    let mut sim = basic(PickStrategy::Linear, &["2001", "2002"]);
    sim.idle("2001");
    sim.idle("2002");
    let out = sim.call(1).clone();
    let (cmd, ..) = transfers(&out)[0].clone();
    assert_eq!(offered_agent(&out).as_deref(), Some("2001"));
    // The leader offered it to 2002 (say its view differed): the queue stops reporting it.
    sim.send(Event::CallLeftQueue {
        call: CallId(1),
        queue: Q.into(),
    });
    let out = not_sent(&mut sim, cmd);
    assert!(transfers(&out).is_empty(), "chased: {out:?}");
    assert_eq!(sim.availability("2001"), crate::AgentAvailability::Idle);
    sim.send(Event::CallRinging {
        call: CallId(1),
        agent: "2002".into(),
    });
    let out = sim.wait(super::events::LEFT_QUEUE_GRACE_MS + 5_000);
    assert!(out.finished.is_empty(), "counted while it rings: {out:?}");
    assert!(transfers(&out).is_empty(), "{out:?}");
    let out = sim
        .send(Event::CallAnswered {
            call: CallId(1),
            agent: "2002".into(),
        })
        .clone();
    assert_eq!(out.finished[0].outcome, CallOutcome::Answered);
    counters_balance(&sim.engine);
}

/// A call that left its queue and rings nowhere still ends as abandoned after the grace: the
/// extension is for ringing calls only.
#[test]
fn a_call_gone_without_ringing_anywhere_is_abandoned_after_the_grace() {
    let mut sim = basic(PickStrategy::Linear, &["2001"]);
    sim.idle("2001");
    let out = sim.call(1).clone();
    let (cmd, ..) = transfers(&out)[0].clone();
    sim.send(Event::CallLeftQueue {
        call: CallId(1),
        queue: Q.into(),
    });
    not_sent(&mut sim, cmd);
    let out = sim.wait(super::events::LEFT_QUEUE_GRACE_MS);
    assert_eq!(out.finished[0].outcome, CallOutcome::Abandoned);
    counters_balance(&sim.engine);
}

/// An overflow not sent while the queue still reports the call leaves it waiting (as after a
/// lost answer: nothing is known to have happened); one not sent after the call left the queue
/// counts as the overflow the leader carried out, not as an abandoned call.
#[test]
fn an_exit_not_sent_is_judged_by_the_queue_report() {
    let mut sim = overflowing_to_voicemail_after_a_minute();
    sim.call(1);
    let out = sim.wait(60_000);
    let id = transfers(&out)[0].0;
    let out = not_sent(&mut sim, id);
    assert!(
        out.finished.is_empty() && out.commands.is_empty(),
        "{out:?}"
    );
    assert_eq!(sim.engine.open_calls().values().sum::<u64>(), 1);

    let mut sim = overflowing_to_voicemail_after_a_minute();
    sim.call(1);
    let out = sim.wait(60_000);
    let id = transfers(&out)[0].0;
    sim.send(Event::CallLeftQueue {
        call: CallId(1),
        queue: Q.into(),
    });
    let out = not_sent(&mut sim, id);
    assert_eq!(out.finished[0].outcome, CallOutcome::Overflowed);
    counters_balance(&sim.engine);
}

/// Seeds 2131 and 6909: a call this engine believes waiting rings at an agent it never offered
/// it to (the killed leader's transfer; the queue's report that the call left trails the
/// agent's). Offered now, it would be taken from a ringing phone: it is held for that agent's
/// ring time, its answer counts, and it is routed again only when its queue reports it back.
#[test]
fn a_waiting_call_ringing_at_an_agent_not_offered_by_us_is_held_until_back_in_queue() {
    let mut sim = basic(PickStrategy::Linear, &["2001", "2002"]);
    let out = sim.call(1).clone();
    assert!(transfers(&out).is_empty(), "nobody is idle yet: {out:?}");
    sim.send(Event::CallRinging {
        call: CallId(1),
        agent: "2002".into(),
    });
    let out = sim.idle("2001").clone();
    assert!(
        transfers(&out).is_empty(),
        "taken from a ringing phone: {out:?}"
    );
    let out = sim.wait(5_000);
    assert!(transfers(&out).is_empty(), "{out:?}");
    assert!(out.finished.is_empty(), "{out:?}");
    // It rang out there and IP Office put it back in the queue: now it is routed.
    let out = sim.call(1).clone();
    assert_eq!(offered_agent(&out).as_deref(), Some("2001"), "{out:?}");

    // Answered where it rang: counted once, as answered.
    let mut sim = basic(PickStrategy::Linear, &["2001", "2002"]);
    sim.call(1);
    sim.send(Event::CallRinging {
        call: CallId(1),
        agent: "2002".into(),
    });
    let out = sim
        .send(Event::CallAnswered {
            call: CallId(1),
            agent: "2002".into(),
        })
        .clone();
    assert_eq!(out.finished[0].outcome, CallOutcome::Answered);
    counters_balance(&sim.engine);
}
