//! Faults on demand, so tests can prove the engine survives what a real IP Office (or the
//! network in front of it) does: dropped connections, restarts with new callids, slow or
//! failing command responses, terminated subscriptions and garbage on the socket.

use acd_wire::result_code::ResultCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::Shared;
use acd_wire::framing::{Framing, FRAME_HEADER};

/// A `Message` whose field 3 (Subscribe) announces 12 octets of which only 2 follow: no
/// protobuf decoder can read it.
const TRUNCATED_MESSAGE: [u8; 4] = [0x1A, 0x0C, 0x08, 0x01];

/// Faults that every open connection acts on at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnFault {
    /// Close the TCP connection without a websocket close handshake.
    Drop,
    /// Send SubscribeTerminated for every subscription and forget them.
    TerminateSubscriptions,
    /// Send a binary message that is not a valid frame.
    Malformed,
    /// Close the connections to this system of the pair (it failed).
    DropSite(u8),
}

/// The binary message the malformed-frame fault sends. On the framed path the header is also
/// wrong (`00 00 00 02`), so a client's header check is exercised before its decoder; on the
/// unframed path there is no header, only the unreadable `Message`.
pub(crate) fn malformed_frame(framing: Framing) -> Vec<u8> {
    match framing {
        Framing::Framed => {
            let mut bytes = FRAME_HEADER.to_vec();
            if let Some(last) = bytes.last_mut() {
                *last = 2;
            }
            bytes.extend_from_slice(&TRUNCATED_MESSAGE);
            bytes
        }
        Framing::Unframed => TRUNCATED_MESSAGE.to_vec(),
    }
}

/// Faults that apply to the next commands, whichever connection sends them.
#[derive(Debug, Default, Clone, Copy)]
pub struct CommandFaults {
    /// Answer the next `count` SubscribeCmds with `code` and do nothing.
    pub reject: Option<(ResultCode, u32)>,
    /// Hold every RequestResponse back this long.
    pub response_delay: Duration,
}

impl CommandFaults {
    /// One command was refused by `reject`: one fewer is left.
    pub fn consume_rejection(&mut self) {
        self.reject = match self.reject {
            Some((code, n)) if n > 1 => Some((code, n - 1)),
            _ => None,
        };
    }
}

/// Injects faults into a running simulator (see [`super::SimHandle::faults`]).
#[derive(Clone)]
pub struct FaultInjector {
    pub(crate) shared: Arc<Shared>,
}

impl FaultInjector {
    /// The primary of a resilient pair fails: its callers are cut off, its connections drop
    /// and it accepts none until [`FaultInjector::restore_primary`]; new callers arrive on the
    /// secondary.
    pub fn fail_primary(&self) {
        self.shared.site_down[0].store(true, Ordering::SeqCst);
        let mut model = self.shared.model();
        model.fail_site(0);
        let version = model.version();
        drop(model);
        self.shared.publish(version);
        self.broadcast(ConnFault::DropSite(0));
    }

    /// The failed primary is back.
    pub fn restore_primary(&self) {
        self.shared.model().restore_site(0);
        self.shared.site_down[0].store(false, Ordering::SeqCst);
    }

    /// Drops every open connection abruptly.
    pub fn drop_connections(&self) {
        self.broadcast(ConnFault::Drop);
    }

    /// Simulates an IP Office restart: every connection drops, and callids on new
    /// subscriptions start from a new range so no old callid is valid any more.
    pub fn restart(&self) {
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
        self.broadcast(ConnFault::Drop);
    }

    /// Delays every RequestResponse by `delay` (zero turns it off). Notifies are not delayed,
    /// so a client sees the effect of a command before its acknowledgement.
    pub fn delay_responses(&self, delay: Duration) {
        self.shared.command_faults().response_delay = delay;
    }

    /// Rejects the next `count` commands with result `code` without executing them.
    pub fn reject_commands(&self, code: ResultCode, count: u32) {
        self.shared.command_faults().reject = (count > 0).then_some((code, count));
    }

    /// Terminates every subscription on every connection (SubscribeTerminated).
    pub fn terminate_subscriptions(&self) {
        self.broadcast(ConnFault::TerminateSubscriptions);
    }

    /// Sends one malformed binary message on every connection.
    pub fn send_malformed_frame(&self) {
        self.broadcast(ConnFault::Malformed);
    }

    /// Turns off delays and pending rejections.
    pub fn clear(&self) {
        *self.shared.command_faults() = CommandFaults::default();
    }

    fn broadcast(&self, fault: ConnFault) {
        // No receiver just means no connection is open: nothing to fault.
        let _ = self.shared.conn_faults.send(fault);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use acd_wire::framing::{decode, decode_any, FrameError, DEFAULT_MAX_FRAME_BYTES};

    #[test]
    fn malformed_frames_are_refused_by_the_wire_layer() {
        let framed = malformed_frame(Framing::Framed);
        assert_eq!(
            decode(&framed, Framing::Framed, DEFAULT_MAX_FRAME_BYTES),
            Err(FrameError::WrongHeader {
                found: [0, 0, 0, 2]
            })
        );
        let bare = malformed_frame(Framing::Unframed);
        assert!(matches!(
            decode(&bare, Framing::Unframed, DEFAULT_MAX_FRAME_BYTES),
            Err(FrameError::Undecodable { len: 4, .. })
        ));
        // Even a client that guesses the variant cannot read either of them.
        assert!(decode_any(&framed, DEFAULT_MAX_FRAME_BYTES).is_err());
        assert!(decode_any(&bare, DEFAULT_MAX_FRAME_BYTES).is_err());
    }
}
