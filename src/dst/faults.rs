//! What goes wrong in one simulation, drawn from its seed: how late each kind of frame is,
//! when the engine starts (callers may already be waiting), whether IP Office reports calls
//! ephemerally, how often agents let a call ring out, and a list of timed faults.

use super::network::Delays;
use acd_wire::result_code::ResultCode;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The TCP connection dies; everything on the way is lost.
    DropConnection,
    /// IP Office restarts: the connection dies, it is unreachable for a while, and comes back
    /// with new call and subscription ids (the same gcids).
    Restart { down_ms: u64 },
    /// IP Office ends every subscription with SubscribeTerminated.
    TerminateSubscriptions,
    /// The next `count` commands are refused with `code`.
    RejectCommands { code: ResultCode, count: u32 },
    /// The next `count` RequestResponses never arrive (the engine times them out: 5001).
    LoseResponses { count: u32 },
    /// The rules are applied again as a new version while calls are in flight.
    RulesChange,
    /// The primary IP Office becomes unreachable from the engine for a while (a partition: it
    /// goes on queueing its calls); with a pair, the secondary's link stays up.
    PrimaryDown { down_ms: u64 },
    /// With a resilient pair: the primary IP Office fails for a while. The calls it carried
    /// are cut off, new callers arrive on the secondary, and the calls already queueing on the
    /// secondary must go on being routed without a reconnect.
    PrimaryFails { down_ms: u64 },
    /// The caller of the next call the engine transfers to an agent hangs up as the transfer
    /// goes out: before IP Office answers it or rings the agent.
    HangUpDuringTransfer,
    /// A caller whose call rings at an agent hangs up (the first such call, if any): IP Office
    /// loses the agent's ringing appearance and ends the call.
    HangUpWhileRinging,
    /// An agent (by position among the simulator's users) switches forward unconditional on
    /// or off, as a presence hub does, while calls wait.
    Forward { agent: usize, on: bool },
    /// For `ms`, IP Office terminates every subscription as soon as it is made (a licence or
    /// resource problem on a real system): the engine must back off, not storm it back.
    TerminationStorm { ms: u64 },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::DropConnection => write!(f, "drop the connection"),
            Fault::Restart { down_ms } => write!(f, "IP Office restarts ({down_ms} ms down)"),
            Fault::TerminateSubscriptions => write!(f, "terminate every subscription"),
            Fault::RejectCommands { code, count } => {
                write!(f, "refuse the next {count} commands with {}", code.code())
            }
            Fault::LoseResponses { count } => write!(f, "lose the next {count} responses"),
            Fault::RulesChange => write!(f, "apply the rules again as a new version"),
            Fault::PrimaryDown { down_ms } => write!(f, "primary unreachable for {down_ms} ms"),
            Fault::PrimaryFails { down_ms } => {
                write!(f, "primary IP Office fails for {down_ms} ms")
            }
            Fault::HangUpDuringTransfer => {
                write!(
                    f,
                    "the next caller transferred to an agent hangs up meanwhile"
                )
            }
            Fault::HangUpWhileRinging => write!(f, "a caller ringing at an agent hangs up"),
            Fault::Forward { agent, on } => write!(
                f,
                "agent #{agent} switches forward unconditional {}",
                if *on { "on" } else { "off" }
            ),
            Fault::TerminationStorm { ms } => {
                write!(
                    f,
                    "IP Office terminates every subscription made for {ms} ms"
                )
            }
        }
    }
}

/// What happens to the leading engine of a hot twin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwinFault {
    /// kill -9: it stops at once, its sockets close, its lease is never renewed.
    Kill,
    /// SIGSTOP for a while, then SIGCONT: nothing of it runs meanwhile, and when it wakes its
    /// lease may be long gone without it having been told.
    Pause { ms: u64 },
    /// Cut off from etcd (not from IP Office) for a while: it cannot renew, and must stop
    /// sending by itself when its lease may have ended.
    Partition { ms: u64 },
}

/// A hot twin: two engines against the same IP Office, leadership from one etcd lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwinPlan {
    pub ttl_ms: u64,
    /// When the fault hits whichever engine leads then.
    pub at_ms: u64,
    pub fault: TwinFault,
}

impl fmt::Display for TwinFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TwinFault::Kill => write!(f, "the leader is killed (kill -9)"),
            TwinFault::Pause { ms } => write!(f, "the leader is paused for {ms} ms"),
            TwinFault::Partition { ms } => {
                write!(f, "the leader is cut off from etcd for {ms} ms")
            }
        }
    }
}

/// Everything drawn from the seed.
#[derive(Debug, Clone)]
pub struct Plan {
    pub delays: Delays,
    /// Virtual ms after the simulator starts at which the engine first connects.
    pub engine_start_ms: u64,
    pub ephemeral: bool,
    pub no_answer_probability: f64,
    /// Multiplies every queue's call rate.
    pub load: f64,
    /// (virtual ms, fault), in time order.
    pub faults: Vec<(u64, Fault)>,
    /// A resilient pair, live-live: the share of callers arriving on the secondary. `None`:
    /// one IP Office.
    pub pair: Option<f64>,
    /// A hot twin of engines, and what happens to its leader. `None`: one engine, alone.
    pub twin: Option<TwinPlan>,
    /// Collective delivery (issue 25) for the routed queues whose bit is set, in the rules'
    /// queue order (see `collective.rs`). `None`: every queue by offers.
    pub collective: Option<u64>,
}

impl Plan {
    /// The plan for `seed`, with faults only before `traffic_ms`.
    pub fn draw(seed: u64, traffic_ms: u64) -> Plan {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_f417);
        let mut pick = |choices: &[u64]| choices[rng.random_range(0..choices.len())];
        let delays = Delays {
            user_notify_ms: pick(&[0, 50, 500, 3_000, 5_000]),
            queue_notify_ms: pick(&[0, 50, 500, 3_000, 5_000]),
            response_ms: pick(&[0, 20, 300, 2_000]),
            engine_ms: pick(&[0, 10, 100]),
        };
        let engine_start_ms = pick(&[0, 5_000, 30_000, 90_000]);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0fa1_7500);
        let ephemeral = rng.random_bool(0.5);
        let no_answer_probability = [0.0, 0.03, 0.15][rng.random_range(0..3)];
        let load = [1.0, 2.0, 4.0][rng.random_range(0..3)];
        let n = rng.random_range(0..=4);
        let mut faults: Vec<(u64, Fault)> = (0..n)
            .map(|_| {
                let at = rng.random_range(engine_start_ms..traffic_ms.max(engine_start_ms + 1));
                let fault = match rng.random_range(0..7) {
                    0 => Fault::DropConnection,
                    1 => Fault::Restart {
                        down_ms: rng.random_range(1_000..20_000),
                    },
                    2 => Fault::TerminateSubscriptions,
                    3 => Fault::RejectCommands {
                        code: [
                            ResultCode::CallControlCallNotFound,
                            ResultCode::CallControlBadFormatting,
                            ResultCode::CallControlTransferFailed,
                        ][rng.random_range(0..3)],
                        count: rng.random_range(1..4),
                    },
                    4 => Fault::LoseResponses {
                        count: rng.random_range(1..4),
                    },
                    5 => Fault::RulesChange,
                    _ => Fault::PrimaryDown {
                        down_ms: rng.random_range(5_000..60_000),
                    },
                };
                (at, fault)
            })
            .collect();
        // Drawn from a stream of its own, so that adding it left every other seed's plan as it
        // was (the known failures and past reports keep meaning the same plans).
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x4a96_0b0e);
        let hang_ups = rng.random_range(0..=2);
        for _ in 0..hang_ups {
            let at = rng.random_range(engine_start_ms..traffic_ms.max(engine_start_ms + 1));
            faults.push((at, Fault::HangUpDuringTransfer));
        }
        // Everyday events as IP Office renders them (issue 24), from a stream of their own:
        // callers hanging up while the agent's phone rings, and agents forwarding their calls
        // for a while (on, then off again) while calls wait.
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x24ee_f0d5);
        let traffic_from = engine_start_ms;
        let traffic_to = traffic_ms.max(engine_start_ms + 1);
        for _ in 0..rng.random_range(0..=2) {
            let at = rng.random_range(traffic_from..traffic_to);
            faults.push((at, Fault::HangUpWhileRinging));
        }
        for _ in 0..rng.random_range(0..=2) {
            let at = rng.random_range(traffic_from..traffic_to);
            let agent = rng.random_range(0..8);
            let off_at = at + rng.random_range(5_000..90_000);
            faults.push((at, Fault::Forward { agent, on: true }));
            faults.push((off_at, Fault::Forward { agent, on: false }));
        }
        // Termination storms (issue 24), from a stream of their own: one seed in six sees IP
        // Office terminate every subscription as soon as it is made, for a while.
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x24a5_7011);
        if rng.random_bool(1.0 / 6.0) {
            let at = rng.random_range(traffic_from..traffic_to);
            let ms = rng.random_range(3_000..40_000);
            faults.push((at, Fault::TerminationStorm { ms }));
        }
        // A resilient pair, from a stream of its own too: a third of the seeds run live-live
        // against a primary and a secondary with calls queueing on both, and most of those see
        // the primary fail while calls wait on both systems.
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9a12_11fe);
        let pair = rng
            .random_bool(1.0 / 3.0)
            .then(|| [0.2, 0.35, 0.5][rng.random_range(0..3)]);
        if pair.is_some() && rng.random_bool(0.8) {
            let at = rng.random_range(engine_start_ms..traffic_ms.max(engine_start_ms + 1));
            let down_ms = rng.random_range(10_000..120_000);
            faults.push((at, Fault::PrimaryFails { down_ms }));
        }
        // A hot twin, from a stream of its own: a quarter of the seeds run two engines, and
        // the leader is killed, paused or cut off from etcd at a time drawn over the traffic,
        // so across seeds it happens at every point of a call's life.
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7713_2c0d);
        let twin = rng.random_bool(0.25).then(|| {
            let from = engine_start_ms + 5_000;
            let at_ms = rng.random_range(from..traffic_ms.max(from + 1));
            let fault = match rng.random_range(0..3) {
                0 => TwinFault::Kill,
                1 => TwinFault::Pause {
                    ms: rng.random_range(500..15_000),
                },
                _ => TwinFault::Partition {
                    ms: rng.random_range(500..15_000),
                },
            };
            TwinPlan {
                ttl_ms: [2_000, 3_000][rng.random_range(0..2)],
                at_ms,
                fault,
            }
        });
        // Collective delivery, from a stream of its own: a quarter of the seeds deliver some
        // routed queues (half of those seeds: every one) through IP Office's collective ringing.
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xc011_ec71);
        let collective = rng.random_bool(0.25).then(|| {
            if rng.random_bool(0.5) {
                u64::MAX
            } else {
                rng.random::<u64>()
            }
        });
        faults.sort_by_key(|(at, _)| *at);
        Plan {
            twin,
            collective,
            delays,
            engine_start_ms,
            ephemeral,
            no_answer_probability,
            load,
            faults,
            pair,
        }
    }
}

impl Plan {
    /// No fault at all: the engine starts with the simulator, every frame arrives within
    /// `latency_ms`, queues report ephemerally. The routing study's engine arm.
    pub fn calm(latency_ms: u64) -> Plan {
        Plan {
            delays: Delays {
                user_notify_ms: 0,
                queue_notify_ms: 0,
                response_ms: latency_ms,
                engine_ms: latency_ms,
            },
            engine_start_ms: 0,
            ephemeral: true,
            no_answer_probability: 0.0,
            load: 1.0,
            faults: Vec::new(),
            pair: None,
            twin: None,
            collective: None,
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.delays;
        write!(
            f,
            "delays: user notifies ≤{} ms, queue notifies ≤{} ms, responses ≤{} ms, engine ≤{} ms; \
             engine starts at {} s; {} queues; no-answer {}; load ×{}",
            d.user_notify_ms,
            d.queue_notify_ms,
            d.response_ms,
            d.engine_ms,
            self.engine_start_ms / 1000,
            if self.ephemeral { "ephemeral" } else { "reporting" },
            self.no_answer_probability,
            self.load
        )?;
        if let Some(share) = self.pair {
            write!(
                f,
                "; live-live pair, {:.0} % of callers on the secondary",
                share * 100.0
            )?;
        }
        if let Some(mask) = self.collective {
            write!(f, "; collective delivery (queue mask {mask:#x})")?;
        }
        if let Some(t) = &self.twin {
            write!(
                f,
                "; hot twin (lease {} ms), at {:.1} s: {}",
                t.ttl_ms,
                t.at_ms as f64 / 1000.0,
                t.fault
            )?;
        }
        for (at, fault) in &self.faults {
            write!(f, "; at {:.1} s: {fault}", *at as f64 / 1000.0)?;
        }
        Ok(())
    }
}
