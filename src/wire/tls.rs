//! TLS for the IP Office websocket. Verification is on by default against the webpki roots;
//! IP Office usually carries a certificate from its own CA or a self-signed one, so a CA file
//! can replace the roots and a SHA-256 pin of the certificate can replace the chain check.
//! Skipping verification needs an explicit `insecure` setting.
//!
//! The verifier records the fingerprint of every certificate it sees, so that a refused
//! certificate can be reported with the exact value an operator would pin, and why it was
//! refused in words ([`CertProblem`]).
//!
//! Many IP Office systems present a self-signed certificate marked CA:TRUE, and the natural
//! thing is to put it in the CA file; TLS refuses a CA certificate as a server's own. So a CA
//! file that holds the very certificate presented acts as a pin of it.

mod der;
mod problem;

pub use problem::{CertProblem, MIN_RSA_BITS};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// How to verify the IP Office certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file with the CA certificate(s) to trust instead of the webpki roots.
    pub ca_file: Option<PathBuf>,
    /// SHA-256 of the IP Office certificate (DER). When set, the certificate must match it and
    /// no chain check is made (the usual way to trust a self-signed IP Office certificate).
    pub pin_sha256: Option<[u8; 32]>,
    /// Accept any certificate. Only for lab set-ups; the session warns at each start.
    pub insecure: bool,
}

impl TlsOptions {
    /// When more than one way of trusting IP Office is set, only one applies (`insecure`, then
    /// `pin_sha256`, then `ca_file`); saying which keeps an operator from believing a CA file
    /// protects a connection that a forgotten `insecure` left open.
    pub fn precedence_warning(&self) -> Option<String> {
        let mut ignored = Vec::new();
        if self.insecure || self.pin_sha256.is_some() {
            if self.pin_sha256.is_some() && self.insecure {
                ignored.push("pin_sha256");
            }
            if self.ca_file.is_some() {
                ignored.push("ca_file");
            }
        }
        if ignored.is_empty() {
            return None;
        }
        let winner = if self.insecure {
            "insecure = true (no certificate check at all)"
        } else {
            "pin_sha256"
        };
        Some(format!(
            "pbx.tls sets more than one way to trust IP Office: {winner} wins and {} {} ignored; \
             remove what should not apply",
            ignored.join(" and "),
            if ignored.len() == 1 { "is" } else { "are" }
        ))
    }
}

pub use acd_wire::fingerprint::{Fingerprint, FingerprintParseError};

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("cannot read CA file {path}: {error}")]
    CaFileUnreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "CA file {path} holds no certificate: give the IP Office CA certificate as PEM \
         (-----BEGIN CERTIFICATE-----) or DER"
    )]
    CaFileEmpty { path: PathBuf },
    #[error("CA file {path}: certificate not usable as a trust anchor: {reason}")]
    CaFileBadCertificate { path: PathBuf, reason: String },
    #[error("TLS set-up failed: {0}")]
    Rustls(String),
}

/// What the verifier concluded about the last certificate it was shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertVerdict {
    Trusted(Fingerprint),
    NotTrusted {
        fingerprint: Fingerprint,
        problem: CertProblem,
    },
    PinMismatch {
        fingerprint: Fingerprint,
        expected: Fingerprint,
    },
}

/// Shared slot where the verifier leaves its verdict for the connect code to read.
#[derive(Debug, Clone, Default)]
pub struct VerdictSlot(Arc<Mutex<Option<CertVerdict>>>);

impl VerdictSlot {
    fn set(&self, verdict: CertVerdict) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(verdict);
    }

    pub fn take(&self) -> Option<CertVerdict> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

enum Mode {
    Chain {
        verifier: Arc<WebPkiServerVerifier>,
        /// The CA file and its certificates, when one is configured.
        ca_file: Option<(PathBuf, Vec<CertificateDer<'static>>)>,
    },
    Pin(Fingerprint),
    Insecure,
}

struct IpoVerifier {
    mode: Mode,
    algorithms: WebPkiSupportedAlgorithms,
    verdict: VerdictSlot,
}

impl fmt::Debug for IpoVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match &self.mode {
            Mode::Chain { .. } => "chain".to_string(),
            Mode::Pin(p) => format!("pin {p}"),
            Mode::Insecure => "insecure".to_string(),
        };
        f.debug_struct("IpoVerifier").field("mode", &mode).finish()
    }
}

impl IpoVerifier {
    /// The server's handshake signature did not verify. With a short RSA key that is certain
    /// to happen, pinned or not; record it as the weak key it is, not as `BadSignature`.
    fn signature_failed(&self, cert: &CertificateDer<'_>, e: rustls::Error) -> rustls::Error {
        if let Some(problem) = CertProblem::weak_server_key(cert) {
            self.verdict.set(CertVerdict::NotTrusted {
                fingerprint: Fingerprint::of(cert),
                problem,
            });
        }
        e
    }
}

impl ServerCertVerifier for IpoVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fingerprint = Fingerprint::of(end_entity.as_ref());
        match &self.mode {
            Mode::Insecure => {
                self.verdict.set(CertVerdict::Trusted(fingerprint));
                Ok(ServerCertVerified::assertion())
            }
            Mode::Pin(expected) if *expected == fingerprint => {
                self.verdict.set(CertVerdict::Trusted(fingerprint));
                Ok(ServerCertVerified::assertion())
            }
            Mode::Pin(expected) => {
                self.verdict.set(CertVerdict::PinMismatch {
                    fingerprint,
                    expected: *expected,
                });
                Err(rustls::Error::General(format!(
                    "certificate fingerprint {fingerprint} does not match the pinned {expected}"
                )))
            }
            Mode::Chain {
                ca_file: Some((_, certs)),
                ..
            } if certs.iter().any(|c| Fingerprint::of(c) == fingerprint) => {
                self.verdict.set(CertVerdict::Trusted(fingerprint));
                Ok(ServerCertVerified::assertion())
            }
            Mode::Chain { verifier, ca_file } => {
                match verifier.verify_server_cert(
                    end_entity,
                    intermediates,
                    server_name,
                    ocsp_response,
                    now,
                ) {
                    Ok(ok) => {
                        self.verdict.set(CertVerdict::Trusted(fingerprint));
                        Ok(ok)
                    }
                    Err(e) => {
                        let seen = problem::Seen {
                            fingerprint,
                            server_name,
                            end_entity,
                            intermediates,
                            ca_file: ca_file.as_ref().map(|(p, c)| (p, c.as_slice())),
                        };
                        self.verdict.set(CertVerdict::NotTrusted {
                            fingerprint,
                            problem: CertProblem::classify(&e, &seen),
                        });
                        Err(e)
                    }
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
            .map_err(|e| self.signature_failed(cert, e))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
            .map_err(|e| self.signature_failed(cert, e))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The crypto provider used for every connection: ring, chosen explicitly so the process-wide
/// default (which may be unset or different) never matters.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the client configuration and the slot its verifier reports into.
pub fn client_config(
    options: &TlsOptions,
) -> Result<(Arc<rustls::ClientConfig>, VerdictSlot), TlsConfigError> {
    let provider = provider();
    let verifier = IpoVerifier::new(options, &provider)?;
    let verdict = verifier.verdict.clone();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsConfigError::Rustls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok((Arc::new(config), verdict))
}

impl IpoVerifier {
    /// `insecure` wins over `pin_sha256`, which wins over `ca_file` (see
    /// [`TlsOptions::precedence_warning`]).
    fn new(options: &TlsOptions, provider: &Arc<CryptoProvider>) -> Result<Self, TlsConfigError> {
        let mode = if options.insecure {
            Mode::Insecure
        } else if let Some(pin) = options.pin_sha256 {
            Mode::Pin(Fingerprint(pin))
        } else {
            let (roots, ca_file) = match &options.ca_file {
                Some(path) => {
                    let (roots, certs) = load_ca_file(path)?;
                    (roots, Some((path.clone(), certs)))
                }
                None => (
                    RootCertStore {
                        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                    },
                    None,
                ),
            };
            let verifier =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| TlsConfigError::Rustls(e.to_string()))?;
            Mode::Chain { verifier, ca_file }
        };
        Ok(IpoVerifier {
            mode,
            algorithms: provider.signature_verification_algorithms,
            verdict: VerdictSlot::default(),
        })
    }
}

/// Reads the CA file: PEM (one or more certificates) or a single DER certificate, as IP
/// Office's certificate export and Windows' `.cer` files often are.
fn load_ca_file(
    path: &PathBuf,
) -> Result<(RootCertStore, Vec<CertificateDer<'static>>), TlsConfigError> {
    let data = std::fs::read(path).map_err(|error| TlsConfigError::CaFileUnreadable {
        path: path.clone(),
        error,
    })?;
    let mut certs = Vec::new();
    if der::is_der_certificate(&data) {
        certs.push(CertificateDer::from(data));
    } else {
        let mut reader = std::io::BufReader::new(data.as_slice());
        for cert in rustls_pemfile::certs(&mut reader) {
            certs.push(cert.map_err(|error| TlsConfigError::CaFileUnreadable {
                path: path.clone(),
                error,
            })?);
        }
    }
    if certs.is_empty() {
        return Err(TlsConfigError::CaFileEmpty { path: path.clone() });
    }
    let mut store = RootCertStore::empty();
    for cert in &certs {
        store
            .add(cert.clone())
            .map_err(|e| TlsConfigError::CaFileBadCertificate {
                path: path.clone(),
                reason: e.to_string(),
            })?;
    }
    Ok((store, certs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ca_file_is_a_clear_error() {
        let err = client_config(&TlsOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsOptions::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        // Printed as a chain (as `acd` does at exit) the OS error shows once.
        let chain = format!(
            "{:#}",
            anyhow::Error::new(crate::wire::connect::ConnectError::from(err))
        );
        assert_eq!(chain.matches("No such file").count(), 1, "{chain}");
    }

    #[test]
    fn empty_ca_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a pem").unwrap();
        let err = client_config(&TlsOptions {
            ca_file: Some(path),
            ..TlsOptions::default()
        })
        .unwrap_err();
        assert!(matches!(err, TlsConfigError::CaFileEmpty { .. }), "{err}");
    }

    #[test]
    fn precedence_is_said_when_more_than_one_trust_is_set() {
        let ca = Some(PathBuf::from("/etc/acd/ca.pem"));
        let pin = Some([1; 32]);
        let warn = |ca_file: Option<PathBuf>, pin_sha256, insecure| {
            TlsOptions {
                ca_file,
                pin_sha256,
                insecure,
            }
            .precedence_warning()
        };
        assert_eq!(warn(ca.clone(), None, false), None);
        assert_eq!(warn(None, pin, false), None);
        assert_eq!(warn(None, None, true), None);
        let w = warn(ca.clone(), pin, false).unwrap();
        assert!(w.contains("pin_sha256 wins and ca_file is ignored"), "{w}");
        let w = warn(ca.clone(), pin, true).unwrap();
        assert!(
            w.contains("insecure = true") && w.contains("pin_sha256 and ca_file are ignored"),
            "{w}"
        );
        let w = warn(None, pin, true).unwrap();
        assert!(w.contains("pin_sha256 is ignored"), "{w}");
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/tls")
                .join(name),
        )
        .unwrap()
    }

    /// 2027-01-01, inside the validity of the fixtures.
    fn fixture_time() -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_798_761_600))
    }

    #[test]
    fn a_sha1_signature_is_named_not_dumped() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, fixture("sha1-ca.pem")).unwrap();
        let options = TlsOptions {
            ca_file: Some(ca),
            ..TlsOptions::default()
        };
        let verifier = IpoVerifier::new(&options, &provider()).unwrap();
        let ee = CertificateDer::from(fixture("sha1-signed.der"));
        let name = ServerName::try_from("ipo.example").unwrap();
        assert!(verifier
            .verify_server_cert(&ee, &[], &name, &[], fixture_time())
            .is_err());
        let Some(CertVerdict::NotTrusted { problem, .. }) = verifier.verdict.take() else {
            panic!("expected a refusal")
        };
        assert_eq!(
            problem,
            CertProblem::WeakSignature {
                algorithm: "sha1WithRSAEncryption (SHA-1)".into()
            }
        );
        let text = problem.to_string();
        assert!(
            text.contains("SHA-256") && !text.contains("[42, "),
            "{text}"
        );
    }

    #[test]
    fn a_pinned_1024_bit_certificate_is_reported_as_a_weak_key() {
        let cert = fixture("rsa1024-sha256.der");
        let options = TlsOptions {
            pin_sha256: Some(Fingerprint::of(&cert).0),
            ..TlsOptions::default()
        };
        let verifier = IpoVerifier::new(&options, &provider()).unwrap();
        let cert = CertificateDer::from(cert);
        let name = ServerName::try_from("ipo-weak.example").unwrap();
        verifier
            .verify_server_cert(&cert, &[], &name, &[], fixture_time())
            .unwrap();
        // What rustls returns when the handshake signature meets a 1024-bit key.
        let bad = rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature);
        verifier.signature_failed(&cert, bad);
        assert_eq!(
            verifier.verdict.take(),
            Some(CertVerdict::NotTrusted {
                fingerprint: Fingerprint::of(&cert),
                problem: CertProblem::WeakKey {
                    bits: 1024,
                    whose: "the IP Office certificate"
                },
            })
        );
    }

    #[test]
    fn a_der_ca_file_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.cer");
        std::fs::write(&path, fixture("rsa1024-sha256.der")).unwrap();
        let (_, certs) = load_ca_file(&path).unwrap();
        assert_eq!(certs.len(), 1);
    }

    #[test]
    fn default_config_builds() {
        client_config(&TlsOptions::default()).unwrap();
        client_config(&TlsOptions {
            pin_sha256: Some([7; 32]),
            ..TlsOptions::default()
        })
        .unwrap();
    }
}
