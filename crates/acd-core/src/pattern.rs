//! Number and text patterns used by route conditions and by the transfer-target guard.
//!
//! Deliberately small: `*` matches any run of characters, `?` exactly one, everything else is
//! literal. Supervisors write `+4930*` or `0800???????`; a full regex language would only
//! invite mistakes in a toll-fraud guard.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pattern {
    source: String,
}

impl Pattern {
    /// Builds a pattern. Every string is a valid pattern; the rules layer rejects empty ones.
    pub fn new(source: impl Into<String>) -> Self {
        Pattern {
            source: source.into(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn matches(&self, text: &str) -> bool {
        glob_match(self.source.as_bytes(), text.as_bytes())
    }
}

/// Iterative glob matching with single-star backtracking: linear in practice, never recursive,
/// so a hostile pattern cannot blow the stack.
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefix_and_wildcards() {
        assert!(Pattern::new("+4930*").matches("+4930123456"));
        assert!(!Pattern::new("+4930*").matches("+4940123456"));
        assert!(Pattern::new("0800???").matches("0800123"));
        assert!(!Pattern::new("0800???").matches("08001234"));
        assert!(Pattern::new("*").matches(""));
        assert!(Pattern::new("a*b*c").matches("axxbyyc"));
        assert!(!Pattern::new("a*b*c").matches("axxbyy"));
        assert!(Pattern::new("2001").matches("2001"));
        assert!(!Pattern::new("2001").matches("20011"));
    }
}
