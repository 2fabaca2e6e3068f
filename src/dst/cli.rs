//! `acd dst`: runs seeds and reports. A failure prints the seed, the invariant, the plan the
//! seed drew, the last steps of its trace and the one command that replays it exactly.

use super::{run_seed, SeedReport, Setup, SetupError};
use std::io::Write;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct DstOptions {
    /// First seed of the range.
    pub start: u64,
    pub seeds: u64,
    /// Print every seed's plan and trace hash, and the trace's last lines on success too.
    pub trace: bool,
    /// Run every seed twice and require the same trace hash.
    pub check_determinism: bool,
    /// Worker threads (seeds are independent).
    pub jobs: usize,
    /// Seeds known to fail, with the invariant they fail (see [`KnownFailures`]).
    pub known: KnownFailures,
}

/// Seeds that fail today for a reason already tracked, each with the invariant it breaks: a
/// listed seed failing that invariant is reported as known and does not fail the run; a listed
/// seed that passes is reported so the list only shrinks; any other failure fails the run.
#[derive(Debug, Clone, Default)]
pub struct KnownFailures {
    pub seeds: std::collections::BTreeMap<u64, String>,
}

impl KnownFailures {
    /// Lines `SEED INVARIANT`, `#` starts a comment.
    pub fn parse(text: &str) -> Result<KnownFailures, String> {
        let mut seeds = std::collections::BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(seed), Some(invariant), None) = (words.next(), words.next(), words.next())
            else {
                return Err(format!("line {}: expected `SEED INVARIANT`", n + 1));
            };
            let seed = seed
                .parse::<u64>()
                .map_err(|e| format!("line {}: seed {seed:?}: {e}", n + 1))?;
            seeds.insert(seed, invariant.to_string());
        }
        Ok(KnownFailures { seeds })
    }
}

/// What a run found.
#[derive(Debug, Clone, Default)]
pub struct DstSummary {
    pub seeds: u64,
    pub failed: Vec<u64>,
    /// Listed in the known failures and failing as listed.
    pub known: Vec<u64>,
    /// Listed in the known failures but passing now.
    pub fixed: Vec<u64>,
    pub steps: u64,
    pub frames: u64,
    pub virtual_ms: u64,
    pub wall_s: f64,
}

pub fn run_cli(opts: &DstOptions) -> Result<DstSummary, SetupError> {
    let setup = Setup::shipped()?;
    let started = Instant::now();
    let seeds: Vec<u64> = (opts.start..opts.start.saturating_add(opts.seeds)).collect();
    // Replaying one seed with --trace shows its whole story, not only the end.
    let keep = if opts.trace && opts.seeds == 1 {
        usize::MAX
    } else {
        super::trace::KEEP
    };
    let jobs = opts.jobs.max(1).min(seeds.len().max(1));
    let chunks: Vec<Vec<u64>> = (0..jobs)
        .map(|j| seeds.iter().copied().skip(j).step_by(jobs).collect())
        .collect();
    let mut reports: Vec<(SeedReport, Option<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                let setup = &setup;
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|&seed| {
                            let report = run_seed(setup, seed, keep);
                            let again = opts
                                .check_determinism
                                .then(|| run_seed(setup, seed, keep).trace_hash);
                            (report, again)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    reports.sort_by_key(|(r, _)| r.seed);
    let mut summary = DstSummary {
        seeds: reports.len() as u64,
        wall_s: started.elapsed().as_secs_f64(),
        ..DstSummary::default()
    };
    let mut out = std::io::stdout().lock();
    for (r, again) in &reports {
        summary.steps += r.steps;
        summary.frames += r.frames;
        summary.virtual_ms += r.virtual_ms;
        let nondeterministic = again.as_ref().is_some_and(|h| *h != r.trace_hash);
        if opts.trace {
            let _ = writeln!(out, "seed {}: {} — trace {}", r.seed, r.plan, r.trace_hash);
        }
        let listed = opts.known.seeds.get(&r.seed);
        match (&r.outcome, listed) {
            (Err(v), Some(invariant)) if v.invariant == invariant && !nondeterministic => {
                summary.known.push(r.seed);
                let _ = writeln!(out, "known failure, seed {}: {v}", r.seed);
                continue;
            }
            (Ok(()), Some(_)) if !nondeterministic => {
                summary.fixed.push(r.seed);
                let _ = writeln!(
                    out,
                    "seed {} passes now: remove it from the known failures",
                    r.seed
                );
            }
            _ => {}
        }
        if r.outcome.is_err() || nondeterministic {
            summary.failed.push(r.seed);
            let _ = writeln!(out, "\nFAILED seed {}", r.seed);
            match &r.outcome {
                Err(v) => {
                    let _ = writeln!(out, "  {v}");
                }
                Ok(()) => {
                    let _ = writeln!(
                        out,
                        "  invariant `determinism` violated: trace {} then {}",
                        r.trace_hash,
                        again.as_deref().unwrap_or("")
                    );
                }
            }
            let _ = writeln!(out, "  plan: {}", r.plan);
            let _ = writeln!(
                out,
                "  at {:.3} s virtual; last steps:",
                r.virtual_ms as f64 / 1000.0
            );
            for line in &r.last_lines {
                let _ = writeln!(out, "    {line}");
            }
            let _ = writeln!(out, "  replay: acd dst --seed {} --trace", r.seed);
        } else if opts.trace && opts.seeds == 1 {
            for line in &r.last_lines {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    let per_s = |n: u64| n as f64 / summary.wall_s.max(1e-9);
    let _ = writeln!(
        out,
        "dst: {} seeds from {}, {} failed, {} known failures; {} steps, {} frames, {:.1} virtual hours in {:.1} s \
         ({:.0} steps/s, {:.0} seeds/min)",
        summary.seeds,
        opts.start,
        summary.failed.len(),
        summary.known.len(),
        summary.steps,
        summary.frames,
        summary.virtual_ms as f64 / 3_600_000.0,
        summary.wall_s,
        per_s(summary.steps),
        per_s(summary.seeds) * 60.0
    );
    Ok(summary)
}
