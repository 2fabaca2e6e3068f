//! Errors for routes no call can ever take: a `language` that is neither a language code nor
//! set by a lookup (`"german"` instead of `"deu"`), a `tag` nothing sets, and skills no agent
//! has.
//!
//! Such a route is accepted by every other check and then silently never applies (or never
//! finds an agent), which is the worst kind of mistake for a supervisor to find: callers reach
//! the wrong agents, or only the overflow, and nothing says why. So `check` and `apply` refuse
//! it, with the fix in the message. The rules for what counts as "can never":
//!
//! - Languages: IP Office reports codes (two or three letters), and lookups may set any value.
//!   A route language that has not the shape of a code and that no lookup sets can match no
//!   call. Codes are not checked against a list: IP Office has locales of its own (`enu`).
//! - Tags: IP Office's incoming call routes can tag calls too, so a tag is judged only once the
//!   rules say where tags come from: some lookup sets one, or `[settings] ip_office_tags` lists
//!   the tags IP Office sets. The route's tag pattern is then compared with every such tag,
//!   and with no tag at all (a pattern such as `*` also matches untagged calls).
//! - Skills: a route whose every requirement (its own and each step's) not even an agent with
//!   every skill at the best level any agent holds could meet finds no agent, ever. Routes
//!   without an overflow step are left to the graph check, which already reports that their
//!   calls wait forever. A requirement with `NOT` is not judged (a missing skill satisfies it).
//!
//! Versions stored before these were errors were accepted with warnings; [`tolerate_stored`]
//! keeps them loadable, so an engine upgrade never leaves the centre without rules.

use crate::diag::{Diag, Report, Severity};
use crate::language::{codes_for_name, is_plausible_code};
use crate::model::{RouteDef, RulesDef};
use crate::skill_expr::format_skill_expr;
use acd_core::{Pattern, RoutingConfig, SkillExpr};
use std::collections::{HashMap, HashSet};

/// The codes of this module's findings.
pub const CODES: [&str; 3] = [
    "rules::language-never-matches",
    "rules::tag-never-set",
    "rules::skills-nobody-has",
];

/// Appends an error for each route value nothing can match and each route no agent can take.
pub fn check(def: &RulesDef, config: &RoutingConfig, diags: &mut Vec<Diag>) {
    languages_and_tags(def, diags);
    skills(def, config, diags);
}

/// Turns this module's errors back into the warnings they were when a stored version was
/// accepted, so the version still loads (at start, for `explain`, for a rollback).
pub fn tolerate_stored(report: &mut Report) {
    for d in &mut report.diags {
        if CODES.contains(&d.code) {
            d.severity = Severity::Warning;
        }
    }
}

fn languages_and_tags(def: &RulesDef, diags: &mut Vec<Diag>) {
    // Sets, so a large ruleset costs one look-up per route value, not one per lookup.
    let languages: HashSet<String> = (def.lookups.iter())
        .filter_map(|l| l.language.as_ref().map(|s| s.value.to_lowercase()))
        .collect();
    let mut tags: Vec<&str> = (def.lookups.iter())
        .filter_map(|l| l.tag.as_ref().map(|s| s.value.as_str()))
        .chain(def.settings.ip_office_tags.iter().map(|t| t.value.as_str()))
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
                Diag::error(
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
                Diag::error(
                    "rules::tag-never-set",
                    format!(
                        "route \"{}\" asks for tag \"{}\", which nothing sets",
                        route.name.value, tag.value
                    ),
                )
                .at(&tag.loc, "no lookup sets a matching tag")
                .help(format!(
                    "the rules set {}: correct the pattern, add a [[lookups]] entry that sets \
                     this tag, or, if an IP Office incoming call route sets it, add it to \
                     [settings] ip_office_tags",
                    quoted(&tags)
                )),
            );
        }
    }
}

/// Routes that can overflow but whose every requirement no agent meets (see the module docs).
fn skills(def: &RulesDef, config: &RoutingConfig, diags: &mut Vec<Diag>) {
    // The best level any agent holds of each skill: an imaginary agent with all of them.
    let mut best: HashMap<&str, u8> = HashMap::new();
    for agent in config.agents.values() {
        for (skill, level) in &agent.skills {
            crate::cost::charge(1);
            let at = best.entry(skill.as_str()).or_insert(0);
            *at = (*at).max(*level);
        }
    }
    let declared: HashSet<&str> = def.skills.iter().map(|s| s.value.as_str()).collect();
    for route in &def.routes {
        let overflows = route.steps.iter().any(|s| s.overflow.is_some());
        // Unknown skills already have an error of their own.
        if !overflows || !skill_refs(route).all(|s| declared.contains(s)) {
            continue;
        }
        let stages: Vec<&SkillExpr> = std::iter::once(&route.requires)
            .chain(
                route
                    .steps
                    .iter()
                    .filter_map(|s| s.require.as_ref().map(|(e, _)| e)),
            )
            .collect();
        crate::cost::charge(stages.len());
        if stages.iter().any(|e| possible(e, &best)) {
            continue;
        }
        let needs: Vec<String> = (stages.iter())
            .map(|e| format!("`{}`", format_skill_expr(e)))
            .collect();
        let at = route
            .requires_refs
            .first()
            .map_or(&route.name.loc, |r| &r.loc);
        diags.push(
            Diag::error(
                "rules::skills-nobody-has",
                format!(
                    "no agent can ever take a call on route \"{}\": no agent has {}",
                    route.name.value,
                    needs.join(" or ")
                ),
            )
            .at(at, "no agent has these skills")
            .help(
                "its callers would only wait for the overflow: give the skill (at that level) \
                 to the agents who should take these calls under [agents.EXTENSION], or lower \
                 the requirement (a step with `require` can widen it while the call waits)",
            ),
        );
    }
}

/// Every skill a route names, in its requirement and its steps'.
fn skill_refs(route: &RouteDef) -> impl Iterator<Item = &str> {
    (route.requires_refs.iter())
        .chain(
            route
                .steps
                .iter()
                .flat_map(|s| s.require.iter().flat_map(|(_, r)| r)),
        )
        .map(|s| s.value.as_str())
}

/// Whether an agent holding every skill at `best` meets `expr`: for expressions without NOT,
/// whether any agent could. NOT counts as possible.
fn possible(expr: &SkillExpr, best: &HashMap<&str, u8>) -> bool {
    match expr {
        SkillExpr::Any | SkillExpr::Not(_) => true,
        SkillExpr::Skill { name, min_level } => {
            best.get(name.as_str()).is_some_and(|l| l >= min_level)
        }
        SkillExpr::And(terms) => terms.iter().all(|t| possible(t, best)),
        SkillExpr::Or(terms) => terms.iter().any(|t| possible(t, best)),
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

    /// Issue 24 (9): `language = "german"` was only a warning, so `check` said "rules OK"
    /// and `apply` stored a route that matches nothing.
    #[test]
    fn a_language_name_is_an_error_suggesting_the_code() {
        let checked = check("[[routes]]\nname = \"German\"\nlanguage = \"german\"\n");
        assert!(!checked.is_ok(), "{}", checked.report.render());
        assert_eq!(checked.report.errors(), 1, "{}", checked.report.render());
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
    fn a_tag_nothing_sets_is_an_error_once_the_rules_say_where_tags_come_from() {
        let rules = "[[lookups]]\ncalling = \"+4989*\"\ntag = \"vip\"\n\
                     [[routes]]\nname = \"VIP\"\ntag = \"vip*\"\n\
                     [[routes]]\nname = \"Gold\"\ntag = [\"gold\", \"*\"]\n\
                     [[routes]]\nname = \"Typo\"\ntag = \"vpi\"\n";
        let checked = check(rules);
        assert_eq!(checked.report.errors(), 2, "{}", checked.report.render());
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
            found[0].1.contains("the rules set \"vip\"") && found[0].1.contains("ip_office_tags"),
            "{}",
            found[0].1
        );
        // Declared as set by IP Office, `gold` is fine; `vpi` still is not.
        let declared = format!("[settings]\nip_office_tags = [\"gold\"]\n{rules}");
        let checked = check(&declared);
        let found = warnings(&checked, "rules::tag-never-set");
        assert_eq!(found.len(), 1, "{}", checked.report.render());
        assert_eq!(found[0].0, "rules.toml:14:7");
    }

    /// Issue 24 (9): a route asking for skills no agent has only ever overflowed.
    #[test]
    fn a_route_no_agent_can_take_is_an_error_with_the_fix() {
        let rules = "[skills]\nsales = \"\"\nfrench = \"\"\n\
                     [agents.201]\nskills = { sales = 5 }\n\
                     [queues.Sales]\n\
                     [[routes]]\nname = \"French\"\nrequires = \"french\"\n\
                     steps = [{ after = \"60s\", overflow = \"voicemail:Sales\" }]\n\
                     [[routes]]\nname = \"Expert\"\nrequires = \"sales >= 9\"\n\
                     steps = [{ after = \"30s\", require = \"sales >= 5\" }, \
                              { after = \"60s\", overflow = \"voicemail:Sales\" }]\n\
                     [[routes]]\nname = \"Anyone but French\"\nrequires = \"not french\"\n\
                     steps = [{ after = \"60s\", overflow = \"voicemail:Sales\" }]\n";
        let checked = check(rules);
        let found = warnings(&checked, "rules::skills-nobody-has");
        // "Expert" widens to a level agent 201 has; "not french" is met by 201.
        assert_eq!(found.len(), 1, "{}", checked.report.render());
        assert_eq!(found[0].0, "rules.toml:9:13");
        assert!(found[0].1.contains("give the skill"), "{}", found[0].1);
        assert!(!checked.is_ok());
    }

    #[test]
    fn stored_versions_with_these_findings_still_load() {
        let mut checked = check("[[routes]]\nname = \"German\"\nlanguage = \"german\"\n");
        crate::never_matches::tolerate_stored(&mut checked.report);
        assert!(checked.is_ok(), "{}", checked.report.render());
        assert_eq!(checked.report.warnings(), 1);
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
