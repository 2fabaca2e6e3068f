//! `[settings]` `country_code`, `national_prefix`, `international_prefix`: how numbers are
//! written where the centre is, read into the core's [`NumberPlan`].
//!
//! Its own module because the three keys only make sense together and are checked together:
//! a prefix without a country code would silently do nothing, and equal prefixes would make
//! every national number look international.

use crate::walk::{Value, Walker};
use acd_core::NumberPlan;
use toml::de::{DeTable, DeValue};

/// The keys this module reads from `[settings]`.
pub const KEYS: [&str; 3] = ["country_code", "national_prefix", "international_prefix"];

/// The plan `[settings]` describes, if it sets `country_code` (and everything is well formed).
pub fn parse(w: &mut Walker<'_>, settings: &DeTable<'_>) -> Option<NumberPlan> {
    let prefix = |w: &mut Walker<'_>, key: &str, allow_empty: bool| {
        settings
            .get(key)
            .map(|v| digits(w, v, key, allow_empty, 1..=4))
    };
    let national = prefix(w, "national_prefix", true);
    let international = prefix(w, "international_prefix", false);
    let Some(cc_value) = settings.get("country_code") else {
        if let Some((key, _)) = settings
            .get_key_value("national_prefix")
            .or_else(|| settings.get_key_value("international_prefix"))
        {
            w.error_help(
                key.span(),
                "rules::missing-field",
                format!("`{}` has no effect without `country_code`", key.get_ref()),
                "prefix without a country",
                "add the centre's country code, for example country_code = \"49\"; without it \
                 numbers are compared as written"
                    .into(),
            );
        }
        return None;
    };
    let country_code = country_code(w, cc_value)?;
    let mut plan = NumberPlan::new(country_code);
    if let Some(n) = national {
        plan.national_prefix = n?;
    }
    if let Some(i) = international {
        plan.international_prefix = i?;
    }
    if plan.national_prefix == plan.international_prefix {
        let span = settings
            .get("national_prefix")
            .or(settings.get("international_prefix"))
            .map_or(cc_value.span(), |v| v.span());
        w.error_help(
            span,
            "rules::conflict",
            format!(
                "the national and international prefixes are both \"{}\"",
                plan.national_prefix
            ),
            "same as the other prefix",
            "they must differ, for example national_prefix = \"0\" and \
             international_prefix = \"00\""
                .into(),
        );
        return None;
    }
    Some(plan)
}

/// `"49"` or `49`: one to three digits, not starting with 0.
fn country_code(w: &mut Walker<'_>, v: &Value<'_>) -> Option<String> {
    let text = match v.get_ref() {
        DeValue::Integer(_) => w.integer(v, "country_code")?.to_string(),
        _ => digits(w, v, "country_code", false, 1..=3)?,
    };
    let plausible = (1..=3).contains(&text.len())
        && !text.starts_with('0')
        && text.bytes().all(|b| b.is_ascii_digit());
    if !plausible {
        w.error_help(
            v.span(),
            "rules::out-of-range",
            format!("`{text}` is not a country code"),
            "not a country code",
            "write the digits after the + without prefix, for example \"49\" for Germany or \
             \"1\" for North America"
                .into(),
        );
        return None;
    }
    Some(text)
}

/// A string of digits with a length in `len` (or empty, when allowed).
fn digits(
    w: &mut Walker<'_>,
    v: &Value<'_>,
    key: &str,
    allow_empty: bool,
    len: std::ops::RangeInclusive<usize>,
) -> Option<String> {
    let s = w.string(v, key)?;
    let ok = (allow_empty && s.value.is_empty())
        || (len.contains(&s.value.len()) && s.value.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        return Some(s.value);
    }
    w.error_help(
        v.span(),
        "rules::out-of-range",
        format!("`{key}` must be {} to {} digits", len.start(), len.end()),
        "not a prefix",
        if allow_empty {
            format!("for example {key} = \"0\", or \"\" where the country has none")
        } else {
            format!(
                "for example {key} = \"{}\"",
                if key == "country_code" { "49" } else { "00" }
            )
        },
    );
    None
}

#[cfg(test)]
mod tests {
    use crate::{check_sources, SourceFile};

    fn check(settings: &str) -> crate::Checked {
        check_sources(vec![SourceFile::new(
            "rules.toml",
            format!("[settings]\n{settings}\n"),
        )])
    }

    #[test]
    fn a_country_code_gives_a_plan_with_the_usual_prefixes() {
        let checked = check("country_code = \"49\"");
        assert!(checked.is_ok(), "{}", checked.report.render());
        assert_eq!(
            checked.config.numbering,
            Some(acd_core::NumberPlan::new("49"))
        );
        let checked =
            check("country_code = 1\nnational_prefix = \"1\"\ninternational_prefix = \"011\"");
        assert!(checked.is_ok(), "{}", checked.report.render());
        let plan = checked.config.numbering.unwrap();
        assert_eq!(
            (
                plan.country_code.as_str(),
                plan.national_prefix.as_str(),
                plan.international_prefix.as_str()
            ),
            ("1", "1", "011")
        );
    }

    #[test]
    fn without_a_country_code_numbers_stay_literal() {
        let checked = check("time_zone = \"Europe/Berlin\"");
        assert!(checked.is_ok(), "{}", checked.report.render());
        assert_eq!(checked.config.numbering, None);
    }

    #[test]
    fn bad_numbering_settings_are_located() {
        for (settings, code, at) in [
            (
                "country_code = \"+49\"",
                "rules::out-of-range",
                "rules.toml:2:16",
            ),
            (
                "country_code = \"049\"",
                "rules::out-of-range",
                "rules.toml:2:16",
            ),
            (
                "national_prefix = \"0\"",
                "rules::missing-field",
                "rules.toml:2:1",
            ),
            (
                "country_code = \"49\"\ninternational_prefix = \"0\"",
                "rules::conflict",
                "rules.toml:3:24",
            ),
            (
                "country_code = \"49\"\nnational_prefix = \"zero\"",
                "rules::out-of-range",
                "rules.toml:3:19",
            ),
            (
                "country_cod = \"49\"",
                "rules::unknown-field",
                "rules.toml:2:1",
            ),
        ] {
            let checked = check(settings);
            assert_eq!(
                checked.report.errors(),
                1,
                "{settings}: {}",
                checked.report.render()
            );
            let diag = &checked.report.diags[0];
            assert_eq!(diag.code, code, "{settings}");
            assert_eq!(
                checked.report.position(diag.loc.as_ref().unwrap()),
                at,
                "{settings}"
            );
        }
    }

    #[test]
    fn the_transfer_guard_reads_national_numbers_under_a_plan() {
        let rules = |settings: &str| {
            check_sources(vec![SourceFile::new(
                "rules.toml",
                format!(
                    "[settings]\n{settings}allowed_transfer_targets = [\"+4930*\"]\n\
                     [queues.Sales]\nwhen_no_agents = \"external:030555000\"\n"
                ),
            )])
        };
        let checked = rules("country_code = \"49\"\n");
        assert!(checked.is_ok(), "{}", checked.report.render());
        // Without a plan the national form is a different text, and is refused as before.
        let checked = rules("");
        assert_eq!(checked.report.errors(), 1, "{}", checked.report.render());
        assert_eq!(checked.report.diags[0].code, "rules::external-not-allowed");
    }
}
