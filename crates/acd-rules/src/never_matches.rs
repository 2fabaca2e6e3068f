//! Warnings for route values no call can ever carry: a `language` that is neither a language
//! code nor set by a lookup (`"german"` instead of `"deu"`), and a `tag` no lookup sets while
//! lookups do set tags.
//!
//! Such a route is accepted by every other check and then silently never applies, which is
//! the worst kind of mistake for a supervisor to find: callers reach the wrong agents and
//! nothing says why. The rules for what counts as "can never carry":
//!
//! - Languages: IP Office reports codes (two or three letters), and lookups may set any value.
//!   A route language that has not the shape of a code and that no lookup sets can match no
//!   call. Codes are not checked against a list: IP Office has locales of its own (`enu`).
//! - Tags: IP Office's incoming call routes can tag calls too, so a tag no lookup sets is
//!   only suspicious once lookups are where the rules set tags (some lookup sets one). The
//!   route's tag pattern is then compared with every tag the lookups set, and with no tag at
//!   all (a pattern such as `*` also matches untagged calls).

use crate::diag::Diag;
use crate::language::{codes_for_name, is_plausible_code};
use crate::model::RulesDef;
use acd_core::Pattern;
use std::collections::HashSet;

/// Appends a warning for each route value nothing can match.
pub fn check(def: &RulesDef, diags: &mut Vec<Diag>) {
    // Sets, so a large ruleset costs one look-up per route value, not one per lookup.
    let languages: HashSet<String> = (def.lookups.iter())
        .filter_map(|l| l.language.as_ref().map(|s| s.value.to_lowercase()))
        .collect();
    let mut tags: Vec<&str> = (def.lookups.iter())
        .filter_map(|l| l.tag.as_ref().map(|s| s.value.as_str()))
        .collect();
    tags.sort_unstable();
    tags.dedup();
    for route in &def.routes {
        for language in &route.language_refs {
            let value = language.value.as_str();
            crate::cost::charge(1);
            let set_by_lookup = languages.contains(&value.to_lowercase());
            if set_by_lookup || is_plausible_code(value) {
                continue;
            }
            let help = match codes_for_name(value) {
                Some((three, two)) => format!(
                    "IP Office reports languages as codes: did you mean \"{three}\" (or \"{two}\", \
                     whichever IP Office's locale for these calls is)?"
                ),
                None => "write the code IP Office reports for the call's language (for example \
                         \"deu\", \"eng\"), or set this value with a [[lookups]] entry"
                    .to_string(),
            };
            diags.push(
                Diag::warning(
                    "rules::language-never-matches",
                    format!(
                        "route \"{}\" asks for language \"{value}\", which no call can have",
                        route.name.value
                    ),
                )
                .at(&language.loc, "not a language code, and no lookup sets it")
                .help(help),
            );
        }
        if tags.is_empty() {
            continue;
        }
        for tag in &route.tag_refs {
            crate::cost::charge(tags.len());
            let pattern = Pattern::new(&tag.value);
            if pattern.matches("") || tags.iter().any(|t| pattern.matches(t)) {
                continue;
            }
            diags.push(
                Diag::warning(
                    "rules::tag-never-set",
                    format!(
                        "route \"{}\" asks for tag \"{}\", which no lookup sets",
                        route.name.value, tag.value
                    ),
                )
                .at(&tag.loc, "no lookup sets a matching tag")
                .help(format!(
                    "the lookups set {}; unless an IP Office incoming call route tags these \
                     calls, this condition never holds",
                    quoted(&tags)
                )),
            );
        }
    }
}

/// `"a", "b"`.
fn quoted(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
    quoted.join(", ")
}

#[cfg(test)]
mod tests {
    use crate::{check_sources, Checked, SourceFile};

    fn check(text: &str) -> Checked {
        check_sources(vec![SourceFile::new("rules.toml", text)])
    }

    fn warnings(checked: &Checked, code: &str) -> Vec<(String, String)> {
        (checked.report.diags.iter())
            .filter(|d| d.code == code)
            .map(|d| {
                let at = d.loc.as_ref().map(|l| checked.report.position(l));
                (at.unwrap_or_default(), d.help.clone().unwrap_or_default())
            })
            .collect()
    }

    #[test]
    fn a_language_name_gets_a_warning_suggesting_the_code() {
        let checked = check("[[routes]]\nname = \"German\"\nlanguage = \"german\"\n");
        assert!(checked.is_ok(), "{}", checked.report.render());
        let found = warnings(&checked, "rules::language-never-matches");
        assert_eq!(found.len(), 1, "{}", checked.report.render());
        assert_eq!(found[0].0, "rules.toml:3:12");
        assert!(
            found[0].1.contains("did you mean \"deu\" (or \"de\""),
            "{}",
            found[0].1
        );
        let rendered = checked.report.render();
        assert!(rendered.contains("which no call can have"), "{rendered}");
    }

    #[test]
    fn codes_and_values_a_lookup_sets_are_fine() {
        let checked = check(
            "[[lookups]]\ndid = \"+4930*\"\nlanguage = \"berlinerisch\"\n\
             [[routes]]\nname = \"a\"\nlanguage = [\"deu\", \"en\", \"ENU\", \"Berlinerisch\"]\n",
        );
        assert!(checked.is_ok(), "{}", checked.report.render());
        assert_eq!(checked.report.warnings(), 0, "{}", checked.report.render());
    }

    #[test]
    fn an_unknown_name_gets_the_general_hint() {
        let checked = check("[[routes]]\nname = \"K\"\nlanguage = [\"deu\", \"klingon\"]\n");
        let found = warnings(&checked, "rules::language-never-matches");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "rules.toml:3:20");
        assert!(found[0].1.contains("[[lookups]]"), "{}", found[0].1);
    }

    #[test]
    fn a_tag_no_lookup_sets_is_warned_once_lookups_set_tags() {
        let rules = "[[lookups]]\ncalling = \"+4989*\"\ntag = \"vip\"\n\
                     [[routes]]\nname = \"VIP\"\ntag = \"vip*\"\n\
                     [[routes]]\nname = \"Gold\"\ntag = [\"gold\", \"*\"]\n\
                     [[routes]]\nname = \"Typo\"\ntag = \"vpi\"\n";
        let checked = check(rules);
        assert!(checked.is_ok(), "{}", checked.report.render());
        let found = warnings(&checked, "rules::tag-never-set");
        // `vip*` matches what the lookup sets, `*` matches untagged calls; `gold` and `vpi`
        // match nothing a lookup sets.
        let at: Vec<&str> = found.iter().map(|(at, _)| at.as_str()).collect();
        assert_eq!(
            at,
            ["rules.toml:9:8", "rules.toml:12:7"],
            "{}",
            checked.report.render()
        );
        assert!(
            found[0].1.contains("the lookups set \"vip\""),
            "{}",
            found[0].1
        );
    }

    #[test]
    fn tags_are_not_judged_when_no_lookup_sets_any() {
        // Tags then come from IP Office's incoming call routes, which the rules cannot see.
        let checked = check(
            "[[lookups]]\ndid = \"+4930*\"\nlanguage = \"deu\"\n\
             [[routes]]\nname = \"VIP\"\ntag = \"vip\"\n",
        );
        assert!(checked.is_ok(), "{}", checked.report.render());
        assert_eq!(checked.report.warnings(), 0, "{}", checked.report.render());
    }
}
