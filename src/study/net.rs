//! The safety net in the study: what it costs while the engine is up, and what callers get
//! from it while no engine is.
//!
//! The routed groups' members are disabled in IP Office, so with every engine down nobody's
//! phone rings. The net (`Scenario::set_up_for_engine_with_net`) overflows each routed group
//! after a long Overflow Time to a native group whose members are enabled. While an engine is
//! up the net must not change its results, so the study runs the engine arm once without the
//! net and once per overflow time in `[study] safety_net`, on the same callers, and compares
//! them seed by seed (paired: the difference's spread is the seed noise). The same set-up with
//! no engine at all shows what callers get while every engine is down. The share of calls
//! IP Office answered by its own hunting (not after an engine transfer) is the share the net
//! took: it is counted from the simulator, not from the engine's account.

use std::collections::HashSet;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::run::{Distributor, Spread, StudyReport};
use crate::sim::model::{CallPhase, Model, SimCallId};
use crate::sim::scenario::{OverflowMode, SafetyNet};

/// `[study] safety_net`: the safety group and the overflow times to try.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetSweep {
    /// The native hunt group whose enabled members answer (not a routed queue).
    pub group: String,
    /// Overflow Times to try, whole seconds as IP Office takes them; one engine arm and one
    /// no-engine arm each.
    pub after_s: Vec<u32>,
    /// The routed groups' Overflow Mode (`call` unless said otherwise, see `SafetyNet`).
    #[serde(default = "call_mode")]
    pub mode: OverflowMode,
}

fn call_mode() -> OverflowMode {
    OverflowMode::Call
}

impl NetSweep {
    /// The net at one of the sweep's overflow times.
    pub fn at(&self, after_s: u32) -> SafetyNet {
        SafetyNet {
            group: self.group.clone(),
            after_s: f64::from(after_s),
            mode: self.mode,
        }
    }
}

/// Counts the calls IP Office answered by its own hunting, from samples of the model.
///
/// A call that rings while still in its queue was rung by the hunt group (an engine transfer
/// takes it out of the queue first); if it is next seen talking, a member answered it
/// natively. With the routed groups' members disabled that member can only be the net's.
/// Sampling every second sees every ring that lasts a second or more (the shipped studies'
/// answer delay is 1–4 s); a shorter one would be missed, so the count is a lower bound then.
#[derive(Debug, Default)]
pub struct NativeAnswers {
    ringing_from_queue: HashSet<SimCallId>,
    pub answered: u64,
}

impl NativeAnswers {
    pub fn sample(&mut self, model: &Model) {
        for c in model.calls() {
            match c.phase {
                CallPhase::Ringing if c.queue.is_some() => {
                    self.ringing_from_queue.insert(c.id);
                }
                CallPhase::Connected | CallPhase::AfterCall
                    if self.ringing_from_queue.remove(&c.id) =>
                {
                    self.answered += 1;
                }
                _ => {
                    self.ringing_from_queue.remove(&c.id);
                }
            }
        }
    }
}

/// The paired change of `f` from the plain engine arm to `arm`, over the seeds, scaled.
fn paired(
    report: &StudyReport,
    arm: &super::run::ArmResult,
    f: fn(&super::run::SeedFigures) -> f64,
) -> Option<Spread> {
    let engine = report.engine()?;
    Some(Spread::of(
        arm.seeds
            .iter()
            .zip(&engine.seeds)
            .map(|(a, e)| (f(a) - f(e)) * 100.0),
    ))
}

/// The safety-net table: every engine arm and every no-engine arm, SL with the abandon rate,
/// ASA, the share IP Office answered itself, and (for engine arms) the change from the engine
/// without the net, paired seed by seed. Empty when the study has no net.
pub fn markdown(report: &StudyReport) -> String {
    let mut out = String::new();
    let arms: Vec<_> = report
        .arms
        .iter()
        .filter(|a| {
            matches!(
                a.distributor,
                Distributor::Engine | Distributor::EngineNet(_) | Distributor::NoEngineNet(_)
            )
        })
        .collect();
    if !arms.iter().any(|a| a.distributor != Distributor::Engine) {
        return out;
    }
    let sl = report.service_level_s;
    let _ = writeln!(
        out,
        "| safety net | SL@{sl:.0}s (%) | abandoned (%) | ASA (s) | answered by IP Office itself (%) | SL change vs engine without net (points, per seed) | abandoned change (points, per seed) | engine commands failed (first seed) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    let pm = |s: &Spread, scale: f64, d: usize| {
        format!("{:.*} ± {:.*}", d, s.mean * scale, d, s.sd * scale)
    };
    for a in arms {
        let change = |f: fn(&super::run::SeedFigures) -> f64| match a.distributor {
            Distributor::EngineNet(_) => paired(report, a, f).map_or("—".into(), |s| {
                format!("{:+.2} ({:+.2}..{:+.2})", s.mean, s.min, s.max)
            }),
            _ => "—".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            a.label,
            pm(&a.service_level_spread, 100.0, 1),
            pm(&a.abandon_rate_spread, 100.0, 1),
            pm(&a.asa_spread, 1.0, 1),
            pm(&a.native_share, 100.0, 2),
            change(|f| f.service_level),
            change(|f| f.abandon_rate),
            a.engine
                .as_ref()
                .map_or("—".into(), |e| e.commands_failed.to_string()),
        );
    }
    out
}
