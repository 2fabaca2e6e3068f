//! Decision latency of the routing core.
//!
//! A contact centre of N agents (100, 1,000, 10,000) in 10 queues, 500 calls waiting, almost
//! every agent busy, 50 agents free but without the skills the waiting calls need (at rest the
//! engine never leaves a free, eligible agent beside a waiting call). Measured:
//!
//! - `agent_frees`: an agent's phone goes idle; the engine picks its best waiting call and
//!   emits the transfer.
//! - `call_arrives`: a call needing the free agents' skill arrives; the engine picks the agent.
//! - `joint`: solving the joint assignment for a k x k ready set.
//!
//! Only the `handle` call that takes the decision is timed; the events that put the state
//! back (answer, hang-up, a replacement call) run untimed between iterations, so every
//! iteration sees 500 waiting calls. Before the criterion runs, a percentile report (p50, p99,
//! max over 20,000 decisions each) is printed, since the target is stated as a p99.

use acd_core::*;
use criterion::{BenchmarkId, Criterion};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const QUEUES: usize = 10;
const SKILLS: usize = 19;
const WAITING: u64 = 500;
const FREE_POOL: usize = 50;
/// The skill only the free pool has.
const POOL_SKILL: usize = SKILLS;

fn agent_name(i: usize) -> AgentId {
    AgentId(format!("{}", 10_000 + i))
}

fn queue_name(q: usize) -> QueueId {
    QueueId(format!("Q{q}"))
}

fn config(agents: usize) -> RoutingConfig {
    let mut queues = BTreeMap::new();
    for q in 0..QUEUES {
        let members: Vec<AgentId> = (0..agents)
            .filter(|a| *a >= agents - FREE_POOL || a % QUEUES == q || (a + 1) % QUEUES == q)
            .map(agent_name)
            .collect();
        queues.insert(
            queue_name(q),
            QueuePolicy {
                weight: 1.0 + (q % 3) as f64,
                ..QueuePolicy::new(queue_name(q), PickStrategy::LongestIdle, members)
            },
        );
    }
    let profiles = (0..agents)
        .map(|a| {
            let skills: BTreeMap<String, u8> = if a >= agents - FREE_POOL {
                [(format!("s{POOL_SKILL}"), 5)].into_iter().collect()
            } else {
                [
                    (format!("s{}", a % SKILLS), 1 + (a % 10) as u8),
                    (format!("s{}", (a * 7 + 3) % SKILLS), 1 + (a % 7) as u8),
                ]
                .into_iter()
                .collect()
            };
            (
                agent_name(a),
                AgentProfile {
                    agent: agent_name(a),
                    skills,
                    wrap_up_ms: None,
                    takes_calls_when_forwarded: false,
                },
            )
        })
        .collect();
    let routes = (0..=SKILLS)
        .map(|s| Route {
            name: format!("r{s}"),
            conditions: vec![Condition::Tag(vec![Pattern::new(format!("s{s}"))])],
            requires: SkillExpr::Skill {
                name: format!("s{s}"),
                min_level: 1,
            },
            steps: vec![],
            priority: None,
        })
        .collect();
    RoutingConfig {
        queues,
        agents: profiles,
        routes,
        ..RoutingConfig::default()
    }
}

fn agent(a: usize, phone: PhoneState) -> Event {
    Event::AgentChanged(AgentSnapshot {
        agent: agent_name(a),
        name: String::new(),
        presence: Presence {
            logged_in: true,
            dnd: false,
            phone_fault: false,
            forwarded: false,
        },
        phone,
    })
}

fn call(id: u64, queue: usize, skill: usize) -> Event {
    Event::CallQueued(QueuedCall {
        call: CallId(id),
        queue: queue_name(queue),
        attributes: CallAttributes {
            tag: format!("s{skill}"),
            ..CallAttributes::default()
        },
        features: Features::ALL_QUEUE_ACTIONS,
        pbx_priority: 1 + (id % 3) as u8,
    })
}

struct Centre {
    engine: Engine,
    now: u64,
    next_call: u64,
    agents: usize,
    cursor: usize,
}

impl Centre {
    fn new(agents: usize) -> Centre {
        let mut engine = Engine::new(Arc::new(config(agents)));
        let mut now = 1_700_000_000_000u64;
        for a in 0..agents {
            let phone = if a >= agents - FREE_POOL {
                PhoneState::Idle
            } else {
                PhoneState::OnCall
            };
            engine.handle(Timestamp(now), agent(a, phone));
        }
        for id in 0..WAITING {
            now += 100;
            let out = engine.handle(
                Timestamp(now),
                call(id, id as usize % QUEUES, id as usize % SKILLS),
            );
            assert!(out
                .commands
                .iter()
                .all(|c| !matches!(c.kind, CommandKind::Transfer { .. })));
        }
        Centre {
            engine,
            now,
            next_call: WAITING,
            agents,
            cursor: 0,
        }
    }

    fn tick(&mut self) -> Timestamp {
        self.now += 7;
        Timestamp(self.now)
    }

    /// Times one "agent frees up" decision, then restores the state untimed.
    fn agent_frees(&mut self) -> Duration {
        let busy = self.agents - FREE_POOL;
        let a = (self.cursor * 7919) % busy;
        self.cursor += 1;
        let now = self.tick();
        let start = Instant::now();
        let out = self.engine.handle(now, agent(a, PhoneState::Idle));
        let took = start.elapsed();
        let offered = out.commands.iter().find_map(|c| match &c.kind {
            CommandKind::Transfer { call, .. } => Some((c.id, *call)),
            _ => None,
        });
        let out = black_box(out);
        drop(out);
        if let Some((cmd, id)) = offered {
            let now = self.tick();
            let e = &mut self.engine;
            e.handle(
                now,
                Event::CommandResult {
                    id: cmd,
                    outcome: CommandOutcome::Success,
                },
            );
            e.handle(
                now,
                Event::CallAnswered {
                    call: id,
                    agent: agent_name(a),
                },
            );
            e.handle(now, agent(a, PhoneState::OnCall));
            e.handle(now, Event::CallEnded { call: id });
            let n = self.next_call;
            self.next_call += 1;
            e.handle(now, call(n, n as usize % QUEUES, n as usize % SKILLS));
        } else {
            self.engine.handle(now, agent(a, PhoneState::OnCall));
        }
        took
    }

    /// Times one "call arrives" decision, then restores the state untimed.
    fn call_arrives(&mut self) -> Duration {
        let n = self.next_call;
        self.next_call += 1;
        let now = self.tick();
        let start = Instant::now();
        let out = self
            .engine
            .handle(now, call(n, n as usize % QUEUES, POOL_SKILL));
        let took = start.elapsed();
        assert!(out
            .commands
            .iter()
            .any(|c| matches!(c.kind, CommandKind::Transfer { .. })));
        black_box(out);
        self.engine
            .handle(now, Event::CallEnded { call: CallId(n) });
        took
    }
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort_unstable();
    let at = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    (at(0.50), at(0.99), *v.last().unwrap_or(&Duration::ZERO))
}

fn latency_report() {
    println!("decision latency over 20000 decisions each, {WAITING} calls waiting:");
    for agents in [100usize, 1_000, 10_000] {
        let mut centre = Centre::new(agents);
        for _ in 0..1_000 {
            centre.agent_frees();
            centre.call_arrives();
        }
        let frees: Vec<Duration> = (0..20_000).map(|_| centre.agent_frees()).collect();
        let arrives: Vec<Duration> = (0..20_000).map(|_| centre.call_arrives()).collect();
        let (p50, p99, max) = percentiles(frees);
        println!(
            "  {agents:>6} agents  agent_frees   p50 {p50:>9.2?}  p99 {p99:>9.2?}  max {max:>9.2?}"
        );
        let (p50, p99, max) = percentiles(arrives);
        println!(
            "  {agents:>6} agents  call_arrives  p50 {p50:>9.2?}  p99 {p99:>9.2?}  max {max:>9.2?}"
        );
    }
}

fn bench_decisions(c: &mut Criterion) {
    let mut group = c.benchmark_group("decision");
    for agents in [100usize, 1_000, 10_000] {
        let mut centre = Centre::new(agents);
        group.bench_with_input(BenchmarkId::new("agent_frees", agents), &agents, |b, _| {
            b.iter_custom(|iters| (0..iters).map(|_| centre.agent_frees()).sum())
        });
        group.bench_with_input(BenchmarkId::new("call_arrives", agents), &agents, |b, _| {
            b.iter_custom(|iters| (0..iters).map(|_| centre.call_arrives()).sum())
        });
    }
    group.finish();
}

fn matrix(k: usize, seed: u64) -> Vec<Vec<Option<f64>>> {
    let mut x = seed;
    (0..k)
        .map(|_| {
            (0..k)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let r = (x >> 33) as f64 / (1u64 << 31) as f64;
                    (r > 0.3).then_some(r * 200.0)
                })
                .collect()
        })
        .collect()
}

fn bench_joint(c: &mut Criterion) {
    let mut group = c.benchmark_group("joint");
    for k in [4usize, 8, 16, 32] {
        let m = matrix(k, k as u64);
        group.bench_with_input(BenchmarkId::new("hungarian", k), &m, |b, m| {
            b.iter(|| assign::joint(black_box(m)))
        });
        group.bench_with_input(BenchmarkId::new("greedy", k), &m, |b, m| {
            b.iter(|| assign::greedy(black_box(m)))
        });
    }
    group.finish();
}

fn main() {
    latency_report();
    let mut c = Criterion::default().configure_from_args();
    bench_decisions(&mut c);
    bench_joint(&mut c);
    c.final_summary();
}
