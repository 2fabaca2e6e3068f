//! `acd wire decode`: shows one MT-CTI3 message as JSON, the way SysMonitor decodes CTI3
//! traffic, for support engineers reading captures. The JSON comes from the schema itself
//! (the same `.proto` the engine is built from, compiled at first use), so every field has its
//! proto name and enums their symbolic names.

use crate::framing::{self, FrameError, Framing};
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use std::sync::OnceLock;

const PROTO_NAME: &str = "ipo_mtcti3.proto";
const PROTO_SOURCE: &str = include_str!("../../../proto/ipo_mtcti3.proto");
/// A capture may hold big Lines lists; anything beyond this is not one message.
const MAX_DECODE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("input is not hex: {0} (give the bytes as hex digits, spaces and ':' allowed)")]
    NotHex(String),
    #[error("input is empty")]
    Empty,
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("the built-in MT-CTI3 schema could not be loaded: {0}")]
    Schema(String),
}

struct InMemory;

impl protox::file::FileResolver for InMemory {
    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        if name == PROTO_NAME {
            protox::file::File::from_source(name, PROTO_SOURCE)
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

fn pool() -> Result<&'static DescriptorPool, DecodeError> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut compiler = protox::Compiler::with_file_resolver(InMemory);
        compiler.open_file(PROTO_NAME).map_err(|e| e.to_string())?;
        Ok(compiler.descriptor_pool())
    })
    .as_ref()
    .map_err(|e| DecodeError::Schema(e.clone()))
}

/// Parses hex text: whitespace, `:` and a leading `0x` are ignored.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, DecodeError> {
    let text = text.trim();
    let text = text.strip_prefix("0x").unwrap_or(text);
    let digits: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    if digits.is_empty() {
        return Err(DecodeError::Empty);
    }
    hex::decode(&digits).map_err(|e| DecodeError::NotHex(e.to_string()))
}

/// Decodes a file's content: hex text if it is hex text, else raw bytes.
pub fn decode_file_to_json(content: &[u8]) -> Result<String, DecodeError> {
    match std::str::from_utf8(content).ok().map(parse_hex) {
        Some(Ok(bytes)) => decode_to_json(&bytes),
        _ => decode_to_json(content),
    }
}

/// Decodes one message, framed (`00 00 00 01` + Message) or bare, to pretty JSON that names
/// the framing: `{"framing": "framed", "message": {...}}`.
pub fn decode_to_json(bytes: &[u8]) -> Result<String, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    // Validates with the generated types first so errors are the same typed ones the session
    // counts.
    let (framing, _) = framing::decode_any(bytes, MAX_DECODE_BYTES)?;
    let body = match framing {
        Framing::Framed => &bytes[framing::FRAME_HEADER.len()..],
        Framing::Unframed => bytes,
    };
    let pool = pool()?;
    let descriptor = pool
        .get_message_by_name("mtcti3.Message")
        .ok_or_else(|| DecodeError::Schema("mtcti3.Message missing".to_string()))?;
    let message =
        DynamicMessage::decode(descriptor, body).map_err(|e| FrameError::Undecodable {
            len: body.len(),
            reason: e.to_string(),
        })?;
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(true);
    let mut json = Vec::new();
    {
        let mut ser = serde_json::Serializer::pretty(&mut json);
        message
            .serialize_with_options(&mut ser, &options)
            .map_err(|e| DecodeError::Schema(e.to_string()))?;
    }
    let mut message: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| DecodeError::Schema(e.to_string()))?;
    ids_in_hex(&mut message);
    let out = serde_json::json!({
        "framing": match framing { Framing::Framed => "framed", Framing::Unframed => "unframed" },
        "message": message,
    });
    serde_json::to_string_pretty(&out).map_err(|e| DecodeError::Schema(e.to_string()))
}

/// Call and object identifiers (`gcid`, `guid`) as upper-case hex, the way SysMonitor and
/// IP Office's own traces show them (protobuf JSON would give Base64).
fn ids_in_hex(value: &mut serde_json::Value) {
    use base64::Engine as _;
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if let (true, serde_json::Value::String(text)) =
                    (matches!(key.as_str(), "gcid" | "guid"), &*v)
                {
                    if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text) {
                        *v = serde_json::Value::String(hex::encode_upper(bytes));
                    }
                } else {
                    ids_in_hex(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(ids_in_hex),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_vector_decodes_to_json() {
        let json = decode_to_json(&parse_hex("1A0C0801100118901CC202020807").unwrap()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["framing"], "unframed");
        let sub = &v["message"]["subscribe"];
        assert_eq!(sub["requestid"], 1);
        assert_eq!(sub["subscribe_id"], 1);
        assert_eq!(sub["timeout"], 3600);
        assert_eq!(sub["lines"]["flags"], 7);
    }

    #[test]
    fn framed_hex_with_separators_and_enums_by_name() {
        let msg = crate::pb::Message {
            payload: Some(crate::pb::message::Payload::Notify(crate::pb::Notify {
                subscribe_id: 3,
                notify_id: 9,
                payload: Some(crate::pb::notify::Payload::Callcontrol(
                    crate::pb::NotifyCallControl {
                        callinfo: vec![crate::pb::CallInfo {
                            callid: 1,
                            gcid: vec![0x01, 0xc0, 0xa8, 0x2a],
                            state: 22,
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                )),
                ..Default::default()
            })),
        };
        let bytes = framing::encode(&msg, Framing::Framed);
        let text = bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        let json = decode_file_to_json(text.as_bytes()).unwrap();
        assert!(json.contains("\"framed\""), "{json}");
        assert!(json.contains("QUEUEING"), "{json}");
        assert!(json.contains("\"notify_id\": 9"), "{json}");
        assert!(
            json.contains("\"gcid\": \"01C0A82A\""),
            "gcid in hex: {json}"
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(parse_hex("zz"), Err(DecodeError::NotHex(_))));
        assert_eq!(parse_hex("  "), Err(DecodeError::Empty));
        assert_eq!(
            decode_to_json(&[0, 0, 0, 2, 1]),
            Err(DecodeError::Frame(FrameError::WrongHeader {
                found: [0, 0, 0, 2]
            }))
        );
        assert!(matches!(
            decode_to_json(&[0x1a, 0x0c, 0x08]),
            Err(DecodeError::Frame(FrameError::Undecodable { .. }))
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = decode_to_json(&bytes);
            let _ = decode_file_to_json(&bytes);
        }
    }
}
