//! Fuzzes the MT-CTI3 frame decoder: whatever arrives on the websocket, decoding must return a
//! value or a typed error, never panic, and a decoded message must re-encode to something that
//! decodes to the same message.
#![no_main]

use acd::wire::framing::{self, Framing};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for framing in [Framing::Framed, Framing::Unframed] {
        if let Ok(msg) = framing::decode(data, framing, 1 << 20) {
            let again = framing::encode(&msg, framing);
            let back =
                framing::decode(&again, framing, 1 << 21).expect("re-encoded message decodes");
            assert_eq!(back, msg);
        }
    }
    let _ = framing::decode_any(data, 1 << 20);
    let _ = acd::wire::decode::decode_to_json(data);
});
