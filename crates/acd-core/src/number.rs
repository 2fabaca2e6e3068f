//! Phone numbers compared in one canonical form, so that a supervisor's `+4930*` matches the
//! Berlin number whether IP Office presents it as `+4930…`, `004930…` or `030…`.
//!
//! A module of its own because three places compare numbers — route `did`/`calling`
//! conditions, lookup tables and the toll-fraud guard — and all three must agree on what "the
//! same number" means. Without a [`NumberPlan`] (no `country_code` in the rules) nothing is
//! rewritten and matching stays literal, exactly as before plans existed.
//!
//! What is deliberately *not* done: guessing. A number is rewritten only when it starts with
//! `+`, the international prefix or the national prefix and holds only digits after that; an
//! internal extension (`201`), a subscriber number without prefix (`12345`), or a number
//! carrying a line prefix IP Office added (a trunk access digit such as `9`) stay as they are.
//! Where the IP Office line adds such a digit, the plan's prefixes are written with it (see
//! FORMAT.md), as IP Office's own SIP line settings do.

use crate::pattern::{glob_match, Pattern};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// How numbers are written where the centre is: its country code and the prefixes that
/// introduce a national and an international number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberPlan {
    /// Digits of the country code, without `+` (`"49"`).
    pub country_code: String,
    /// Digits dialled before an area code (`"0"`); empty where the country has none.
    pub national_prefix: String,
    /// Digits dialled before a country code (`"00"`).
    pub international_prefix: String,
}

impl NumberPlan {
    /// The usual ITU prefixes: national `0`, international `00`.
    pub fn new(country_code: impl Into<String>) -> NumberPlan {
        NumberPlan {
            country_code: country_code.into(),
            national_prefix: "0".into(),
            international_prefix: "00".into(),
        }
    }

    /// `number` in international form (`+4930…`) when its prefix says what it is, else as
    /// given.
    pub fn canonical<'a>(&self, number: &'a str) -> Cow<'a, str> {
        if number.starts_with('+') {
            return Cow::Borrowed(number);
        }
        match self.strip_prefix(number, number) {
            Some(canonical) if canonical.bytes().skip(1).all(|b| b.is_ascii_digit()) => {
                Cow::Owned(canonical)
            }
            _ => Cow::Borrowed(number),
        }
    }

    /// A pattern in the same form, judged by its literal start (up to the first wildcard): a
    /// start that could still be either kind of number (`0*`, `0?1*` with prefixes `0` and
    /// `00`) is left as written.
    pub fn canonical_pattern<'a>(&self, pattern: &'a str) -> Cow<'a, str> {
        if pattern.starts_with('+') {
            return Cow::Borrowed(pattern);
        }
        let literal_end = pattern.find(['*', '?']).unwrap_or(pattern.len());
        let literal = &pattern[..literal_end];
        match self.strip_prefix(literal, pattern) {
            Some(canonical) => Cow::Owned(canonical),
            None => Cow::Borrowed(pattern),
        }
    }

    /// `text` rewritten with `+` (and the country code for a national number), deciding by
    /// `literal`, its start that is known digit for digit. The international prefix is tried
    /// first, since the national one is usually its own start (`0` of `00`). A national
    /// reading needs a literal that cannot also begin an international number.
    fn strip_prefix(&self, literal: &str, text: &str) -> Option<String> {
        let intl = self.international_prefix.as_str();
        let national = self.national_prefix.as_str();
        if !intl.is_empty() && literal.starts_with(intl) && text.len() > intl.len() {
            return Some(format!("+{}", &text[intl.len()..]));
        }
        let could_be_international = intl.starts_with(literal) || literal.starts_with(intl);
        if !national.is_empty()
            && literal.starts_with(national)
            && literal.len() > national.len()
            && !could_be_international
        {
            return Some(format!("+{}{}", self.country_code, &text[national.len()..]));
        }
        None
    }
}

/// Whether `number` matches `pattern` under `plan`: in canonical form, or as written. Matching
/// as written too keeps every match literal comparison made before a plan was set, so adding
/// `country_code` to the rules can only let equal numbers meet, never part them.
pub fn matches(plan: Option<&NumberPlan>, pattern: &Pattern, number: &str) -> bool {
    if pattern.matches(number) {
        return true;
    }
    let Some(plan) = plan else {
        return false;
    };
    let (p, n) = (
        plan.canonical_pattern(pattern.as_str()),
        plan.canonical(number),
    );
    if matches!((&p, &n), (Cow::Borrowed(_), Cow::Borrowed(_))) {
        // Neither was rewritten: the literal comparison above already answered.
        return false;
    }
    glob_match(p.as_bytes(), n.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn de() -> NumberPlan {
        NumberPlan::new("49")
    }

    #[test]
    fn national_and_international_forms_become_one() {
        let plan = de();
        assert_eq!(plan.canonical("03012345"), "+493012345");
        assert_eq!(plan.canonical("00493012345"), "+493012345");
        assert_eq!(plan.canonical("+493012345"), "+493012345");
        assert_eq!(plan.canonical("0033123"), "+33123");
    }

    #[test]
    fn numbers_without_a_known_prefix_stay_as_they_are() {
        let plan = de();
        // Internal extension, subscriber number, trunk access digit, SIP text, bare prefixes.
        for n in [
            "201",
            "12345",
            "903012345",
            "sip:anna@example.com",
            "0",
            "00",
            "",
        ] {
            assert_eq!(plan.canonical(n), n, "{n}");
        }
        // A national prefix followed by something that is not a number.
        assert_eq!(plan.canonical("0anna"), "0anna");
    }

    #[test]
    fn patterns_are_rewritten_only_when_their_start_is_unambiguous() {
        let plan = de();
        assert_eq!(plan.canonical_pattern("030*"), "+4930*");
        assert_eq!(plan.canonical_pattern("0049*"), "+49*");
        assert_eq!(plan.canonical_pattern("00*"), "+*");
        assert_eq!(plan.canonical_pattern("+4930*"), "+4930*");
        // `0` then anything could be national or international.
        assert_eq!(plan.canonical_pattern("0*"), "0*");
        assert_eq!(plan.canonical_pattern("0?12*"), "0?12*");
        assert_eq!(plan.canonical_pattern("4930*"), "4930*");
    }

    #[test]
    fn plus_4930_matches_every_spelling_of_a_berlin_number() {
        let plan = de();
        let p = Pattern::new("+4930*");
        for n in ["03012345", "004930123", "+4930123"] {
            assert!(matches(Some(&plan), &p, n), "{n}");
        }
        for n in ["04012345", "004940123", "3012345", "903012345"] {
            assert!(!matches(Some(&plan), &p, n), "{n}");
        }
        // A national pattern meets an international number too.
        assert!(matches(Some(&plan), &Pattern::new("030*"), "+493099"));
    }

    #[test]
    fn without_a_plan_matching_is_literal() {
        assert!(!matches(None, &Pattern::new("+4930*"), "03012345"));
        assert!(matches(None, &Pattern::new("030*"), "03012345"));
    }

    #[test]
    fn a_literal_match_survives_a_plan() {
        // `0*` cannot be read as national or international, but still matches as written.
        assert!(matches(Some(&de()), &Pattern::new("0*"), "03012345"));
        assert!(matches(Some(&de()), &Pattern::new("2*"), "201"));
    }

    #[test]
    fn other_prefixes_can_be_configured() {
        // North America: national 1, international 011.
        let plan = NumberPlan {
            country_code: "1".into(),
            national_prefix: "1".into(),
            international_prefix: "011".into(),
        };
        assert_eq!(plan.canonical("12125550100"), "+12125550100");
        assert_eq!(plan.canonical("01149301234"), "+49301234");
        // An IP Office line that adds a trunk digit: national 90, international 900.
        let plan = NumberPlan {
            country_code: "44".into(),
            national_prefix: "90".into(),
            international_prefix: "900".into(),
        };
        assert_eq!(plan.canonical("901707362200"), "+441707362200");
        assert_eq!(plan.canonical("9006494770557"), "+6494770557");
    }
}
