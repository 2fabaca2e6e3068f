//! A link lost because IP Office (or something on the way) sent what the engine cannot read is
//! a warning that names the cause, not an INFO line about reconnecting.

mod wire_support;

use acd::wire::connect::Endpoint;
use acd::wire::secret::Secret;
use acd::wire::session::{self, LinkStatus, QueueSelector, SessionConfig, SessionEvent};
use std::sync::{Arc, Mutex};
use wire_support::*;

/// What the log writer wrote, shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn a_link_dropped_for_an_oversized_message_is_a_warning_with_its_cause() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    // The test's runtime runs every task on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut peer = Peer::start(PeerOptions::default()).await;
    let mut config = SessionConfig::new(
        vec![Endpoint::parse(&peer.url(false)).unwrap()],
        USER,
        Secret::new(PASSWORD),
    );
    config.protocol.routed_queues = vec![QueueSelector::Name("Sales".into())];
    // The websocket layer reads messages up to 64 KiB at this setting.
    config.protocol.max_frame_bytes = 1_000;
    let (handle, mut events) = session::spawn(config);
    let conn = peer.accept().await;
    conn.send_raw(vec![0u8; 100_000]);
    loop {
        let ev = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("the link was not dropped")
            .expect("session ended");
        if let SessionEvent::Link(LinkStatus::Disconnected { .. }) = ev {
            break;
        }
    }
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("link to IP Office was lost"))
        .unwrap_or_else(|| panic!("no line about the lost link in:\n{text}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("100000 bytes"), "the cause is named: {line}");
    handle.shutdown().await;
}
