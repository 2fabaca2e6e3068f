//! Queue-state conditions: `oldest_wait > 60s`, `calls_waiting >= 5`, `agents_free == 0`,
//! `expected_wait > 2m`, measured on a queue now.
//!
//! Routes test them when a call arrives, steps when they fall due, and a queue's helpers take
//! calls only while theirs hold. Helpers are the one case that must notice a condition turning
//! true between events: `refresh_helpers` runs before every dispatch, and the queue timer wakes
//! the engine at the moment the oldest call crosses a waiting-time threshold.

use super::state::DEFAULT_HANDLE_MS;
use super::Engine;
use crate::config::{Comparison, QueueMetric, StateTest};
use crate::time::Timestamp;

impl Engine {
    /// The metric's value for queue `q` now (durations in ms).
    pub(super) fn queue_metric(&self, q: usize, metric: QueueMetric, now: Timestamp) -> u64 {
        let queue = &self.queues[q];
        let not_helper = |a: &usize| queue.member_tier.get(a).copied().unwrap_or(0) < 2;
        match metric {
            QueueMetric::OldestWait => self
                .oldest_arrival(q)
                .map_or(0, |arrival| now.since(arrival)),
            QueueMetric::CallsWaiting => queue.waiting.len() as u64,
            QueueMetric::AgentsFree => queue.idle.iter().filter(|a| not_helper(a)).count() as u64,
            QueueMetric::AgentsLoggedIn => self.staffed(q),
            QueueMetric::ExpectedWait => {
                let staffed = self.staffed(q);
                if staffed == 0 {
                    return u64::MAX;
                }
                let handle = if queue.handle_ms.is_finite() && queue.handle_ms > 0.0 {
                    queue.handle_ms
                } else {
                    DEFAULT_HANDLE_MS
                };
                ((queue.waiting.len() as f64 + 1.0) * handle / staffed as f64) as u64
            }
            QueueMetric::ServiceLevel => (self.current_service_level(q, now) * 100.0)
                .floor()
                .clamp(0.0, 100.0) as u64,
        }
    }

    /// First-choice and backup members logged in.
    pub(super) fn staffed(&self, q: usize) -> u64 {
        self.staffed_up_to(q, usize::MAX)
    }

    /// The same, counted no further than `limit` (enough to tell whether a queue is scarce
    /// without walking all its members on every pairing the dispatcher weighs).
    pub(super) fn staffed_up_to(&self, q: usize, limit: usize) -> u64 {
        let queue = &self.queues[q];
        queue
            .members
            .iter()
            .filter(|a| queue.member_tier.get(a).copied().unwrap_or(0) < 2)
            .filter(|a| self.agents[**a].counted_logged_in)
            .take(limit)
            .count() as u64
    }

    fn oldest_arrival(&self, q: usize) -> Option<Timestamp> {
        self.queues[q].arrivals.first().map(|(arrival, _)| *arrival)
    }

    /// Whether every test holds for queue `q` now (an empty list holds).
    pub(super) fn state_holds(&self, q: usize, tests: &[StateTest], now: Timestamp) -> bool {
        tests.iter().all(|t| {
            t.comparison
                .holds(self.queue_metric(q, t.metric, now), t.value)
        })
    }

    /// Brings each queue's `helpers_active` in line with its helpers' condition; helpers that
    /// just became allowed look for calls at once.
    pub(super) fn refresh_helpers(&mut self, now: Timestamp) {
        for q in 0..self.queues.len() {
            let Some(policy) = &self.queues[q].policy else {
                continue;
            };
            if policy.helpers.is_empty() {
                continue;
            }
            let active = self.state_holds(q, &policy.helpers_when, now);
            if active == self.queues[q].helpers_active {
                continue;
            }
            self.queues[q].helpers_active = active;
            if active {
                let queue = &self.queues[q];
                let helpers: Vec<usize> = queue
                    .idle
                    .iter()
                    .copied()
                    .filter(|a| queue.member_tier.get(a) == Some(&2))
                    .collect();
                self.dirty_agents.extend(helpers);
            }
        }
    }

    /// When a waiting call of queue `q` next crosses a waiting-time threshold of its helpers'
    /// condition: the oldest call for `oldest_wait`, the first call not yet late for
    /// `service_level` (other metrics change only with events).
    pub(super) fn next_helpers_change(&self, q: usize, now: Timestamp) -> Option<Timestamp> {
        let policy = self.queues[q].policy.as_ref()?;
        if policy.helpers.is_empty() {
            return None;
        }
        let oldest = self.oldest_arrival(q)?;
        let by_oldest = policy
            .helpers_when
            .iter()
            .filter(|t| t.metric == QueueMetric::OldestWait)
            .filter_map(|t| {
                let at = match t.comparison {
                    Comparison::Greater => oldest.plus(t.value.saturating_add(1)),
                    Comparison::GreaterOrEqual => oldest.plus(t.value),
                    _ => return None,
                };
                (at > now).then_some(at)
            })
            .min();
        let by_service_level = if policy
            .helpers_when
            .iter()
            .any(|t| t.metric == QueueMetric::ServiceLevel)
        {
            let threshold = self.sl_threshold(q);
            // A call is late once it has waited more than the threshold.
            let cutoff = Timestamp(now.as_millis().saturating_sub(threshold));
            self.queues[q]
                .arrivals
                .range((cutoff, crate::ids::CallId(0))..)
                .next()
                .map(|(arrival, _)| arrival.plus(threshold.saturating_add(1)))
                .filter(|at| *at > now)
        } else {
            None
        };
        by_oldest.into_iter().chain(by_service_level).min()
    }

    /// A call of queue `q` was answered and its agent is done with it: fold its handle time
    /// into the queue's average (a plain mean of the first twenty calls, then the last twenty
    /// or so weigh most).
    pub(super) fn record_handle_time(&mut self, q: usize, handle_ms: u64) {
        let queue = &mut self.queues[q];
        queue.handled_calls += 1;
        let weight = (1.0 / queue.handled_calls as f64).max(0.05);
        queue.handle_ms += weight * (handle_ms as f64 - queue.handle_ms);
    }
}
