//! TLS for the simulator: IP Office only speaks wss, so the simulator does too, either with a
//! certificate from files or with a self-signed one generated at start (its SHA-256 fingerprint
//! is printed so an operator can pin it).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::SimError;

/// How the simulator secures its listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain `ws://` (tests, local demos).
    Plain,
    /// `wss://` with a certificate generated at start for `localhost` and `127.0.0.1`.
    SelfSigned,
    /// As `SelfSigned`, but kept in this directory (`sim-cert.pem`, `sim-key.pem`): made on the
    /// first start, read on every later one, so an engine that pins its fingerprint keeps
    /// connecting after a simulator restart.
    SelfSignedIn(PathBuf),
    /// `wss://` with a PEM certificate chain and private key from files.
    FromFiles { cert: PathBuf, key: PathBuf },
}

/// A ready TLS setup plus what clients need to trust it.
pub struct TlsSetup {
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// PEM of the leaf certificate (clients add it as a trust anchor when self-signed).
    pub cert_pem: String,
    /// SHA-256 of the leaf certificate's DER, as colon-separated upper-case hex.
    pub fingerprint: String,
}

pub fn fingerprint(der: &[u8]) -> String {
    acd_wire::fingerprint::Fingerprint::of(der).to_string()
}

pub fn setup(mode: &TlsMode) -> Result<Option<TlsSetup>, SimError> {
    let (chain, key, cert_pem) = match mode {
        TlsMode::Plain => return Ok(None),
        TlsMode::SelfSigned => {
            let ck = self_signed()?;
            let key =
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
            (vec![ck.cert.der().clone()], key, ck.cert.pem())
        }
        TlsMode::SelfSignedIn(dir) => {
            let (cert, key) = kept_in(dir)?;
            return setup(&TlsMode::FromFiles { cert, key });
        }
        TlsMode::FromFiles { cert, key } => {
            let pem = read(cert)?;
            let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| SimError::Tls(format!("{}: {e}", cert.display())))?;
            if chain.is_empty() {
                return Err(SimError::Tls(format!(
                    "{}: no certificate found",
                    cert.display()
                )));
            }
            let key_pem = read(key)?;
            let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
                .map_err(|e| SimError::Tls(format!("{}: {e}", key.display())))?
                .ok_or_else(|| SimError::Tls(format!("{}: no private key found", key.display())))?;
            (chain, key, pem)
        }
    };
    let fp = fingerprint(chain[0].as_ref());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SimError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| SimError::Tls(format!("certificate and key do not fit: {e}")))?;
    Ok(Some(TlsSetup {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        cert_pem,
        fingerprint: fp,
    }))
}

fn self_signed() -> Result<rcgen::CertifiedKey<rcgen::KeyPair>, SimError> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    rcgen::generate_simple_self_signed(names)
        .map_err(|e| SimError::Tls(format!("cannot generate a certificate: {e}")))
}

/// The certificate and key files in `dir`, made (with the key readable by the owner only)
/// when not there yet.
fn kept_in(dir: &Path) -> Result<(PathBuf, PathBuf), SimError> {
    let (cert, key) = (dir.join("sim-cert.pem"), dir.join("sim-key.pem"));
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SimError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let ck = self_signed()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&key).map_err(io(&key))?;
    std::io::Write::write_all(&mut file, ck.signing_key.serialize_pem().as_bytes())
        .map_err(io(&key))?;
    std::fs::write(&cert, ck.cert.pem()).map_err(io(&cert))?;
    Ok((cert, key))
}

fn read(path: &Path) -> Result<String, SimError> {
    std::fs::read_to_string(path).map_err(|source| SimError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_setup_has_a_fingerprint_and_pem() {
        let s = setup(&TlsMode::SelfSigned).unwrap().unwrap();
        assert!(s.cert_pem.contains("BEGIN CERTIFICATE"));
        assert_eq!(s.fingerprint.split(':').count(), 32);
        assert!(setup(&TlsMode::Plain).unwrap().is_none());
    }

    /// Issue 24 (10): a new certificate at every start broke a pinned configuration after a
    /// simulator restart.
    #[test]
    fn a_kept_certificate_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("acd-sim-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mode = TlsMode::SelfSignedIn(dir.join("tls"));
        let first = setup(&mode).unwrap().unwrap().fingerprint;
        let again = setup(&mode).unwrap().unwrap().fingerprint;
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let key = std::fs::metadata(dir.join("tls/sim-key.pem")).unwrap();
            assert_eq!(key.permissions().mode() & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_files_are_reported_with_their_path() {
        let e = setup(&TlsMode::FromFiles {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        })
        .err()
        .unwrap();
        assert!(e.to_string().contains("/nonexistent/cert.pem"), "{e}");
    }
}
