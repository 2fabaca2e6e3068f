//! Property tests over random event sequences: the safety promises hold whatever the PBX
//! reports, in whatever order, and the engine is a deterministic function of its input.

use super::tests::{agent_event, config, policy, profile, queue_event, skill};
use super::*;
use crate::command::Priority;
use crate::config::*;
use crate::event::*;
use proptest::prelude::*;

const AGENTS: [&str; 5] = ["2001", "2002", "2003", "2004", "2005"];
const QUEUES: [&str; 3] = ["A", "B", "N"];

fn test_config() -> RoutingConfig {
    let a = policy("A", PickStrategy::LongestIdle, &[]);
    let mut b = policy("B", PickStrategy::RoundRobin, &["2001", "2002", "2003"]);
    b.weight = 2.0;
    b.wrap_up_ms = 3_000;
    b.max_waiting = Some((3, Target::Voicemail("9".into())));
    b.no_agents_target = Some(Target::Queue("A".into()));
    b.rona = Rona {
        ring_timeout_ms: 8_000,
        not_ready_ms: 5_000,
        not_ready_after_misses: 1,
        ring_when_others_free_ms: Some(4_000),
    };
    let mut c = config(
        vec![a, b],
        vec![
            profile("2001", &[("deu", 7), ("sales", 3)]),
            profile("2002", &[("deu", 3)]),
            profile("2003", &[("sales", 9)]),
            profile("2004", &[("deu", 9), ("sales", 9)]),
        ],
    );
    c.routes.push(Route {
        name: "german".into(),
        conditions: vec![Condition::Language(vec!["deu".into()])],
        requires: skill("deu", 5),
        steps: vec![
            Step {
                after_ms: 10_000,
                action: StepAction::Require(skill("deu", 1)),
                when: vec![],
            },
            Step {
                after_ms: 20_000,
                action: StepAction::Priority(Priority::High),
                when: vec![],
            },
            Step {
                after_ms: 40_000,
                action: StepAction::Overflow(Target::Queue("A".into())),
                when: vec![],
            },
        ],
        priority: Some(Priority::Medium),
    });
    c.routes.push(Route {
        name: "sales".into(),
        conditions: vec![Condition::Queue(vec!["B".into()])],
        requires: skill("sales", 1),
        steps: vec![],
        priority: None,
    });
    c
}

#[derive(Debug, Clone)]
enum Op {
    Queue {
        call: u64,
        queue: usize,
        prio: u8,
        german: bool,
        transferable: bool,
    },
    Left {
        call: u64,
        queue: usize,
    },
    Ringing {
        call: u64,
        agent: usize,
    },
    Answer {
        call: u64,
        agent: Option<usize>,
    },
    End {
        call: u64,
    },
    Agent {
        agent: usize,
        logged_in: bool,
        dnd: bool,
        phone: u8,
    },
    Members {
        queue: usize,
        mask: u8,
    },
    Snapshot {
        queue: usize,
        mask: u8,
    },
    Result {
        pick: usize,
        success: bool,
    },
    Tick {
        ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..8, 0usize..3, 1u8..4, any::<bool>(), prop::bool::weighted(0.9))
            .prop_map(|(call, queue, prio, german, transferable)| Op::Queue { call, queue, prio, german, transferable }),
        1 => (0u64..8, 0usize..3).prop_map(|(call, queue)| Op::Left { call, queue }),
        1 => (0u64..8, 0usize..5).prop_map(|(call, agent)| Op::Ringing { call, agent }),
        2 => (0u64..8, prop::option::weighted(0.3, 0usize..5)).prop_map(|(call, agent)| Op::Answer { call, agent }),
        2 => (0u64..8).prop_map(|call| Op::End { call }),
        4 => (0usize..5, prop::bool::weighted(0.85), prop::bool::weighted(0.1), 0u8..4)
            .prop_map(|(agent, logged_in, dnd, phone)| Op::Agent { agent, logged_in, dnd, phone }),
        1 => (0usize..3, any::<u8>()).prop_map(|(queue, mask)| Op::Members { queue, mask }),
        1 => (0usize..3, any::<u8>()).prop_map(|(queue, mask)| Op::Snapshot { queue, mask }),
        4 => (any::<usize>(), prop::bool::weighted(0.8)).prop_map(|(pick, success)| Op::Result { pick, success }),
        3 => (0u64..20_000).prop_map(|ms| Op::Tick { ms }),
    ]
}

/// Runs the ops, checking the invariants after every step; returns a trace of everything the
/// engine produced.
fn run(ops: &[Op]) -> Vec<String> {
    let cfg = test_config();
    let mut engine = Engine::new(Arc::new(cfg.clone()));
    let mut now = 1_000_000u64;
    let mut outstanding: Vec<CommandId> = Vec::new();
    // call -> transfer command in flight (by our own bookkeeping of outputs and results)
    let mut transfer_in_flight: BTreeMap<CallId, CommandId> = BTreeMap::new();
    let mut presence: BTreeMap<usize, (bool, bool, PhoneState)> = BTreeMap::new();
    let mut trace = Vec::new();
    let step = |engine: &mut Engine,
                now: u64,
                event: Event,
                trace: &mut Vec<String>,
                outstanding: &mut Vec<CommandId>,
                transfer_in_flight: &mut BTreeMap<CallId, CommandId>,
                presence: &BTreeMap<usize, (bool, bool, PhoneState)>| {
        let reserved_before: Vec<Option<CallId>> =
            engine.agents.iter().map(|a| a.reserved_for).collect();
        let out = engine.handle(Timestamp(now), event);
        let mut offered_now = std::collections::BTreeSet::new();
        for cmd in &out.commands {
            outstanding.push(cmd.id);
            trace.push(format!("{now} {:?} {:?}", cmd.id, cmd.kind));
            if let CommandKind::Transfer { call, target, .. } = &cmd.kind {
                assert!(
                    !transfer_in_flight.contains_key(call),
                    "second transfer for {call} while one is in flight"
                );
                transfer_in_flight.insert(*call, cmd.id);
                if let Target::Agent(agent) = target {
                    let a = engine.agent_ix[agent];
                    // Reserved before this event only if that reservation ended during it.
                    if let Some(prev) = reserved_before.get(a).copied().flatten() {
                        let still = engine.calls.get(&prev).is_some_and(|c| matches!(c.phase,
                            Phase::Offered { agent: x, .. } | Phase::Ringing { agent: x, .. } if x == a));
                        assert!(
                            !still || prev == *call,
                            "{agent} offered {call} while reserved for {prev}"
                        );
                    }
                    assert!(offered_now.insert(a), "{agent} offered two calls at once");
                    let slot = AGENTS.iter().position(|x| *x == agent.0).unwrap();
                    let (logged_in, dnd, phone) = presence.get(&slot).copied().unwrap();
                    assert!(
                        logged_in && !dnd && phone == PhoneState::Idle,
                        "{agent} not free"
                    );
                    let state = &engine.agents[a];
                    assert!(state.not_ready_until.is_none_or(|t| t.as_millis() <= now));
                    assert!(state.wrap_until.is_none_or(|t| t.as_millis() <= now));
                    let decision = out
                        .decisions
                        .iter()
                        .find(|d| matches!(&d.action, crate::decision::DecisionAction::Offer { agent: x } if x == agent))
                        .expect("every offer has a decision");
                    let skills = cfg
                        .agents
                        .get(agent)
                        .map(|p| p.skills.clone())
                        .unwrap_or_default();
                    assert!(
                        crate::skill::matches(&decision.explanation.required, &skills),
                        "{agent} lacks {:?}",
                        decision.explanation.required
                    );
                    let q = &engine.queues[engine.calls[call].queue];
                    assert!(
                        q.member_pos.contains_key(&a),
                        "{agent} does not serve {}",
                        q.id
                    );
                }
            }
        }
        for d in &out.decisions {
            trace.push(format!("{now} {d}"));
        }
        for f in &out.finished {
            trace.push(format!("{now} finished {f:?}"));
        }
        // Reservations are a bijection between reserved agents and offered calls.
        for (a, agent) in engine.agents.iter().enumerate() {
            if let Some(call) = agent.reserved_for {
                let phase = &engine
                    .calls
                    .get(&call)
                    .expect("reserved for a known call")
                    .phase;
                assert!(
                    matches!(phase, Phase::Offered { agent: x, .. } | Phase::Ringing { agent: x, .. } if *x == a),
                    "agent {} reserved for {call} in {phase:?}",
                    agent.id
                );
            }
        }
        for call in engine.calls.values() {
            if let Phase::Offered { agent, .. } | Phase::Ringing { agent, .. } = call.phase {
                assert_eq!(engine.agents[agent].reserved_for, Some(call.id));
            }
        }
        // Accounting balances.
        let open = engine.open_calls();
        for (q, c) in engine.accounting() {
            assert_eq!(
                c.offered,
                c.answered + c.abandoned + c.overflowed + open.get(q).copied().unwrap_or(0),
                "{q}: {c:?}"
            );
        }
        // No idle eligible agent is left beside a routable call (dispatch is work-conserving).
        for queue in &engine.queues {
            for key in &queue.waiting {
                let call = &engine.calls[&key.2];
                for a in &queue.idle {
                    assert!(
                        engine.pair_preference(call, *a, Timestamp(now)).is_none(),
                        "{} idle beside routable {}",
                        engine.agents[*a].id,
                        call.id
                    );
                }
            }
        }
        if let Some(t) = engine.next_wakeup() {
            assert!(t.as_millis() > now, "wake-up in the past");
        }
    };

    step(
        &mut engine,
        now,
        queue_event("A", "300", &["2001", "2004", "2005"]),
        &mut trace,
        &mut outstanding,
        &mut transfer_in_flight,
        &presence,
    );
    step(
        &mut engine,
        now,
        queue_event("B", "301", &[]),
        &mut trace,
        &mut outstanding,
        &mut transfer_in_flight,
        &presence,
    );
    for op in ops {
        let event = match op.clone() {
            Op::Queue {
                call,
                queue,
                prio,
                german,
                transferable,
            } => Event::CallQueued(QueuedCall {
                call: CallId(call),
                queue: QUEUES[queue].into(),
                attributes: CallAttributes {
                    language: if german { "deu".into() } else { "eng".into() },
                    ..CallAttributes::default()
                },
                features: if transferable {
                    Features::ALL_QUEUE_ACTIONS
                } else {
                    Features(Features::DROP)
                },
                pbx_priority: prio,
            }),
            Op::Left { call, queue } => Event::CallLeftQueue {
                call: CallId(call),
                queue: QUEUES[queue].into(),
            },
            Op::Ringing { call, agent } => Event::CallRinging {
                call: CallId(call),
                agent: AGENTS[agent].into(),
            },
            Op::Answer { call, agent } => {
                let offered = engine.calls.get(&CallId(call)).and_then(|c| match c.phase {
                    Phase::Offered { agent, .. } | Phase::Ringing { agent, .. } => {
                        Some(engine.agents[agent].id.clone())
                    }
                    _ => None,
                });
                let agent = match (agent, offered) {
                    (Some(a), _) => AGENTS[a].into(),
                    (None, Some(a)) => a,
                    (None, None) => AGENTS[(call % 5) as usize].into(),
                };
                Event::CallAnswered {
                    call: CallId(call),
                    agent,
                }
            }
            Op::End { call } => Event::CallEnded { call: CallId(call) },
            Op::Agent {
                agent,
                logged_in,
                dnd,
                phone,
            } => {
                let phone = [
                    PhoneState::Idle,
                    PhoneState::Ringing,
                    PhoneState::OnCall,
                    PhoneState::AfterCallWork,
                ][phone as usize];
                presence.insert(agent, (logged_in, dnd, phone));
                let mut e = agent_event(AGENTS[agent], logged_in, phone);
                if let Event::AgentChanged(s) = &mut e {
                    s.presence.dnd = dnd;
                }
                e
            }
            Op::Members { queue, mask } => {
                let members: Vec<&str> = AGENTS
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, a)| *a)
                    .collect();
                queue_event(QUEUES[queue], &format!("30{queue}"), &members)
            }
            Op::Snapshot { queue, mask } => Event::QueueSnapshotCalls {
                site: crate::Site::PRIMARY,
                queue: QUEUES[queue].into(),
                calls: (0..8u64)
                    .filter(|c| mask & (1 << c) != 0)
                    .map(CallId)
                    .collect(),
            },
            Op::Result { pick, success } => {
                if outstanding.is_empty() {
                    Event::Tick
                } else {
                    let id = outstanding.remove(pick % outstanding.len());
                    transfer_in_flight.retain(|_, c| *c != id);
                    Event::CommandResult {
                        id,
                        outcome: if success {
                            CommandOutcome::Success
                        } else {
                            CommandOutcome::Failed(612)
                        },
                    }
                }
            }
            Op::Tick { ms } => {
                now += ms;
                Event::Tick
            }
        };
        step(
            &mut engine,
            now,
            event,
            &mut trace,
            &mut outstanding,
            &mut transfer_in_flight,
            &presence,
        );
    }
    trace
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_and_engine_is_deterministic(ops in prop::collection::vec(op(), 1..120)) {
        let first = run(&ops);
        let second = run(&ops);
        prop_assert_eq!(first, second);
    }
}

/// Guards against a vacuous property: random runs must reach every kind of decision.
#[test]
fn random_runs_exercise_every_decision_kind() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let strategy = prop::collection::vec(op(), 60..120);
    let mut all = String::new();
    for _ in 0..300 {
        let ops = strategy.new_tree(&mut runner).unwrap().current();
        for line in run(&ops) {
            all.push_str(&line);
            all.push('\n');
        }
    }
    for needle in [
        " offer ",
        " rona ",
        " exit ",
        " overflow ",
        " step ",
        " finish ",
        "Answered",
        "Abandoned",
        "Overflowed",
        "ready at once",
    ] {
        assert!(all.contains(needle), "no {needle:?} in random runs");
    }
}
