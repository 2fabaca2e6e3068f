//! Call accounting and the run summary.
//!
//! Every call is counted against the queue it first arrived at, so a routing change that moves
//! calls between queues cannot make a queue look better by exporting its hard calls. Outcomes
//! are exclusive (answered, abandoned, voicemail, dropped, still in progress); `overflowed` is a
//! flag on top (a call can overflow and still be answered elsewhere).

use std::collections::BTreeMap;

use acd_core::Millis;
use serde::{Deserialize, Serialize};

/// Raw counters for one queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    /// Every caller who ended in a mailbox, the queue's or an agent's own.
    pub voicemail: u64,
    /// Of `voicemail`, those who ended in an agent's own mailbox.
    pub personal_voicemail: u64,
    pub dropped: u64,
    pub overflowed: u64,
    /// Callers who found the queue at its limit with no voicemail and heard busy: also
    /// counted as abandoned (at zero wait), since they are lost callers too.
    pub blocked: u64,
    /// Answered calls that had to wait (wait > 0).
    pub waited: u64,
    pub answered_within_sl: u64,
    pub answer_wait_sum_ms: u64,
    pub longest_wait_ms: u64,
}

impl QueueStats {
    pub fn record_answer(&mut self, wait_ms: Millis, sl_ms: Millis) {
        self.answered += 1;
        if wait_ms > 0 {
            self.waited += 1;
        }
        if wait_ms <= sl_ms {
            self.answered_within_sl += 1;
        }
        self.answer_wait_sum_ms += wait_ms;
        self.longest_wait_ms = self.longest_wait_ms.max(wait_ms);
    }

    pub fn record_abandon(&mut self, wait_ms: Millis) {
        self.abandoned += 1;
        self.longest_wait_ms = self.longest_wait_ms.max(wait_ms);
    }

    fn add(&mut self, o: &QueueStats) {
        self.offered += o.offered;
        self.answered += o.answered;
        self.abandoned += o.abandoned;
        self.voicemail += o.voicemail;
        self.personal_voicemail += o.personal_voicemail;
        self.dropped += o.dropped;
        self.overflowed += o.overflowed;
        self.blocked += o.blocked;
        self.waited += o.waited;
        self.answered_within_sl += o.answered_within_sl;
        self.answer_wait_sum_ms += o.answer_wait_sum_ms;
        self.longest_wait_ms = self.longest_wait_ms.max(o.longest_wait_ms);
    }

    pub fn summary(&self) -> QueueSummary {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let ended = self.answered + self.abandoned + self.voicemail + self.dropped;
        QueueSummary {
            offered: self.offered,
            answered: self.answered,
            abandoned: self.abandoned,
            overflowed: self.overflowed,
            blocked: self.blocked,
            voicemail: self.voicemail,
            personal_voicemail: self.personal_voicemail,
            dropped: self.dropped,
            in_progress: self.offered.saturating_sub(ended),
            service_level: ratio(self.answered_within_sl, self.answered + self.abandoned),
            asa_s: ratio(self.answer_wait_sum_ms, self.answered) / 1000.0,
            longest_wait_s: self.longest_wait_ms as f64 / 1000.0,
            probability_wait: ratio(self.waited, self.answered),
        }
    }
}

/// The figures a supervisor reads, for one queue or the total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueSummary {
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub overflowed: u64,
    /// Lost at the queue limit (included in `abandoned`).
    #[serde(default)]
    pub blocked: u64,
    /// Ended in a mailbox: the queue's or an agent's own.
    pub voicemail: u64,
    /// Of `voicemail`, ended in an agent's own mailbox (a transfer that rang out at an agent
    /// with voicemail on, or went to a forwarded agent).
    #[serde(default)]
    pub personal_voicemail: u64,
    pub dropped: u64,
    pub in_progress: u64,
    /// Answered within the threshold over answered plus abandoned (0..1).
    pub service_level: f64,
    /// Average speed of answer, seconds.
    pub asa_s: f64,
    /// Longest wait of an answered or abandoned call, seconds.
    pub longest_wait_s: f64,
    /// Share of answered calls that waited at all.
    pub probability_wait: f64,
}

impl QueueSummary {
    /// Callers lost: abandoned plus sent to a mailbox (the queue's or an agent's own), over
    /// offered (0..1; 0 with nothing offered).
    pub fn lost_share(&self) -> f64 {
        if self.offered == 0 {
            0.0
        } else {
            (self.abandoned + self.voicemail) as f64 / self.offered as f64
        }
    }
}

/// What the simulator saw a router do, so tests can check routing from IP Office's side
/// rather than trusting the router's own account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// Commands received, by action, then by result code.
    pub commands: BTreeMap<String, BTreeMap<i32, u64>>,
    /// Answered calls by the caller's language (empty when none), then by the answering
    /// agent's extension.
    pub answered_by_language: BTreeMap<String, BTreeMap<String, u64>>,
    /// Transfers to an agent of a call that was already ringing at an agent: one router never
    /// sends them (it offers a call once until it comes back), two routers sending at once do.
    #[serde(default)]
    pub transfers_to_ringing_calls: u64,
    /// Transfers to an agent whose forward unconditional was on: the call went to the
    /// forward destination (voicemail), not to the agent.
    #[serde(default)]
    pub transfers_to_forwarded_users: u64,
}

impl Observed {
    pub fn record_command(&mut self, action: &str, code: i32) {
        *self
            .commands
            .entry(action.to_string())
            .or_default()
            .entry(code)
            .or_default() += 1;
    }

    pub fn record_answer(&mut self, language: String, extn: String) {
        *self
            .answered_by_language
            .entry(language)
            .or_default()
            .entry(extn)
            .or_default() += 1;
    }
}

/// The run summary printed as the last line of `acd sim`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimSummary {
    pub virtual_seconds: f64,
    pub service_level_threshold_s: f64,
    pub totals: QueueSummary,
    pub queues: BTreeMap<String, QueueSummary>,
    #[serde(default)]
    pub observed: Observed,
}

impl SimSummary {
    pub fn build<'a>(
        virtual_ms: Millis,
        sl_ms: Millis,
        per_queue: impl Iterator<Item = (&'a str, &'a QueueStats)>,
    ) -> SimSummary {
        let mut total = QueueStats::default();
        let mut queues = BTreeMap::new();
        for (name, stats) in per_queue {
            total.add(stats);
            queues.insert(name.to_string(), stats.summary());
        }
        SimSummary {
            virtual_seconds: virtual_ms as f64 / 1000.0,
            service_level_threshold_s: sl_ms as f64 / 1000.0,
            totals: total.summary(),
            queues,
            observed: Observed::default(),
        }
    }

    /// One line of JSON (serialising plain numbers and strings cannot fail).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_ratios() {
        let mut s = QueueStats {
            offered: 4,
            ..Default::default()
        };
        s.record_answer(0, 20_000);
        s.record_answer(30_000, 20_000);
        s.record_abandon(50_000);
        let q = s.summary();
        assert_eq!(q.answered, 2);
        assert_eq!(q.in_progress, 1);
        assert!((q.service_level - 1.0 / 3.0).abs() < 1e-9);
        assert!((q.asa_s - 15.0).abs() < 1e-9);
        assert_eq!(q.longest_wait_s, 50.0);
        assert_eq!(q.probability_wait, 0.5);
        let sum = SimSummary::build(1000, 20_000, [("Q", &s)].into_iter());
        assert_eq!(sum.totals, q);
        assert!(sum.to_json_line().starts_with('{'));
    }
}
