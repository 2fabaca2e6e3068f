//! Connection set-up against a local websocket peer: auth, TLS trust (test CA, untrusted,
//! pin), subprotocol, via the operator's `check-connection`.

mod wire_support;

use acd::wire::check_connection::{self, CheckError};
use acd::wire::connect::{ConnectError, Endpoint};
use acd::wire::pb;
use acd::wire::secret::Secret;
use acd::wire::session::SessionConfig;
use std::sync::Arc;
use std::time::Duration;
use wire_support::*;

fn config(peer: &Peer, secure: bool, password: &str) -> SessionConfig {
    let mut c = SessionConfig::new(
        vec![Endpoint::parse(&peer.url(secure)).unwrap()],
        USER,
        Secret::new(password),
    );
    c.protocol.request_timeout = Duration::from_secs(5);
    c
}

/// Plays IP Office for one check: accept Lines, send the list, expect the ack and the end.
fn serve_check(mut peer: Peer) -> tokio::task::JoinHandle<Vec<pb::Message>> {
    tokio::spawn(async move {
        let mut conn = peer.accept().await;
        assert_eq!(conn.path, "/tpkt/openapi");
        let sub = conn.expect_subscribe(0).await;
        assert!(matches!(
            sub.payload,
            Some(pb::subscribe::Payload::Lines(pb::SubscribeLines {
                flags: 3
            }))
        ));
        conn.send(notify(sub.subscribe_id, 11, lines_list()));
        vec![conn.recv().await, conn.recv().await]
    })
}

#[tokio::test]
async fn auth_accepted_reports_users_and_queues() {
    let peer = Peer::start(PeerOptions::default()).await;
    let cfg = config(&peer, false, PASSWORD);
    let server = serve_check(peer);
    let report = check_connection::run(&cfg).await.unwrap();
    assert_eq!((report.users, report.queues), (2, 1));
    assert!(report.park_server_available);
    assert!(report.to_string().contains("users: 2, queues: 1"));
    // Issue 24 (10): the last line lacked its newline, so the shell prompt followed it.
    assert!(report.to_string().ends_with("queues: 1\n"), "{report}");
    // Agents the rules name that IP Office does not know are found once connected.
    assert_eq!(report.unknown_agents(["201", "299", "202"]), ["299"]);
    let seen = server.await.unwrap();
    assert!(matches!(
        payload_of(&seen[0]),
        pb::message::Payload::Notifyack(pb::NotifyAck { notify_id: 11, .. })
    ));
    assert!(matches!(
        payload_of(&seen[1]),
        pb::message::Payload::Subscribeend(_)
    ));
}

#[tokio::test]
async fn wrong_password_is_refused_with_advice_and_without_the_password() {
    let peer = Peer::start(PeerOptions::default()).await;
    let cfg = config(&peer, false, "wrong-password");
    let err = check_connection::run(&cfg).await.unwrap_err();
    assert!(
        matches!(err, CheckError::Connect(ConnectError::Unauthorized)),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("401") && text.contains("Enhanced TSPI Access"),
        "{text}"
    );
    assert!(!text.contains("wrong-password"));
    assert!(!format!("{cfg:?}").contains("wrong-password"));
}

#[tokio::test]
async fn unreachable_host_says_so() {
    // Bind then drop: the port is (almost certainly) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = SessionConfig::new(
        vec![Endpoint::parse(&format!("ws://127.0.0.1:{port}")).unwrap()],
        USER,
        Secret::new(PASSWORD),
    );
    cfg.protocol.request_timeout = Duration::from_secs(5);
    let err = check_connection::run(&cfg).await.unwrap_err();
    assert!(
        matches!(err, CheckError::Connect(ConnectError::Unreachable { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("unreachable"));
}

#[tokio::test]
async fn missing_subprotocol_is_refused() {
    let peer = Peer::start(PeerOptions {
        accept_subprotocol: false,
        ..PeerOptions::default()
    })
    .await;
    let cfg = config(&peer, false, PASSWORD);
    let err = check_connection::run(&cfg).await.unwrap_err();
    assert!(
        matches!(
            err,
            CheckError::Connect(ConnectError::SubprotocolRejected { .. })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn tls_with_the_test_ca_is_accepted() {
    let pki = Arc::new(TestPki::new());
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let peer = Peer::start(PeerOptions {
        tls: Some(pki.clone()),
        ..PeerOptions::default()
    })
    .await;
    let mut cfg = config(&peer, true, PASSWORD);
    cfg.tls.ca_file = Some(ca);
    let server = serve_check(peer);
    let report = check_connection::run(&cfg).await.unwrap();
    assert_eq!(report.fingerprint.unwrap().0, pki.fingerprint());
    server.await.unwrap();
}

#[tokio::test]
async fn untrusted_certificate_is_refused_with_its_fingerprint() {
    let pki = Arc::new(TestPki::new());
    let peer = Peer::start(PeerOptions {
        tls: Some(pki.clone()),
        ..PeerOptions::default()
    })
    .await;
    // Default trust: webpki roots, which do not include the test CA.
    let cfg = config(&peer, true, PASSWORD);
    let err = check_connection::run(&cfg).await.unwrap_err();
    let CheckError::Connect(ConnectError::CertificateNotTrusted { fingerprint, .. }) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(fingerprint.0, pki.fingerprint());
    let text = err.to_string();
    assert!(text.contains("not trusted"), "{text}");
    assert!(text.contains(&fingerprint.to_string()), "{text}");
    assert!(text.contains("pin"), "{text}");
}

#[tokio::test]
async fn pinned_certificate_is_accepted() {
    let pki = Arc::new(TestPki::new());
    let peer = Peer::start(PeerOptions {
        tls: Some(pki.clone()),
        ..PeerOptions::default()
    })
    .await;
    let mut cfg = config(&peer, true, PASSWORD);
    cfg.tls.pin_sha256 = Some(pki.fingerprint());
    let server = serve_check(peer);
    check_connection::run(&cfg).await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn pin_mismatch_is_refused() {
    let pki = Arc::new(TestPki::new());
    let peer = Peer::start(PeerOptions {
        tls: Some(pki.clone()),
        ..PeerOptions::default()
    })
    .await;
    let mut cfg = config(&peer, true, PASSWORD);
    cfg.tls.pin_sha256 = Some([0x42; 32]);
    let err = check_connection::run(&cfg).await.unwrap_err();
    let CheckError::Connect(ConnectError::PinMismatch { found, expected }) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(found.0, pki.fingerprint());
    assert_eq!(expected.0, [0x42; 32]);
}

#[tokio::test]
async fn lines_refused_for_too_many_connections_is_explained() {
    let mut peer = Peer::start(PeerOptions::default()).await;
    let cfg = config(&peer, false, PASSWORD);
    let server = tokio::spawn(async move {
        let mut conn = peer.accept().await;
        conn.expect_subscribe(5).await;
        conn
    });
    let err = check_connection::run(&cfg).await.unwrap_err();
    assert!(err.to_string().contains("10 MT-CTI3 connections"), "{err}");
    drop(server.await.unwrap());
}
