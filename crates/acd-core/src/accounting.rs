//! Per-queue call accounting for the metrics layer.
//!
//! Every call the engine routes is counted once as offered when it enters a routed queue, and
//! exactly once more when the engine is done with it (answered, abandoned or overflowed), so
//! `offered = answered + abandoned + overflowed + calls still in the engine's hands` always
//! holds. Service levels are counted exactly, not estimated from histograms.

use crate::ids::{CallId, QueueId};
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// How the engine's involvement with a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CallOutcome {
    /// An agent answered (offered by the engine or natively by IP Office).
    Answered,
    /// The caller hung up (or the call vanished) before an answer.
    Abandoned,
    /// The call left for another destination: an overflow step, an exit, night service, or a
    /// move to another queue.
    Overflowed,
}

/// One call the engine is done accounting for: the daemon feeds wait-time histograms from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishedCall {
    pub call: CallId,
    pub queue: QueueId,
    pub outcome: CallOutcome,
    /// From the call's arrival in the queue to the outcome.
    pub wait_ms: Millis,
    /// The name of the route the call was under when it ended (`None`: no route matched), so
    /// outcomes can be told per route as well as per queue.
    #[serde(default)]
    pub route: Option<String>,
}

/// Cumulative counters for one queue since the engine started.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueueCounters {
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub overflowed: u64,
    /// (threshold, answered calls that waited at most that long), one per service level.
    pub answered_within: Vec<(Millis, u64)>,
    /// Sum of the waits of answered calls (for the mean answer time).
    pub wait_ms_sum: u64,
    /// Longest wait of any finished call.
    pub longest_wait_ms: u64,
}

impl QueueCounters {
    pub fn with_thresholds(thresholds: &[Millis]) -> Self {
        let mut sorted = thresholds.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        QueueCounters {
            answered_within: sorted.into_iter().map(|t| (t, 0)).collect(),
            ..QueueCounters::default()
        }
    }

    /// Adopts a new set of thresholds (rules changed), keeping the counts of thresholds that
    /// stay.
    pub fn set_thresholds(&mut self, thresholds: &[Millis]) {
        let mut next = QueueCounters::with_thresholds(thresholds).answered_within;
        for (t, n) in &mut next {
            if let Some((_, old)) = self.answered_within.iter().find(|(o, _)| o == t) {
                *n = *old;
            }
        }
        self.answered_within = next;
    }

    pub fn record(&mut self, outcome: CallOutcome, wait_ms: Millis) {
        match outcome {
            CallOutcome::Answered => {
                self.answered += 1;
                self.wait_ms_sum = self.wait_ms_sum.saturating_add(wait_ms);
                for (threshold, count) in &mut self.answered_within {
                    if wait_ms <= *threshold {
                        *count += 1;
                    }
                }
            }
            CallOutcome::Abandoned => self.abandoned += 1,
            CallOutcome::Overflowed => self.overflowed += 1,
        }
        self.longest_wait_ms = self.longest_wait_ms.max(wait_ms);
    }

    /// Calls offered and not yet finished.
    pub fn open(&self) -> u64 {
        self.offered
            .saturating_sub(self.answered + self.abandoned + self.overflowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_levels_count_exactly() {
        let mut c = QueueCounters::with_thresholds(&[20_000, 10_000, 20_000]);
        c.offered = 4;
        c.record(CallOutcome::Answered, 10_000);
        c.record(CallOutcome::Answered, 15_000);
        c.record(CallOutcome::Abandoned, 40_000);
        assert_eq!(c.answered_within, vec![(10_000, 1), (20_000, 2)]);
        assert_eq!(c.wait_ms_sum, 25_000);
        assert_eq!(c.longest_wait_ms, 40_000);
        assert_eq!(c.open(), 1);
        c.set_thresholds(&[20_000, 30_000]);
        assert_eq!(c.answered_within, vec![(20_000, 2), (30_000, 0)]);
    }
}
