//! A queue's service level now, and balancing agents between queues by it.
//!
//! The counters in `accounting` are cumulative since start: right for reports, wrong for
//! steering, where a bad morning must not decide the afternoon. Here each queue keeps the
//! calls that finished in the recent window (per minute, so the cost does not grow with
//! traffic), and counts the calls still waiting past the threshold as misses already: they
//! can no longer be answered in time, and waiting for them to finish before reacting is what
//! lets a queue sink.
//!
//! With `balance = "service-level"` a free agent who may serve several queues takes the call of
//! the queue furthest behind its target (Avaya's Service Level Maximizer); the figure is read
//! once before each dispatch so that one decision sees one consistent order.

use std::collections::VecDeque;

use super::Engine;
use crate::accounting::CallOutcome;
use crate::config::Balance;
use crate::time::{Millis, Timestamp};

/// Width of one bucket of the recent window.
const BUCKET_MS: Millis = 60_000;

/// Calls that finished in the recent window, per minute.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecentServiceLevel {
    /// (minute since the epoch, answered within the threshold, answered or abandoned).
    buckets: VecDeque<(u64, u32, u32)>,
    within: u64,
    finished: u64,
}

impl RecentServiceLevel {
    /// Counts one finished call.
    pub fn record(&mut self, now: Timestamp, within: bool) {
        let minute = now.as_millis() / BUCKET_MS;
        match self.buckets.back_mut() {
            Some((m, w, f)) if *m == minute => {
                *w += u32::from(within);
                *f += 1;
            }
            _ => self.buckets.push_back((minute, u32::from(within), 1)),
        }
        self.within += u64::from(within);
        self.finished += 1;
    }

    /// The first minute still inside a window of `window_ms` ending at `now`.
    fn first_kept(now: Timestamp, window_ms: Millis) -> u64 {
        now.as_millis().saturating_sub(window_ms) / BUCKET_MS
    }

    /// Drops the minutes that fell out of the window (keeps memory bounded; reading does not
    /// need it).
    pub fn expire(&mut self, now: Timestamp, window_ms: Millis) {
        let first_kept = Self::first_kept(now, window_ms);
        while let Some(&(m, w, f)) = self.buckets.front() {
            if m >= first_kept {
                break;
            }
            self.within -= u64::from(w);
            self.finished -= u64::from(f);
            self.buckets.pop_front();
        }
    }

    /// Within over finished, in the window ending at `now`, plus `late` waiting calls already
    /// past the threshold; 1 when there is nothing to count. Minutes that fell out of the
    /// window and were not dropped yet are left out.
    pub fn share(&self, now: Timestamp, window_ms: Millis, late: u64) -> f64 {
        let first_kept = Self::first_kept(now, window_ms);
        let (mut within, mut finished) = (self.within, self.finished);
        for &(_, w, f) in self.buckets.iter().take_while(|(m, _, _)| *m < first_kept) {
            within -= u64::from(w);
            finished -= u64::from(f);
        }
        let of = finished + late;
        if of == 0 {
            1.0
        } else {
            within as f64 / of as f64
        }
    }
}

impl Engine {
    /// The first service-level threshold of queue `q` (20 s unless the rules set one).
    pub(super) fn sl_threshold(&self, q: usize) -> Millis {
        self.queues[q]
            .policy
            .as_ref()
            .and_then(|p| p.service_level_ms.first().copied())
            .unwrap_or(20_000)
    }

    /// Folds a finished call of queue `q` into its recent service level. Overflowed calls
    /// left for elsewhere and count where they end, as in accounting.
    pub(super) fn record_service_level(
        &mut self,
        q: usize,
        outcome: CallOutcome,
        wait_ms: Millis,
        now: Timestamp,
    ) {
        let within = match outcome {
            CallOutcome::Answered => wait_ms <= self.sl_threshold(q),
            CallOutcome::Abandoned => false,
            CallOutcome::Overflowed => return,
        };
        let window = self.config.service_level_window_ms;
        let recent = &mut self.queues[q].recent_sl;
        recent.expire(now, window);
        recent.record(now, within);
    }

    /// Queue `q`'s service level now (0..=1), as [`crate::QueueMetric::ServiceLevel`] defines
    /// it.
    pub(super) fn current_service_level(&self, q: usize, now: Timestamp) -> f64 {
        let threshold = self.sl_threshold(q);
        let late = match now.as_millis().checked_sub(threshold) {
            // Arrived at or before `now − threshold`, and so waiting at least the threshold:
            // a call answered at exactly the threshold is still within it, so strictly before.
            Some(cutoff) if cutoff > 0 => self.queues[q]
                .arrivals
                .range(..(Timestamp(cutoff), crate::ids::CallId(0)))
                .count() as u64,
            _ => 0,
        };
        self.queues[q]
            .recent_sl
            .share(now, self.config.service_level_window_ms, late)
    }

    /// Before a dispatch: how far each routed queue is behind its target, when agents are
    /// balanced by service level (0 for every queue otherwise, and for queues on target).
    pub(super) fn refresh_service_levels(&mut self, now: Timestamp) {
        if self.config.balance != Balance::ServiceLevel {
            return;
        }
        for q in 0..self.queues.len() {
            let Some(target) = self.queues[q]
                .policy
                .as_ref()
                .map(|p| p.service_level_target)
            else {
                continue;
            };
            let behind = (target - self.current_service_level(q, now)).max(0.0);
            self.queues[q].sl_behind = behind;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{agent_event, config, policy, profile, queued_call, transfers, Sim};
    use super::*;
    use crate::config::{PickStrategy, QueueMetric, StateTest};
    use crate::event::{Features, PhoneState};
    use crate::ids::CallId;

    /// Agent 2001 serves Sales (80 % in 60 s) and Rare (80 % in 20 s). Sales' call has waited
    /// 40 s, Rare's 25 s: past Rare's threshold, so Rare stands at 0 % against its target while
    /// Sales, with nothing late, is on target. Returns the call 2001 is offered when it frees.
    fn offered_when_balancing(balance: Balance) -> CallId {
        let mut sales = policy("Sales", PickStrategy::LongestIdle, &["2001"]);
        sales.service_level_ms = vec![60_000];
        let rare = policy("Rare", PickStrategy::LongestIdle, &["2001"]);
        let mut c = config(vec![sales, rare], vec![profile("2001", &[])]);
        c.balance = balance;
        let mut sim = Sim::new(c);
        sim.send(agent_event("2001", true, PhoneState::OnCall));
        sim.send(queued_call(1, "Sales", 1, Features::ALL_QUEUE_ACTIONS));
        sim.at(
            15_000,
            queued_call(2, "Rare", 1, Features::ALL_QUEUE_ACTIONS),
        );
        let out = sim
            .at(25_000, agent_event("2001", true, PhoneState::Idle))
            .clone();
        transfers(&out)[0].1
    }

    #[test]
    fn a_free_agent_serves_the_queue_furthest_behind_its_target() {
        assert_eq!(offered_when_balancing(Balance::WaitingTime), CallId(1));
        assert_eq!(offered_when_balancing(Balance::ServiceLevel), CallId(2));
    }

    #[test]
    fn reserve_agents_join_when_the_queue_falls_behind_its_target() {
        let mut sales = policy("Sales", PickStrategy::LongestIdle, &["2001"]);
        sales.helpers = vec!["2002".into()];
        sales.helpers_when = vec![StateTest {
            metric: QueueMetric::ServiceLevel,
            comparison: crate::config::Comparison::Less,
            value: 80,
        }];
        let mut sim = Sim::new(config(
            vec![sales],
            vec![profile("2001", &[]), profile("2002", &[])],
        ));
        sim.send(agent_event("2001", true, PhoneState::OnCall));
        sim.idle("2002");
        let out = sim.call(1).clone();
        assert!(transfers(&out).is_empty(), "on target: the reserve waits");
        let out = sim.wait(20_000);
        assert!(transfers(&out).is_empty(), "20 s is still within 20 s");
        // One millisecond later the call is late, the queue at 0 %: the reserve takes it.
        let out = sim.wait(1);
        let t = transfers(&out);
        assert_eq!(t.len(), 1, "{:?}", out.decisions);
        assert_eq!(t[0].2, crate::command::Target::Agent("2002".into()));
    }

    #[test]
    fn the_window_forgets_what_finished_before_it() {
        let mut recent = RecentServiceLevel::default();
        recent.record(Timestamp(10_000), false);
        recent.record(Timestamp(70_000), true);
        recent.record(Timestamp(75_000), true);
        let (at, window) = (Timestamp(75_000), 120_000);
        assert!((recent.share(at, window, 0) - 2.0 / 3.0).abs() < 1e-9);
        // Two minutes wide at 3:20: the bucket of minute 0 is out, minute 1 stays, whether
        // or not it was dropped yet.
        let at = Timestamp(200_000);
        assert!((recent.share(at, window, 0) - 1.0).abs() < 1e-9);
        assert!((recent.share(at, window, 2) - 0.5).abs() < 1e-9);
        recent.expire(at, window);
        assert!((recent.share(at, window, 0) - 1.0).abs() < 1e-9);
        assert!((recent.share(at, window, 2) - 0.5).abs() < 1e-9);
        let at = Timestamp(10 * 60_000);
        assert!((recent.share(at, window, 0) - 1.0).abs() < 1e-9);
        assert!((recent.share(at, window, 1) - 0.0).abs() < 1e-9);
    }
}
