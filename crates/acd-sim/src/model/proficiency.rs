//! How an agent's proficiency stretches talk time: the rule that lets a simulated expert
//! resolve a call faster than a cross-trained beginner.
//!
//! Without it the simulator's talk time is a property of the caller alone, so no routing can
//! gain anything by choosing *who* answers; with it, routing quality shows in service level
//! the way it does in a real contact centre. The factor depends only on who answers, never on
//! who routed, so native hunt groups and the engine are measured by the same rule.
//!
//! Rule: `talk = drawn talk × (1 + k × (10 − level) / 10)`, where `level` is the answering
//! agent's level (0..=10) in the weakest skill the call needs: the call's language plus the
//! skills its queue's traffic names. A needed skill the agent does not list counts as level 0.
//! An agent without any `skills` table, a call that needs nothing, or `k = 0` (the default)
//! leaves talk time as drawn, so scenarios written before this rule behave exactly as before.

use std::collections::BTreeMap;

use acd_core::Millis;

/// The highest proficiency level; an agent at this level talks for the drawn time.
pub const MAX_LEVEL: u8 = 10;

/// The multiplier on the drawn talk time for an agent with `levels` answering a call that
/// needs `needs`, with slowdown `k` at level 0.
pub fn talk_factor<'a>(
    k: f64,
    levels: &BTreeMap<String, u8>,
    needs: impl IntoIterator<Item = &'a str>,
) -> f64 {
    if k == 0.0 || levels.is_empty() {
        return 1.0;
    }
    let weakest = needs
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| levels.get(s).copied().unwrap_or(0).min(MAX_LEVEL))
        .min();
    match weakest {
        Some(level) => 1.0 + k * f64::from(MAX_LEVEL - level) / f64::from(MAX_LEVEL),
        None => 1.0,
    }
}

/// `talk_ms` stretched by `factor`, rounded to the millisecond.
pub fn scaled_talk(talk_ms: Millis, factor: f64) -> Millis {
    if factor == 1.0 {
        return talk_ms;
    }
    (talk_ms as f64 * factor).round() as Millis
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(pairs: &[(&str, u8)]) -> BTreeMap<String, u8> {
        pairs.iter().map(|(s, l)| (s.to_string(), *l)).collect()
    }

    #[test]
    fn the_weakest_needed_skill_sets_the_factor() {
        let cross_trained = levels(&[("eng", 6), ("deu", 7), ("sales", 5)]);
        // eng 6, sales 5: sales is the weakest, (10 - 5) / 10 = 0.5.
        let f = talk_factor(0.8, &cross_trained, ["eng", "sales"]);
        assert!((f - 1.4).abs() < 1e-12, "{f}");
        // Only German needed: level 7.
        let f = talk_factor(0.8, &cross_trained, ["deu"]);
        assert!((f - 1.24).abs() < 1e-12, "{f}");
    }

    #[test]
    fn an_expert_talks_for_the_drawn_time_and_a_missing_skill_counts_as_zero() {
        let expert = levels(&[("eng", 10), ("sales", 10)]);
        assert_eq!(talk_factor(0.75, &expert, ["eng", "sales"]), 1.0);
        let no_french = levels(&[("eng", 10)]);
        assert_eq!(talk_factor(0.75, &no_french, ["fra"]), 1.75);
    }

    #[test]
    fn old_scenarios_are_unchanged() {
        let some = levels(&[("eng", 3)]);
        assert_eq!(talk_factor(0.0, &some, ["eng"]), 1.0);
        assert_eq!(talk_factor(1.0, &BTreeMap::new(), ["eng"]), 1.0);
        assert_eq!(talk_factor(1.0, &some, ["", ""]), 1.0);
        assert_eq!(talk_factor(1.0, &some, std::iter::empty()), 1.0);
        assert_eq!(scaled_talk(123_457, 1.0), 123_457);
    }

    #[test]
    fn scaling_rounds_to_the_millisecond() {
        assert_eq!(scaled_talk(1_000, 1.25), 1_250);
        assert_eq!(scaled_talk(3, 1.5), 5);
    }

    proptest::proptest! {
        #[test]
        fn the_factor_never_shortens_and_falls_with_level(
            k in 0.0f64..2.0, low in 0u8..=10, high in 0u8..=10,
        ) {
            let (low, high) = (low.min(high), low.max(high));
            let f_low = talk_factor(k, &levels(&[("x", low)]), ["x"]);
            let f_high = talk_factor(k, &levels(&[("x", high)]), ["x"]);
            proptest::prop_assert!(f_high >= 1.0);
            proptest::prop_assert!(f_low >= f_high);
            proptest::prop_assert!(f_low <= 1.0 + k + 1e-12);
        }
    }
}
