//! `[[lookups]]`: tables from the dialled number (DID) and the caller's number to call
//! attributes (language, tag), read with located diagnostics and compiled into the core's
//! [`acd_core::Lookup`]s.
//!
//! Its own module because a lookup is neither a route nor a setting: it relabels calls before
//! routes see them, so one entry replaces a copy of every route per DID (semantics in
//! `acd_core::lookup` and FORMAT.md).

use crate::diag::Loc;
use crate::model::S;
use crate::walk::{Value, Walker};
use acd_core::{CallAttributes, Lookup, Pattern, RoutingConfig};
use toml::de::DeTable;

const KEYS: [&str; 6] = ["name", "did", "calling", "language", "tag", "comment"];

/// One `[[lookups]]` entry as written.
#[derive(Debug, Clone)]
pub struct LookupDef {
    /// Where the entry starts, to name it in explanations when it has no `name`.
    pub loc: Loc,
    pub name: Option<String>,
    pub did: Vec<S<String>>,
    pub calling: Vec<S<String>>,
    pub language: Option<S<String>>,
    pub tag: Option<S<String>>,
}

impl LookupDef {
    /// The core's entry; `label` names it when the rules give no name (its position).
    pub fn compile(&self, label: impl FnOnce() -> String) -> Lookup {
        let patterns = |list: &[S<String>]| list.iter().map(|p| Pattern::new(&p.value)).collect();
        Lookup {
            name: self.name.clone().unwrap_or_else(label),
            did: patterns(&self.did),
            calling: patterns(&self.calling),
            language: self.language.as_ref().map(|l| l.value.clone()),
            tag: self.tag.as_ref().map(|t| t.value.clone()),
        }
    }
}

/// Reads the `lookups` array of one file.
pub fn parse(w: &mut Walker<'_>, value: &Value<'_>, out: &mut Vec<LookupDef>) {
    for item in w.list(value, "lookups") {
        if let Some(t) = w.table(item, "a lookup") {
            if let Some(def) = entry(w, item, t) {
                out.push(def);
            }
        }
    }
}

fn entry(w: &mut Walker<'_>, item: &Value<'_>, t: &DeTable<'_>) -> Option<LookupDef> {
    w.check_keys(t, &KEYS, "a lookup");
    let name = t
        .get("name")
        .and_then(|v| w.string(v, "name"))
        .map(|s| s.value);
    if let Some(v) = t.get("comment") {
        w.string(v, "comment");
    }
    let mut numbers = |field: &str| -> Vec<S<String>> {
        let Some(v) = t.get(field) else {
            return Vec::new();
        };
        w.strings(v, field)
            .into_iter()
            .filter(|p| crate::parse::number_pattern(w, p))
            .collect()
    };
    let did = numbers("did");
    let calling = numbers("calling");
    let mut value = |field: &str| -> Option<S<String>> {
        let s = w.string(t.get(field)?, field)?;
        if s.value.trim().is_empty() {
            w.error(
                s.loc.span.clone(),
                "rules::missing-field",
                format!("empty `{field}` in a lookup"),
                "empty",
            );
            return None;
        }
        Some(s)
    };
    let language = value("language");
    let tag = value("tag");
    if t.keys().any(|k| !KEYS.contains(&k.get_ref().as_ref())) {
        // A misspelt key is reported already; "sets nothing" on top would only repeat it.
        return None;
    }
    let what = name
        .as_ref()
        .map_or_else(|| "a lookup".to_string(), |n| format!("lookup \"{n}\""));
    // Also `did = []`: an entry whose lists are empty would silently match no call.
    let no_numbers = !(t.get("did").is_some_and(|v| !is_empty_list(v))
        || t.get("calling").is_some_and(|v| !is_empty_list(v)));
    if no_numbers {
        w.error_help(
            item.span(),
            "rules::missing-field",
            format!("{what} looks at no number"),
            "which calls?",
            "add did = [\"+4930123400*\"] (dialled numbers) or calling = [\"+4989*\"] (callers)"
                .into(),
        );
        return None;
    }
    if !t.contains_key("language") && !t.contains_key("tag") {
        w.error_help(
            item.span(),
            "rules::missing-field",
            format!("{what} sets nothing"),
            "no attribute",
            "a lookup sets language = \"deu\" and/or tag = \"vip\"; a priority comes from a \
             route matching the tag"
                .into(),
        );
        return None;
    }
    // A pattern or value with an error is already reported; the entry is dropped rather than
    // compiled with part of its patterns, which would match fewer calls than written.
    let dropped = |key: &str, kept: usize| match t.get(key).map(|v| v.get_ref()) {
        Some(toml::de::DeValue::Array(items)) => items.len() != kept,
        Some(_) => kept != 1,
        None => false,
    };
    let bad_value = |key: &str, kept: &Option<S<String>>| t.contains_key(key) && kept.is_none();
    if dropped("did", did.len())
        || dropped("calling", calling.len())
        || bad_value("language", &language)
        || bad_value("tag", &tag)
    {
        return None;
    }
    Some(LookupDef {
        loc: w.loc(item.span()),
        name,
        did,
        calling,
        language,
        tag,
    })
}

fn is_empty_list(v: &Value<'_>) -> bool {
    matches!(v.get_ref(), toml::de::DeValue::Array(items) if items.is_empty())
}

/// What the lookup tables did to a call: the attributes routes see, and one line per
/// attribute a lookup set (for `rules explain`).
pub fn explain(config: &RoutingConfig, given: &CallAttributes) -> (CallAttributes, Vec<String>) {
    let mut attributes = given.clone();
    let applied = acd_core::lookup::apply_config(config, &mut attributes);
    let mut lines = Vec::new();
    let mut line = |what: &str, entry: Option<usize>, before: &str, after: &str| {
        if let Some(lookup) = entry.and_then(|i| config.lookups.get(i)) {
            let before = if before.is_empty() { "-" } else { before };
            lines.push(format!(
                "lookup \"{}\": {what} {after} (IP Office: {before})",
                lookup.name
            ));
        }
    };
    line(
        "language",
        applied.language,
        &given.language,
        &attributes.language,
    );
    line("tag", applied.tag, &given.tag, &attributes.tag);
    if lines.is_empty() && !config.lookups.is_empty() {
        lines.push("no lookup matches: IP Office's language and tag stay".to_string());
    }
    (attributes, lines)
}

#[cfg(test)]
mod tests {
    use crate::{check_sources, SourceFile};

    fn check(text: &str) -> crate::Checked {
        check_sources(vec![SourceFile::new("rules.toml", text)])
    }

    #[test]
    fn lookups_compile_in_order_with_names_or_positions() {
        let checked = check(
            "[[lookups]]\ndid = [\"+4930123400*\", \"+4930123401*\"]\nlanguage = \"deu\"\n\
             [[lookups]]\nname = \"Munich VIPs\"\ncalling = \"+4989*\"\ntag = \"vip\"\n",
        );
        assert!(checked.is_ok(), "{}", checked.report.render());
        let lookups = &checked.config.lookups;
        assert_eq!(lookups.len(), 2);
        assert_eq!(lookups[0].name, "rules.toml:1:1");
        assert_eq!(lookups[0].did.len(), 2);
        assert_eq!(lookups[0].language.as_deref(), Some("deu"));
        assert_eq!(lookups[1].name, "Munich VIPs");
        assert_eq!(lookups[1].calling[0].as_str(), "+4989*");
        assert_eq!(lookups[1].tag.as_deref(), Some("vip"));
    }

    #[test]
    fn lookups_from_several_files_keep_file_order() {
        let checked = check_sources(vec![
            SourceFile::new("20-b.toml", "[[lookups]]\ndid = \"2*\"\ntag = \"b\"\n"),
            SourceFile::new("10-a.toml", "[[lookups]]\ndid = \"1*\"\ntag = \"a\"\n"),
        ]);
        assert!(checked.is_ok(), "{}", checked.report.render());
        let tags: Vec<_> = checked
            .config
            .lookups
            .iter()
            .map(|l| l.tag.clone().unwrap_or_default())
            .collect();
        assert_eq!(tags, ["a", "b"]);
    }

    #[test]
    fn bad_lookups_are_located() {
        for (text, code, at, help) in [
            (
                "[[lookups]]\ndid = \"+49\"\nlangauge = \"deu\"\n",
                "rules::unknown-field",
                "rules.toml:3:1",
                "did you mean `language`?",
            ),
            (
                "[[lookups]]\ndid = [\"+4930x*\"]\nlanguage = \"deu\"\n",
                "rules::bad-pattern",
                "rules.toml:2:14",
                "digits",
            ),
            (
                "[[lookups]]\nlanguage = \"deu\"\n",
                "rules::missing-field",
                "rules.toml:1:1",
                "did = ",
            ),
            (
                "[[lookups]]\ndid = []\ncalling = []\ntag = \"vip\"\n",
                "rules::missing-field",
                "rules.toml:1:1",
                "did = ",
            ),
            (
                "[[lookups]]\ndid = \"+4930*\"\n",
                "rules::missing-field",
                "rules.toml:1:1",
                "language = ",
            ),
            (
                "[[lookups]]\ndid = \"+4930*\"\ntag = \"\"\n",
                "rules::missing-field",
                "rules.toml:3:7",
                "",
            ),
            (
                "[[lookup]]\ndid = \"+4930*\"\ntag = \"x\"\n",
                "rules::unknown-field",
                "rules.toml:1:3",
                "did you mean `lookups`?",
            ),
        ] {
            let checked = check(text);
            assert_eq!(
                checked.report.errors(),
                1,
                "{text}: {}",
                checked.report.render()
            );
            let diag = &checked.report.diags[0];
            assert_eq!(diag.code, code, "{text}");
            assert_eq!(
                checked.report.position(diag.loc.as_ref().unwrap()),
                at,
                "{text}"
            );
            assert!(
                diag.help.as_deref().unwrap_or_default().contains(help),
                "{text}: {:?}",
                diag.help
            );
            assert!(checked.config.lookups.is_empty(), "{text}");
        }
    }

    const CENTRE: &str = r#"
[settings]
country_code = "49"

[skills]
deu = "German"
eng = "English"

[agents.2001]
skills = { eng = 9 }

[agents.2002]
skills = { deu = 9 }

[queues.Support]
agents = ["2001", "2002"]

[[lookups]]
name = "German hotline"
did = ["+4930123400*"]
language = "deu"

[[routes]]
name = "Berlin test line"
queue = "Support"
did = "+4930999*"
requires = "eng >= 5"

[[routes]]
name = "German support"
queue = "Support"
language = "deu"
requires = "deu >= 5"

[[routes]]
name = "Support"
queue = "Support"
requires = "eng >= 5"
"#;

    fn explain(words: &str) -> String {
        let checked = check(CENTRE);
        assert!(checked.is_ok(), "{}", checked.report.render());
        let words: Vec<String> = words.split(' ').map(str::to_string).collect();
        let call = crate::explain::parse_call(&words).unwrap();
        crate::explain::explain_call(&checked.config, &call, acd_core::Timestamp(0))
    }

    #[test]
    fn explain_names_the_lookup_that_set_the_language() {
        let text = explain("queue=Support language=eng did=0301234001 time=10:00");
        assert!(
            text.contains("lookup \"German hotline\": language deu (IP Office: eng)"),
            "{text}"
        );
        assert!(text.contains("route \"German support\": MATCHES"), "{text}");
        assert!(text.contains("winner: 2002"), "{text}");
        let text = explain("queue=Support language=eng did=0401234001 time=10:00");
        assert!(
            text.contains("no lookup matches: IP Office's language and tag stay"),
            "{text}"
        );
        assert!(text.contains("route \"Support\": MATCHES"), "{text}");
    }

    #[test]
    fn explain_matches_did_patterns_in_canonical_form() {
        let text = explain("queue=Support did=0309991 time=10:00");
        assert!(
            text.contains("route \"Berlin test line\": MATCHES"),
            "{text}"
        );
        let text = explain("queue=Support did=0409991 time=10:00");
        assert!(
            text.contains(
                "route \"Berlin test line\": no (DID \"0409991\" matches none of +4930999*)"
            ),
            "{text}"
        );
    }
}
