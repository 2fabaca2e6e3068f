//! Duration distributions for scenario files (talk time, wrap-up, patience, answer delay).
//!
//! They exist as a small closed enum rather than a generic "any distribution" so a supervisor
//! can write them in TOML (`{ dist = "exponential", mean_s = 180 }`) and so every scenario is
//! validated up front: a negative mean is a scenario error, never a panic mid-run.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::error::SimError;
use acd_core::Millis;

/// A distribution of durations, in seconds in the file and milliseconds when sampled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum Dist {
    /// Always the same duration.
    Fixed { s: f64 },
    /// Memoryless: what queueing theory (Erlang C) assumes for talk times and patience.
    Exponential { mean_s: f64 },
    /// Equally likely anywhere in `[min_s, max_s]`.
    Uniform { min_s: f64, max_s: f64 },
    /// Right-skewed with a given mean and standard deviation: closer to real talk times.
    LogNormal { mean_s: f64, sd_s: f64 },
    /// Never happens (infinite patience, for example).
    Never,
}

impl Dist {
    pub fn fixed_s(s: f64) -> Dist {
        Dist::Fixed { s }
    }

    pub fn exponential_s(mean_s: f64) -> Dist {
        Dist::Exponential { mean_s }
    }

    /// Rejects parameters that cannot describe a duration; `what` names the field for the error.
    pub fn validate(&self, what: &str) -> Result<(), SimError> {
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        let valid = match *self {
            Dist::Fixed { s } => ok(s),
            Dist::Exponential { mean_s } => ok(mean_s),
            Dist::Uniform { min_s, max_s } => ok(min_s) && ok(max_s) && min_s <= max_s,
            Dist::LogNormal { mean_s, sd_s } => ok(mean_s) && ok(sd_s) && mean_s > 0.0,
            Dist::Never => true,
        };
        if valid {
            Ok(())
        } else {
            Err(SimError::Scenario(format!(
                "{what}: invalid distribution parameters {self:?} (durations must be finite and >= 0)"
            )))
        }
    }

    /// The mean in seconds, `None` for `Never`.
    pub fn mean_s(&self) -> Option<f64> {
        match *self {
            Dist::Fixed { s } => Some(s),
            Dist::Exponential { mean_s } => Some(mean_s),
            Dist::Uniform { min_s, max_s } => Some((min_s + max_s) / 2.0),
            Dist::LogNormal { mean_s, .. } => Some(mean_s),
            Dist::Never => None,
        }
    }

    /// Draws one duration; `None` means "never".
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<Millis> {
        let seconds = match *self {
            Dist::Fixed { s } => s,
            Dist::Exponential { mean_s } => {
                // 1 - u lies in (0, 1], so the logarithm is finite.
                let u: f64 = rng.random();
                -mean_s * (1.0 - u).ln()
            }
            Dist::Uniform { min_s, max_s } => min_s + (max_s - min_s) * rng.random::<f64>(),
            Dist::LogNormal { mean_s, sd_s } => {
                let sigma2 = (1.0 + (sd_s * sd_s) / (mean_s * mean_s)).ln();
                let mu = mean_s.ln() - sigma2 / 2.0;
                let z: f64 = StandardNormal.sample(rng);
                (mu + sigma2.sqrt() * z).exp()
            }
            Dist::Never => return None,
        };
        Some(seconds_to_ms(seconds))
    }
}

/// Converts seconds to whole milliseconds, rounding to nearest and clamping at zero.
pub fn seconds_to_ms(seconds: f64) -> Millis {
    if seconds.is_finite() && seconds > 0.0 {
        (seconds * 1000.0).round() as Millis
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn mean_of(d: &Dist, n: usize) -> f64 {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let total: f64 = (0..n)
            .map(|_| d.sample(&mut rng).unwrap_or(0) as f64 / 1000.0)
            .sum();
        total / n as f64
    }

    #[test]
    fn sample_means_match_parameters() {
        assert!((mean_of(&Dist::exponential_s(100.0), 50_000) - 100.0).abs() < 2.0);
        assert!(
            (mean_of(
                &Dist::Uniform {
                    min_s: 2.0,
                    max_s: 4.0
                },
                20_000
            ) - 3.0)
                .abs()
                < 0.05
        );
        assert!(
            (mean_of(
                &Dist::LogNormal {
                    mean_s: 60.0,
                    sd_s: 30.0
                },
                50_000
            ) - 60.0)
                .abs()
                < 1.5
        );
        assert_eq!(mean_of(&Dist::fixed_s(1.5), 10), 1.5);
    }

    #[test]
    fn never_yields_none_and_bad_parameters_are_rejected() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(Dist::Never.sample(&mut rng), None);
        assert!(Dist::exponential_s(-1.0).validate("talk").is_err());
        assert!(Dist::Uniform {
            min_s: 5.0,
            max_s: 1.0
        }
        .validate("x")
        .is_err());
        assert!(Dist::fixed_s(f64::NAN).validate("x").is_err());
        assert!(Dist::fixed_s(3.0).validate("x").is_ok());
    }

    #[test]
    fn parses_from_toml() {
        #[derive(Deserialize)]
        struct W {
            d: Dist,
        }
        let w: W = toml::from_str("d = { dist = \"exponential\", mean_s = 180 }").unwrap();
        assert_eq!(w.d, Dist::exponential_s(180.0));
        let w: W = toml::from_str("d = { dist = \"never\" }").unwrap();
        assert_eq!(w.d, Dist::Never);
    }
}
