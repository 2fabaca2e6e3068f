//! Lookup tables: call attributes derived from the dialled number (DID) and the caller's
//! number, so a supervisor writes "these DIDs are German" once instead of duplicating every
//! route per DID.
//!
//! The derived values replace what IP Office reported before any route is matched, at arrival
//! and at every later snapshot of the call, in whichever queue it waits. IP Office keeps a
//! call's DID and calling number when it moves between hunt groups, so a call overflowed from
//! Sales to Support gets the same answer from a DID-keyed table in Support as it got in Sales.
//!
//! Semantics, per attribute (`language`, `tag`): the first entry in rules order that matches
//! the call and sets that attribute wins; later entries may still set the other attribute. A
//! value from a lookup overrides IP Office's: IP Office always reports *some* language (the
//! system locale when no incoming call route or user sets one), so "only fill in what is
//! missing" would never apply, and the table is where the supervisor said what these numbers
//! mean. Where no entry matches, IP Office's value stays.

use crate::config::RoutingConfig;
use crate::event::CallAttributes;
use crate::number::{matches, NumberPlan};
use crate::pattern::Pattern;
use serde::{Deserialize, Serialize};

/// One entry of a lookup table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup {
    /// How explanations name the entry: the name the rules give it, or where it is written.
    pub name: String,
    /// DID patterns, any of which must match (empty: the DID is not looked at).
    pub did: Vec<Pattern>,
    /// Calling-number patterns, any of which must match (empty: not looked at).
    pub calling: Vec<Pattern>,
    pub language: Option<String>,
    pub tag: Option<String>,
}

impl Lookup {
    /// Whether the entry applies to a call with these numbers. An entry that looks at neither
    /// number matches nothing: the rules refuse one, and a config built otherwise must not
    /// relabel every call.
    pub fn matches(&self, plan: Option<&NumberPlan>, did: &str, calling: &str) -> bool {
        let any = |patterns: &[Pattern], number: &str| {
            patterns.is_empty() || patterns.iter().any(|p| matches(plan, p, number))
        };
        (!self.did.is_empty() || !self.calling.is_empty())
            && any(&self.did, did)
            && any(&self.calling, calling)
    }
}

/// Which entries set which attribute (indexes into the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    pub language: Option<usize>,
    pub tag: Option<usize>,
}

/// Sets `attributes`' language and tag from the first matching entry that sets each, and says
/// which entries did.
pub fn apply(
    plan: Option<&NumberPlan>,
    lookups: &[Lookup],
    attributes: &mut CallAttributes,
) -> Applied {
    let mut applied = Applied::default();
    for (i, entry) in lookups.iter().enumerate() {
        if applied.language.is_some() && applied.tag.is_some() {
            break;
        }
        let wanted = (applied.language.is_none() && entry.language.is_some())
            || (applied.tag.is_none() && entry.tag.is_some());
        if !wanted || !entry.matches(plan, &attributes.did, &attributes.calling_number) {
            continue;
        }
        if let (None, Some(language)) = (applied.language, &entry.language) {
            attributes.language = language.clone();
            applied.language = Some(i);
        }
        if let (None, Some(tag)) = (applied.tag, &entry.tag) {
            attributes.tag = tag.clone();
            applied.tag = Some(i);
        }
    }
    applied
}

/// [`apply`] with a ruleset's own plan and table: what the engine does to every call report.
pub fn apply_config(config: &RoutingConfig, attributes: &mut CallAttributes) -> Applied {
    apply(config.numbering.as_ref(), &config.lookups, attributes)
}

/// A copy of `attributes` as the engine would see them under `config`'s table.
pub fn applied(config: &RoutingConfig, attributes: &CallAttributes) -> CallAttributes {
    let mut attributes = attributes.clone();
    apply_config(config, &mut attributes);
    attributes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, did: &[&str], calling: &[&str]) -> Lookup {
        Lookup {
            name: name.into(),
            did: did.iter().map(|p| Pattern::new(*p)).collect(),
            calling: calling.iter().map(|p| Pattern::new(*p)).collect(),
            language: None,
            tag: None,
        }
    }

    fn call(did: &str, calling: &str, language: &str) -> CallAttributes {
        CallAttributes {
            did: did.into(),
            calling_number: calling.into(),
            language: language.into(),
            ..CallAttributes::default()
        }
    }

    #[test]
    fn first_match_per_attribute_wins_and_overrides_ip_office() {
        let table = vec![
            Lookup {
                language: Some("deu".into()),
                ..entry("berlin", &["+4930123400*"], &[])
            },
            Lookup {
                language: Some("fra".into()),
                tag: Some("fr-line".into()),
                ..entry("catch-all", &["*"], &[])
            },
            Lookup {
                tag: Some("vip".into()),
                ..entry("munich callers", &[], &["+4989*"])
            },
        ];
        let plan = NumberPlan::new("49");
        let mut attrs = call("0301234001", "+498955", "eng");
        let applied = apply(Some(&plan), &table, &mut attrs);
        // German from the first entry; the catch-all still sets the tag, before the VIP one.
        assert_eq!(attrs.language, "deu");
        assert_eq!(attrs.tag, "fr-line");
        assert_eq!(
            applied,
            Applied {
                language: Some(0),
                tag: Some(1)
            }
        );
    }

    #[test]
    fn an_entry_needs_all_the_numbers_it_looks_at() {
        let both = Lookup {
            tag: Some("vip".into()),
            ..entry("both", &["+4930*"], &["+4989*"])
        };
        let plan = NumberPlan::new("49");
        assert!(both.matches(Some(&plan), "030999", "08912"));
        assert!(!both.matches(Some(&plan), "030999", "04012"));
        assert!(!both.matches(Some(&plan), "040999", "08912"));
        // Looking at no number matches nothing.
        assert!(!entry("none", &[], &[]).matches(None, "1", "2"));
    }

    #[test]
    fn without_a_match_ip_office_values_stay() {
        let table = vec![Lookup {
            language: Some("deu".into()),
            ..entry("berlin", &["+4930*"], &[])
        }];
        let mut attrs = call("+4940123", "", "eng");
        assert_eq!(apply(None, &table, &mut attrs), Applied::default());
        assert_eq!(attrs.language, "eng");
    }

    #[test]
    fn applying_twice_gives_the_same_answer() {
        // The engine applies the table to every report of a call; explanations apply it to
        // attributes that may already carry its answer.
        let table = vec![Lookup {
            language: Some("deu".into()),
            ..entry("berlin", &["+4930*"], &[])
        }];
        let mut attrs = call("+4930123", "", "eng");
        let first = apply(None, &table, &mut attrs);
        let once = attrs.clone();
        assert_eq!(apply(None, &table, &mut attrs), first);
        assert_eq!(attrs, once);
    }
}
