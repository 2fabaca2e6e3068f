//! Why a certificate was refused, in an IP Office administrator's words, with the fix.
//!
//! rustls reports what went wrong for a TLS library's reader: `Other(OtherError(
//! CaUsedAsEndEntity))`, `BadSignature`, UNIX seconds, OID bytes. The certificates IP Office
//! really presents hit exactly these cases (self-signed CA certificates, 1024-bit keys, SHA-1,
//! a name that is not the address the engine uses), and each has one fix; this module names
//! the case and says the fix.

use super::der;
use super::Fingerprint;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::CertificateError;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

/// The smallest RSA key rustls (through ring) verifies signatures with.
pub const MIN_RSA_BITS: usize = 2048;

/// What is wrong with the certificate IP Office presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertProblem {
    /// A self-signed certificate marked CA:TRUE, not the one in the CA file: TLS does not
    /// accept a CA certificate as a server's own.
    SelfSignedCa { fingerprint: Fingerprint },
    /// notAfter has passed (seconds since the UNIX epoch).
    Expired { not_after: u64, now: u64 },
    /// notBefore has not come yet.
    NotYetValid { not_before: u64, now: u64 },
    /// The certificate does not name the host the engine connected to.
    NameMismatch {
        connected_to: String,
        names: Vec<String>,
    },
    /// No trusted CA signed it.
    UnknownIssuer { ca_file: Option<PathBuf> },
    /// An RSA key too short for rustls to verify signatures with.
    WeakKey { bits: usize, whose: &'static str },
    /// Signed with an algorithm rustls refuses (SHA-1, MD5).
    WeakSignature { algorithm: String },
    /// Anything else, as rustls says it.
    Other(String),
}

/// What the verifier knows when a certificate is refused.
pub struct Seen<'a> {
    pub fingerprint: Fingerprint,
    pub server_name: &'a ServerName<'a>,
    pub end_entity: &'a CertificateDer<'a>,
    pub intermediates: &'a [CertificateDer<'a>],
    /// The certificates of the CA file, when one is configured.
    pub ca_file: Option<(&'a PathBuf, &'a [CertificateDer<'static>])>,
}

impl CertProblem {
    /// Names the problem behind a chain-verification error.
    pub fn classify(error: &rustls::Error, seen: &Seen<'_>) -> CertProblem {
        let rustls::Error::InvalidCertificate(error) = error else {
            return CertProblem::Other(error.to_string());
        };
        match error {
            CertificateError::Other(other)
                if matches!(
                    other.0.downcast_ref::<webpki::Error>(),
                    Some(webpki::Error::CaUsedAsEndEntity)
                ) =>
            {
                CertProblem::SelfSignedCa {
                    fingerprint: seen.fingerprint,
                }
            }
            CertificateError::ExpiredContext { time, not_after } => CertProblem::Expired {
                not_after: not_after.as_secs(),
                now: time.as_secs(),
            },
            CertificateError::NotValidYetContext { time, not_before } => CertProblem::NotYetValid {
                not_before: not_before.as_secs(),
                now: time.as_secs(),
            },
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => CertProblem::NameMismatch {
                connected_to: expected.to_str().into_owned(),
                names: presented.iter().map(|n| presented_name(n)).collect(),
            },
            CertificateError::NotValidForName => CertProblem::NameMismatch {
                connected_to: seen.server_name.to_str().into_owned(),
                names: Vec::new(),
            },
            CertificateError::UnknownIssuer => CertProblem::UnknownIssuer {
                ca_file: seen.ca_file.map(|(path, _)| path.clone()),
            },
            CertificateError::BadSignature => {
                weak_key_in_chain(seen).unwrap_or_else(|| CertProblem::Other(error.to_string()))
            }
            CertificateError::UnsupportedSignatureAlgorithmContext {
                signature_algorithm_id,
                ..
            }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext {
                signature_algorithm_id,
                ..
            } => CertProblem::WeakSignature {
                algorithm: der::algorithm_name(signature_algorithm_id)
                    .unwrap_or_else(|| "an unsupported algorithm".to_string()),
            },
            #[allow(deprecated)]
            CertificateError::UnsupportedSignatureAlgorithm => CertProblem::WeakSignature {
                algorithm: std::iter::once(seen.end_entity)
                    .chain(seen.intermediates)
                    .find_map(|c| der::signature_algorithm(c))
                    .unwrap_or_else(|| "an unsupported algorithm".to_string()),
            },
            other => CertProblem::Other(other.to_string()),
        }
    }

    /// A failed handshake signature made with `cert`'s key: a weak key if the key is short
    /// RSA, so that a pinned 1024-bit certificate does not read as tampering.
    pub fn weak_server_key(cert: &CertificateDer<'_>) -> Option<CertProblem> {
        let bits = der::rsa_key_bits(cert)?;
        (bits < MIN_RSA_BITS).then_some(CertProblem::WeakKey {
            bits,
            whose: "the IP Office certificate",
        })
    }
}

/// A `BadSignature` in the chain is a short RSA key more often than a forgery: look for one
/// in the certificates that signed something (the intermediates and the CA file), then in the
/// server's own.
fn weak_key_in_chain(seen: &Seen<'_>) -> Option<CertProblem> {
    let issuers = seen
        .intermediates
        .iter()
        .chain(seen.ca_file.map_or(&[][..], |(_, certs)| certs));
    for cert in issuers {
        if let Some(bits) = der::rsa_key_bits(cert).filter(|b| *b < MIN_RSA_BITS) {
            return Some(CertProblem::WeakKey {
                bits,
                whose: "the CA certificate that signed the IP Office certificate",
            });
        }
    }
    CertProblem::weak_server_key(seen.end_entity)
}

/// webpki lists names as `DnsName("ipo.example")` or `IpAddress(192.0.2.1)`; the admin wants
/// the name.
fn presented_name(name: &str) -> String {
    let inner = name
        .strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .or_else(|| {
            name.strip_prefix("IpAddress(")
                .and_then(|n| n.strip_suffix(')'))
        });
    inner.unwrap_or(name).to_string()
}

/// RFC 3339 in UTC, as certificates' dates are meant.
pub fn date(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

impl fmt::Display for CertProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertProblem::SelfSignedCa { fingerprint } => write!(
                f,
                "self-signed CA certificate: pin it with `pin_sha256 = \"{fingerprint}\"` under \
                 [pbx.tls] (TLS does not accept a CA certificate as a server's own; a tls.ca_file \
                 holding this very certificate works too)"
            ),
            CertProblem::Expired { not_after, now } => write!(
                f,
                "it expired on {} (notAfter; it is now {}): renew the IP Office certificate, \
                 or correct this machine's clock if that is wrong",
                date(*not_after),
                date(*now)
            ),
            CertProblem::NotYetValid { not_before, now } => write!(
                f,
                "it is valid only from {} (notBefore; it is now {}): check the clocks of this \
                 machine and of IP Office",
                date(*not_before),
                date(*now)
            ),
            CertProblem::NameMismatch {
                connected_to,
                names,
            } if names.is_empty() => write!(
                f,
                "it names no host (no subject alternative names; the common name does not \
                 count), and the engine connected to {connected_to}: issue the IP Office \
                 certificate with {connected_to} as a subject alternative name"
            ),
            CertProblem::NameMismatch {
                connected_to,
                names,
            } => write!(
                f,
                "it is issued for {} but the engine connected to {connected_to}: use one of \
                 those names in pbx.endpoints, or issue the IP Office certificate with \
                 {connected_to} as a subject alternative name",
                names.join(", ")
            ),
            CertProblem::UnknownIssuer {
                ca_file: Some(path),
            } => write!(
                f,
                "it is not signed by a CA in {}: export the CA certificate that signed it from \
                 IP Office into that file, or pin the certificate",
                path.display()
            ),
            CertProblem::UnknownIssuer { ca_file: None } => f.write_str(
                "it is not signed by a public CA: set tls.ca_file to IP Office's CA \
                 certificate, or pin the certificate with tls.pin_sha256",
            ),
            CertProblem::WeakKey { bits, whose } => write!(
                f,
                "{whose} has a {bits}-bit RSA key, which rustls refuses (at least \
                 {MIN_RSA_BITS} bits), so its signatures cannot be verified (this is not \
                 tampering): regenerate the IP Office certificate with a {MIN_RSA_BITS}-bit or \
                 larger key"
            ),
            CertProblem::WeakSignature { algorithm } => write!(
                f,
                "it is signed with {algorithm}, which rustls refuses: issue the IP Office \
                 certificate again signed with SHA-256 (RSA or ECDSA)"
            ),
            CertProblem::Other(reason) => write!(
                f,
                "{reason}; if this is your IP Office, set tls.ca_file to its CA certificate or \
                 pin the certificate"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> CertificateDer<'static> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tls")
            .join(name);
        CertificateDer::from(std::fs::read(path).unwrap())
    }

    #[test]
    fn a_1024_bit_key_is_a_weak_key_not_a_bad_signature() {
        let problem = CertProblem::weak_server_key(&fixture("rsa1024-sha256.der")).unwrap();
        assert_eq!(
            problem,
            CertProblem::WeakKey {
                bits: 1024,
                whose: "the IP Office certificate"
            }
        );
        let text = problem.to_string();
        assert!(text.contains("1024-bit RSA key"), "{text}");
        assert!(text.contains("regenerate"), "{text}");
        assert!(text.contains("2048"), "{text}");
        assert!(CertProblem::weak_server_key(&fixture("sha1-signed.der")).is_none());
    }

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(date(0), "1970-01-01T00:00:00Z");
        let text = CertProblem::Expired {
            not_after: 1_577_836_800,
            now: 1_767_225_600,
        }
        .to_string();
        assert!(text.contains("2020-01-01T00:00:00Z"), "{text}");
        assert!(text.contains("2026-01-01T00:00:00Z"), "{text}");
    }

    #[test]
    fn webpki_names_are_shown_plainly() {
        assert_eq!(presented_name("DnsName(\"ipo.example\")"), "ipo.example");
        assert_eq!(presented_name("IpAddress(192.0.2.1)"), "192.0.2.1");
        assert_eq!(presented_name("DirectoryName"), "DirectoryName");
    }
}
