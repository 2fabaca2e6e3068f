//! Reconnect pacing: exponential backoff with jitter, so that a restarting IP Office is not
//! hammered and several engines do not reconnect in lock-step.

use rand::Rng;
use std::time::Duration;

/// Backoff settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// Each delay is drawn uniformly from `[d * (1 - jitter), d]`; 0 disables jitter.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            jitter: 0.5,
        }
    }
}

/// The running state of one backoff sequence.
#[derive(Debug, Clone)]
pub struct BackoffState {
    settings: Backoff,
    attempt: u32,
}

impl BackoffState {
    pub fn new(settings: Backoff) -> BackoffState {
        BackoffState {
            settings,
            attempt: 0,
        }
    }

    /// After a successful connection: the next failure starts from `initial` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The ceiling for the next delay, before jitter: `initial * 2^attempt`, capped at `max`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.settings
            .initial
            .checked_mul(factor)
            .unwrap_or(self.settings.max)
            .min(self.settings.max)
    }

    /// The delay to wait before the next attempt.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let jitter = self.settings.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 || ceiling.is_zero() {
            return ceiling;
        }
        let low = ceiling.mul_f64(1.0 - jitter);
        let span = ceiling.saturating_sub(low);
        low + span.mul_f64(rng.random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = BackoffState::new(Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            jitter: 0.0,
        });
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let delays: Vec<_> = (0..10)
            .map(|_| b.next_delay(&mut rng).as_millis())
            .collect();
        assert_eq!(
            delays,
            vec![500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]
        );
        b.reset();
        assert_eq!(b.next_delay(&mut rng), Duration::from_millis(500));
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut b = BackoffState::new(Backoff {
            jitter: 0.0,
            ..Backoff::default()
        });
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..100 {
            assert!(b.next_delay(&mut rng) <= Duration::from_secs(30));
        }
    }

    proptest::proptest! {
        #[test]
        fn jittered_delay_stays_within_its_window(seed in 0u64..1000, attempts in 0usize..40, jitter in 0.0f64..1.0) {
            let settings = Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(10), jitter };
            let mut b = BackoffState::new(settings);
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            for _ in 0..attempts { b.next_delay(&mut rng); }
            let ceiling = b.ceiling();
            let d = b.next_delay(&mut rng);
            proptest::prop_assert!(d <= ceiling);
            proptest::prop_assert!(d >= ceiling.mul_f64(1.0 - jitter) - Duration::from_nanos(1));
        }
    }
}
