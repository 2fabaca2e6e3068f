//! Scenario tests for lookup tables and number normalisation in the engine: what routes see
//! at arrival, at later snapshots and after an overflow, and how the toll-fraud guard reads
//! numbers.

use super::tests::{agent_event, config, policy, profile, queue_event, skill, transfers, Sim};
use super::*;
use crate::config::*;
use crate::decision::DecisionAction;
use crate::event::*;
use crate::lookup::Lookup;
use crate::number::NumberPlan;
use crate::pattern::Pattern;

const SALES: &str = "Sales";
const SUPPORT: &str = "Support";
const SUPPORT_EXT: &str = "400";
/// Berlin DIDs of the German hotline, in the international form supervisors write.
const GERMAN_DIDS: &str = "+4930123400*";
/// One of them as an ISDN line presents it: national form.
const GERMAN_DID_NATIONAL: &str = "0301234001";

fn route(name: &str, queue: &str, language: Option<&str>, requires: SkillExpr) -> Route {
    let mut conditions = vec![Condition::Queue(vec![queue.into()])];
    if let Some(language) = language {
        conditions.push(Condition::Language(vec![language.into()]));
    }
    Route {
        name: name.into(),
        conditions,
        requires,
        steps: vec![],
        priority: None,
    }
}

/// Sales (agent 2003, logged off) overflows German calls to Support after 30 s; Support has an
/// English agent (2001) and a German one (2002). German is known only from the DID table.
fn centre() -> RoutingConfig {
    let mut c = config(
        vec![
            policy(SALES, PickStrategy::LongestIdle, &["2003"]),
            policy(SUPPORT, PickStrategy::LongestIdle, &["2001", "2002"]),
        ],
        vec![
            profile("2001", &[("eng", 9)]),
            profile("2002", &[("deu", 9)]),
            profile("2003", &[("deu", 9)]),
        ],
    );
    let mut german_sales = route("German sales", SALES, Some("deu"), skill("deu", 5));
    german_sales.steps.push(Step {
        after_ms: 30_000,
        action: StepAction::Overflow(Target::Queue(SUPPORT.into())),
        when: vec![],
    });
    c.routes = vec![
        german_sales,
        route("German support", SUPPORT, Some("deu"), skill("deu", 5)),
        route("Support", SUPPORT, None, skill("eng", 5)),
    ];
    c.numbering = Some(NumberPlan::new("49"));
    c.lookups = vec![Lookup {
        name: "German hotline".into(),
        did: vec![Pattern::new(GERMAN_DIDS)],
        calling: vec![],
        language: Some("deu".into()),
        tag: None,
    }];
    c
}

/// IP Office reports the call with its DID and the system locale, English, as language.
fn reported(queue: &str, did: &str) -> Event {
    Event::CallQueued(QueuedCall {
        call: CallId(1),
        queue: queue.into(),
        attributes: CallAttributes {
            did: did.into(),
            calling_number: "0401111".into(),
            language: "eng".into(),
            ..CallAttributes::default()
        },
        features: Features::ALL_QUEUE_ACTIONS,
        pbx_priority: 1,
    })
}

/// Support's agents logged in and idle, the English one idle longest (so without routing by
/// language, longest-idle would pick them).
fn support_staffed(sim: &mut Sim) {
    sim.send(queue_event(SUPPORT, SUPPORT_EXT, &["2001", "2002"]));
    sim.send(agent_event("2001", true, PhoneState::Idle));
    sim.now += 60_000;
    sim.send(agent_event("2002", true, PhoneState::Idle));
    // Busy in the first minute of the call, so the call waits in Sales and overflows.
    sim.send(agent_event("2001", true, PhoneState::OnCall));
    sim.send(agent_event("2002", true, PhoneState::OnCall));
}

/// Overflows call 1 from Sales to Support as IP Office would: transfer succeeds, Support
/// reports the call (same DID, same IP Office language), Sales stops reporting it.
fn overflow_to_support(sim: &mut Sim, did: &str) -> Output {
    let out = sim.wait(30_000);
    let t = transfers(&out);
    assert_eq!(
        t.first().map(|t| t.2.clone()),
        Some(Target::Queue(SUPPORT.into())),
        "{out:?}"
    );
    assert_eq!(t[0].3, SUPPORT_EXT);
    sim.ok(t[0].0);
    sim.send(reported(SUPPORT, did));
    sim.send(Event::CallLeftQueue {
        call: CallId(1),
        queue: QueueId::from(SALES),
    });
    out
}

/// Issue 12: a German caller on a Sales DID, overflowed to Support, must reach the German
/// Support agent through the German Support route — with no Support route listing Sales DIDs.
#[test]
fn a_german_did_call_overflowed_to_support_reaches_the_german_agent() {
    let mut sim = Sim::new(centre());
    support_staffed(&mut sim);
    sim.send(reported(SALES, GERMAN_DID_NATIONAL));
    // At arrival, the table made the call German: the German Sales route applies.
    assert_eq!(
        sim.engine.calls[&CallId(1)].route_name.as_deref(),
        Some("German sales")
    );
    assert_eq!(sim.engine.calls[&CallId(1)].attributes.language, "deu");
    let out = overflow_to_support(&mut sim, GERMAN_DID_NATIONAL);
    assert!(matches!(
        out.decisions[0].action,
        DecisionAction::Overflow { .. }
    ));
    assert_eq!(
        sim.engine.calls[&CallId(1)].route_name.as_deref(),
        Some("German support")
    );
    // The English agent frees up first, but only the German one qualifies.
    let out = sim
        .send(agent_event("2001", true, PhoneState::Idle))
        .clone();
    assert!(transfers(&out).is_empty(), "{out:?}");
    let out = sim
        .send(agent_event("2002", true, PhoneState::Idle))
        .clone();
    let t = transfers(&out);
    assert_eq!(t.len(), 1, "{out:?}");
    assert_eq!(t[0].2, Target::Agent("2002".into()));
    assert_eq!(
        out.decisions[0].explanation.route.as_deref(),
        Some("German support")
    );
}

/// A DID the table does not know keeps IP Office's language: the same overflow ends at the
/// English agent through the plain Support route.
#[test]
fn a_did_no_lookup_knows_keeps_ip_offices_language() {
    let mut c = centre();
    // Without the table's answer the Sales route does not apply; overflow on a route of its own.
    let mut sales = route("Sales", SALES, None, SkillExpr::Any);
    sales.steps.push(Step {
        after_ms: 30_000,
        action: StepAction::Overflow(Target::Queue(SUPPORT.into())),
        when: vec![],
    });
    c.routes.insert(1, sales);
    let mut sim = Sim::new(c);
    support_staffed(&mut sim);
    sim.send(reported(SALES, "0401234001"));
    assert_eq!(sim.engine.calls[&CallId(1)].attributes.language, "eng");
    overflow_to_support(&mut sim, "0401234001");
    assert_eq!(
        sim.engine.calls[&CallId(1)].route_name.as_deref(),
        Some("Support")
    );
    let out = sim
        .send(agent_event("2001", true, PhoneState::Idle))
        .clone();
    assert_eq!(transfers(&out)[0].2, Target::Agent("2001".into()));
}

/// IP Office repeats the call's snapshot (a priority change, a features change) with its own
/// language again: the table's answer must hold, or the call would switch routes mid-wait.
#[test]
fn a_later_snapshot_keeps_the_lookups_answer() {
    let mut sim = Sim::new(centre());
    sim.send(reported(SALES, GERMAN_DID_NATIONAL));
    sim.now += 5_000;
    sim.send(reported(SALES, GERMAN_DID_NATIONAL));
    let call = &sim.engine.calls[&CallId(1)];
    assert_eq!(call.attributes.language, "deu");
    assert_eq!(call.route_name.as_deref(), Some("German sales"));
}

/// `explain` sees what a live call would: the table's language, not IP Office's.
#[test]
fn explain_applies_the_lookup_table() {
    let mut sim = Sim::new(centre());
    support_staffed(&mut sim);
    sim.send(agent_event("2002", true, PhoneState::Idle));
    let attributes = CallAttributes {
        did: "+493012340017".into(),
        language: "eng".into(),
        ..CallAttributes::default()
    };
    let e = sim
        .engine
        .explain(Timestamp(sim.now), &SUPPORT.into(), &attributes);
    assert_eq!(e.route.as_deref(), Some("German support"));
    assert_eq!(e.winner, Some("2002".into()));
}

/// A route's DID pattern in international form matches the national form IP Office presents,
/// once the rules say which country the centre is in; without that it stays literal.
#[test]
fn route_did_patterns_match_national_numbers_under_a_number_plan() {
    let mut c = centre();
    c.lookups.clear();
    c.routes[0].conditions = vec![
        Condition::Queue(vec![SALES.into()]),
        Condition::Did(vec![Pattern::new("+4930*")]),
    ];
    let mut sim = Sim::new(c.clone());
    sim.send(reported(SALES, "004930555"));
    assert_eq!(
        sim.engine.calls[&CallId(1)].route_name.as_deref(),
        Some("German sales")
    );
    c.numbering = None;
    let mut sim = Sim::new(c);
    sim.send(reported(SALES, "030555"));
    assert_eq!(sim.engine.calls[&CallId(1)].route_name, None);
}

/// The toll-fraud guard reads numbers the same way: an overflow to the national form of an
/// allowed international pattern goes out as written; a number outside it is still refused.
#[test]
fn the_transfer_guard_compares_numbers_in_canonical_form() {
    let mut c = centre();
    c.routes = vec![Route {
        name: "out".into(),
        conditions: vec![Condition::Queue(vec![SALES.into()])],
        requires: SkillExpr::Any,
        steps: vec![
            Step {
                after_ms: 10_000,
                action: StepAction::Overflow(Target::External("004940123".into())),
                when: vec![],
            },
            Step {
                after_ms: 20_000,
                action: StepAction::Overflow(Target::External("030555000".into())),
                when: vec![],
            },
        ],
        priority: None,
    }];
    c.allowed_external = vec![Pattern::new("+4930*")];
    let mut sim = Sim::new(c);
    sim.send(reported(SALES, "1"));
    let out = sim.wait(10_000);
    assert!(transfers(&out).is_empty(), "Hamburg is not allowed");
    let out = sim.wait(10_000);
    assert_eq!(transfers(&out)[0].3, "030555000");
}
