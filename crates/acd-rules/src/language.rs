//! Language codes: which values a call's language can plausibly hold, and the code a
//! supervisor most likely meant when writing a language's name.
//!
//! IP Office reports a call's language as a short code (its locale: `deu`, `eng`, `fra`, and
//! for some variants codes of its own such as `enu` for US English), never as a name, so
//! `language = "german"` in a route can never match a call. A module of its own so the check
//! that warns about it and its table of names can be read and extended in one place.

use crate::diag::suggest;

/// Common languages: names a supervisor may write (English and native), the ISO 639-2/T code
/// (three letters, what IP Office's locales mostly use) and the ISO 639-1 code (two letters).
const LANGUAGES: &[(&[&str], &str, &str)] = &[
    (&["german", "deutsch"], "deu", "de"),
    (&["english", "englisch"], "eng", "en"),
    (
        &["french", "francais", "français", "franzoesisch"],
        "fra",
        "fr",
    ),
    (&["italian", "italiano", "italienisch"], "ita", "it"),
    (
        &["spanish", "espanol", "español", "castellano", "spanisch"],
        "spa",
        "es",
    ),
    (&["portuguese", "portugues", "português"], "por", "pt"),
    (
        &["dutch", "nederlands", "flemish", "niederlaendisch"],
        "nld",
        "nl",
    ),
    (&["danish", "dansk"], "dan", "da"),
    (&["swedish", "svenska", "schwedisch"], "swe", "sv"),
    (&["norwegian", "norsk"], "nor", "no"),
    (&["finnish", "suomi"], "fin", "fi"),
    (&["polish", "polski", "polnisch"], "pol", "pl"),
    (&["czech", "cestina", "čeština"], "ces", "cs"),
    (&["hungarian", "magyar"], "hun", "hu"),
    (&["greek", "ellinika"], "ell", "el"),
    (&["turkish", "turkce", "türkçe", "tuerkisch"], "tur", "tr"),
    (&["russian", "russkiy", "russisch"], "rus", "ru"),
    (&["ukrainian"], "ukr", "uk"),
    (&["arabic"], "ara", "ar"),
    (&["hebrew"], "heb", "he"),
    (&["chinese", "mandarin"], "zho", "zh"),
    (&["japanese"], "jpn", "ja"),
    (&["korean"], "kor", "ko"),
];

/// Whether `value` has the shape of a language code: two or three ASCII letters (ISO 639-1,
/// ISO 639-2, and IP Office's own three-letter locales).
pub fn is_plausible_code(value: &str) -> bool {
    (2..=3).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphabetic())
}

/// The three- and two-letter codes of the language `name` names (any case, or misspelt a
/// little), if it is one the table knows.
pub fn codes_for_name(name: &str) -> Option<(&'static str, &'static str)> {
    let name = name.trim().to_lowercase();
    let exact = LANGUAGES
        .iter()
        .find(|(names, _, _)| names.contains(&name.as_str()));
    if let Some((_, three, two)) = exact {
        return Some((three, two));
    }
    let all = LANGUAGES
        .iter()
        .flat_map(|(names, _, _)| names.iter().copied());
    let best = suggest(&name, all)?;
    LANGUAGES
        .iter()
        .find(|(names, _, _)| names.contains(&best))
        .map(|(_, three, two)| (*three, *two))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_two_or_three_letters() {
        for code in ["de", "deu", "ENG", "enu"] {
            assert!(is_plausible_code(code), "{code}");
        }
        for value in ["german", "d", "de-DE", "d1", ""] {
            assert!(!is_plausible_code(value), "{value}");
        }
    }

    #[test]
    fn names_lead_to_codes() {
        assert_eq!(codes_for_name("german"), Some(("deu", "de")));
        assert_eq!(codes_for_name("Deutsch"), Some(("deu", "de")));
        assert_eq!(codes_for_name("Englsh"), Some(("eng", "en")));
        assert_eq!(codes_for_name("klingon"), None);
    }
}
