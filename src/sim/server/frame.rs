//! MT-CTI3 framing for the simulator's side of the socket: on `/tpkt/openapi` every websocket
//! message is `00 00 00 01` followed by one protobuf `Message`; on `/tpkt/openapinoframing` it is
//! the bare `Message`. Kept private to the simulator so it does not depend on the client wire
//! layer being written in parallel (the lead may later point this at the wire layer's codec).

use prost::Message as _;

use crate::wire::pb;

pub const FRAME_HEADER: [u8; 4] = [0, 0, 0, 1];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame too short for the 4-octet header ({0} octets)")]
    TooShort(usize),
    #[error("unknown frame header {0:02X?} (expected 00 00 00 01)")]
    BadHeader([u8; 4]),
    #[error("protobuf decode failed: {0}")]
    Decode(String),
}

pub fn encode(msg: &pb::Message, framed: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.encoded_len() + 4);
    if framed {
        out.extend_from_slice(&FRAME_HEADER);
    }
    // Writing into a Vec cannot run out of capacity.
    msg.encode_raw(&mut out);
    out
}

pub fn decode(bytes: &[u8], framed: bool) -> Result<pb::Message, FrameError> {
    let body = if framed {
        let header: [u8; 4] = bytes
            .get(..4)
            .and_then(|h| h.try_into().ok())
            .ok_or(FrameError::TooShort(bytes.len()))?;
        if header != FRAME_HEADER {
            return Err(FrameError::BadHeader(header));
        }
        &bytes[4..]
    } else {
        bytes
    };
    pb::Message::decode(body).map_err(|e| FrameError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden() -> pb::Message {
        pb::Message {
            payload: Some(pb::message::Payload::Subscribe(pb::Subscribe {
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

    #[test]
    fn golden_vector_from_the_wire_facts() {
        let body = [
            0x1A, 0x0C, 0x08, 0x01, 0x10, 0x01, 0x18, 0x90, 0x1C, 0xC2, 0x02, 0x02, 0x08, 0x07,
        ];
        assert_eq!(encode(&golden(), false), body);
        let framed = encode(&golden(), true);
        assert_eq!(&framed[..4], &FRAME_HEADER);
        assert_eq!(&framed[4..], &body);
        assert_eq!(decode(&framed, true).unwrap(), golden());
        assert_eq!(decode(&body, false).unwrap(), golden());
    }

    #[test]
    fn bad_frames_are_errors() {
        assert_eq!(decode(&[0, 0], true), Err(FrameError::TooShort(2)));
        assert!(matches!(
            decode(&[0, 0, 0, 2, 0x1A], true),
            Err(FrameError::BadHeader(_))
        ));
        assert!(matches!(
            decode(&[0, 0, 0, 1, 0x1A, 0x05], true),
            Err(FrameError::Decode(_))
        ));
    }
}
