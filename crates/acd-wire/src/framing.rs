//! MT-CTI3 framing, kept apart from the socket so it can be tested, fuzzed and reused by the
//! `wire decode` support command without a connection.
//!
//! On the default path (`/tpkt/openapi`) every binary websocket message is the four octets
//! `00 00 00 01` followed by one serialised `Message`; on `/tpkt/openapinoframing` it is the bare
//! `Message`. Anything else is a typed [`FrameError`] that the session counts and logs before
//! carrying on: one bad frame must never take the link down.

use crate::pb;
use prost::Message as _;

/// The four octets that precede every `Message` on the framed path.
pub const FRAME_HEADER: [u8; 4] = [0, 0, 0, 1];

/// The default limit for one websocket message (IP Office's largest notifies, a Lines list of a
/// big SCN, stay far below it).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// Which of IP Office's two websocket services carries the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// `/tpkt/openapi`: `00 00 00 01` + Message.
    #[default]
    Framed,
    /// `/tpkt/openapinoframing`: the bare Message.
    Unframed,
}

impl Framing {
    /// The websocket path IP Office serves this variant on.
    pub fn path(self) -> &'static str {
        match self {
            Framing::Framed => "/tpkt/openapi",
            Framing::Unframed => "/tpkt/openapinoframing",
        }
    }
}

/// Why a received websocket message could not be turned into a `Message`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrameError {
    #[error("short frame: {len} bytes, the 4-byte header 00 00 00 01 needs at least 4")]
    ShortFrame { len: usize },
    #[error("wrong frame header {found:02x?}, expected 00 00 00 01")]
    WrongHeader { found: [u8; 4] },
    #[error("frame of {len} bytes is over the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("undecodable protobuf Message ({len} bytes): {reason}")]
    Undecodable { len: usize, reason: String },
    #[error("unexpected text websocket message ({len} bytes); MT-CTI3 uses binary messages only")]
    TextMessage { len: usize },
}

impl FrameError {
    /// A stable label for the `acd_frame_errors_total{kind}` metric.
    pub fn kind(&self) -> &'static str {
        match self {
            FrameError::ShortFrame { .. } => "short_frame",
            FrameError::WrongHeader { .. } => "wrong_header",
            FrameError::TooLarge { .. } => "too_large",
            FrameError::Undecodable { .. } => "undecodable",
            FrameError::TextMessage { .. } => "text_message",
        }
    }
}

/// Serialises `msg` for the wire.
pub fn encode(msg: &pb::Message, framing: Framing) -> Vec<u8> {
    let body_len = msg.encoded_len();
    match framing {
        Framing::Framed => {
            let mut out = Vec::with_capacity(FRAME_HEADER.len() + body_len);
            out.extend_from_slice(&FRAME_HEADER);
            msg.encode_raw(&mut out);
            out
        }
        Framing::Unframed => msg.encode_to_vec(),
    }
}

/// Parses one websocket message. The size limit is checked first so an oversized frame costs
/// no decoding work.
pub fn decode(bytes: &[u8], framing: Framing, max_bytes: usize) -> Result<pb::Message, FrameError> {
    if bytes.len() > max_bytes {
        return Err(FrameError::TooLarge {
            len: bytes.len(),
            max: max_bytes,
        });
    }
    let body = match framing {
        Framing::Framed => strip_header(bytes)?,
        Framing::Unframed => bytes,
    };
    decode_body(body)
}

/// Parses either variant: a zero first byte can never start a valid `Message` (field number 0
/// does not exist), so it marks a framed message — and one whose header is not exactly
/// `00 00 00 01` is reported as a wrong header, not as undecodable protobuf.
pub fn decode_any(bytes: &[u8], max_bytes: usize) -> Result<(Framing, pb::Message), FrameError> {
    let framing = if bytes.first() == Some(&0) {
        Framing::Framed
    } else {
        Framing::Unframed
    };
    decode(bytes, framing, max_bytes).map(|m| (framing, m))
}

fn strip_header(bytes: &[u8]) -> Result<&[u8], FrameError> {
    let Some((header, body)) = bytes.split_first_chunk::<4>() else {
        return Err(FrameError::ShortFrame { len: bytes.len() });
    };
    if *header != FRAME_HEADER {
        return Err(FrameError::WrongHeader { found: *header });
    }
    Ok(body)
}

fn decode_body(body: &[u8]) -> Result<pb::Message, FrameError> {
    pb::Message::decode(body).map_err(|e| FrameError::Undecodable {
        len: body.len(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::message::Payload;

    fn golden() -> pb::Message {
        pb::Message {
            payload: Some(Payload::Subscribe(pb::Subscribe {
                requestid: 1,
                subscribe_id: 1,
                timeout: 3600,
                label: String::new(),
                payload: Some(pb::subscribe::Payload::Lines(pb::SubscribeLines {
                    flags: 7,
                })),
            })),
        }
    }

    const GOLDEN_HEX: &str = "1A0C0801100118901CC202020807";

    #[test]
    fn golden_vector_encodes_exactly() {
        let bare = encode(&golden(), Framing::Unframed);
        assert_eq!(hex::encode_upper(&bare), GOLDEN_HEX);
        let framed = encode(&golden(), Framing::Framed);
        assert_eq!(hex::encode_upper(&framed), format!("00000001{GOLDEN_HEX}"));
    }

    #[test]
    fn golden_vector_decodes_both_ways() {
        let bare = hex::decode(GOLDEN_HEX).unwrap();
        assert_eq!(decode(&bare, Framing::Unframed, 1024).unwrap(), golden());
        let mut framed = FRAME_HEADER.to_vec();
        framed.extend_from_slice(&bare);
        assert_eq!(decode(&framed, Framing::Framed, 1024).unwrap(), golden());
        assert_eq!(
            decode_any(&framed, 1024).unwrap(),
            (Framing::Framed, golden())
        );
        assert_eq!(
            decode_any(&bare, 1024).unwrap(),
            (Framing::Unframed, golden())
        );
    }

    #[test]
    fn short_frame_is_typed() {
        let err = decode(&[0, 0, 1], Framing::Framed, 1024).unwrap_err();
        assert_eq!(err, FrameError::ShortFrame { len: 3 });
        assert_eq!(err.kind(), "short_frame");
    }

    #[test]
    fn wrong_header_is_typed() {
        let err = decode(&[0, 0, 0, 2, 8, 1], Framing::Framed, 1024).unwrap_err();
        assert_eq!(
            err,
            FrameError::WrongHeader {
                found: [0, 0, 0, 2]
            }
        );
    }

    #[test]
    fn oversized_frame_is_refused_before_decoding() {
        let bytes = encode(&golden(), Framing::Framed);
        let err = decode(&bytes, Framing::Framed, bytes.len() - 1).unwrap_err();
        assert_eq!(
            err,
            FrameError::TooLarge {
                len: bytes.len(),
                max: bytes.len() - 1
            }
        );
    }

    #[test]
    fn undecodable_protobuf_is_typed() {
        // Field 3 (subscribe) announces 12 bytes but only 2 follow.
        let err = decode(&[0x1a, 0x0c, 0x08, 0x01], Framing::Unframed, 1024).unwrap_err();
        assert!(
            matches!(err, FrameError::Undecodable { len: 4, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn empty_framed_body_is_an_empty_message() {
        // A header with nothing after it is a valid (empty) Message; the session ignores it.
        let msg = decode(&FRAME_HEADER, Framing::Framed, 1024).unwrap();
        assert_eq!(msg.payload, None);
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode(&bytes, Framing::Framed, 256);
            let _ = decode(&bytes, Framing::Unframed, 256);
            let _ = decode_any(&bytes, 256);
        }

        #[test]
        fn framed_arbitrary_bodies_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut bytes = FRAME_HEADER.to_vec();
            bytes.extend_from_slice(&body);
            let _ = decode(&bytes, Framing::Framed, 1 << 20);
        }
    }
}
