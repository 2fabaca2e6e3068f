//! The certificates IP Office really presents, against `check-connection`: a self-signed CA
//! certificate given as the CA file, the same without it, a name that is not the address, an
//! expired certificate, a DER CA file, and a server that shares no TLS version or cipher with
//! the engine. Each refusal must say what is wrong and what to do, in words.
//! (1024-bit RSA and SHA-1 cannot be made with rcgen; `src/wire/tls` tests them on fixtures.)

mod wire_support;

use acd::wire::check_connection::{self, CheckError};
use acd::wire::connect::{ConnectError, Endpoint};
use acd::wire::secret::Secret;
use acd::wire::session::SessionConfig;
use acd::wire::tls::{CertProblem, Fingerprint};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wire_support::*;

fn config(url: &str) -> SessionConfig {
    let mut c = SessionConfig::new(
        vec![Endpoint::parse(url).unwrap()],
        USER,
        Secret::new(PASSWORD),
    );
    c.protocol.request_timeout = Duration::from_secs(5);
    c
}

/// A self-signed certificate with CA:TRUE for `names`, as many IP Office systems ship.
fn self_signed_ca(names: &[&str]) -> (String, Vec<u8>, Vec<u8>) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "IP Office");
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), cert.der().to_vec(), key.serialize_der())
}

/// A CA, and a server certificate it signs after `adjust` has its say.
fn ca_signed(adjust: impl FnOnce(&mut CertificateParams)) -> (String, Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "IP Office CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    adjust(&mut params);
    let cert = params.signed_by(&key, &ca).unwrap();
    (
        ca.pem(),
        ca.der().to_vec(),
        cert.der().to_vec(),
        key.serialize_der(),
    )
}

async fn tls_peer(pki: TestPki) -> (Peer, String) {
    let peer = Peer::start(PeerOptions {
        tls: Some(Arc::new(pki)),
        ..PeerOptions::default()
    })
    .await;
    let url = peer.url(true);
    (peer, url)
}

/// Plays IP Office for one successful check.
fn serve_check(mut peer: Peer) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut conn = peer.accept().await;
        let sub = conn.expect_subscribe(0).await;
        conn.send(notify(sub.subscribe_id, 1, lines_list()));
        let _ = conn.recv().await;
    })
}

fn write(dir: &tempfile::TempDir, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, data).unwrap();
    path
}

fn not_trusted(err: &CheckError) -> &CertProblem {
    match err {
        CheckError::Connect(ConnectError::CertificateNotTrusted { problem, .. }) => problem,
        other => panic!("expected an untrusted certificate, got {other}"),
    }
}

#[tokio::test]
async fn a_self_signed_ca_certificate_given_as_the_ca_file_is_accepted() {
    let (pem, der, key) = self_signed_ca(&["127.0.0.1"]);
    let (peer, url) = tls_peer(TestPki::with_server(pem.clone(), der.clone(), key)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&url);
    cfg.tls.ca_file = Some(write(&dir, "ipo.pem", &pem));
    let server = serve_check(peer);
    let report = check_connection::run(&cfg).await.unwrap();
    assert_eq!(report.fingerprint, Some(Fingerprint::of(&der)));
    server.await.unwrap();
}

#[tokio::test]
async fn a_self_signed_ca_certificate_elsewhere_is_told_to_be_pinned() {
    let (pem, der, key) = self_signed_ca(&["127.0.0.1"]);
    let (_peer, url) = tls_peer(TestPki::with_server(pem, der.clone(), key)).await;
    let (other_ca, ..) = ca_signed(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&url);
    cfg.tls.ca_file = Some(write(&dir, "other.pem", other_ca));
    let err = check_connection::run(&cfg).await.unwrap_err();
    let fingerprint = Fingerprint::of(&der);
    assert_eq!(
        not_trusted(&err),
        &CertProblem::SelfSignedCa { fingerprint }
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "self-signed CA certificate: pin it with `pin_sha256 = \"{fingerprint}\"`"
        )),
        "{text}"
    );
    assert!(!text.contains("CaUsedAsEndEntity"), "{text}");
}

#[tokio::test]
async fn a_der_ca_file_is_accepted() {
    let (_, ca_der, cert, key) = ca_signed(|_| {});
    let (peer, url) = tls_peer(TestPki::with_server(String::new(), cert, key)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&url);
    cfg.tls.ca_file = Some(write(&dir, "ca.cer", ca_der));
    let server = serve_check(peer);
    check_connection::run(&cfg).await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn a_name_mismatch_names_both_sides_not_the_ca() {
    let (ca_pem, _, cert, key) = ca_signed(|p| {
        p.subject_alt_names = vec![rcgen::SanType::DnsName(
            "ipo.example.net".try_into().unwrap(),
        )];
    });
    let (_peer, url) = tls_peer(TestPki::with_server(String::new(), cert, key)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&url);
    cfg.tls.ca_file = Some(write(&dir, "ca.pem", ca_pem));
    let err = check_connection::run(&cfg).await.unwrap_err();
    assert_eq!(
        not_trusted(&err),
        &CertProblem::NameMismatch {
            connected_to: "127.0.0.1".into(),
            names: vec!["ipo.example.net".into()],
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("issued for ipo.example.net but the engine connected to 127.0.0.1"),
        "{text}"
    );
    assert!(!text.contains("CA certificate"), "{text}");
}

#[tokio::test]
async fn an_expired_certificate_shows_dates() {
    let (ca_pem, _, cert, key) = ca_signed(|p| {
        p.not_before = rcgen::date_time_ymd(2019, 1, 1);
        p.not_after = rcgen::date_time_ymd(2020, 1, 1);
    });
    let (_peer, url) = tls_peer(TestPki::with_server(String::new(), cert, key)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&url);
    cfg.tls.ca_file = Some(write(&dir, "ca.pem", ca_pem));
    let err = check_connection::run(&cfg).await.unwrap_err();
    assert!(matches!(not_trusted(&err), CertProblem::Expired { .. }));
    let text = err.to_string();
    assert!(text.contains("expired on 2020-01-01T00:00:00Z"), "{text}");
    assert!(text.contains("renew"), "{text}");
}

/// A server that answers the ClientHello with a fatal alert, as IP Office does when it allows
/// no protocol version or cipher suite the engine offers.
async fn alerting_server(alert: u8) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut hello = [0u8; 512];
        let _ = tcp.read(&mut hello).await;
        // TLS record: alert, TLS 1.2, length 2, level fatal, description.
        let _ = tcp
            .write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, alert])
            .await;
        let _ = tcp.shutdown().await;
    });
    format!("wss://{addr}")
}

#[tokio::test]
async fn no_common_tls_version_or_cipher_says_what_the_engine_accepts() {
    for (alert, name) in [(40, "HandshakeFailure"), (70, "ProtocolVersion")] {
        let url = alerting_server(alert).await;
        let err = check_connection::run(&config(&url)).await.unwrap_err();
        assert!(
            matches!(
                err,
                CheckError::Connect(ConnectError::TlsIncompatible { .. })
            ),
            "{err:?}"
        );
        let text = err.to_string();
        for wanted in [
            name,
            "TLS 1.3",
            "TLS 1.2 with ECDHE",
            "AES-GCM",
            "IP Office's security settings",
        ] {
            assert!(text.contains(wanted), "{wanted}: {text}");
        }
    }
}
