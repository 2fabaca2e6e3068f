//! SHA-256 certificate fingerprints, the one way an operator pins IP Office's certificate.
//! One type for every place that reads or prints them (the config's `pin_sha256`, the TLS
//! verdicts, the simulator's banner), so all accept and show the same text.

use sha2::{Digest, Sha256};
use std::fmt;

/// A SHA-256 certificate fingerprint, shown as colon-separated upper-case hex (the form
/// browsers and `openssl x509 -fingerprint -sha256` print).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of(cert_der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(cert_der).into())
    }

    /// Parses hex with or without `:` separators (any case).
    pub fn parse(text: &str) -> Result<Fingerprint, FingerprintParseError> {
        let digits: String = text
            .trim()
            .chars()
            .filter(|c| *c != ':' && !c.is_whitespace())
            .collect();
        let bytes = hex::decode(&digits).map_err(|_| FingerprintParseError::NotHex)?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| FingerprintParseError::WrongLength(b.len()))?;
        Ok(Fingerprint(arr))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintParseError {
    #[error("a SHA-256 fingerprint is hex digits (optionally separated by ':')")]
    NotHex,
    #[error("a SHA-256 fingerprint has 32 bytes, this one has {0}")]
    WrongLength(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_prints_with_or_without_colons() {
        let fp = Fingerprint::of(b"certificate");
        let text = fp.to_string();
        assert_eq!(text.split(':').count(), 32);
        assert_eq!(Fingerprint::parse(&text), Ok(fp));
        assert_eq!(
            Fingerprint::parse(&text.replace(':', "").to_lowercase()),
            Ok(fp)
        );
        assert_eq!(Fingerprint::parse("zz"), Err(FingerprintParseError::NotHex));
        assert_eq!(
            Fingerprint::parse("abcd"),
            Err(FingerprintParseError::WrongLength(2))
        );
    }
}
